"""The ``ovmf`` model against a real swtpm: what OVMF 2022.11 really did on QEMU 7.2 (reference,
"Observed on real firmware"), §2.2-§2.4/§7.1, boot order (PPI before the platform lock), and the
effects on the TPM checked on the TPM itself (item 4)."""

from __future__ import annotations

import os
import signal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ppikit.errors import UsageError
from ppikit.fwcfg.tpm_config import TPM_CONFIG_FILE, TpmConfig
from ppikit.platform.memory import GuestMemory, Region
from ppikit.ppi.firmware import FIRMWARE_MODELS
from ppikit.ppi.firmware.base import ConfirmRequest, RecordingPolicy, accept, callback, reject, timeout
from ppikit.ppi.firmware.ovmf import OvmfFirmware
from ppikit.ppi.page import TPM_PPI_ADDR_BASE, PpiPage
from ppikit.tpm import tpm2
from ppikit.tpm.tpm2 import TPM_ALG, TPM_RH, TPMA_PERMANENT
from ppikit.tpm.version import TpmVersion

USER_ABORT = 0xFFFFFFF0
BIOS_FAILURE = 0xFFFFFFF1
#: func[] after OVMF's QemuTpmInitPPI with a TPM 2.0 (observed): 3 for these ops, 0 elsewhere.
OBSERVED_FUNC_OPS = (0, 5, 14, 21, 22, 23, 24, 33, 96, 97)


def test_registry_builds_ovmf_with_defaults():
    fw = FIRMWARE_MODELS["ovmf"]()
    assert isinstance(fw, OvmfFirmware) and fw.name == "ovmf" and fw.platform_lock == "randomize"


def test_func_after_init_matches_observed_ovmf(machine2):
    outcome = machine2.boot(OvmfFirmware())
    page = machine2.page
    assert page.func == [3 if op in OBSERVED_FUNC_OPS else 0 for op in range(256)]
    assert (page.ppin, page.pprq, page.lppr, page.next_step) == (1, 0, 0, 0)
    assert outcome.reset_requested is False and outcome.reason == "no request"


def test_init_zeroes_stale_func_and_keeps_pprp_pprm_movv_when_ppin_is_0(machine2):
    stale = PpiPage.blank()
    stale.func = [4] * 256
    stale.pprp, stale.pprm, stale.lppr, stale.next_step, stale.movv = 0x1234, 0x99, 7, 22, 1
    machine2.memory.write(TPM_PPI_ADDR_BASE, stale.build())
    machine2.boot(OvmfFirmware())
    page = machine2.page
    assert page.func == [3 if op in OBSERVED_FUNC_OPS else 0 for op in range(256)]
    # ppin 0 -> ppin 1, pprq/lppr/next_step 0; pprp and pprm untouched; movv is not OVMF's byte
    assert (page.ppin, page.pprq, page.lppr, page.next_step, page.pprp, page.pprm, page.movv) == \
        (1, 0, 0, 0, 0x1234, 0x99, 1)


def test_request_in_an_uninitialised_page_is_dropped(machine2):
    """ppin 0: OVMF initialises the page and zeroes pprq before looking at it."""
    page = PpiPage.blank()
    page.pprq = 5
    machine2.memory.write(TPM_PPI_ADDR_BASE, page.build())
    outcome = machine2.boot(OvmfFirmware())
    assert (outcome.reason, machine2.page.pprq, machine2.page.lppr, machine2.page.ppin) == ("no request", 0, 0, 1)


def test_tpm12_config_leaves_func_all_zero(make_machine, swtpm_tpm2):
    machine = make_machine(swtpm_tpm2)
    machine.fwcfg.add_file(TPM_CONFIG_FILE, TpmConfig(TPM_PPI_ADDR_BASE, TpmVersion.TPM_1_2).build())
    machine.boot(OvmfFirmware())
    assert machine.page.func == [0] * 256 and machine.page.ppin == 1


def test_accept_clear_observed_page_and_reset(machine2_iface):
    machine2_iface.boot(OvmfFirmware())
    machine2_iface.request(5)
    prompts = RecordingPolicy(accept)
    outcome = machine2_iface.boot(OvmfFirmware(), prompts)
    page = machine2_iface.page
    assert (page.pprq, page.pprm, page.lppr, page.pprp) == (0, 0, 5, 0)
    assert outcome.reset_requested is True and (outcome.processed_operation, outcome.response) == (5, 0)
    assert [(p.operation, p.accept_key, p.reject_key) for p in prompts.seen] == [(5, "F12", "ESC")]


