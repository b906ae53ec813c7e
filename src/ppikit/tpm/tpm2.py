"""TPM 2.0: the constants, structures and commands firmware PPI code sends (TPM 2.0 Part 2/3).

The command set is what OVMF's Tcg2PhysicalPresenceLibQemu and the PPI flows need (Startup,
ClearControl + Clear, GetCapability(PCRS) + PCR_Allocate, ChangeEPS, HierarchyControl,
HierarchyChangeAuth), what the QEMU qtests send (PCR_Extend, PCR_Read), and what proves an
operation worked (GetCapability(TPM_PT_PERMANENT) for ownerAuthSet; CreatePrimary of an EK-like
key under the endorsement hierarchy, whose public key changes with ChangeEPS).
"""

from __future__ import annotations

from enum import IntEnum, IntFlag

import construct as cs

from ppikit.tpm.command import TPM2B, CommandSpec
from ppikit.tpm.version import TpmVersion


class TPM2_CC(IntEnum):  # noqa: N801 -- spec name
    """TPM_CC command codes used here."""

    HierarchyControl = 0x121
    ChangeEPS = 0x124
    Clear = 0x126
    ClearControl = 0x127
    HierarchyChangeAuth = 0x129
    PCR_Allocate = 0x12B
    CreatePrimary = 0x131
    SelfTest = 0x143
    Startup = 0x144
    Shutdown = 0x145
    FlushContext = 0x165
    GetCapability = 0x17A
    GetRandom = 0x17B
    PCR_Read = 0x17E
    ReadClock = 0x181
    PCR_Extend = 0x182


class TPM_RH(IntEnum):  # noqa: N801
    """Permanent handles."""

    OWNER = 0x40000001
    NULL = 0x40000007
    LOCKOUT = 0x4000000A
    ENDORSEMENT = 0x4000000B
    PLATFORM = 0x4000000C
    PLATFORM_NV = 0x4000000D


class TPM_SU(IntEnum):  # noqa: N801
    CLEAR = 0x0000
    STATE = 0x0001


class TPM_ALG(IntEnum):  # noqa: N801
    RSA = 0x0001
    SHA1 = 0x0004
    AES = 0x0006
    SHA256 = 0x000B
    SHA384 = 0x000C
    SHA512 = 0x000D
    NULL = 0x0010
    SM3_256 = 0x0012
    ECC = 0x0023
    CFB = 0x0043


#: Digest size per hash algorithm (TPMT_HA / TPMU_HA).
DIGEST_SIZES: dict[int, int] = {TPM_ALG.SHA1: 20, TPM_ALG.SHA256: 32, TPM_ALG.SHA384: 48,
                                TPM_ALG.SHA512: 64, TPM_ALG.SM3_256: 32}


class TPM_CAP(IntEnum):  # noqa: N801
    ALGS = 0x00000000
    HANDLES = 0x00000001
    COMMANDS = 0x00000002
    PCRS = 0x00000005
    TPM_PROPERTIES = 0x00000006


class TPM_PT(IntEnum):  # noqa: N801
    """TPM_PT properties (PT_FIXED = 0x100, PT_VAR = 0x200)."""

    FAMILY_INDICATOR = 0x100
    LEVEL = 0x101
    REVISION = 0x102
    MANUFACTURER = 0x105
    PCR_COUNT = 0x112
    MAX_COMMAND_SIZE = 0x11E
    MAX_RESPONSE_SIZE = 0x11F
    PERMANENT = 0x200
    STARTUP_CLEAR = 0x201


class TPMA_PERMANENT(IntFlag):  # noqa: N801
    """TPM_PT_PERMANENT bits: survive TPM2_Startup; ownerAuthSet proves HierarchyChangeAuth(owner)."""

    ownerAuthSet = 1 << 0  # noqa: N815
    endorsementAuthSet = 1 << 1  # noqa: N815
    lockoutAuthSet = 1 << 2  # noqa: N815
    disableClear = 1 << 8  # noqa: N815
    inLockout = 1 << 9  # noqa: N815
    tpmGeneratedEPS = 1 << 10  # noqa: N815


