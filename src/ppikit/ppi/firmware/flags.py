"""``flags``: SecurityPkg's generic TPM 2.0 PPI library, the "real board" behaviour, on QEMU's page.

Unlike OVMF's QEMU library, the generic DxeTcg2PhysicalPresenceLib keeps a persistent flags
variable ("Tcg2PhysicalPresenceFlags", default PcdTcg2PhysicalPresenceFlags = 0x700E2) and lets it
decide everything: whether a physically present user must confirm an op, which ops are
implemented (PPI 1.3: the rest answer "not implemented"), and the state the 17/18 and 96-101 ops
change. Here the flags live in the firmware's NV (``ctx.nv``) and ``func[]`` is filled with what
``_DSM`` fn 8 of that library answers (MmTcg2PhysicalPresenceLibCommon), recomputed whenever a
flag op changes them -- so QEMU's AML, which answers fn 8 from ``func[]``, tells the OS the truth.
TPM actions, prompts and the reboot set are shared with ``ovmf`` (:mod:`tcg2`).
"""

from __future__ import annotations

from enum import IntFlag
from typing import ClassVar

from ppikit.errors import UsageError
from ppikit.ppi.firmware.pp_flow import Boot, Execution, NvFlags
from ppikit.ppi.firmware.tcg2 import Tcg2Firmware
from ppikit.ppi.operations import (
    TCG2_PHYSICAL_PRESENCE_NO_ACTION_MAX,
)
from ppikit.ppi.page import PPI_FUNC_COUNT, PpiFunc
from ppikit.tpm.version import TpmVersion


class Tcg2PpFlag(IntFlag):
    """Tcg2PhysicalPresenceLib.h flag bits (TCG2_BIOS_* / TCG2_LIB_PP_FLAG_*)."""

    PP_REQUIRED_FOR_CLEAR = 1 << 1  #: TCG2_BIOS_TPM_MANAGEMENT_FLAG_PP_REQUIRED_FOR_CLEAR
    RESET_TRACK = 1 << 3  #: TCG2_LIB_PP_FLAG_RESET_TRACK: the request continues after a reset
    PP_REQUIRED_FOR_TURN_ON = 1 << 4
    PP_REQUIRED_FOR_TURN_OFF = 1 << 5
    PP_REQUIRED_FOR_CHANGE_EPS = 1 << 6
    PP_REQUIRED_FOR_CHANGE_PCRS = 1 << 7
    HIERARCHY_CONTROL_STORAGE_DISABLE = 1 << 8  #: TCG2_BIOS_INFORMATION_FLAG_*
    HIERARCHY_CONTROL_ENDORSEMENT_DISABLE = 1 << 9
    PP_REQUIRED_FOR_ENABLE_BLOCK_SID = 1 << 16  #: TCG2_BIOS_STORAGE_MANAGEMENT_FLAG_*
    PP_REQUIRED_FOR_DISABLE_BLOCK_SID = 1 << 17
    ENABLE_BLOCK_SID = 1 << 18


PCD_TCG2_PHYSICAL_PRESENCE_FLAGS = 0x700E2  #: SecurityPkg.dec default
TCG2_PHYSICAL_PRESENCE_FLAGS_VARIABLE = "Tcg2PhysicalPresenceFlags"

NEVER, ALWAYS = False, True
#: Confirmation rule per implemented op: a flag (PP required iff set), NEVER or ALWAYS (§2.8).
#: Ops missing here are not implemented (1, 2, 25-32, 34, reserved; vendor ops: Tcg2PpVendorLibNull).
PP_REQUIRED_RULES: dict[int, Tcg2PpFlag | bool] = {
    0: NEVER,
    5: Tcg2PpFlag.PP_REQUIRED_FOR_CLEAR, 14: Tcg2PpFlag.PP_REQUIRED_FOR_CLEAR,
    21: Tcg2PpFlag.PP_REQUIRED_FOR_CLEAR, 22: Tcg2PpFlag.PP_REQUIRED_FOR_CLEAR,
    17: NEVER, 18: ALWAYS,
    23: Tcg2PpFlag.PP_REQUIRED_FOR_CHANGE_PCRS,
    24: Tcg2PpFlag.PP_REQUIRED_FOR_CHANGE_EPS,
    33: NEVER,
    96: Tcg2PpFlag.PP_REQUIRED_FOR_ENABLE_BLOCK_SID,
    97: Tcg2PpFlag.PP_REQUIRED_FOR_DISABLE_BLOCK_SID,
    98: NEVER, 99: ALWAYS, 100: NEVER, 101: ALWAYS,
}

