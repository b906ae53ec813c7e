"""The ``edk2-tpm12`` model against a real TPM 1.2 swtpm: func[] per flags (§2.6), the PP pre/post
steps and command tables (§2.9/§7.2), RC responses, two-boot ops via next_step, and the permanent
flags each op really changes (item 4).

Fact checked here on swtpm 0.7.1 / libtpms 0.9: a fresh TPM 1.2 (no swtpm_setup) starts ENABLED,
ACTIVATED, unowned, with ownership (owner install) allowed and physicalPresenceCMDEnable off.
"""

from __future__ import annotations

import os
import signal

import pytest

from ppikit.errors import UsageError
from ppikit.fwcfg.tpm_config import TPM_CONFIG_FILE, TpmConfig
from ppikit.ppi.firmware import FIRMWARE_MODELS
from ppikit.ppi.firmware.base import ConfirmRequest, RecordingPolicy, accept, callback, reject
from ppikit.ppi.firmware.edk2_tpm12 import (
    CONFIRMATION_RULES,
    TPM12_REBOOT_OPS,
    TWO_BOOT_STEPS,
    Edk2Tpm12Firmware,
    TcgPpFlag,
    needs_prompt,
)
from ppikit.ppi.operations import OpKind, catalogue
from ppikit.ppi.page import TPM_PPI_ADDR_BASE
from ppikit.tpm.version import TpmVersion

USER_ABORT = 0xFFFFFFF0
BIOS_FAILURE = 0xFFFFFFF1
TPM_DISABLED = 0x07  #: TPM 1.2 return code TPM_DISABLED
FLAGS = "PhysicalPresenceFlags"


def _flags(machine, *names: str) -> dict[str, bool]:
    permanent = machine.tpm12.get_permanent_flags()
    return {name: permanent[name] for name in names}


def _boot_with_request(machine, op: int, confirm=accept, firmware=None):
    firmware = firmware or Edk2Tpm12Firmware()
    machine.request(op)
    return machine.run(firmware, confirm)


def test_registry_and_fresh_swtpm_state(machine12):
    assert isinstance(FIRMWARE_MODELS["edk2-tpm12"](), Edk2Tpm12Firmware)
    machine12.boot(Edk2Tpm12Firmware())
    assert _flags(machine12, "disable", "deactivated", "ownership", "physicalPresenceCMDEnable",
                  "physicalPresenceLifetimeLock") == {
        "disable": False, "deactivated": False, "ownership": True, "physicalPresenceCMDEnable": False,
        "physicalPresenceLifetimeLock": False}
    assert machine12.nv == {FLAGS: 0x01}  # created with NO_PPI_PROVISION


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        # default NO_PPI_PROVISION: provisioning ops 4, clear ops 3, 15/17/19 4, 16/18/20 3; 0 and 12 stay 0
        (0x01, {1: 4, 2: 4, 3: 4, 4: 4, 5: 3, 6: 4, 7: 4, 8: 4, 9: 4, 10: 4, 11: 4, 13: 4, 14: 3, 15: 4, 16: 3,
                17: 4, 18: 3, 19: 4, 20: 3, 21: 3, 22: 3}),
        # NO_PPI_CLEAR alone: 5/14 -> 4, but 21/22 need CLEAR and MAINTENANCE
        (0x02, {1: 3, 2: 3, 3: 3, 4: 3, 5: 4, 6: 3, 7: 3, 8: 3, 9: 3, 10: 3, 11: 3, 13: 3, 14: 4, 15: 4, 16: 3,
                17: 4, 18: 3, 19: 4, 20: 3, 21: 3, 22: 3}),
        (0x06, {1: 3, 2: 3, 3: 3, 4: 3, 5: 4, 6: 3, 7: 3, 8: 3, 9: 3, 10: 3, 11: 3, 13: 3, 14: 4, 15: 4, 16: 3,
                17: 4, 18: 3, 19: 4, 20: 3, 21: 4, 22: 4}),
    ],
)
def test_func_from_flags(machine12, flags, expected):
    machine12.nv[FLAGS] = flags
    machine12.boot(Edk2Tpm12Firmware())
    func = machine12.page.func
    assert {op: v for op, v in enumerate(func) if v} == expected


def test_tpm2_config_means_no_ppi(make_machine, swtpm_tpm12):
    machine = make_machine(swtpm_tpm12)
    machine.fwcfg.add_file(TPM_CONFIG_FILE, TpmConfig(TPM_PPI_ADDR_BASE, TpmVersion.TPM_2_0).build())
    outcome = machine.boot(Edk2Tpm12Firmware())
    assert outcome.reason == "no PPI: etc/tpm/config says TPM version 2, this library needs 1 (TPM 1.2)"
    assert machine.raw_page() == bytes(0x400)


