"""The ``flags`` model (SecurityPkg's generic TPM 2.0 PPI, §2.8) against a real swtpm: func[] as fn 8
answers from the flags, confirmation per flags, flag ops in NV, RESET_TRACK, reboot set, and the
TPM effect of an op confirmed by the flags alone."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ppikit.errors import UsageError
from ppikit.ppi.firmware import FIRMWARE_MODELS
from ppikit.ppi.firmware.base import RecordingPolicy, accept, reject
from ppikit.ppi.firmware.flags import (
    PCD_TCG2_PHYSICAL_PRESENCE_FLAGS,
    FlagsFirmware,
    Tcg2PpFlag,
    pp_required,
    user_confirmation_status,
)
from ppikit.ppi.firmware.tcg2 import TCG2_REBOOT_OPS
from ppikit.ppi.operations import catalogue
from ppikit.tpm.tpm2 import TPM_RH, TPMA_PERMANENT
from ppikit.tpm.version import TpmVersion

BIOS_FAILURE = 0xFFFFFFF1
USER_ABORT = 0xFFFFFFF0
NV = "Tcg2PhysicalPresenceFlags"
#: fn 8 / func[] under the default 0x700E2 (PPI 1.3): 4 = no PP needed, 3 = PP needed, others 0.
DEFAULT_FUNC = {0: 4, 5: 3, 14: 3, 17: 4, 18: 3, 21: 3, 22: 3, 23: 3, 24: 3, 33: 4,
                96: 3, 97: 3, 98: 4, 99: 3, 100: 4, 101: 3}


def _request(machine, op: int, param: int = 0, accepted: bool = True, firmware=None):
    prompts = RecordingPolicy(accept if accepted else reject)
    machine.request(op, param)
    outcomes = machine.run(firmware or FlagsFirmware(), prompts)
    return [p.accept_key for p in prompts.seen], outcomes


def test_default_func_and_nv_variable(machine2):
    assert isinstance(FIRMWARE_MODELS["flags"](), FlagsFirmware)
    machine2.boot(FlagsFirmware())
    assert {op: v for op, v in enumerate(machine2.page.func) if v} == DEFAULT_FUNC
    assert machine2.nv == {NV: 0x700E2}


def test_ppi_below_1_3_reports_unimplemented_ops_up_to_34_as_allowed(machine2):
    machine2.boot(FlagsFirmware(ppi_version="1.2"))
    expected = {op: 4 for op in range(35)} | DEFAULT_FUNC
    assert {op: v for op, v in enumerate(machine2.page.func) if v} == expected


@given(op=st.integers(0, 255), flags=st.integers(0, 0xFFFFFFFF))
def test_fn8_status_is_3_or_4_exactly_for_implemented_ops(op, flags):
    status = user_confirmation_status(op, flags)
    assert (status != 0) == (op in DEFAULT_FUNC)
    if op in (0, 17, 33, 98, 100):
        assert status == 4
    if op in (18, 99, 101):
        assert status == 3


@pytest.mark.parametrize(
    ("op", "keys", "pprp", "resets", "flags_after"),
    [
        (18, ["F10"], 0, [False], 0x700E0),  # loosen: always prompted, no reboot
        (17, [], 0, [False], 0x700E2),  # tighten: never prompted
        (97, ["F10"], 0, [True, False], 0x300E2),  # DisableBlockSID: bit 18 cleared, reboot
        (98, [], 0, [False], 0x700E2),
        (99, ["F10"], 0, [False], 0x600E2),
        (101, ["F10"], 0, [False], 0x500E2),
        (33, [], 0, [True, False], 0x700E2),
        (1, [], 0, [False], 0x700E2),  # not implemented, <= 34: silent success
        (25, [], 0, [False], 0x700E2),
        (40, [], BIOS_FAILURE, [False], 0x700E2),
        (128, [], BIOS_FAILURE, [False], 0x700E2),  # Tcg2PpVendorLibNull
    ],
)
def test_operation_outcomes(machine2, op, keys, pprp, resets, flags_after):
    seen, outcomes = _request(machine2, op)
    page = machine2.page
    assert seen == keys
    assert [o.reset_requested for o in outcomes] == resets
    assert (page.pprq, page.pprm, page.lppr, page.pprp) == (0, 0, op, pprp)
    assert machine2.nv[NV] == flags_after


def test_flag_op_updates_func_and_later_confirmation(machine2):
    machine2.boot(FlagsFirmware())
    machine2.tpm2.hierarchy_change_auth(TPM_RH.OWNER, b"owner-secret")
    seen, _ = _request(machine2, 18)
    assert seen == ["F10"] and machine2.page.func[5] == 4 and machine2.page.func[22] == 4
    seen, outcomes = _request(machine2, 5, accepted=False)  # nobody is asked any more
    assert seen == [] and [o.response for o in outcomes[:1]] == [0]
    assert [o.reset_requested for o in outcomes] == [True, False]
    assert TPMA_PERMANENT.ownerAuthSet not in machine2.tpm2.get_permanent()


def test_reject_under_flags_is_user_abort(machine2):
    seen, outcomes = _request(machine2, 24, accepted=False)
    assert seen == ["F12"] and outcomes[0].response == USER_ABORT and not outcomes[0].reset_requested


def test_set_pcr_banks_without_pp_flag_needs_no_prompt(machine2):
    firmware = FlagsFirmware(default_flags=PCD_TCG2_PHYSICAL_PRESENCE_FLAGS & ~Tcg2PpFlag.PP_REQUIRED_FOR_CHANGE_PCRS)
    seen, outcomes = _request(machine2, 23, 2, accepted=False, firmware=firmware)
    assert seen == [] and outcomes[0].response == 0
    active = {bank.alg for bank in machine2.tpm2.get_pcr_banks() if bank.active}
    assert active == {0x000B}  # SHA256 only, after the reset


def test_reset_track_skips_prompt_and_keeps_request_pending(machine2):
    machine2.nv[NV] = PCD_TCG2_PHYSICAL_PRESENCE_FLAGS | Tcg2PpFlag.RESET_TRACK
    machine2.request(24)
    prompts = RecordingPolicy(reject)
    outcome = machine2.boot(FlagsFirmware(), prompts)
    page = machine2.page
    assert prompts.seen == [] and outcome.reset_requested and outcome.response == 0
    assert (page.pprq, page.lppr) == (24, 0)


def test_bad_options_are_usage_errors():
    with pytest.raises(UsageError, match="PPI version must look like 1.3"):
        FlagsFirmware(ppi_version="one")
    with pytest.raises(UsageError, match="32-bit"):
        FlagsFirmware(default_flags=1 << 32)
    with pytest.raises(UsageError, match="platform_lock must be one of randomize, disable"):
        FlagsFirmware(platform_lock="keep")


def test_default_rules_agree_with_the_operation_catalogue():
    """The catalogue's default PP column and reboot column are what the flags model does by default."""
    ops = catalogue(TpmVersion.TPM_2_0)
    implemented = [op for op in ops if pp_required(op.number, PCD_TCG2_PHYSICAL_PRESENCE_FLAGS) is not None]
    assert [op.number for op in implemented] == sorted(DEFAULT_FUNC)
    assert {op.number: pp_required(op.number, PCD_TCG2_PHYSICAL_PRESENCE_FLAGS) for op in implemented} == \
        {op.number: op.pp_required for op in implemented}
    assert TCG2_REBOOT_OPS == {op.number for op in ops if op.reboot}