#: Ops that only change a flag: op -> (flag, set it?). None touches the TPM.
FLAG_OPS: dict[int, tuple[Tcg2PpFlag, bool]] = {
    17: (Tcg2PpFlag.PP_REQUIRED_FOR_CLEAR, True),
    18: (Tcg2PpFlag.PP_REQUIRED_FOR_CLEAR, False),
    96: (Tcg2PpFlag.ENABLE_BLOCK_SID, True),
    97: (Tcg2PpFlag.ENABLE_BLOCK_SID, False),
    98: (Tcg2PpFlag.PP_REQUIRED_FOR_ENABLE_BLOCK_SID, True),
    99: (Tcg2PpFlag.PP_REQUIRED_FOR_ENABLE_BLOCK_SID, False),
    100: (Tcg2PpFlag.PP_REQUIRED_FOR_DISABLE_BLOCK_SID, True),
    101: (Tcg2PpFlag.PP_REQUIRED_FOR_DISABLE_BLOCK_SID, False),
}


def pp_required(op: int, flags: int) -> bool | None:
    """Must a physically present user confirm ``op`` under ``flags``? None: op not implemented."""
    rule = PP_REQUIRED_RULES.get(op)
    if rule is None:
        return None
    if isinstance(rule, Tcg2PpFlag):
        return bool(flags & rule)
    return rule


def user_confirmation_status(op: int, flags: int, *, ppi_1_3: bool = True) -> PpiFunc:
    """``_DSM`` fn 8 of the generic library (Tcg2PhysicalPresenceLibGetUserConfirmationStatusFunction)."""
    required = pp_required(op, flags)
    if required is None:
        if ppi_1_3 or op > TCG2_PHYSICAL_PRESENCE_NO_ACTION_MAX:  # vendor ops: Tcg2PpVendorLibNull
            return PpiFunc.NOT_IMPLEMENTED
        return PpiFunc.ALLOWED_USR_NOT_REQ  # PPI < 1.3: every op up to 34 "allowed"
    return PpiFunc.ALLOWED_USR_REQ if required else PpiFunc.ALLOWED_USR_NOT_REQ


class FlagsFirmware(Tcg2Firmware):
    """Generic SecurityPkg TPM 2.0 PPI with persistent PP-required flags.

    :param default_flags: PcdTcg2PhysicalPresenceFlags, used when NV has no flags variable yet.
    :param ppi_version: PcdTcgPhysicalPresenceInterfaceVer ("1.3"; lower versions change fn 8).
    :param platform_lock: as :class:`~ppikit.ppi.firmware.tcg2.Tcg2Firmware`.
    """

    name: ClassVar[str] = "flags"

    def __init__(self, *, default_flags: int = PCD_TCG2_PHYSICAL_PRESENCE_FLAGS, ppi_version: str = "1.3",
                 platform_lock: str = "randomize") -> None:
        super().__init__(platform_lock=platform_lock)
        try:
            version = tuple(int(part) for part in ppi_version.split("."))
        except ValueError:
            raise UsageError(f"PPI version must look like 1.3, not {ppi_version!r}") from None
        if not 0 <= default_flags <= 0xFFFFFFFF:
            raise UsageError(f"flags 0x{default_flags:X} do not fit the 32-bit flags variable")
        self.nv_flags = NvFlags(TCG2_PHYSICAL_PRESENCE_FLAGS_VARIABLE, default_flags)
        self.ppi_version = ppi_version
        self.ppi_1_3 = version >= (1, 3)

    def flags(self, boot: Boot) -> int:
        return self.nv_flags.read(boot.ctx.nv)

    def fill_func(self, boot: Boot) -> None:
        tpm2 = boot.location.tpm_version == TpmVersion.TPM_2_0
        flags = self.flags(boot)
        boot.page.func = [int(user_confirmation_status(op, flags, ppi_1_3=self.ppi_1_3)) if tpm2 else 0
                          for op in range(PPI_FUNC_COUNT)]

    def validate(self, boot: Boot, op: int) -> bool | None:
        """Tcg2HaveValidTpmRequest: implemented ops only; RESET_TRACK means confirmed last boot."""
        if op <= TCG2_PHYSICAL_PRESENCE_NO_ACTION_MAX and not boot.tpm_ready:
            return None
        flags = self.flags(boot)
        required = pp_required(op, flags)
        if required is None:
            return None
        return not required or bool(flags & Tcg2PpFlag.RESET_TRACK)

    def execute(self, boot: Boot, op: int, param: int) -> Execution:
        """Flag ops change the NV flags (and ``func[]``); the rest are the shared TPM actions."""
        if op in FLAG_OPS:
            execution = self._flag_op(boot, self.nv_flags, *FLAG_OPS[op])
        else:
            execution = super().execute(boot, op, param)
        pending = bool(self.flags(boot) & Tcg2PpFlag.RESET_TRACK)
        return Execution(execution.response, keep_pending=pending)
