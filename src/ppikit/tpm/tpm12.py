"""TPM 1.2: the unauthorised commands PPI firmware sends (TPM Main Part 2/3, PC Client spec).

edk2's DxeTcgPhysicalPresenceLib (the TPM 1.2 PPI reference) reads the permanent flags, asserts
physical presence with TSC_PhysicalPresence, then runs one of PhysicalEnable/Disable,
PhysicalSetDeactivated, ForceClear, SetOwnerInstall or SetCapability(deferred PP). All of them are
physical-presence commands without an authorization session, which keeps this module small.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag

import construct as cs

from ppikit.tpm.command import CommandSpec
from ppikit.tpm.version import TpmVersion


class TPM_ORD(IntEnum):  # noqa: N801 -- spec name
    """TPM 1.2 ordinals used here."""

    SetCapability = 0x3F
    SelfTestFull = 0x50
    ContinueSelfTest = 0x53
    ForceClear = 0x5D
    GetCapability = 0x65
    PhysicalEnable = 0x6F
    PhysicalDisable = 0x70
    SetOwnerInstall = 0x71
    PhysicalSetDeactivated = 0x72
    Startup = 0x99
    GetTicks = 0xF1
    TSC_PhysicalPresence = 0x4000000A


class TPM_ST(IntEnum):  # noqa: N801
    """TPM_STARTUP_TYPE."""

    CLEAR = 0x0001
    STATE = 0x0002
    DEACTIVATED = 0x0003


class TPM_PHYSICAL_PRESENCE(IntFlag):  # noqa: N801
    """TSC_PhysicalPresence argument bits (edk2 sends CMD_ENABLE, PRESENT, NOTPRESENT|LOCK)."""

    LOCK = 0x0004
    PRESENT = 0x0008
    NOTPRESENT = 0x0010
    CMD_ENABLE = 0x0020
    HW_ENABLE = 0x0040
    LIFETIME_LOCK = 0x0080
    CMD_DISABLE = 0x0100
    HW_DISABLE = 0x0200


TPM_CAP_FLAG = 0x00000004
TPM_CAP_PROPERTY = 0x00000005
TPM_CAP_FLAG_PERMANENT = 0x00000108
TPM_CAP_FLAG_VOLATILE = 0x00000109
TPM_CAP_PROP_INPUT_BUFFER = 0x00000124
TPM_SET_STCLEAR_DATA = 0x00000004
TPM_SD_DEFERREDPHYSICALPRESENCE = 0x00000006
TPM_TAG_PERMANENT_FLAGS = 0x001F
TPM_TAG_STCLEAR_FLAGS = 0x0020

#: TPM_PERMANENT_FLAGS (Part 2, 7.1), the BOOLs in spec order.
PERMANENT_FLAG_NAMES = (
    "disable", "ownership", "deactivated", "readPubek", "disableOwnerClear", "allowMaintenance",
    "physicalPresenceLifetimeLock", "physicalPresenceHWEnable", "physicalPresenceCMDEnable",
    "CEKPUsed", "TPMpost", "TPMpostLock", "FIPS", "operator", "enableRevokeEK", "nvLocked",
    "readSRKPub", "tpmEstablished", "maintenanceDone", "disableFullDALogicInfo",
)
TPM_PERMANENT_FLAGS = cs.Struct(
    "tag" / cs.Const(TPM_TAG_PERMANENT_FLAGS, cs.Int16ub),
    *(name / cs.Flag for name in PERMANENT_FLAG_NAMES),
)
#: TPM_STCLEAR_FLAGS (Part 2, 7.2): reset at TPM_Startup(ST_CLEAR).
STCLEAR_FLAG_NAMES = ("deactivated", "disableForceClear", "physicalPresence", "physicalPresenceLock",
                      "bGlobalLock")
TPM_STCLEAR_FLAGS = cs.Struct(
    "tag" / cs.Const(TPM_TAG_STCLEAR_FLAGS, cs.Int16ub),
    *(name / cs.Flag for name in STCLEAR_FLAG_NAMES),
)

_BYTES32 = cs.Prefixed(cs.Int32ub, cs.GreedyBytes)  #: UINT32 size + bytes (subCap, resp, setValue)
_V12 = TpmVersion.TPM_1_2
STARTUP = CommandSpec("TPM_Startup", TPM_ORD.Startup, _V12, params=cs.Struct("startupType" / cs.Int16ub))
PHYSICAL_PRESENCE = CommandSpec("TSC_PhysicalPresence", TPM_ORD.TSC_PhysicalPresence, _V12,
                                params=cs.Struct("physicalPresence" / cs.Int16ub))
GET_CAPABILITY = CommandSpec("TPM_GetCapability", TPM_ORD.GetCapability, _V12,
                             params=cs.Struct("capArea" / cs.Int32ub, "subCap" / _BYTES32),
                             response_params=cs.Struct("resp" / _BYTES32))
SET_CAPABILITY = CommandSpec("TPM_SetCapability", TPM_ORD.SetCapability, _V12,
                             params=cs.Struct("capArea" / cs.Int32ub, "subCap" / _BYTES32,
                                              "setValue" / _BYTES32))
PHYSICAL_ENABLE = CommandSpec("TPM_PhysicalEnable", TPM_ORD.PhysicalEnable, _V12)
PHYSICAL_DISABLE = CommandSpec("TPM_PhysicalDisable", TPM_ORD.PhysicalDisable, _V12)
PHYSICAL_SET_DEACTIVATED = CommandSpec("TPM_PhysicalSetDeactivated", TPM_ORD.PhysicalSetDeactivated, _V12,
                                       params=cs.Struct("state" / cs.Flag))
FORCE_CLEAR = CommandSpec("TPM_ForceClear", TPM_ORD.ForceClear, _V12)
SET_OWNER_INSTALL = CommandSpec("TPM_SetOwnerInstall", TPM_ORD.SetOwnerInstall, _V12,
                                params=cs.Struct("state" / cs.Flag))
CONTINUE_SELF_TEST = CommandSpec("TPM_ContinueSelfTest", TPM_ORD.ContinueSelfTest, _V12)

TPM12_COMMANDS: tuple[CommandSpec, ...] = (
    STARTUP, PHYSICAL_PRESENCE, GET_CAPABILITY, SET_CAPABILITY, PHYSICAL_ENABLE, PHYSICAL_DISABLE,
    PHYSICAL_SET_DEACTIVATED, FORCE_CLEAR, SET_OWNER_INSTALL, CONTINUE_SELF_TEST,
)
