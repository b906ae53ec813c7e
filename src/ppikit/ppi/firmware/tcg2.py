"""TPM 2.0 firmware logic shared by the ``ovmf`` and ``flags`` models.

Both edk2 libraries (OVMF's Tcg2PhysicalPresenceLibQemu and SecurityPkg's
DxeTcg2PhysicalPresenceLib) execute the TPM-touching operations identically -- ClearControl(NO) +
Clear, SetPCRBanks via GetCapability(PCRS) + PCR_Allocate, ChangeEPS, LogAllDigests -- always with
TPM_RH_PLATFORM and an empty password session, because PPI runs before the platform hierarchy is
locked. They also share the boot around it: TPM2_Startup(SU_CLEAR) + TPM2_SelfTest early, the
lock (HierarchyChangeAuth(platform, random), PcdRandomizePlatformHierarchy) after PPI, the
response convention (0 or BIOS_FAILURE, never a TPM RC), the reboot set and the prompt keys.
What differs -- validity, confirmation and ``func[]`` -- lives in ``ovmf.py`` and ``flags.py``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar

from ppikit.errors import UsageError
from ppikit.ppi.firmware.base import BootContext, ConfirmRequest
from ppikit.ppi.firmware.pp_flow import Boot, Execution, PpiFirmware
from ppikit.ppi.firmware.tpm_link import outcome_of
from ppikit.ppi.operations import (
    TCG2_PHYSICAL_PRESENCE_NO_ACTION_MAX,
    TCG_PP_OPERATION_RESPONSE_BIOS_FAILURE,
    TCG_PP_OPERATION_RESPONSE_SUCCESS,
    lookup,
)
from ppikit.tpm.client import PcrBank, Tpm2Client
from ppikit.tpm.rc import RC_VER1
from ppikit.tpm.tpm2 import DIGEST_SIZES, TPM_ALG, TPM_RH
from ppikit.tpm.version import TpmVersion

TPM_RC_INITIALIZE = RC_VER1 + 0x000  #: TPM2_Startup when the TPM is already started: not an error
PCR_SELECT_MAX = 3  #: edk2 PCR_SELECT_MAX: the 3-byte pcrSelect of 24 PCRs firmware allocates

#: EFI_TCG2_BOOT_HASH_ALG_* bits (Tcg2Protocol.h), in the order edk2 lists banks in PCR_Allocate.
EFI_TCG2_BOOT_HASH_ALG: dict[int, int] = {
    TPM_ALG.SHA1: 0x01, TPM_ALG.SHA256: 0x02, TPM_ALG.SHA384: 0x04, TPM_ALG.SHA512: 0x08, TPM_ALG.SM3_256: 0x10,
}
_ALG_NAMES = {TPM_ALG.SHA1: "SHA1", TPM_ALG.SHA256: "SHA256", TPM_ALG.SHA384: "SHA384",
              TPM_ALG.SHA512: "SHA512", TPM_ALG.SM3_256: "SM3_256"}

#: Ops after which both TPM 2.0 libraries reset (OVMF: also when the op failed).
TCG2_REBOOT_OPS = frozenset({5, 14, 21, 22, 23, 24, 33, 96, 97})


class Tcg2Action(Enum):
    """What an operation does to the TPM (``Tcg2ExecutePhysicalPresence``)."""

    CLEAR = "ClearControl(NO) + Clear"
    SET_PCR_BANKS = "PCR_Allocate(requested banks)"
    CHANGE_EPS = "ChangeEPS"
    LOG_ALL_DIGESTS = "PCR_Allocate(all supported banks)"


#: Operation -> TPM action (edk2 treats 14/21/22 exactly like 5).
TCG2_ACTIONS: dict[int, Tcg2Action] = {
    5: Tcg2Action.CLEAR, 14: Tcg2Action.CLEAR, 21: Tcg2Action.CLEAR, 22: Tcg2Action.CLEAR,
    23: Tcg2Action.SET_PCR_BANKS, 24: Tcg2Action.CHANGE_EPS, 33: Tcg2Action.LOG_ALL_DIGESTS,
}

_CLEAR_WARNING = ("WARNING: clearing erases the TPM's owner and endorsement hierarchies; keys created "
                  "under them and data sealed to them are lost.")


@dataclass(frozen=True)
class Tcg2Prompt:
    """``Tcg2UserConfirm``: the accept key (F12 = caution key for destructive ops, else F10) and text."""

    accept_key: str
    text: str


_CLEAR_PROMPT = Tcg2Prompt("F12", f"A configuration change was requested to clear the TPM. {_CLEAR_WARNING}")

#: The prompts both libraries show (18/99/101 only reach a prompt in the flags model). Ops 5, 14,
#: 21 and 22 share one Clear prompt: neither library words the "enable" variants differently
#: (observed on OVMF 2022.11, tests/data/ovmf-2022.11/).
TCG2_PROMPTS: dict[int, Tcg2Prompt] = {
    5: _CLEAR_PROMPT, 14: _CLEAR_PROMPT, 21: _CLEAR_PROMPT, 22: _CLEAR_PROMPT,
    23: Tcg2Prompt("F12", "A configuration change was requested to change the TPM's active PCR banks."),
    24: Tcg2Prompt("F12", "A configuration change was requested to clear the TPM and change its identity: "
                          f"the endorsement primary seed is replaced (ChangeEPS). {_CLEAR_WARNING}"),
    96: Tcg2Prompt("F10", "A configuration change was requested to enable Block SID for storage devices."),
    97: Tcg2Prompt("F10", "A configuration change was requested to disable Block SID for storage devices."),
    18: Tcg2Prompt("F10", "A configuration change was requested to allow the OS to clear the TPM without "
                          "asking a physically present user."),
    99: Tcg2Prompt("F10", "A configuration change was requested to allow enabling Block SID without asking a "
                          "physically present user."),
    101: Tcg2Prompt("F10", "A configuration change was requested to allow disabling Block SID without asking a "
                           "physically present user."),
}

#: PcdRandomizePlatformHierarchy TRUE / FALSE: how Tcg2PlatformDxe locks the platform hierarchy.
PLATFORM_LOCKS = ("randomize", "disable")


def bank_bitmap(banks: list[PcrBank], *, active_only: bool = False) -> int:
    """EFI_TCG2_BOOT_HASH_ALG bitmap of the supported (or active) banks; unknown algorithms ignored."""
    bitmap = 0
    for bank in banks:
        if bank.alg in EFI_TCG2_BOOT_HASH_ALG and (bank.active or not active_only):
            bitmap |= EFI_TCG2_BOOT_HASH_ALG[bank.alg]
    return bitmap


def bank_names(bitmap: int) -> str:
    """``0x3`` -> ``"SHA1|SHA256"`` (``"none"`` for 0, unknown bits as hex)."""
    names = [_ALG_NAMES[alg] for alg, bit in EFI_TCG2_BOOT_HASH_ALG.items() if bitmap & bit]
    rest = bitmap & ~sum(EFI_TCG2_BOOT_HASH_ALG.values())
    if rest:
        names.append(f"0x{rest:X}")
    return "|".join(names) or "none"


def pcr_allocation(supported: int, selected: int) -> dict[int, bytes]:
    """``Tpm2PcrAllocateBanks``: every supported bank, 0xFF x3 if selected, else 0x00 x3."""
    return {alg: (b"\xff" if selected & bit else b"\x00") * PCR_SELECT_MAX
            for alg, bit in EFI_TCG2_BOOT_HASH_ALG.items() if supported & bit}


def _clear(boot: Boot, tpm: Tpm2Client, param: int) -> bool:
    return outcome_of(lambda: tpm.clear_control(False)).ok and outcome_of(tpm.clear).ok


def _allocate(boot: Boot, tpm: Tpm2Client, requested: int | None) -> bool:
    """GetCapability(PCRS), check ``requested`` (None = all supported), PCR_Allocate."""
    banks = outcome_of(tpm.get_pcr_banks)
    supported = bank_bitmap(banks.value) if banks.ok and banks.value is not None else 0
    selected = supported if requested is None else requested
    if selected == 0 or selected & ~supported:
        boot.say(f"banks {bank_names(selected)} not a non-empty subset of the supported "
                 f"{bank_names(supported)}: nothing allocated")
        return False
    boot.say(f"allocating PCR banks {bank_names(selected)} of {bank_names(supported)}")
    return outcome_of(lambda: tpm.pcr_allocate(pcr_allocation(supported, selected))).ok


_ACTIONS: Mapping[Tcg2Action, Callable[[Boot, Tpm2Client, int], bool]] = {
    Tcg2Action.CLEAR: _clear,
    Tcg2Action.SET_PCR_BANKS: lambda boot, tpm, param: _allocate(boot, tpm, param),
    Tcg2Action.CHANGE_EPS: lambda boot, tpm, param: outcome_of(tpm.change_eps).ok,
    Tcg2Action.LOG_ALL_DIGESTS: lambda boot, tpm, param: _allocate(boot, tpm, None),
}


class Tcg2Firmware(PpiFirmware):
    """TPM 2.0 boot: start-up, PPI with platform auth still empty, then the platform lock."""

    tpm_version: ClassVar[TpmVersion] = TpmVersion.TPM_2_0
    reboot_ops: ClassVar[frozenset[int]] = TCG2_REBOOT_OPS

    def __init__(self, *, platform_lock: str = "randomize") -> None:
        if platform_lock not in PLATFORM_LOCKS:
            raise UsageError(f"platform_lock must be one of {', '.join(PLATFORM_LOCKS)}, not {platform_lock!r}")
        self.platform_lock = platform_lock

    def start_tpm(self, ctx: BootContext, transport: Any) -> tuple[Tpm2Client, bool]:
        """Tcg2Pei: TPM2_Startup(SU_CLEAR) (TPM_RC_INITIALIZE tolerated), then TPM2_SelfTest(NO)."""
        tpm = Tpm2Client(transport)
        started = outcome_of(tpm.startup)
        ready = started.rc in (0, TPM_RC_INITIALIZE)
        if ready:
            outcome_of(lambda: tpm.self_test(False))
        else:
            ctx.timeline.add("firmware", "TPM 2.0 start-up failed: no EFI_TCG2_PROTOCOL")
        return tpm, ready

    def invalid_response(self, op: int) -> int:
        """Invalid ops up to NO_ACTION_MAX "succeed", later ones are BIOS failures (§2.3 step 3)."""
        if op <= TCG2_PHYSICAL_PRESENCE_NO_ACTION_MAX:
            return TCG_PP_OPERATION_RESPONSE_SUCCESS
        return TCG_PP_OPERATION_RESPONSE_BIOS_FAILURE

    def prompt(self, boot: Boot, op: int, param: int) -> ConfirmRequest:
        spec = TCG2_PROMPTS[op]
        text = spec.text
        if TCG2_ACTIONS.get(op) is Tcg2Action.SET_PCR_BANKS:
            banks = outcome_of(boot.tpm.get_pcr_banks)
            current = bank_names(bank_bitmap(banks.value, active_only=True)) if banks.ok and banks.value else "?"
            text += f" Current PCR banks: {current}; new PCR banks: {bank_names(param)}."
        return ConfirmRequest(op, lookup(self.tpm_version, op).name, text, spec.accept_key,
                              parameter=param if lookup(self.tpm_version, op).takes_parameter else None)

    def execute(self, boot: Boot, op: int, param: int) -> Execution:
        """Run the op's TPM action: 0 on success, BIOS_FAILURE on any TPM error (no RC propagated)."""
        action = TCG2_ACTIONS.get(op)
        if action is None:
            return Execution(self.invalid_response(op))
        boot.say(f"executing {self._label(op)}: {action.value}")
        ok = _ACTIONS[action](boot, boot.tpm, param)
        return Execution(TCG_PP_OPERATION_RESPONSE_SUCCESS if ok else TCG_PP_OPERATION_RESPONSE_BIOS_FAILURE)

    def hand_off(self, ctx: BootContext, tpm: Tpm2Client, ready: bool) -> None:
        """Tcg2PlatformDxe at ReadyToLock: give TPM_RH_PLATFORM a random auth (or disable it)."""
        if not ready:
            return
        if self.platform_lock == "disable":
            outcome_of(lambda: tpm.hierarchy_control(TPM_RH.PLATFORM, False))
            ctx.timeline.add("firmware", "platform hierarchy disabled (HierarchyControl)")
            return
        banks = outcome_of(tpm.get_pcr_banks)
        sizes = [DIGEST_SIZES[b.alg] for b in (banks.value or []) if b.alg in DIGEST_SIZES]
        auth = secrets.token_bytes(max(sizes, default=DIGEST_SIZES[TPM_ALG.SHA256]))
        outcome_of(lambda: tpm.hierarchy_change_auth(TPM_RH.PLATFORM, auth))
        ctx.timeline.add("firmware", f"platform hierarchy locked with a random {len(auth)}-byte platformAuth")