@pytest.mark.parametrize(
    ("op", "key", "pprp", "resets"),
    [
        (1, None, 0, [False]),  # enable: no prompt under NO_PPI_PROVISION, no reboot
        (8, None, 0, [False]),
        (3, None, 0, [True, False]),  # activate: reboot
        (12, "F12", 0, [True, False]),  # deferred PP: NO_PPI_MAINTENANCE not set -> prompt
        (13, None, BIOS_FAILURE, [False]),  # SetOperatorAuth needs UI
        (16, "F10", 0, [False]),  # SetNoPPIProvision_True always prompts
        (15, None, 0, [False]),
        (23, None, BIOS_FAILURE, [False]),  # invalid for TPM 1.2
        (128, None, BIOS_FAILURE, [False]),
    ],
)
def test_operation_outcomes(machine12, op, key, pprp, resets):
    prompts = RecordingPolicy(accept)
    outcomes = _boot_with_request(machine12, op, prompts)
    page = machine12.page
    assert [p.accept_key for p in prompts.seen] == ([key] if key else [])
    assert [o.reset_requested for o in outcomes] == resets
    assert (page.pprq, page.pprm, page.lppr, page.pprp, page.next_step) == (0, 0, op, pprp, 0)


def test_op13_without_no_ppi_provision_has_no_prompt_text_so_it_aborts(machine12):
    machine12.nv[FLAGS] = 0
    prompts = RecordingPolicy(accept)
    outcomes = _boot_with_request(machine12, 13, prompts)
    assert prompts.seen == [] and outcomes[0].response == USER_ABORT and machine12.page.pprp == USER_ABORT


def test_pp_steps_around_the_request_and_lock_after(machine12):
    outcomes = _boot_with_request(machine12, 9)
    assert outcomes[-1].response == 0
    commands = [e.data.get("command") for e in machine12.timeline if e.actor == "tpm"]
    assert commands[-5:] == ["TPM_GetCapability", "TSC_PhysicalPresence", "TSC_PhysicalPresence",
                             "TPM_SetOwnerInstall", "TSC_PhysicalPresence"]
    stclear = machine12.tpm12.get_stclear_flags()
    assert (stclear["physicalPresence"], stclear["physicalPresenceLock"]) == (False, True)
    assert _flags(machine12, "physicalPresenceCMDEnable") == {"physicalPresenceCMDEnable": True}


def test_reject_clear_is_user_abort_no_reboot(machine12):
    outcomes = _boot_with_request(machine12, 5, reject)
    page = machine12.page
    assert [o.reset_requested for o in outcomes] == [False]
    assert (page.pprq, page.lppr, page.pprp) == (0, 5, USER_ABORT)
    assert _flags(machine12, "disable", "deactivated") == {"disable": False, "deactivated": False}


def test_tpm_error_code_reaches_pprp(machine12):
    """ForceClear on a disabled TPM: pprp is the TPM's own return code (TPM_DISABLED = 7)."""
    _boot_with_request(machine12, 2)
    outcomes = _boot_with_request(machine12, 5)
    assert outcomes[0].response == TPM_DISABLED and machine12.page.pprp == TPM_DISABLED
    assert [o.reset_requested for o in outcomes] == [True, False]  # reboot also after a failure


def test_flag_op_changes_nv_and_func(machine12):
    _boot_with_request(machine12, 18)  # SetNoPPIClear_True (prompted, accepted)
    assert machine12.nv[FLAGS] == TcgPpFlag.NO_PPI_PROVISION | TcgPpFlag.NO_PPI_CLEAR
    assert (machine12.page.func[5], machine12.page.func[14]) == (4, 4)
    prompts = RecordingPolicy(reject)
    outcomes = _boot_with_request(machine12, 5, prompts)
    assert prompts.seen == [] and outcomes[0].response == 0  # now no prompt for Clear


def test_lifetime_lock_without_cmd_enable_leaves_request_pending(machine12):
    machine12.boot(Edk2Tpm12Firmware())
    machine12.tpm12.physical_presence(0x0080)  # TPM_PHYSICAL_PRESENCE_LIFETIME_LOCK, CMD_ENABLE still off
    machine12.request(1)
    before = machine12.raw_page()
    outcome = machine12.boot(Edk2Tpm12Firmware())
    assert outcome.reason == "physicalPresenceCMDEnable is off and locked for life"
    assert machine12.raw_page() == before


# -- item 4: permanent flags each op really changes ------------------------------------------------
def test_disable_then_enable_activate(machine12):
    _boot_with_request(machine12, 2)
    assert _flags(machine12, "disable", "deactivated") == {"disable": True, "deactivated": False}
    _boot_with_request(machine12, 6)
    assert _flags(machine12, "disable", "deactivated") == {"disable": False, "deactivated": False}


def test_deactivate_disable_then_op6_enables_and_activates(machine12):
    _boot_with_request(machine12, 7)
    assert _flags(machine12, "disable", "deactivated") == {"disable": True, "deactivated": True}
    _boot_with_request(machine12, 6)
    assert _flags(machine12, "disable", "deactivated") == {"disable": False, "deactivated": False}


