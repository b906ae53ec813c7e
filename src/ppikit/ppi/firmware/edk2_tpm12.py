"""``edk2-tpm12``: edk2's TPM 1.2 PPI semantics on QEMU's page (the unmerged OVMF TPM 1.2 library).

Upstream OVMF has no TPM 1.2 PPI; Stefan Berger's unmerged OvmfPkg TcgPhysicalPresenceLibQemu
(edk2 PRs #2165/#2185/#2327) ran SecurityPkg's DxeTcgPhysicalPresenceLib logic against the QEMU
page, which is what this model does:

* ``func[]`` from the "PhysicalPresenceFlags" NV variable (default NO_PPI_PROVISION), as that
  library's ``QemuTpmInitPPIFunc`` fills it, recomputed when a flag op changes the flags;
* a pending request first asserts physical presence (GetCapability(permanent flags), CMD_ENABLE if
  needed, PRESENT), then runs the op's TPM 1.2 commands and writes the TPM return code of the
  last one into pprp; NOTPRESENT|LOCK follows unless the firmware resets;
* two-boot ops 10/21/22: boot A enables + activates, keeps ``pprq`` and sets ``next_step = op``,
  resets; boot B skips the prompt, finishes, clears ``next_step``. (edk2 tracks this with the
  RESET_TRACK flag bit; ppikit uses the page's ``next_step``, the field QEMU reserves for it.)

Every table below is data from §2.6/§2.9/§7.2 of firmware-and-os.md.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum, IntFlag
from typing import Any, ClassVar

from ppikit.errors import UsageError
from ppikit.ppi.firmware.base import BootContext, ConfirmRequest
from ppikit.ppi.firmware.pp_flow import Boot, Execution, NvFlags, PpiFirmware
from ppikit.ppi.firmware.qemu_ppi import PpiLocation
from ppikit.ppi.firmware.tpm_link import outcome_of
from ppikit.ppi.operations import (
    TCG_PP_OPERATION_RESPONSE_BIOS_FAILURE,
    TCG_PP_OPERATION_RESPONSE_SUCCESS,
    lookup,
)
from ppikit.ppi.page import PPI_FUNC_COUNT, PpiFunc
from ppikit.tpm.client import Tpm12Client
from ppikit.tpm.tpm12 import TPM_PHYSICAL_PRESENCE, TPM_ST
from ppikit.tpm.version import TpmVersion


class TcgPpFlag(IntFlag):
    """PhysicalPresenceFlags bits (TcgPpVendorLib.h / PhysicalPresenceData.h)."""

    NO_PPI_PROVISION = 1 << 0
    NO_PPI_CLEAR = 1 << 1
    NO_PPI_MAINTENANCE = 1 << 2
    RESET_TRACK = 1 << 3


PHYSICAL_PRESENCE_FLAGS_VARIABLE = "PhysicalPresenceFlags"
DEFAULT_FLAGS = TcgPpFlag.NO_PPI_PROVISION  #: what edk2 creates when the variable is absent

_PROVISION = TcgPpFlag.NO_PPI_PROVISION
_CLEAR = TcgPpFlag.NO_PPI_CLEAR
_MAINTENANCE = TcgPpFlag.NO_PPI_MAINTENANCE
NEVER, ALWAYS = False, True

#: HaveValidTpmRequest: op -> flags that, all set, waive the prompt; NEVER / ALWAYS prompt.
#: Ops missing here (23..255) are invalid.
CONFIRMATION_RULES: dict[int, TcgPpFlag | bool] = {
    0: NEVER,
    **{op: _PROVISION for op in (1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 13)},
    5: _CLEAR, 21: _CLEAR,
    12: _MAINTENANCE,
    14: _CLEAR | _PROVISION, 22: _CLEAR | _PROVISION,
    15: NEVER, 17: NEVER, 19: NEVER,
    16: ALWAYS, 18: ALWAYS, 20: ALWAYS,
}

#: QemuTpmInitPPIFunc: op -> flags that, all set, make func[] 4 (else 3), or a fixed value.
#: 0 and 12 stay 0 ("not implemented" to the OS). Note 21/22 differ from the confirmation rule.
FUNC_RULES: dict[int, TcgPpFlag | PpiFunc] = {
    **{op: _PROVISION for op in (1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 13)},
    5: _CLEAR, 14: _CLEAR,
    21: _CLEAR | _MAINTENANCE, 22: _CLEAR | _MAINTENANCE,
    15: PpiFunc.ALLOWED_USR_NOT_REQ, 17: PpiFunc.ALLOWED_USR_NOT_REQ, 19: PpiFunc.ALLOWED_USR_NOT_REQ,
    16: PpiFunc.ALLOWED_USR_REQ, 18: PpiFunc.ALLOWED_USR_REQ, 20: PpiFunc.ALLOWED_USR_REQ,
}


class Tpm12Step(Enum):
    """One TPM 1.2 physical-presence command of an operation."""

    ENABLE = "TPM_PhysicalEnable"
    DISABLE = "TPM_PhysicalDisable"
    ACTIVATE = "TPM_PhysicalSetDeactivated(FALSE)"
    DEACTIVATE = "TPM_PhysicalSetDeactivated(TRUE)"
    FORCE_CLEAR = "TPM_ForceClear"
    OWNER_INSTALL_TRUE = "TPM_SetOwnerInstall(TRUE)"
    OWNER_INSTALL_FALSE = "TPM_SetOwnerInstall(FALSE)"
    DEFERRED_PP = "TPM_SetCapability(STCLEAR_DATA, DEFERREDPHYSICALPRESENCE, 1)"


_STEP_CALLS: dict[Tpm12Step, Callable[[Tpm12Client], None]] = {
    Tpm12Step.ENABLE: lambda tpm: tpm.physical_enable(),
    Tpm12Step.DISABLE: lambda tpm: tpm.physical_disable(),
    Tpm12Step.ACTIVATE: lambda tpm: tpm.physical_set_deactivated(False),
    Tpm12Step.DEACTIVATE: lambda tpm: tpm.physical_set_deactivated(True),
    Tpm12Step.FORCE_CLEAR: lambda tpm: tpm.force_clear(),
    Tpm12Step.OWNER_INSTALL_TRUE: lambda tpm: tpm.set_owner_install(True),
    Tpm12Step.OWNER_INSTALL_FALSE: lambda tpm: tpm.set_owner_install(False),
    Tpm12Step.DEFERRED_PP: lambda tpm: tpm.set_deferred_physical_presence(True),
}

S = Tpm12Step
#: ExecutePhysicalPresence: the commands of each one-boot op, stopping at the first failure.
OP_STEPS: dict[int, tuple[Tpm12Step, ...]] = {
    1: (S.ENABLE,), 2: (S.DISABLE,), 3: (S.ACTIVATE,), 4: (S.DEACTIVATE,), 5: (S.FORCE_CLEAR,),
    6: (S.ENABLE, S.ACTIVATE), 7: (S.DEACTIVATE, S.DISABLE),
    8: (S.OWNER_INSTALL_TRUE,), 9: (S.OWNER_INSTALL_FALSE,),
    11: (S.OWNER_INSTALL_FALSE, S.DEACTIVATE, S.DISABLE),
    12: (S.DEFERRED_PP,),
    14: (S.FORCE_CLEAR, S.ENABLE, S.ACTIVATE),
}
#: Two-boot ops: (boot A commands, boot B commands).
TWO_BOOT_STEPS: dict[int, tuple[tuple[Tpm12Step, ...], tuple[Tpm12Step, ...]]] = {
    10: ((S.ENABLE, S.ACTIVATE), (S.OWNER_INSTALL_TRUE,)),
    21: ((S.ENABLE, S.ACTIVATE), (S.FORCE_CLEAR,)),
    22: ((S.ENABLE, S.ACTIVATE), (S.FORCE_CLEAR, S.ENABLE, S.ACTIVATE)),
}
#: Flag ops: op -> (flag, set it?). Response 0, no TPM command.
FLAG_OPS: dict[int, tuple[TcgPpFlag, bool]] = {
    15: (_PROVISION, False), 16: (_PROVISION, True),
    17: (_CLEAR, False), 18: (_CLEAR, True),
    19: (_MAINTENANCE, False), 20: (_MAINTENANCE, True),
}
#: SetOperatorAuth needs a UI to enter the auth: not implemented -> BIOS_FAILURE.
UNSUPPORTED_OPS = frozenset({13})
#: Ops after which edk2 resets (plus any op still pending for its second boot).
TPM12_REBOOT_OPS = frozenset({3, 4, 5, 6, 7, 10, 11, 12, 14, 21, 22})
#: UserConfirm: ops that take the caution key F12 (the rest F10); op 13 has no text at all.
CAUTION_KEY_OPS = frozenset({5, 12, 14, 18, 20, 21, 22})
NO_PROMPT_TEXT_OPS = frozenset({13})

_STEP_TEXT = {S.ENABLE: "enable", S.DISABLE: "disable", S.ACTIVATE: "activate", S.DEACTIVATE: "deactivate",
              S.FORCE_CLEAR: "clear", S.OWNER_INSTALL_TRUE: "allow taking ownership of",
              S.OWNER_INSTALL_FALSE: "disallow taking ownership of",
              S.DEFERRED_PP: "allow a field upgrade of"}


def needs_prompt(op: int, flags: int) -> bool | None:
    """Must a physically present user confirm ``op`` under ``flags``? None: invalid op."""
    rule = CONFIRMATION_RULES.get(op)
    if rule is None:
        return None
    if isinstance(rule, TcgPpFlag):
        return flags & rule != rule
    return rule


def func_value(op: int, flags: int) -> int:
    """``func[op]`` as QemuTpmInitPPIFunc sets it for ``flags``."""
    rule = FUNC_RULES.get(op)
    if rule is None:
        return PpiFunc.NOT_IMPLEMENTED
    if isinstance(rule, PpiFunc):
        return rule
    return PpiFunc.ALLOWED_USR_NOT_REQ if flags & rule == rule else PpiFunc.ALLOWED_USR_REQ


class Edk2Tpm12Firmware(PpiFirmware):
    """edk2 TPM 1.2 PPI at boot. ``default_flags``: PhysicalPresenceFlags when NV has none."""

    name: ClassVar[str] = "edk2-tpm12"
    tpm_version: ClassVar[TpmVersion] = TpmVersion.TPM_1_2
    reboot_ops: ClassVar[frozenset[int]] = TPM12_REBOOT_OPS

    def __init__(self, *, default_flags: int = DEFAULT_FLAGS) -> None:
        if not 0 <= default_flags <= 0xFF:
            raise UsageError(f"PhysicalPresenceFlags is one byte, 0x{default_flags:X} does not fit")
        self.nv_flags = NvFlags(PHYSICAL_PRESENCE_FLAGS_VARIABLE, default_flags)

    def flags(self, boot: Boot) -> int:
        return self.nv_flags.read(boot.ctx.nv)

    # -- boot ------------------------------------------------------------------------------------
    def start_tpm(self, ctx: BootContext, transport: Any) -> tuple[Tpm12Client, bool]:
        """TcgPei: TPM_Startup(ST_CLEAR), then TPM_ContinueSelfTest."""
        tpm = Tpm12Client(transport)
        ready = outcome_of(lambda: tpm.startup(TPM_ST.CLEAR)).ok
        if ready:
            outcome_of(tpm.continue_self_test)
        else:
            ctx.timeline.add("firmware", "TPM 1.2 start-up failed: no EFI_TCG_PROTOCOL")
        return tpm, ready

    def reject_location(self, location: PpiLocation) -> str:
        if location.tpm_version != TpmVersion.TPM_1_2:
            return f"etc/tpm/config says TPM version {location.tpm_version}, this library needs 1 (TPM 1.2)"
        return ""

    def fill_func(self, boot: Boot) -> None:
        flags = self.flags(boot)
        boot.page.func = [int(func_value(op, flags)) for op in range(PPI_FUNC_COUNT)]

    def before_request(self, boot: Boot) -> str:
        """Assert physical presence: permanent flags, CMD_ENABLE if needed, PRESENT (result unchecked)."""
        if boot.page.next_step not in (0, boot.page.pprq):
            boot.say(f"next_step {boot.page.next_step} belongs to an older request: cleared")
            boot.page.next_step = 0
        if not boot.tpm_ready:
            return "TPM 1.2 not started"
        permanent = outcome_of(boot.tpm.get_permanent_flags)
        if not permanent.ok or permanent.value is None:
            return "TPM_GetCapability(permanent flags) failed"
        if not permanent.value["physicalPresenceCMDEnable"]:
            if permanent.value["physicalPresenceLifetimeLock"]:
                return "physicalPresenceCMDEnable is off and locked for life"
            if not outcome_of(lambda: boot.tpm.physical_presence(TPM_PHYSICAL_PRESENCE.CMD_ENABLE)).ok:
                return "TSC_PhysicalPresence(CMD_ENABLE) failed"
        outcome_of(lambda: boot.tpm.physical_presence(TPM_PHYSICAL_PRESENCE.PRESENT))
        return ""

    def validate(self, boot: Boot, op: int) -> bool | None:
        required = needs_prompt(op, self.flags(boot))
        if required is None:
            return None
        return not required or boot.page.next_step == op

    def invalid_response(self, op: int) -> int:
        return TCG_PP_OPERATION_RESPONSE_BIOS_FAILURE

    def prompt(self, boot: Boot, op: int, param: int) -> ConfirmRequest | None:
        if op in NO_PROMPT_TEXT_OPS:
            return None
        name = lookup(self.tpm_version, op).name
        steps = OP_STEPS.get(op) or tuple(s for half in TWO_BOOT_STEPS.get(op, ((), ())) for s in half)
        if steps:
            what = " + ".join(dict.fromkeys(_STEP_TEXT[s] for s in steps))
            text = f"A configuration change was requested to {what} the TPM ({name})."
        else:
            text = f"A configuration change was requested to change the PPI policy: {name}."
        if op in CAUTION_KEY_OPS and Tpm12Step.FORCE_CLEAR in steps:
            text += " WARNING: clearing removes the TPM owner and every key protected by the TPM."
        return ConfirmRequest(op, name, text, "F12" if op in CAUTION_KEY_OPS else "F10")

    def execute(self, boot: Boot, op: int, param: int) -> Execution:
        if op in FLAG_OPS:
            return self._flag_op(boot, self.nv_flags, *FLAG_OPS[op])
        if op in UNSUPPORTED_OPS:
            boot.say(f"{self._label(op)} needs a UI to enter the auth: not implemented")
            return Execution(TCG_PP_OPERATION_RESPONSE_BIOS_FAILURE)
        if op in TWO_BOOT_STEPS:
            first, second = TWO_BOOT_STEPS[op]
            if boot.page.next_step == op:
                boot.page.next_step = 0
                return Execution(self._run(boot, op, second))
            boot.page.next_step = op  # set whatever the first half returned, as edk2 sets RESET_TRACK
            return Execution(self._run(boot, op, first), keep_pending=True)
        return Execution(self._run(boot, op, OP_STEPS[op]))

    def _run(self, boot: Boot, op: int, steps: tuple[Tpm12Step, ...]) -> int:
        """Send ``steps`` until one fails; the response is the last TPM return code."""
        boot.say(f"executing {self._label(op)}: {', '.join(s.value for s in steps)}")
        rc: int | None = TCG_PP_OPERATION_RESPONSE_SUCCESS
        for step in steps:
            rc = outcome_of(lambda step=step: _STEP_CALLS[step](boot.tpm)).rc
            if rc != 0:
                break
        return TCG_PP_OPERATION_RESPONSE_BIOS_FAILURE if rc is None else rc

    def after_request(self, boot: Boot) -> None:
        """Lock physical presence: TSC_PhysicalPresence(NOTPRESENT | LOCK)."""
        outcome_of(lambda: boot.tpm.physical_presence(TPM_PHYSICAL_PRESENCE.NOTPRESENT | TPM_PHYSICAL_PRESENCE.LOCK))
