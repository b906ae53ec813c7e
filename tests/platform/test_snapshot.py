"""Save / restore / migrate / revert a running platform on real swtpm, acpiexec and iasl.

The central case: the OS queued a PPI request, the platform is saved before the reboot, restored
into a *fresh* swtpm (its own state directory), rebooted -- and the firmware executes the request
on the restored TPM. Around it: the running TPM state (PCRs, hierarchy auth, NV) and an in-flight
TIS/CRB command travel exactly; snapshot-and-revert; localhost migration.
"""

import construct as cs
import pytest

from ppikit.device.registers import (
    A_CRB_CTRL_REQ,
    A_CRB_CTRL_START,
    A_CRB_LOC_CTRL,
    CRB_CTRL_REQ_CMD_READY,
    CRB_LOC_CTRL_REQUEST_ACCESS,
    CRB_START_INVOKE,
    TPM_CRB_ADDR_BASE,
    TPM_CRB_DATA_BUFFER_ADDR,
    TPM_TIS_ADDR_BASE,
    TPM_TIS_REG_DATA_FIFO,
    TPM_TIS_REG_STS,
    TPM_TIS_STS_COMMAND_READY,
    TPM_TIS_STS_DATA_AVAILABLE,
    TPM_TIS_STS_TPM_GO,
    TPM_TIS_STS_VALID,
)
from ppikit.platform import effects
from ppikit.platform.platform import Platform, PlatformConfig
from ppikit.platform.simulate import DEMO_OWNER_AUTH, Request
from ppikit.platform.snapshot import migrate
from ppikit.platform.snapshot_format import Snapshot
from ppikit.platform.snapshot_scenario import queue_request
from ppikit.ppi.os_linux import attach
from ppikit.tpm.client import Tpm2Client
from ppikit.tpm.command import TPM2B, CommandSpec, TpmResponseError
from ppikit.tpm.tpm2 import TPM_ALG, TPM_RH
from ppikit.tpm.version import TpmVersion

TIS2 = PlatformConfig.create(interface="tis", tpm="2.0")
CRB2 = PlatformConfig.create(interface="crb", tpm="2.0")
TIS12 = PlatformConfig.create(interface="tis", tpm="1.2")
TEST_DIGEST = b"test".ljust(32, b"\0")
# PCR 10 (sha256, initially zero) extended once with TEST_DIGEST: QEMU's qtest vector.
PCR10_AFTER_TEST = bytes.fromhex("f68598e5868de68b97299960f2717d176789a42f9aaea8c7b7aa79a86256c1de")

# -- NV commands (TPM 2.0 Part 3 §31), test-local: ppikit's client has no NV commands ------------
NV_INDEX = 0x01500016
#: TPMA_NV_OWNERWRITE | TPMA_NV_OWNERREAD | TPMA_NV_NO_DA, ordinary index.
NV_ATTRIBUTES = 0x02020002
TPM2B_NV_PUBLIC = cs.Prefixed(cs.Int16ub, cs.Struct("nvIndex" / cs.Int32ub, "nameAlg" / cs.Int16ub,
                                                    "attributes" / cs.Int32ub, "authPolicy" / TPM2B,
                                                    "dataSize" / cs.Int16ub))
_V2 = TpmVersion.TPM_2_0
NV_DEFINE_SPACE = CommandSpec("TPM2_NV_DefineSpace", 0x12A, _V2, handles=("authHandle",), auth_count=1,
                              params=cs.Struct("auth" / TPM2B, "publicInfo" / TPM2B_NV_PUBLIC))
NV_WRITE = CommandSpec("TPM2_NV_Write", 0x137, _V2, handles=("authHandle", "nvIndex"), auth_count=1,
                       params=cs.Struct("data" / TPM2B, "offset" / cs.Int16ub))
NV_READ = CommandSpec("TPM2_NV_Read", 0x14E, _V2, handles=("authHandle", "nvIndex"), auth_count=1,
                      params=cs.Struct("size" / cs.Int16ub, "offset" / cs.Int16ub),
                      response_params=cs.Struct("data" / TPM2B))
NV_DATA = b"ppikit-nv-sample"  # 16 bytes

# TPM2_GetRandom(8): tag 8001, size 0x0C, TPM_CC_GetRandom 0x17B, bytesRequested 8.
GET_RANDOM_8 = bytes.fromhex("80010000000c0000017b0008")


def define_and_write_nv(client: Tpm2Client) -> None:
    public = {"nvIndex": NV_INDEX, "nameAlg": TPM_ALG.SHA256, "attributes": NV_ATTRIBUTES, "authPolicy": b"",
              "dataSize": len(NV_DATA)}
    client.execute(NV_DEFINE_SPACE, handles=[TPM_RH.OWNER], passwords=[DEMO_OWNER_AUTH], auth=b"",
                   publicInfo=public)
    client.execute(NV_WRITE, handles=[TPM_RH.OWNER, NV_INDEX], passwords=[DEMO_OWNER_AUTH], data=NV_DATA, offset=0)