def test_owner_install_false_then_true(machine12):
    _boot_with_request(machine12, 9)
    assert _flags(machine12, "ownership") == {"ownership": False}
    _boot_with_request(machine12, 8)
    assert _flags(machine12, "ownership") == {"ownership": True}


def test_op21_two_boots_ends_cleared(machine12):
    """Boot A: enable+activate, pprq kept, next_step 21, reset; boot B: no prompt, ForceClear."""
    firmware = Edk2Tpm12Firmware()
    _boot_with_request(machine12, 9)  # owner install off (ForceClear turns it back on)
    _boot_with_request(machine12, 7)  # disabled + deactivated
    assert _flags(machine12, "disable", "deactivated", "ownership") == {
        "disable": True, "deactivated": True, "ownership": False}
    machine12.request(21)
    prompts = RecordingPolicy(accept)
    first = machine12.boot(firmware, prompts)
    page = machine12.page
    assert first.reset_requested and first.reason == "operation continues after the reset"
    assert (page.pprq, page.next_step, page.pprp) == (21, 21, 0)
    assert _flags(machine12, "disable", "deactivated") == {"disable": False, "deactivated": False}
    second = machine12.boot(firmware, prompts)
    page = machine12.page
    assert len(prompts.seen) == 1  # boot B asks nobody
    assert second.reset_requested and (second.processed_operation, second.response) == (21, 0)
    assert (page.pprq, page.next_step, page.lppr, page.pprp) == (0, 0, 21, 0)
    assert machine12.boot(firmware).reason == "no request"
    # TPM_ForceClear: disabled, deactivated, owner install allowed again
    assert _flags(machine12, "disable", "deactivated", "ownership") == {
        "disable": True, "deactivated": True, "ownership": True}


def test_op22_two_boots_ends_cleared_enabled_activated(machine12):
    _boot_with_request(machine12, 9)
    outcomes = _boot_with_request(machine12, 22)
    assert [(o.reset_requested, o.processed_operation) for o in outcomes] == [(True, 22), (True, 22), (False, None)]
    assert _flags(machine12, "disable", "deactivated", "ownership") == {
        "disable": False, "deactivated": False, "ownership": True}


def test_op10_two_boots_allows_owner_install(machine12):
    _boot_with_request(machine12, 11)  # owner install off, deactivated, disabled
    assert _flags(machine12, "disable", "deactivated", "ownership") == {
        "disable": True, "deactivated": True, "ownership": False}
    outcomes = _boot_with_request(machine12, 10)
    assert [o.response for o in outcomes[:2]] == [0, 0]
    assert _flags(machine12, "disable", "deactivated", "ownership") == {
        "disable": False, "deactivated": False, "ownership": True}


def test_stale_next_step_does_not_skip_the_prompt(machine12):
    page = machine12.page
    page.ppin, page.next_step = 1, 21  # left over from an interrupted op 21; the OS now asks for 22
    machine12.memory.write(TPM_PPI_ADDR_BASE, page.build())
    machine12.request(22)
    prompts = RecordingPolicy(reject)
    outcome = machine12.boot(Edk2Tpm12Firmware(), prompts)
    assert [p.operation for p in prompts.seen] == [22]
    assert (outcome.response, machine12.page.next_step) == (USER_ABORT, 0)


def test_tpm_dying_during_the_op_puts_tpm_fail_into_pprp(machine12):
    """TIS answers QEMU's fatal-error reply (TPM_FAIL = 9): the TPM 1.2 path propagates RCs."""

    def kill_then_accept(request: ConfirmRequest) -> bool:
        os.kill(machine12.backend.pid, signal.SIGKILL)
        return True

    machine12.request(5)
    outcome = machine12.boot(Edk2Tpm12Firmware(), callback(kill_then_accept))
    assert (outcome.reset_requested, outcome.response, machine12.page.pprp) == (True, 9, 9)


def test_bad_default_flags_is_a_usage_error():
    with pytest.raises(UsageError, match="PhysicalPresenceFlags is one byte, 0x100 does not fit"):
        Edk2Tpm12Firmware(default_flags=0x100)


def test_default_rules_agree_with_the_operation_catalogue():
    """Default confirmation (NO_PPI_PROVISION), reboot set and two-boot ops match the catalogue."""
    ops = [op for op in catalogue(TpmVersion.TPM_1_2) if op.kind is OpKind.DEFINED]
    assert sorted(CONFIRMATION_RULES) == [op.number for op in ops]
    assert {op.number: needs_prompt(op.number, TcgPpFlag.NO_PPI_PROVISION) for op in ops} == \
        {op.number: op.pp_required for op in ops}
    assert TPM12_REBOOT_OPS == {op.number for op in ops if op.reboot}
    assert set(TWO_BOOT_STEPS) == {op.number for op in ops if op.boots == 2}