class TPMA_STARTUP_CLEAR(IntFlag):  # noqa: N801
    """TPM_PT_STARTUP_CLEAR bits: hierarchy enables (HierarchyControl) reset by Startup(CLEAR)."""

    phEnable = 1 << 0  # noqa: N815
    shEnable = 1 << 1  # noqa: N815
    ehEnable = 1 << 2  # noqa: N815
    phEnableNV = 1 << 3  # noqa: N815
    orderly = 1 << 31


# -- structures -----------------------------------------------------------------------------
#: TPMS_PCR_SELECTION: a bank and its PCR bitmap (bit n of byte n//8 = PCR n).
TPMS_PCR_SELECTION = cs.Struct("hash" / cs.Int16ub, "pcrSelect" / cs.Prefixed(cs.Int8ub, cs.GreedyBytes))
TPML_PCR_SELECTION = cs.PrefixedArray(cs.Int32ub, TPMS_PCR_SELECTION)
TPML_DIGEST = cs.PrefixedArray(cs.Int32ub, TPM2B)
TPMT_HA = cs.Struct("hashAlg" / cs.Int16ub, "digest" / cs.Bytes(lambda ctx: DIGEST_SIZES[ctx.hashAlg]))
TPML_DIGEST_VALUES = cs.PrefixedArray(cs.Int32ub, TPMT_HA)
TPMS_TAGGED_PROPERTY = cs.Struct("property" / cs.Int32ub, "value" / cs.Int32ub)
TPMS_ALG_PROPERTY = cs.Struct("alg" / cs.Int16ub, "algProperties" / cs.Int32ub)
TPMS_CAPABILITY_DATA = cs.Struct(
    "capability" / cs.Int32ub,
    "data" / cs.Switch(cs.this.capability, {
        TPM_CAP.ALGS: cs.PrefixedArray(cs.Int32ub, TPMS_ALG_PROPERTY),
        TPM_CAP.HANDLES: cs.PrefixedArray(cs.Int32ub, cs.Int32ub),
        TPM_CAP.COMMANDS: cs.PrefixedArray(cs.Int32ub, cs.Int32ub),
        TPM_CAP.PCRS: TPML_PCR_SELECTION,
        TPM_CAP.TPM_PROPERTIES: cs.PrefixedArray(cs.Int32ub, TPMS_TAGGED_PROPERTY),
    }, default=cs.GreedyBytes),
)


def _optional_detail(detail: cs.Construct) -> cs.Construct:
    """A TPMT_* scheme: an algorithm, then ``detail`` unless it is TPM_ALG_NULL."""
    return cs.Struct("algorithm" / cs.Int16ub,
                     "details" / cs.If(cs.this.algorithm != TPM_ALG.NULL, detail))


TPMT_SYM_DEF_OBJECT = _optional_detail(cs.Struct("keyBits" / cs.Int16ub, "mode" / cs.Int16ub))
TPMT_HASH_SCHEME = _optional_detail(cs.Struct("hashAlg" / cs.Int16ub))
TPMS_RSA_PARMS = cs.Struct("symmetric" / TPMT_SYM_DEF_OBJECT, "scheme" / TPMT_HASH_SCHEME,
                           "keyBits" / cs.Int16ub, "exponent" / cs.Int32ub)
TPMS_ECC_PARMS = cs.Struct("symmetric" / TPMT_SYM_DEF_OBJECT, "scheme" / TPMT_HASH_SCHEME,
                           "curveID" / cs.Int16ub, "kdf" / TPMT_HASH_SCHEME)
