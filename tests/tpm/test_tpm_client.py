"""TpmClient against a real swtpm: the effects PPI operations rely on, observed through the TPM."""

from __future__ import annotations

import pytest

from ppikit.device.backends.swtpm import SwtpmBackend
from ppikit.errors import UsageError
from ppikit.tpm import tpm2 as t2
from ppikit.tpm.client import PcrBank, Tpm2Client, Tpm12Client, TpmClient, client_for
from ppikit.tpm.rc import TpmResponseError
from ppikit.tpm.tpm2 import TPM_ALG, TPM_RH, TPM_SU, TPMA_PERMANENT, TPMA_STARTUP_CLEAR
from ppikit.tpm.tpm12 import TPM_PHYSICAL_PRESENCE as PP
from ppikit.tpm.version import TpmVersion

ALL_PCRS = bytes.fromhex("ffffff")
NO_PCRS = bytes(3)


def test_startup_twice_is_named(tpm2: tuple[SwtpmBackend, Tpm2Client]) -> None:
    _, client = tpm2
    with pytest.raises(TpmResponseError) as caught:
        client.startup()
    assert (caught.value.code, caught.value.name) == (0x100, "TPM_RC_INITIALIZE")
    assert str(caught.value) == "TPM2_Startup failed: TPM_RC_INITIALIZE (0x100)"
    raw = TpmClient(client.transport).execute(t2.STARTUP, startupType=TPM_SU.CLEAR, check=False)
    assert (raw.code, raw.rc_name) == (0x100, "TPM_RC_INITIALIZE")


def test_properties_random_clock_selftest(tpm2: tuple[SwtpmBackend, Tpm2Client]) -> None:
    _, client = tpm2
    assert client.get_tpm_properties(t2.TPM_PT.FAMILY_INDICATOR, 3) == {
        0x100: 0x322E3000, 0x101: 0, 0x102: 164}  # "2.0", level 0, revision 1.64
    assert len(client.get_random(8)) == 8
    clock = client.read_clock()
    assert (clock.resetCount, clock.restartCount, clock.safe) == (1, 0, 1)  # first Startup(CLEAR) = TPM Reset
    client.self_test(full=True)
    assert client.get_startup_clear() == (TPMA_STARTUP_CLEAR.phEnable | TPMA_STARTUP_CLEAR.shEnable
                                          | TPMA_STARTUP_CLEAR.ehEnable | TPMA_STARTUP_CLEAR.phEnableNV
                                          | TPMA_STARTUP_CLEAR.orderly)


def test_pcr_allocate_takes_effect_at_the_next_reset(tpm2: tuple[SwtpmBackend, Tpm2Client]) -> None:
    backend, client = tpm2
    banks = [PcrBank(alg, ALL_PCRS) for alg in (TPM_ALG.SHA1, TPM_ALG.SHA256, TPM_ALG.SHA384, TPM_ALG.SHA512)]
    assert client.get_pcr_banks() == banks
    result = client.pcr_allocate({TPM_ALG.SHA1: NO_PCRS, TPM_ALG.SHA256: ALL_PCRS,
                                  TPM_ALG.SHA384: NO_PCRS, TPM_ALG.SHA512: NO_PCRS})
    assert (result.allocationSuccess, result.maxPCR) == (1, 24)
    assert client.get_pcr_banks() == banks  # pending until TPM2_Startup after a reset
    client.shutdown()
    backend.startup(4096)
    client.startup()
    assert [(b.alg, b.active) for b in client.get_pcr_banks()] == [
        (TPM_ALG.SHA1, False), (TPM_ALG.SHA256, True), (TPM_ALG.SHA384, False), (TPM_ALG.SHA512, False)]
    with pytest.raises(TpmResponseError, match=r"TPM_RC_HASH \(parameter 1\)"):
        client.pcr_allocate({0x99: ALL_PCRS})


def test_change_eps_changes_the_endorsement_primary(tpm2: tuple[SwtpmBackend, Tpm2Client]) -> None:
    _, client = tpm2
    keys = []
    for change in (False, False, True):
        if change:
            client.change_eps()
        primary = client.create_primary()
        assert primary.public.type == TPM_ALG.ECC and len(primary.public.unique.x) == 32
        keys.append(primary.public.unique)
        client.flush_context(primary.handle)
    assert keys[0] == keys[1]  # same seed, same template: same key
    assert keys[2] != keys[0]


