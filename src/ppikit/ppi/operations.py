"""The PPI operation catalogue, as data: every operation number 0..255 for TPM 2.0 and TPM 1.2.

Why a table: firmware models, the AML generator, the OS client, ``ppikit ops`` and the fuzzing
strategies all ask the same questions of an operation number -- its spec name, whether it takes a
parameter, whether a physically present user must confirm it by default, and whether firmware reboots
after it. Answering them from one table keeps every part of ppikit agreeing.

Sources (facts only): TCG PPI 1.3 Tables 1 and 2 as mirrored by edk2 ``TcgPhysicalPresence.h`` and
coreboot ``tpm_ppi.h``; default confirmation rules from edk2 SecurityPkg (TPM 2.0 flags 0x700E2,
TPM 1.2 flags NoPPIProvision); reboot sets from OVMF ``Tcg2PhysicalPresenceLibQemu`` (TPM 2.0) and
edk2 ``DxeTcgPhysicalPresenceLib`` (TPM 1.2).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from functools import cache

from ppikit.errors import UsageError
from ppikit.tpm.version import TpmVersion

# Operation response codes written to pprp (edk2 TCG_PP_OPERATION_RESPONSE_*).
TCG_PP_OPERATION_RESPONSE_SUCCESS = 0x00000000
TCG_PP_OPERATION_RESPONSE_USER_ABORT = 0xFFFFFFF0
TCG_PP_OPERATION_RESPONSE_BIOS_FAILURE = 0xFFFFFFF1

TCG2_PHYSICAL_PRESENCE_NO_ACTION_MAX = 34  #: edk2: last TPM 2.0 op of the "action" range
TCG2_PHYSICAL_PRESENCE_SET_PCR_BANKS = 23  #: the only operation that takes a parameter (pprm)
PPI_VENDOR_FIRST = 128  #: operations 128..255 are vendor specific (both TPM families)
PPI_TPM2_REQ_MAX = 101  #: Linux PPI_TPM_REQ_MAX: last TPM 2.0 operation ``tcg_operations`` lists


class OpKind(Enum):
    DEFINED = "defined"  #: defined by the PPI spec for this TPM family
    TPM12_ONLY = "tpm12-only"  #: a TPM 1.2 number with no meaning for TPM 2.0
    RESERVED = "reserved"
    VENDOR = "vendor"


@dataclass(frozen=True)
class Operation:
    """One PPI operation of one TPM family."""

    tpm: TpmVersion
    number: int
    name: str
    kind: OpKind
    takes_parameter: bool = False
    #: Default "physically present user must confirm" (None: not applicable, i.e. reserved/vendor).
    pp_required: bool | None = None
    #: Firmware resets the platform after executing it (not after an abort or an invalid request).
    reboot: bool = False
    #: Boots needed to complete it (2 for TPM 1.2's Enable+Activate+... ops).
    boots: int = 1

    @property
    def label(self) -> str:
        return f"{self.number} {self.name}"


# --- TPM 2.0 (PPI 1.3 Table 2) -------------------------------------------------------------------
# (number, name, pp_required by default, reboot)
_TPM2_DEFINED: tuple[tuple[int, str, bool, bool], ...] = (
    (0, "NoOperation", False, False),
    (1, "Enable", False, False),
    (2, "Disable", True, False),
    (5, "Clear", True, True),
    (14, "Enable + Clear", True, True),
    (17, "SetPPRequiredForClear_True", False, False),
    (18, "SetPPRequiredForClear_False", True, False),
    (21, "Enable + Clear 2", True, True),
    (22, "Enable + Clear 3", True, True),
    (23, "SetPCRBanks", True, True),
    (24, "ChangeEPS", True, True),
    (25, "SetPPRequiredForChangePCRs_False", True, False),
    (26, "SetPPRequiredForChangePCRs_True", False, False),
    (27, "SetPPRequiredForTurnOn_False", True, False),
    (28, "SetPPRequiredForTurnOn_True", False, False),
    (29, "SetPPRequiredForTurnOff_False", True, False),
    (30, "SetPPRequiredForTurnOff_True", False, False),
    (31, "SetPPRequiredForChangeEPS_False", True, False),
    (32, "SetPPRequiredForChangeEPS_True", False, False),
    (33, "LogAllDigests", False, True),
    (34, "DisableEndorsementEnableStorageHierarchy", True, False),
    (96, "EnableBlockSID", True, True),
    (97, "DisableBlockSID", True, True),
    (98, "SetPPRequiredForEnableBlockSIDFunc_True", False, False),
    (99, "SetPPRequiredForEnableBlockSIDFunc_False", True, False),
    (100, "SetPPRequiredForDisableBlockSIDFunc_True", False, False),
    (101, "SetPPRequiredForDisableBlockSIDFunc_False", True, False),
)

# --- TPM 1.2 (PPI 1.3 Table 1) -------------------------------------------------------------------
# (number, name, pp_required by default, reboot, boots)
_TPM12_DEFINED: tuple[tuple[int, str, bool, bool, int], ...] = (
    (0, "NoOperation", False, False, 1),
    (1, "Enable", False, False, 1),
    (2, "Disable", False, False, 1),
    (3, "Activate", False, True, 1),
    (4, "Deactivate", False, True, 1),
    (5, "Clear", True, True, 1),
    (6, "Enable + Activate", False, True, 1),
    (7, "Deactivate + Disable", False, True, 1),
    (8, "SetOwnerInstall_True", False, False, 1),
    (9, "SetOwnerInstall_False", False, False, 1),
    (10, "Enable + Activate + SetOwnerInstall_True", False, True, 2),
    (11, "SetOwnerInstall_False + Deactivate + Disable", False, True, 1),
    (12, "DeferredPhysicalPresenceUnownedFieldUpgrade_True", True, True, 1),
    (13, "SetOperatorAuth", False, False, 1),
    (14, "Clear + Enable + Activate", True, True, 1),
    (15, "SetNoPPIProvision_False", False, False, 1),
    (16, "SetNoPPIProvision_True", True, False, 1),
    (17, "SetNoPPIClear_False", False, False, 1),
    (18, "SetNoPPIClear_True", True, False, 1),
    (19, "SetNoPPIMaintenance_False", False, False, 1),
    (20, "SetNoPPIMaintenance_True", True, False, 1),
    (21, "Enable + Activate + Clear", True, True, 2),
    (22, "Enable + Activate + Clear + Enable + Activate", True, True, 2),
)


@cache
def catalogue(tpm: TpmVersion) -> tuple[Operation, ...]:
    """All 256 operations of ``tpm``, indexed by number."""
    tpm = TpmVersion(tpm)
    if tpm == TpmVersion.TPM_2_0:
        defined = {n: Operation(tpm, n, name, OpKind.DEFINED, n == TCG2_PHYSICAL_PRESENCE_SET_PCR_BANKS, pp, rb)
                   for n, name, pp, rb in _TPM2_DEFINED}
        tpm12_names = {n: name for n, name, *_ in _TPM12_DEFINED}
        for n, name in tpm12_names.items():
            if n not in defined:
                defined[n] = Operation(tpm, n, f"TPM 1.2 only: {name}", OpKind.TPM12_ONLY)
    elif tpm == TpmVersion.TPM_1_2:
        defined = {n: Operation(tpm, n, name, OpKind.DEFINED, False, pp, rb, boots)
                   for n, name, pp, rb, boots in _TPM12_DEFINED}
    else:
        raise UsageError("the operation catalogue needs TPM 1.2 or 2.0, not 'unspecified'")
    ops = []
    for n in range(256):
        if n in defined:
            ops.append(defined[n])
        elif n >= PPI_VENDOR_FIRST:
            ops.append(Operation(tpm, n, "Vendor specific", OpKind.VENDOR))
        else:
            ops.append(Operation(tpm, n, "Reserved", OpKind.RESERVED))
    return tuple(ops)


def lookup(tpm: TpmVersion, number: int) -> Operation:
    """The operation ``number`` of ``tpm``; raises :class:`UsageError` outside 0..255."""
    if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= 0xFF:
        raise UsageError(f"PPI operation {number!r} outside 0..255")
    return catalogue(tpm)[number]


def listed(tpm: TpmVersion, *, include_all: bool = False) -> tuple[Operation, ...]:
    """Operations worth listing to a user: the defined ones, or all 256 with ``include_all``."""
    ops = catalogue(tpm)
    return ops if include_all else tuple(op for op in ops if op.kind is OpKind.DEFINED)


def response_text(pprp: int) -> str:
    """Meaning of an operation response (pprp / ``_DSM`` fn 5 third element)."""
    if pprp == TCG_PP_OPERATION_RESPONSE_SUCCESS:
        return "Success"
    if pprp == TCG_PP_OPERATION_RESPONSE_USER_ABORT:
        return "User Abort"
    if pprp == TCG_PP_OPERATION_RESPONSE_BIOS_FAILURE:
        return "BIOS Failure"
    if 1 <= pprp <= 0xFFF:
        return "TPM error"
    return "Error"