def test_reject_clear_observed_page_no_reset_and_tpm_untouched(machine2):
    machine2.boot(OvmfFirmware())
    machine2.tpm2.hierarchy_change_auth(TPM_RH.OWNER, b"owner-secret")
    machine2.request(5)
    outcomes = machine2.run(OvmfFirmware(), reject)
    page = machine2.page
    assert (page.pprq, page.pprm, page.lppr, page.pprp) == (0, 0, 5, USER_ABORT)
    assert [o.reset_requested for o in outcomes] == [False]
    assert outcomes[0].reason == "user abort"
    assert TPMA_PERMANENT.ownerAuthSet in machine2.tpm2.get_permanent()


@pytest.mark.parametrize(
    ("op", "param", "accepted", "key", "pprp", "reset"),
    [
        (14, 0, True, "F12", 0, True),
        (22, 0, True, "F12", 0, True),
        (24, 0, True, "F12", 0, True),
        (23, 3, True, "F12", 0, True),  # SHA1|SHA256: supported -> allocated
        (23, 0, True, "F12", BIOS_FAILURE, True),  # no bank: fails without allocating, still reboots
        (23, 0x20, True, "F12", BIOS_FAILURE, True),  # a bank swtpm does not support
        (33, 0, None, None, 0, True),  # LogAllDigests: no prompt
        (96, 0, True, "F10", BIOS_FAILURE, True),  # accepted but unimplemented
        (97, 0, False, "F10", USER_ABORT, False),
        (21, 0, False, "F12", USER_ABORT, False),
        (2, 0, None, None, 0, False),  # invalid op <= 34 "succeeds" silently
        (34, 0, None, None, 0, False),
        (35, 0, None, None, BIOS_FAILURE, False),
        (40, 0, None, None, BIOS_FAILURE, False),
        (128, 0, None, None, BIOS_FAILURE, False),
    ],
)
def test_observed_outcomes_per_operation(machine2, op, param, accepted, key, pprp, reset):
    machine2.request(op, param)
    prompts = RecordingPolicy(accept if accepted else reject)
    outcome = machine2.boot(OvmfFirmware(), prompts)
    page = machine2.page
    assert [p.accept_key for p in prompts.seen] == ([key] if key else [])
    assert (page.pprq, page.pprm, page.lppr, page.pprp) == (0, 0, op, pprp)
    assert (outcome.reset_requested, outcome.processed_operation, outcome.response) == (reset, op, pprp)


def test_set_pcr_banks_prompt_shows_current_and_new_banks(machine2):
    machine2.request(23, 2)
    prompts = RecordingPolicy(reject)
    machine2.boot(OvmfFirmware(), prompts)
    (request,) = prompts.seen
    assert request.parameter == 2 and request.name == "SetPCRBanks"
    assert request.text.endswith("Current PCR banks: SHA1|SHA256|SHA384|SHA512; new PCR banks: SHA256.")


def test_timeout_policy_is_an_abort(machine2):
    machine2.request(24)
    outcome = machine2.boot(OvmfFirmware(), timeout(180))
    assert (outcome.reset_requested, outcome.response, machine2.page.pprp) == (False, USER_ABORT, USER_ABORT)
    user = [(e.text, e.data) for e in machine2.timeline if e.actor == "user"]
    assert user == [("no key pressed (no key within 180 s)", {"accepted": False})]


def test_no_request_writes_nothing(machine2):
    machine2.boot(OvmfFirmware())
    page = machine2.page
    page.lppr, page.pprp, page.pprm = 7, 0x1234, 0x55
    machine2.memory.write(TPM_PPI_ADDR_BASE, page.build())
    before = machine2.raw_page()
    outcome = machine2.boot(OvmfFirmware(), reject)
    assert machine2.raw_page() == before
    assert outcome == outcome.__class__(False, None, None, "no request")


def test_tpm_not_started_makes_ops_up_to_34_invalid_successes(make_machine, swtpm_tpm12):
    """A TPM 1.2 behind an OVMF (TPM 2.0) build: no EFI_TCG2_PROTOCOL, so Clear is 'invalid' -> 0."""
    machine = make_machine(swtpm_tpm12)
    machine.fwcfg.add_file(TPM_CONFIG_FILE, TpmConfig(TPM_PPI_ADDR_BASE, TpmVersion.TPM_2_0).build())
    machine.request(5)
    prompts = RecordingPolicy(accept)
    outcome = machine.boot(OvmfFirmware(), prompts)
    assert prompts.seen == []
    assert (outcome.reset_requested, outcome.response, machine.page.lppr, machine.page.pprq) == (False, 0, 5, 0)


