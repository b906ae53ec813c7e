"""swtpm's control channel, declared as data: command codes, request/reply layouts, capability bits.

Why a table: the control protocol has no length prefix -- the reader must know, per command code,
how many bytes the request carries and how many follow a successful 4-byte result. Keeping that in
one table (:data:`CTRL_COMMANDS`) means the channel code in :mod:`ppikit.device.backends.swtpm`
has a single read path, and the tests can check every layout against the bytes swtpm 0.7.1 sends.

Facts: swtpm ``include/swtpm/tpm_ioctl.h`` / ``man3/swtpm_ioctls.pod`` as quoted in the reference
(tis-crb-swtpm.md §4.1). Everything is big-endian on a socket (CUSE ioctls use host order; unused).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, IntFlag

import construct as cs

from ppikit.errors import UsageError
from ppikit.tpm.rc import tpm12_rc_name


class PtmCmd(IntEnum):
    """Control command codes (``CMD_*``): the 4-byte big-endian word that starts every request."""

    GET_CAPABILITY = 0x01
    INIT = 0x02
    SHUTDOWN = 0x03
    GET_TPMESTABLISHED = 0x04
    SET_LOCALITY = 0x05
    HASH_START = 0x06
    HASH_DATA = 0x07
    HASH_END = 0x08
    CANCEL_TPM_CMD = 0x09
    STORE_VOLATILE = 0x0A
    RESET_TPMESTABLISHED = 0x0B
    GET_STATEBLOB = 0x0C
    SET_STATEBLOB = 0x0D
    STOP = 0x0E
    GET_CONFIG = 0x0F
    SET_DATAFD = 0x10
    SET_BUFFERSIZE = 0x11
    GET_INFO = 0x12
    LOCK_STORAGE = 0x13  #: swtpm 0.8+; 0.7.1 answers TPM_BAD_ORDINAL


class PtmCap(IntFlag):
    """``PTM_CAP_*`` bits of the GET_CAPABILITY mask (bit n = CMD n+1 is implemented)."""

    INIT = 1 << 0
    SHUTDOWN = 1 << 1
    GET_TPMESTABLISHED = 1 << 2
    SET_LOCALITY = 1 << 3
    HASHING = 1 << 4
    CANCEL_TPM_CMD = 1 << 5
    STORE_VOLATILE = 1 << 6
    RESET_TPMESTABLISHED = 1 << 7
    GET_STATEBLOB = 1 << 8
    SET_STATEBLOB = 1 << 9
    STOP = 1 << 10
    GET_CONFIG = 1 << 11
    SET_DATAFD = 1 << 12
    SET_BUFFERSIZE = 1 << 13
    GET_INFO = 1 << 14
    SEND_COMMAND_HEADER = 1 << 15  #: TPM 2 only
    LOCK_STORAGE = 1 << 16  #: swtpm 0.8+


#: What QEMU's emulator backend insists on before it accepts a swtpm (``tpm_emulator_probe_caps``
#: + ``tpm_emulator_check_caps``): TPM 1.2 set; TPM 2 additionally needs RESET_TPMESTABLISHED.
REQUIRED_CAPS_TPM12 = (PtmCap.INIT | PtmCap.SHUTDOWN | PtmCap.GET_TPMESTABLISHED | PtmCap.SET_LOCALITY
                       | PtmCap.SET_DATAFD | PtmCap.STOP | PtmCap.SET_BUFFERSIZE)
REQUIRED_CAPS_TPM2 = REQUIRED_CAPS_TPM12 | PtmCap.RESET_TPMESTABLISHED

PTM_INIT_FLAG_DELETE_VOLATILE = 1  #: INIT: delete the volatile state file after loading it
PTM_STATE_FLAG_DECRYPTED = 1  #: GET_STATEBLOB request: hand out the blob decrypted (file key)
PTM_STATE_FLAG_ENCRYPTED = 2  #: GET_STATEBLOB reply / SET_STATEBLOB request: blob is encrypted


class PtmBlobType(IntEnum):
    """``PTM_BLOB_TYPE_*``: the three state blobs QEMU migrates, in the order it saves them."""

    PERMANENT = 1
    VOLATILE = 2
    SAVESTATE = 3


class PtmGetConfigFlag(IntFlag):
    """GET_CONFIG reply flags."""

    FILE_KEY = 1  #: PTM_CONFIG_FLAG_FILE_KEY: --key given (state files encrypted)
    MIGRATION_KEY = 2  #: PTM_CONFIG_FLAG_MIGRATION_KEY: --migration-key given (blobs encrypted)


class PtmInfoFlag(IntFlag):
    """GET_INFO request flags (``SWTPM_INFO_*``); 0.7.x knows the first two."""

    TPMSPECIFICATION = 1
    TPMATTRIBUTES = 2
    TPMFEATURES = 4
    RUNTIME_ALGORITHMS = 8
    RUNTIME_COMMANDS = 0x10
    ACTIVE_PROFILE = 0x20
    AVAILABLE_PROFILES = 0x40
    RUNTIME_ATTRIBUTES = 0x80


#: GET_STATEBLOB: no such blob (e.g. no savestate); QEMU tolerates results with this bit.
TPM_RETRY = 0x800
TPM_BAD_ORDINAL = 0x0A  #: also "the TPM must be running": swtpm then sends no GET_STATEBLOB header


def ptm_result_name(result: int) -> str:
    """Control results are TPM 1.2 return codes: ``0x0A`` -> ``"TPM_BAD_ORDINAL (0x0A)"``.

    Seen from swtpm: TPM_BAD_PARAMETER (bad length, no fd), TPM_FAIL, TPM_BAD_ORDINAL (unknown
    command, TPM not running / not stopped), TPM_IOERROR (data fd already set), TPM_BAD_LOCALITY,
    TPM_KEYNOTFOUND (blob needs a migration key swtpm lacks), TPM_DECRYPT_ERROR (wrong key),
    TPM_RETRY (no such blob).
    """
    return f"{tpm12_rc_name(result)} (0x{result:02X})"


PTM_RESULT = cs.Int32ub  #: every reply but GET_CAPABILITY starts with this

# -- request bodies (after the 4-byte command code) ------------------------------------------
INIT_REQUEST = cs.Struct("init_flags" / cs.Int32ub)
#: QEMU sends the locality byte plus 3 pad bytes (the C struct's size); swtpm reads the byte.
LOCALITY_REQUEST = cs.Struct("loc" / cs.Int8ub, cs.Padding(3))
GET_STATEBLOB_REQUEST = cs.Struct("state_flags" / cs.Int32ub, "type" / cs.Int32ub, "offset" / cs.Int32ub)
SET_STATEBLOB_HEADER = cs.Struct("state_flags" / cs.Int32ub, "type" / cs.Int32ub, "length" / cs.Int32ub)
SET_BUFFERSIZE_REQUEST = cs.Struct("buffersize" / cs.Int32ub)
GET_INFO_REQUEST = cs.Struct("flags" / cs.Int64ub, "offset" / cs.Int32ub, cs.Padding(4))
LOCK_STORAGE_REQUEST = cs.Struct("retries" / cs.Int32ub)

# -- reply tails (after a zero 4-byte result) -----------------------------------------------
#: GET_CAPABILITY has no result word in 0.7.x: the 8 bytes are one BE64 mask. swtpm 0.10's
#: ``ptm_cap_n`` (BE32 result 0 + BE32 mask) is the same bytes, so one reading serves both.
GET_CAPABILITY_REPLY = cs.Struct("caps" / cs.Int64ub)
GET_TPMESTABLISHED_TAIL = cs.Struct("bit" / cs.Int8ub, cs.Padding(3))
SET_BUFFERSIZE_TAIL = cs.Struct("buffersize" / cs.Int32ub, "minsize" / cs.Int32ub, "maxsize" / cs.Int32ub)
GET_CONFIG_TAIL = cs.Struct("flags" / cs.Int32ub)
#: Followed by ``length`` blob bytes. Over a socket totlength == length == bytes left from offset.
GET_STATEBLOB_TAIL = cs.Struct("state_flags" / cs.Int32ub, "totlength" / cs.Int32ub, "length" / cs.Int32ub)
#: Followed by ``length`` bytes of NUL-terminated JSON starting at the request's offset.
GET_INFO_TAIL = cs.Struct("totlength" / cs.Int32ub, "length" / cs.Int32ub)


@dataclass(frozen=True)
class CtrlCommandSpec:
    """How one control command is framed.

    ``request``: body layout (None = no body). ``tail``: what follows a zero result (None = the
    result alone). ``payload_field``: the tail field giving the length of trailing bytes.
    ``header_on_error``: the reply carries its tail even when the result is non-zero (swtpm does
    this for GET_STATEBLOB once the TPM runs: observed ``00 00 08 00`` + 12 zero bytes).
    """

    request: cs.Construct | None = None
    tail: cs.Construct | None = None
    payload_field: str | None = None
    header_on_error: bool = False


CTRL_COMMANDS: dict[PtmCmd, CtrlCommandSpec] = {
    PtmCmd.INIT: CtrlCommandSpec(request=INIT_REQUEST),
    PtmCmd.SHUTDOWN: CtrlCommandSpec(),
    PtmCmd.GET_TPMESTABLISHED: CtrlCommandSpec(tail=GET_TPMESTABLISHED_TAIL),
    PtmCmd.SET_LOCALITY: CtrlCommandSpec(request=LOCALITY_REQUEST),
    PtmCmd.CANCEL_TPM_CMD: CtrlCommandSpec(),
    PtmCmd.STORE_VOLATILE: CtrlCommandSpec(),
    PtmCmd.RESET_TPMESTABLISHED: CtrlCommandSpec(request=LOCALITY_REQUEST),
    PtmCmd.GET_STATEBLOB: CtrlCommandSpec(request=GET_STATEBLOB_REQUEST, tail=GET_STATEBLOB_TAIL,
                                          payload_field="length", header_on_error=True),
    PtmCmd.SET_STATEBLOB: CtrlCommandSpec(request=SET_STATEBLOB_HEADER),
    PtmCmd.STOP: CtrlCommandSpec(),
    PtmCmd.GET_CONFIG: CtrlCommandSpec(tail=GET_CONFIG_TAIL),
    PtmCmd.SET_DATAFD: CtrlCommandSpec(),
    PtmCmd.SET_BUFFERSIZE: CtrlCommandSpec(request=SET_BUFFERSIZE_REQUEST, tail=SET_BUFFERSIZE_TAIL),
    PtmCmd.GET_INFO: CtrlCommandSpec(request=GET_INFO_REQUEST, tail=GET_INFO_TAIL, payload_field="length"),
    PtmCmd.LOCK_STORAGE: CtrlCommandSpec(request=LOCK_STORAGE_REQUEST),
}


def build_request(cmd: PtmCmd, **fields: int) -> bytes:
    """The bytes of one control request: BE32 command code + its body built from ``fields``."""
    spec = CTRL_COMMANDS.get(cmd)
    try:
        body = spec.request.build(fields) if spec is not None and spec.request is not None else b""
    except (cs.ConstructError, KeyError, TypeError) as exc:
        raise UsageError(f"cannot build CMD_{cmd.name} from {fields}: {exc}") from None
    return cs.Int32ub.build(cmd) + body