TPMS_ECC_POINT = cs.Struct("x" / TPM2B, "y" / TPM2B)
#: TPMT_PUBLIC for RSA and ECC keys (what CreatePrimary needs for EK-like keys).
TPMT_PUBLIC = cs.Struct(
    "type" / cs.Int16ub,
    "nameAlg" / cs.Int16ub,
    "objectAttributes" / cs.Int32ub,
    "authPolicy" / TPM2B,
    "parameters" / cs.Switch(cs.this.type, {TPM_ALG.RSA: TPMS_RSA_PARMS, TPM_ALG.ECC: TPMS_ECC_PARMS}),
    "unique" / cs.Switch(cs.this.type, {TPM_ALG.RSA: TPM2B, TPM_ALG.ECC: TPMS_ECC_POINT}),
)
TPM2B_PUBLIC = cs.Prefixed(cs.Int16ub, TPMT_PUBLIC)
TPM2B_SENSITIVE_CREATE = cs.Prefixed(cs.Int16ub, cs.Struct("userAuth" / TPM2B, "data" / TPM2B))
TPMT_TK_CREATION = cs.Struct("tag" / cs.Int16ub, "hierarchy" / cs.Int32ub, "digest" / TPM2B)

#: TCG EK Credential Profile 2.0 template L-2 policy (PolicySecret(TPM_RH_ENDORSEMENT)).
EK_AUTH_POLICY = bytes.fromhex("837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa")
#: EK attributes: fixedTPM|fixedParent|sensitiveDataOrigin|adminWithPolicy|restricted|decrypt.
EK_OBJECT_ATTRIBUTES = 0x000300B2
#: An EK-like ECC NIST P-256 template (EK profile L-2); ECC keeps key generation fast in swtpm.
EK_ECC_P256_TEMPLATE = {
    "type": TPM_ALG.ECC, "nameAlg": TPM_ALG.SHA256, "objectAttributes": EK_OBJECT_ATTRIBUTES,
    "authPolicy": EK_AUTH_POLICY,
    "parameters": {"symmetric": {"algorithm": TPM_ALG.AES, "details": {"keyBits": 128, "mode": TPM_ALG.CFB}},
                   "scheme": {"algorithm": TPM_ALG.NULL, "details": None},
                   "curveID": 0x0003,  # TPM_ECC_NIST_P256
                   "kdf": {"algorithm": TPM_ALG.NULL, "details": None}},
    "unique": {"x": bytes(32), "y": bytes(32)},
}

# -- commands (TPM 2.0 Part 3) ----------------------------------------------------------------
_V2 = TpmVersion.TPM_2_0
STARTUP = CommandSpec("TPM2_Startup", TPM2_CC.Startup, _V2, params=cs.Struct("startupType" / cs.Int16ub))
SHUTDOWN = CommandSpec("TPM2_Shutdown", TPM2_CC.Shutdown, _V2, params=cs.Struct("shutdownType" / cs.Int16ub))
SELF_TEST = CommandSpec("TPM2_SelfTest", TPM2_CC.SelfTest, _V2, params=cs.Struct("fullTest" / cs.Int8ub))
GET_CAPABILITY = CommandSpec(
    "TPM2_GetCapability", TPM2_CC.GetCapability, _V2,
    params=cs.Struct("capability" / cs.Int32ub, "property" / cs.Int32ub, "propertyCount" / cs.Int32ub),
    response_params=cs.Struct("moreData" / cs.Int8ub, "capabilityData" / TPMS_CAPABILITY_DATA),
)
GET_RANDOM = CommandSpec("TPM2_GetRandom", TPM2_CC.GetRandom, _V2,
                         params=cs.Struct("bytesRequested" / cs.Int16ub),
                         response_params=cs.Struct("randomBytes" / TPM2B))
READ_CLOCK = CommandSpec("TPM2_ReadClock", TPM2_CC.ReadClock, _V2,
                         response_params=cs.Struct("currentTime" / cs.Int64ub, "clock" / cs.Int64ub,
                                                   "resetCount" / cs.Int32ub, "restartCount" / cs.Int32ub,
                                                   "safe" / cs.Int8ub))