def test_ppi_runs_before_the_platform_lock(machine2):
    """Boot 1 locks TPM_RH_PLATFORM with a random auth; boot 2's Clear still works (Startup reset it)."""
    machine2.boot(OvmfFirmware())
    locked = machine2.tpm2.execute(tpm2.CLEAR_CONTROL, handles=[TPM_RH.PLATFORM], disable=0, check=False)
    assert locked.rc_name == "TPM_RC_BAD_AUTH (session 1)"
    machine2.request(5)
    assert machine2.boot(OvmfFirmware()).response == 0


def test_platform_lock_disable_variant(machine2):
    machine2.boot(OvmfFirmware(platform_lock="disable"))
    assert not (tpm2.TPMA_STARTUP_CLEAR.phEnable & machine2.tpm2.get_startup_clear())


# -- discovery (QemuTpmInitPPI) ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("config", "problem"),
    [
        (None, "fw_cfg has no etc/tpm/config"),
        (bytes.fromhex("0050d4fe02"), "etc/tpm/config is 5 bytes, not 6 (EFI_PROTOCOL_ERROR)"),
        (bytes.fromhex("0050d4fe020100"), "etc/tpm/config is 7 bytes, not 6 (EFI_PROTOCOL_ERROR)"),
        (bytes.fromhex("000000000201"), "PpiAddress is 0 (EFI_PROTOCOL_ERROR)"),
        # 0xFED45F00 + 0x15A crosses into the next 4 KiB page
        (bytes.fromhex("005fd4fe0201"), "PPI structure at 0xFED45F00 crosses a 4 KiB page boundary"),
        # 0x00100000 is guest RAM in the test memory map
        (bytes.fromhex("000010000201"), "PPI address 0x100000 is ordinary RAM, not MMIO (EFI_PROTOCOL_ERROR)"),
    ],
)
def test_bad_config_means_no_ppi_and_nothing_touched(make_machine, swtpm_tpm2, config, problem):
    machine = make_machine(swtpm_tpm2)
    machine.fwcfg.remove_file(TPM_CONFIG_FILE)
    if config is not None:
        machine.fwcfg.add_file(TPM_CONFIG_FILE, config)
    machine.request(5)
    before = machine.raw_page()
    outcome = machine.boot(OvmfFirmware())
    assert machine.raw_page() == before
    assert (outcome.reset_requested, outcome.reason) == (False, f"no PPI: {problem}")


def test_page_is_found_at_the_address_fwcfg_names(make_machine, swtpm_tpm2):
    address = 0xFEB00000
    memory = GuestMemory.with_ppi(address)
    memory.add(Region("decoy", TPM_PPI_ADDR_BASE, bytearray(0x400), clear_on_mor=False))
    machine = make_machine(swtpm_tpm2, memory=memory, ppi_address=address)
    machine.request(33)
    outcome = machine.boot(OvmfFirmware())
    assert (outcome.response, machine.page.lppr, machine.page.ppin) == (0, 33, 1)
    assert memory.read(TPM_PPI_ADDR_BASE, 0x400) == bytes(0x400)


# -- invariant: invalid ops never reach the TPM ------------------------------------------------------
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(op=st.integers(1, 255).filter(lambda op: op not in OBSERVED_FUNC_OPS), param=st.integers(0, 0xFFFFFFFF))
def test_invalid_ops_send_no_tpm_command(swtpm_tpm2, make_machine, op, param):
    machine = make_machine(swtpm_tpm2)
    machine.request(op, param)
    outcome = machine.boot(OvmfFirmware(), accept)
    events = [(e.actor, e.text) for e in machine.timeline]
    start = next(i for i, ev in enumerate(events) if ev[1].startswith(f"PPI request {op} "))
    end = next(i for i, ev in enumerate(events) if ev[1].startswith("pprp = "))
    assert [ev for ev in events[start:end] if ev[0] == "tpm"] == []
    assert outcome.reset_requested is False
    assert machine.page.pprp == (0 if op <= 34 else BIOS_FAILURE)