def read_nv(client: Tpm2Client) -> bytes:
    response = client.execute(NV_READ, handles=[TPM_RH.OWNER, NV_INDEX], passwords=[DEMO_OWNER_AUTH],
                              size=len(NV_DATA), offset=0)
    return response.params.data


def pcrs(platform: Platform) -> dict:
    client = Tpm2Client(platform.tpm_transmit)
    return {alg: client.pcr_read({alg: range(0, 8)}).values[alg] | client.pcr_read({alg: range(8, 16)}).values[alg]
            for alg in (TPM_ALG.SHA1, TPM_ALG.SHA256)}


def os_reads(platform: Platform, file: str) -> str:
    with platform.os_session() as acpi:
        return attach(acpi).read(file)


# -- the pending request across save/restore ------------------------------------------------------
#: The firmware's clearing command, as its timeline names it, per family.
CLEARING_COMMAND = {TpmVersion.TPM_2_0: "TPM2_Clear -> TPM_RC_SUCCESS", TpmVersion.TPM_1_2: "TPM_ForceClear -> TPM_SUCCESS"}


@pytest.mark.parametrize("config,request_op,boots", [(TIS2, 5, 3), (CRB2, 5, 3), (TIS12, 21, 4)],
                         ids=["tis-2.0", "crb-2.0", "tis-1.2"])
def test_pending_request_executes_after_restore_into_a_fresh_swtpm(tmp_path, config, request_op, boots):
    """5 = Clear (TPM 2.0); 21 = Enable + Activate + Clear (TPM 1.2, two firmware boots via next_step)."""
    path = tmp_path / "pending.snap"
    with Platform(config) as source:
        assert queue_request(source, Request(request_op)) == len(f"{request_op}\n")
        before = effects.probe(source.tpm_transmit, config.tpm)
        source.save(path)
        source_dir = source.backend.state_dir
    saved = Snapshot.read(path)
    assert saved.page.pprq == request_op
    with Platform(saved.config) as target:
        assert target.backend.state_dir != source_dir
        target.restore(path)
        assert target.boot_count == 1 and target.page.pprq == request_op
        assert effects.probe(target.tpm_transmit, config.tpm) == before  # the TPM continues where it was
        target.reboot()
        assert os_reads(target, "response") == f"{request_op} 0: Success\n"
        assert os_reads(target, "request") == "0\n"
        after = effects.probe(target.tpm_transmit, config.tpm)
        assert target.boot_count == boots  # the restored power-on boot, the firmware's boots, the OS boot
        assert CLEARING_COMMAND[config.tpm] in [e.text for e in target.timeline]
    if config.tpm == TpmVersion.TPM_2_0:
        assert (before.owner_auth_set, after.owner_auth_set) == (True, False)  # cleared on the restored TPM
    else:  # a fresh swtpm TPM 1.2 is enabled and active; TPM_ForceClear leaves it disabled and deactivated
        assert [(before.flags[f], after.flags[f]) for f in ("disable", "deactivated")] == [(False, True)] * 2


def test_running_tpm_state_is_identical_after_restore(tmp_path):
    """PCRs are volatile: they travel because the TPM is saved running (VOLATILE blob), as QEMU
    saves a running VM. Compared right after the restore, before any reboot."""
    with Platform(TIS2) as source:
        queue_request(source, Request(5))
        client = Tpm2Client(source.tpm_transmit)
        client.pcr_extend(10, {TPM_ALG.SHA256: TEST_DIGEST})
        define_and_write_nv(client)
        source_pcrs = pcrs(source)
        source_ek = effects.probe(source.tpm_transmit, TpmVersion.TPM_2_0).endorsement_key
        snapshot = source.save(tmp_path / "running.snap")
    assert source_pcrs[TPM_ALG.SHA256][10] == PCR10_AFTER_TEST
    with Platform(TIS2) as target:
        target.restore(snapshot)
        moved = Tpm2Client(target.tpm_transmit)
        assert pcrs(target) == source_pcrs
        assert read_nv(moved) == NV_DATA
        assert effects.probe(target.tpm_transmit, TpmVersion.TPM_2_0).endorsement_key == source_ek
        with pytest.raises(TpmResponseError):  # a wrong owner password is refused ...
            moved.hierarchy_change_auth(TPM_RH.OWNER, b"new", password=b"wrong")
        moved.hierarchy_change_auth(TPM_RH.OWNER, b"new", password=DEMO_OWNER_AUTH)  # ... the saved one works


# -- in-flight TIS/CRB state -----------------------------------------------------------------------
TIS_STS = TPM_TIS_ADDR_BASE + TPM_TIS_REG_STS
TIS_FIFO = TPM_TIS_ADDR_BASE + TPM_TIS_REG_DATA_FIFO