def test_owner_auth_set_then_cleared(tpm2: tuple[SwtpmBackend, Tpm2Client]) -> None:
    _, client = tpm2
    assert TPMA_PERMANENT.ownerAuthSet not in client.get_permanent()
    client.hierarchy_change_auth(TPM_RH.OWNER, b"owner")
    assert TPMA_PERMANENT.ownerAuthSet in client.get_permanent()
    with pytest.raises(TpmResponseError, match=r"TPM_RC_BAD_AUTH \(session 1\) \(0x9A2\)"):
        client.hierarchy_change_auth(TPM_RH.OWNER, b"", password=b"wrong")
    client.clear_control(False)  # OVMF's PPI clear: ClearControl(NO) then Clear, platform auth
    client.clear()
    assert TPMA_PERMANENT.ownerAuthSet not in client.get_permanent()


def test_clear_control_blocks_clear(tpm2: tuple[SwtpmBackend, Tpm2Client]) -> None:
    _, client = tpm2
    client.clear_control(True)
    assert TPMA_PERMANENT.disableClear in client.get_permanent()
    with pytest.raises(TpmResponseError, match=r"TPM2_Clear failed: TPM_RC_DISABLED \(0x120\)"):
        client.clear()


def test_hierarchy_control_disables_endorsement(tpm2: tuple[SwtpmBackend, Tpm2Client]) -> None:
    _, client = tpm2
    client.hierarchy_control(TPM_RH.ENDORSEMENT, False)
    assert TPMA_STARTUP_CLEAR.ehEnable not in client.get_startup_clear()
    with pytest.raises(TpmResponseError, match=r"TPM_RC_HIERARCHY \(handle 1\) \(0x185\)"):
        client.create_primary()


def test_tpm12_physical_presence_flow(tpm12: tuple[SwtpmBackend, Tpm12Client]) -> None:
    _, client = tpm12
    flags = client.get_permanent_flags()
    assert (flags["disable"], flags["deactivated"], flags["ownership"]) == (False, False, True)
    assert (flags["physicalPresenceLifetimeLock"], flags["physicalPresenceCMDEnable"]) == (False, False)
    with pytest.raises(TpmResponseError, match=r"^TPM_PhysicalDisable failed: TPM_BAD_PRESENCE \(0x02D\)$"):
        client.physical_disable()
    client.physical_presence(PP.CMD_ENABLE)  # edk2's pre-step when CMDEnable is clear
    client.physical_presence(PP.PRESENT)
    assert client.get_stclear_flags()["physicalPresence"] is True
    client.physical_disable()
    assert client.get_permanent_flags()["disable"] is True
    client.physical_enable()
    client.physical_set_deactivated(True)
    client.set_owner_install(False)
    client.continue_self_test()
    client.set_deferred_physical_presence()
    flags = client.get_permanent_flags()
    assert (flags["disable"], flags["deactivated"], flags["ownership"], flags["physicalPresenceCMDEnable"]) == (
        False, True, False, True)
    client.force_clear()
    client.physical_presence(PP.NOTPRESENT | PP.LOCK)  # edk2's post-step
    with pytest.raises(TpmResponseError, match=r"TPM_BAD_PRESENCE"):
        client.physical_enable()
    with pytest.raises(TpmResponseError, match=r"TSC_PhysicalPresence failed: TPM_BAD_PARAMETER"):
        client.physical_presence(PP.PRESENT)  # locked until the next TPM_Startup


def test_client_for_picks_the_family() -> None:
    def transport(command: bytes) -> bytes:
        return command

    assert isinstance(client_for(transport, TpmVersion.TPM_2_0), Tpm2Client)
    assert isinstance(client_for(transport, TpmVersion.TPM_1_2), Tpm12Client)
    with pytest.raises(UsageError, match="no TPM client for version"):
        client_for(transport, TpmVersion.UNSPEC)