PCR_READ = CommandSpec(
    "TPM2_PCR_Read", TPM2_CC.PCR_Read, _V2,
    params=cs.Struct("pcrSelectionIn" / TPML_PCR_SELECTION),
    response_params=cs.Struct("pcrUpdateCounter" / cs.Int32ub, "pcrSelectionOut" / TPML_PCR_SELECTION,
                              "pcrValues" / TPML_DIGEST),
)
PCR_EXTEND = CommandSpec("TPM2_PCR_Extend", TPM2_CC.PCR_Extend, _V2, handles=("pcrHandle",), auth_count=1,
                         params=cs.Struct("digests" / TPML_DIGEST_VALUES))
PCR_ALLOCATE = CommandSpec(
    "TPM2_PCR_Allocate", TPM2_CC.PCR_Allocate, _V2, handles=("authHandle",), auth_count=1,
    params=cs.Struct("pcrAllocation" / TPML_PCR_SELECTION),
    response_params=cs.Struct("allocationSuccess" / cs.Int8ub, "maxPCR" / cs.Int32ub,
                              "sizeNeeded" / cs.Int32ub, "sizeAvailable" / cs.Int32ub),
)
CLEAR = CommandSpec("TPM2_Clear", TPM2_CC.Clear, _V2, handles=("authHandle",), auth_count=1)
CLEAR_CONTROL = CommandSpec("TPM2_ClearControl", TPM2_CC.ClearControl, _V2, handles=("auth",), auth_count=1,
                            params=cs.Struct("disable" / cs.Int8ub))
CHANGE_EPS = CommandSpec("TPM2_ChangeEPS", TPM2_CC.ChangeEPS, _V2, handles=("authHandle",), auth_count=1)
HIERARCHY_CONTROL = CommandSpec("TPM2_HierarchyControl", TPM2_CC.HierarchyControl, _V2,
                                handles=("authHandle",), auth_count=1,
                                params=cs.Struct("enable" / cs.Int32ub, "state" / cs.Int8ub))
HIERARCHY_CHANGE_AUTH = CommandSpec("TPM2_HierarchyChangeAuth", TPM2_CC.HierarchyChangeAuth, _V2,
                                    handles=("authHandle",), auth_count=1, params=cs.Struct("newAuth" / TPM2B))
CREATE_PRIMARY = CommandSpec(
    "TPM2_CreatePrimary", TPM2_CC.CreatePrimary, _V2, handles=("primaryHandle",), auth_count=1,
    params=cs.Struct("inSensitive" / TPM2B_SENSITIVE_CREATE, "inPublic" / TPM2B_PUBLIC,
                     "outsideInfo" / TPM2B, "creationPCR" / TPML_PCR_SELECTION),
    response_handles=("objectHandle",),
    response_params=cs.Struct("outPublic" / TPM2B_PUBLIC, "creationData" / TPM2B, "creationHash" / TPM2B,
                              "creationTicket" / TPMT_TK_CREATION, "name" / TPM2B),
)
FLUSH_CONTEXT = CommandSpec("TPM2_FlushContext", TPM2_CC.FlushContext, _V2,
                            params=cs.Struct("flushHandle" / cs.Int32ub))

TPM2_COMMANDS: tuple[CommandSpec, ...] = (
    STARTUP, SHUTDOWN, SELF_TEST, GET_CAPABILITY, GET_RANDOM, READ_CLOCK, PCR_READ, PCR_EXTEND,
    PCR_ALLOCATE, CLEAR, CLEAR_CONTROL, CHANGE_EPS, HIERARCHY_CONTROL, HIERARCHY_CHANGE_AUTH,
    CREATE_PRIMARY, FLUSH_CONTEXT,
)


def pcr_select_bitmap(pcrs: list[int] | range, size: int = 3) -> bytes:
    """``[0, 10]`` -> ``01 04 00``: the pcrSelect bytes for a list of PCR indices."""
    bitmap = bytearray(size)
    for pcr in pcrs:
        bitmap[pcr // 8] |= 1 << (pcr % 8)
    return bytes(bitmap)


def pcrs_in_bitmap(bitmap: bytes) -> list[int]:
    """The PCR indices selected by a pcrSelect bitmap."""
    return [8 * i + bit for i, byte in enumerate(bitmap) for bit in range(8) if byte >> bit & 1]