def tis_read_response(platform: Platform, size: int) -> bytes:
    return bytes(platform.device.mmio_read(TIS_FIFO, 1) for _ in range(size))


def test_tis_command_half_written_at_save_completes_on_the_destination():
    with Platform(TIS2) as source, Platform(TIS2) as target:
        source.power_on()
        source.device.mmio_write(TIS_STS, 1, TPM_TIS_STS_COMMAND_READY)
        for byte in GET_RANDOM_8[:5]:  # reception state: 5 of 12 bytes in the FIFO
            source.device.mmio_write(TIS_FIFO, 1, byte)
        snapshot = source.save()
        target.restore(snapshot)
        for byte in GET_RANDOM_8[5:]:
            target.device.mmio_write(TIS_FIFO, 1, byte)
        target.device.mmio_write(TIS_STS, 1, TPM_TIS_STS_TPM_GO)
        assert target.device.mmio_read(TIS_STS, 1) & (TPM_TIS_STS_VALID | TPM_TIS_STS_DATA_AVAILABLE) == 0x90
        # tag 8001, size 0x14, TPM_RC_SUCCESS, TPM2B of 8 random bytes
        assert tis_read_response(target, 12) == bytes.fromhex("80010000001400000000" "0008")


def test_tis_response_waiting_at_save_is_read_on_the_destination():
    with Platform(TIS2) as source, Platform(TIS2) as target:
        source.power_on()
        source.device.mmio_write(TIS_STS, 1, TPM_TIS_STS_COMMAND_READY)
        for byte in GET_RANDOM_8:
            source.device.mmio_write(TIS_FIFO, 1, byte)
        source.device.mmio_write(TIS_STS, 1, TPM_TIS_STS_TPM_GO)
        target.restore(source.save())
        moved = tis_read_response(target, 20)
        assert moved == tis_read_response(source, 20)  # the same random bytes: one response, moved
        assert moved[:12] == bytes.fromhex("800100000014000000000008")


def test_crb_response_in_the_buffer_at_save_is_read_on_the_destination():
    with Platform(CRB2) as source, Platform(CRB2) as target:
        source.power_on()
        source.device.mmio_write(TPM_CRB_ADDR_BASE + A_CRB_LOC_CTRL, 4, CRB_LOC_CTRL_REQUEST_ACCESS)
        source.device.mmio_write(TPM_CRB_ADDR_BASE + A_CRB_CTRL_REQ, 4, CRB_CTRL_REQ_CMD_READY)
        for offset, byte in enumerate(GET_RANDOM_8):
            source.device.mmio_write(TPM_CRB_DATA_BUFFER_ADDR + offset, 1, byte)
        source.device.mmio_write(TPM_CRB_ADDR_BASE + A_CRB_CTRL_START, 4, CRB_START_INVOKE)
        response = bytes(source.device.mmio_read(TPM_CRB_DATA_BUFFER_ADDR + i, 1) for i in range(20))
        target.restore(source.save())
        assert bytes(target.device.mmio_read(TPM_CRB_DATA_BUFFER_ADDR + i, 1) for i in range(20)) == response
        assert response[:12] == bytes.fromhex("800100000014000000000008")


# -- revert and localhost migration ------------------------------------------------------------------
def test_snapshot_and_revert_on_the_same_platform():
    with Platform(TIS2) as platform:
        queue_request(platform, Request(5))
        pcr_before = pcrs(platform)
        saved = platform.save()
        Tpm2Client(platform.tpm_transmit).pcr_extend(10, {TPM_ALG.SHA256: TEST_DIGEST})
        platform.reboot()  # the Clear runs ...
        assert os_reads(platform, "response") == "5 0: Success\n"
        assert platform.boot_count == 3
        platform.restore(saved)  # ... and is undone
        assert platform.boot_count == 1
        assert platform.page.pprq == 5
        assert pcrs(platform) == pcr_before
        assert effects.probe(platform.tpm_transmit, TpmVersion.TPM_2_0).owner_auth_set is True
        platform.reboot()  # and runs again from the reverted state
        assert os_reads(platform, "response") == "5 0: Success\n"


def test_localhost_migration_into_a_second_swtpm_leaves_the_source_running():
    with Platform(CRB2) as source, Platform(CRB2) as destination:
        queue_request(source, Request(5))
        assert source.backend.state_dir != destination.backend.state_dir
        moved = migrate(source, destination)
        assert moved.page.pprq == destination.page.pprq == 5
        destination.reboot()
        assert os_reads(destination, "response") == "5 0: Success\n"
        # the source is untouched: its request still pending, its TPM still owned and answering
        assert source.page.pprq == 5
        assert effects.probe(source.tpm_transmit, TpmVersion.TPM_2_0).owner_auth_set is True