# -- item 4: effects checked on the TPM ----------------------------------------------------------------
def test_clear_removes_owner_auth_set_before(machine2_iface):
    machine2_iface.boot(OvmfFirmware())
    machine2_iface.tpm2.hierarchy_change_auth(TPM_RH.OWNER, b"owner-secret")
    assert TPMA_PERMANENT.ownerAuthSet in machine2_iface.tpm2.get_permanent()
    machine2_iface.request(5)
    outcomes = machine2_iface.run(OvmfFirmware(), accept)
    assert [o.reset_requested for o in outcomes] == [True, False]
    assert TPMA_PERMANENT.ownerAuthSet not in machine2_iface.tpm2.get_permanent()
    stale = machine2_iface.tpm2.execute(tpm2.HIERARCHY_CHANGE_AUTH, handles=[TPM_RH.OWNER], passwords=[b"owner-secret"],
                                  newAuth=b"x", check=False)
    assert stale.rc_name == "TPM_RC_BAD_AUTH (session 1)"


def _active(machine) -> dict[int, bytes]:
    return {bank.alg: bank.pcr_select for bank in machine.tpm2.get_pcr_banks()}


@pytest.mark.parametrize(("param", "active"), [(2, {TPM_ALG.SHA256}), (3, {TPM_ALG.SHA1, TPM_ALG.SHA256})])
def test_set_pcr_banks_changes_active_banks_after_the_reset(machine2_iface, param, active):
    all_banks = {TPM_ALG.SHA1, TPM_ALG.SHA256, TPM_ALG.SHA384, TPM_ALG.SHA512}
    machine2_iface.boot(OvmfFirmware())
    machine2_iface.request(23, param)
    first = machine2_iface.boot(OvmfFirmware())
    assert first.reset_requested and first.response == 0
    # PCR_Allocate takes effect at the next TPM2_Startup: before the reset nothing changed
    assert {alg for alg, sel in _active(machine2_iface).items() if any(sel)} == all_banks
    machine2_iface.boot(OvmfFirmware())
    banks = _active(machine2_iface)
    assert set(banks) == all_banks
    assert {alg: sel for alg, sel in banks.items()} == {
        alg: (b"\xff\xff\xff" if alg in active else b"\x00\x00\x00") for alg in all_banks}


def _ek_public(machine) -> bytes:
    key = machine.tpm2.create_primary(TPM_RH.ENDORSEMENT)
    machine.tpm2.flush_context(key.handle)
    return key.public_bytes


@pytest.mark.parametrize(("confirm", "changed"), [(accept, True), (reject, False)])
def test_change_eps_changes_the_endorsement_primary_key(machine2_iface, confirm, changed):
    machine2_iface.boot(OvmfFirmware())
    before = _ek_public(machine2_iface)
    assert _ek_public(machine2_iface) == before  # same seed, same template -> same key
    machine2_iface.request(24)
    machine2_iface.run(OvmfFirmware(), confirm)
    assert (_ek_public(machine2_iface) != before) is changed


@pytest.mark.parametrize(("interface", "last_tpm_event"), [
    ("tis", "TPM2_ClearControl -> TPM_FAIL"),  # QEMU's fatal-error reply through the FIFO
    ("crb", "TPM2_ClearControl: no response (CRB reports a fatal error"),  # the driver sees tpmSts
])
def test_tpm_dying_during_the_op_is_bios_failure_and_still_reboots(make_machine, swtpm_tpm2, interface, last_tpm_event):
    """swtpm killed while the prompt is up: Clear fails, OVMF writes BIOS_FAILURE and still resets;
    a restarted swtpm boots again."""
    machine = make_machine(swtpm_tpm2, interface=interface)

    def kill_then_accept(request: ConfirmRequest) -> bool:
        os.kill(machine.backend.pid, signal.SIGKILL)
        return True

    machine.request(5)
    outcome = machine.boot(OvmfFirmware(), callback(kill_then_accept))
    assert (outcome.reset_requested, outcome.response, machine.page.pprp, machine.page.lppr) == \
        (True, BIOS_FAILURE, BIOS_FAILURE, 5)
    assert [e.text for e in machine.timeline if e.actor == "tpm"][-1].startswith(last_tpm_event)
    machine.backend.restart()
    assert machine.boot(OvmfFirmware()).reason == "no request"


def test_bad_platform_lock_is_a_usage_error():
    with pytest.raises(UsageError, match="platform_lock must be one of randomize, disable, not 'off'"):
        OvmfFirmware(platform_lock="off")
