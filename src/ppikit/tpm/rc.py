"""TPM response codes decoded by name, for both families.

Why decode instead of printing hex: a PPI flow writes the TPM's return code into the page (pprp)
and a firmware author debugging "0x9A2" wants "TPM_RC_BAD_AUTH (session 1)". TPM 2.0 codes are
structured (TPM 2.0 Part 2, 6.6 TPM_RC): format-0 codes (bit 8 set) are errors or warnings,
format-1 codes (bit 7 set) also say which handle, session or parameter was at fault. TPM 1.2
codes (Part 2, 16) are a flat table with a non-fatal range at 0x800.
"""

from __future__ import annotations

from ppikit.errors import PpikitError
from ppikit.tpm.version import TpmVersion

TPM_RC_SUCCESS = 0x000
TPM_RC_BAD_TAG = 0x01E
RC_VER1 = 0x100  #: format-0 errors
RC_FMT1 = 0x080  #: format-1 errors (with handle/session/parameter number)
RC_WARN = 0x900  #: format-0 warnings
TPM_RC_FMT1_BIT = 0x080
TPM_RC_VER1_BIT = 0x100
TPM_RC_VENDOR_BIT = 0x400  #: format-0: vendor-defined code
TPM_RC_WARN_BIT = 0x800  #: format-0: warning rather than error
TPM_RC_P_BIT = 0x040  #: format-1: the number (bits 8-11) is a parameter number
TPM_RC_S_BIT = 0x800  #: format-1 without P: the number (bits 8-10) is a session number

#: Format-0 errors, ``RC_VER1 + n``.
TPM2_RC_VER1: dict[int, str] = {
    0x000: "TPM_RC_INITIALIZE", 0x001: "TPM_RC_FAILURE", 0x003: "TPM_RC_SEQUENCE",
    0x00B: "TPM_RC_PRIVATE", 0x019: "TPM_RC_HMAC", 0x020: "TPM_RC_DISABLED",
    0x021: "TPM_RC_EXCLUSIVE", 0x024: "TPM_RC_AUTH_TYPE", 0x025: "TPM_RC_AUTH_MISSING",
    0x026: "TPM_RC_POLICY", 0x027: "TPM_RC_PCR", 0x028: "TPM_RC_PCR_CHANGED",
    0x02D: "TPM_RC_UPGRADE", 0x02E: "TPM_RC_TOO_MANY_CONTEXTS", 0x02F: "TPM_RC_AUTH_UNAVAILABLE",
    0x030: "TPM_RC_REBOOT", 0x031: "TPM_RC_UNBALANCED", 0x042: "TPM_RC_COMMAND_SIZE",
    0x043: "TPM_RC_COMMAND_CODE", 0x044: "TPM_RC_AUTHSIZE", 0x045: "TPM_RC_AUTH_CONTEXT",
    0x046: "TPM_RC_NV_RANGE", 0x047: "TPM_RC_NV_SIZE", 0x048: "TPM_RC_NV_LOCKED",
    0x049: "TPM_RC_NV_AUTHORIZATION", 0x04A: "TPM_RC_NV_UNINITIALIZED", 0x04B: "TPM_RC_NV_SPACE",
    0x04C: "TPM_RC_NV_DEFINED", 0x050: "TPM_RC_BAD_CONTEXT", 0x051: "TPM_RC_CPHASH",
    0x052: "TPM_RC_PARENT", 0x053: "TPM_RC_NEEDS_TEST", 0x054: "TPM_RC_NO_RESULT",
    0x055: "TPM_RC_SENSITIVE",
}
#: Format-1 errors, ``RC_FMT1 + n`` (n = the low 6 bits).
TPM2_RC_FMT1: dict[int, str] = {
    0x001: "TPM_RC_ASYMMETRIC", 0x002: "TPM_RC_ATTRIBUTES", 0x003: "TPM_RC_HASH",
    0x004: "TPM_RC_VALUE", 0x005: "TPM_RC_HIERARCHY", 0x007: "TPM_RC_KEY_SIZE", 0x008: "TPM_RC_MGF",
    0x009: "TPM_RC_MODE", 0x00A: "TPM_RC_TYPE", 0x00B: "TPM_RC_HANDLE", 0x00C: "TPM_RC_KDF",
    0x00D: "TPM_RC_RANGE", 0x00E: "TPM_RC_AUTH_FAIL", 0x00F: "TPM_RC_NONCE", 0x010: "TPM_RC_PP",
    0x012: "TPM_RC_SCHEME", 0x015: "TPM_RC_SIZE", 0x016: "TPM_RC_SYMMETRIC", 0x017: "TPM_RC_TAG",
    0x018: "TPM_RC_SELECTOR", 0x01A: "TPM_RC_INSUFFICIENT", 0x01B: "TPM_RC_SIGNATURE",
    0x01C: "TPM_RC_KEY", 0x01D: "TPM_RC_POLICY_FAIL", 0x01F: "TPM_RC_INTEGRITY",
    0x020: "TPM_RC_TICKET", 0x021: "TPM_RC_RESERVED_BITS", 0x022: "TPM_RC_BAD_AUTH",
    0x023: "TPM_RC_EXPIRED", 0x024: "TPM_RC_POLICY_CC", 0x025: "TPM_RC_BINDING",
    0x026: "TPM_RC_CURVE", 0x027: "TPM_RC_ECC_POINT",
}
#: Format-0 warnings, ``RC_WARN + n``.
TPM2_RC_WARN: dict[int, str] = {
    0x001: "TPM_RC_CONTEXT_GAP", 0x002: "TPM_RC_OBJECT_MEMORY", 0x003: "TPM_RC_SESSION_MEMORY",
    0x004: "TPM_RC_MEMORY", 0x005: "TPM_RC_SESSION_HANDLES", 0x006: "TPM_RC_OBJECT_HANDLES",
    0x007: "TPM_RC_LOCALITY", 0x008: "TPM_RC_YIELDED", 0x009: "TPM_RC_CANCELED",
    0x00A: "TPM_RC_TESTING",
    **{0x010 + n: f"TPM_RC_REFERENCE_H{n}" for n in range(7)},
    **{0x018 + n: f"TPM_RC_REFERENCE_S{n}" for n in range(7)},
    0x020: "TPM_RC_NV_RATE", 0x021: "TPM_RC_LOCKOUT", 0x022: "TPM_RC_RETRY",
    0x023: "TPM_RC_NV_UNAVAILABLE", 0x07F: "TPM_RC_NOT_USED",
}

#: TPM 1.2 return codes (TPM Main Part 2, 16). 0x800.. are TPM_NON_FATAL.
TPM12_RC: dict[int, str] = {
    0x00: "TPM_SUCCESS", 0x01: "TPM_AUTHFAIL", 0x02: "TPM_BADINDEX", 0x03: "TPM_BAD_PARAMETER",
    0x04: "TPM_AUDITFAILURE", 0x05: "TPM_CLEAR_DISABLED", 0x06: "TPM_DEACTIVATED",
    0x07: "TPM_DISABLED", 0x08: "TPM_DISABLED_CMD", 0x09: "TPM_FAIL", 0x0A: "TPM_BAD_ORDINAL",
    0x0B: "TPM_INSTALL_DISABLED", 0x0C: "TPM_INVALID_KEYHANDLE", 0x0D: "TPM_KEYNOTFOUND",
    0x0E: "TPM_INAPPROPRIATE_ENC", 0x0F: "TPM_MIGRATEFAIL", 0x10: "TPM_INVALID_PCR_INFO",
    0x11: "TPM_NOSPACE", 0x12: "TPM_NOSRK", 0x13: "TPM_NOTSEALED_BLOB", 0x14: "TPM_OWNER_SET",
    0x15: "TPM_RESOURCES", 0x16: "TPM_SHORTRANDOM", 0x17: "TPM_SIZE", 0x18: "TPM_WRONGPCRVAL",
    0x19: "TPM_BAD_PARAM_SIZE", 0x1A: "TPM_SHA_THREAD", 0x1B: "TPM_SHA_ERROR",
    0x1C: "TPM_FAILEDSELFTEST", 0x1D: "TPM_AUTH2FAIL", 0x1E: "TPM_BADTAG", 0x1F: "TPM_IOERROR",
    0x20: "TPM_ENCRYPT_ERROR", 0x21: "TPM_DECRYPT_ERROR", 0x22: "TPM_INVALID_AUTHHANDLE",
    0x23: "TPM_NO_ENDORSEMENT", 0x24: "TPM_INVALID_KEYUSAGE", 0x25: "TPM_WRONG_ENTITYTYPE",
    0x26: "TPM_INVALID_POSTINIT", 0x27: "TPM_INAPPROPRIATE_SIG", 0x28: "TPM_BAD_KEY_PROPERTY",
    0x29: "TPM_BAD_MIGRATION", 0x2A: "TPM_BAD_SCHEME", 0x2B: "TPM_BAD_DATASIZE",
    0x2C: "TPM_BAD_MODE", 0x2D: "TPM_BAD_PRESENCE", 0x2E: "TPM_BAD_VERSION",
    0x2F: "TPM_NO_WRAP_TRANSPORT", 0x30: "TPM_AUDITFAIL_UNSUCCESSFUL",
    0x31: "TPM_AUDITFAIL_SUCCESSFUL", 0x32: "TPM_NOTRESETABLE", 0x33: "TPM_NOTLOCAL",
    0x34: "TPM_BAD_TYPE", 0x35: "TPM_INVALID_RESOURCE", 0x36: "TPM_NOTFIPS",
    0x37: "TPM_INVALID_FAMILY", 0x38: "TPM_NO_NV_PERMISSION", 0x39: "TPM_REQUIRES_SIGN",
    0x3A: "TPM_KEY_NOTSUPPORTED", 0x3B: "TPM_AUTH_CONFLICT", 0x3C: "TPM_AREA_LOCKED",
    0x3D: "TPM_BAD_LOCALITY", 0x3E: "TPM_READ_ONLY", 0x3F: "TPM_PER_NOWRITE",
    0x40: "TPM_FAMILYCOUNT", 0x41: "TPM_WRITE_LOCKED", 0x42: "TPM_BAD_ATTRIBUTES",
    0x43: "TPM_INVALID_STRUCTURE", 0x44: "TPM_KEY_OWNER_CONTROL", 0x45: "TPM_BAD_COUNTER",
    0x46: "TPM_NOT_FULLWRITE", 0x47: "TPM_CONTEXT_GAP", 0x48: "TPM_MAXNVWRITES",
    0x49: "TPM_NOOPERATOR", 0x4A: "TPM_RESOURCEMISSING", 0x4B: "TPM_DELEGATE_LOCK",
    0x4C: "TPM_DELEGATE_FAMILY", 0x4D: "TPM_DELEGATE_ADMIN", 0x4E: "TPM_TRANSPORT_NOTEXCLUSIVE",
    0x4F: "TPM_OWNER_CONTROL", 0x50: "TPM_DAA_RESOURCES", 0x51: "TPM_DAA_INPUT_DATA0",
    0x52: "TPM_DAA_INPUT_DATA1", 0x53: "TPM_DAA_ISSUER_SETTINGS", 0x54: "TPM_DAA_TPM_SETTINGS",
    0x55: "TPM_DAA_STAGE", 0x56: "TPM_DAA_ISSUER_VALIDITY", 0x57: "TPM_DAA_WRONG_W",
    0x58: "TPM_BAD_HANDLE", 0x59: "TPM_BAD_DELEGATE", 0x5A: "TPM_BADCONTEXT",
    0x5B: "TPM_TOOMANYCONTEXTS", 0x5C: "TPM_MA_TICKET_SIGNATURE", 0x5D: "TPM_MA_DESTINATION",
    0x5E: "TPM_MA_SOURCE", 0x5F: "TPM_MA_AUTHORITY", 0x61: "TPM_PERMANENTEK",
    0x62: "TPM_BAD_SIGNATURE", 0x63: "TPM_NOCONTEXTSPACE",
    0x800: "TPM_RETRY", 0x801: "TPM_NEEDS_SELFTEST", 0x802: "TPM_DOING_SELFTEST",
    0x803: "TPM_DEFEND_LOCK_RUNNING",
}


def tpm2_rc_name(code: int) -> str:
    """Name a TPM 2.0 response code, with the handle/session/parameter number for format 1."""
    if code == TPM_RC_SUCCESS:
        return "TPM_RC_SUCCESS"
    if code == TPM_RC_BAD_TAG:
        return "TPM_RC_BAD_TAG"
    if code & TPM_RC_FMT1_BIT:
        name = TPM2_RC_FMT1.get(code & 0x3F, f"unknown TPM 2.0 format-1 error 0x{RC_FMT1 + (code & 0x3F):03X}")
        if code & TPM_RC_P_BIT:
            return f"{name} (parameter {(code >> 8) & 0xF})"
        number = (code >> 8) & 0x7
        if code & TPM_RC_S_BIT:
            return f"{name} (session {number})"
        return f"{name} (handle {number})" if number else name
    if code & TPM_RC_VER1_BIT:
        if code & TPM_RC_VENDOR_BIT:
            return f"vendor-specific TPM 2.0 code 0x{code:03X}"
        table = TPM2_RC_WARN if code & TPM_RC_WARN_BIT else TPM2_RC_VER1
        return table.get(code & 0x7F, f"unknown TPM 2.0 {'warning' if code & TPM_RC_WARN_BIT else 'error'} "
                                      f"0x{code:03X}")
    return f"unknown TPM 2.0 response code 0x{code:X}"


def tpm12_rc_name(code: int) -> str:
    """Name a TPM 1.2 return code."""
    return TPM12_RC.get(code, f"unknown TPM 1.2 return code 0x{code:X}")


def rc_name(code: int, version: TpmVersion | None = None) -> str:
    """Name a response code; without ``version`` the family is inferred from the code's shape.

    TPM 2.0 codes other than success and TPM_RC_BAD_TAG have bit 7 or bit 8 set; TPM 1.2 codes
    never do, so ``rc_name(0x9A2) == "TPM_RC_BAD_AUTH (session 1)"`` and ``rc_name(0x26) ==
    "TPM_INVALID_POSTINIT"``. Pass ``version`` for 0 and 0x1E, which both families use.
    """
    if version == TpmVersion.TPM_2_0 or (version is None and code & (TPM_RC_FMT1_BIT | TPM_RC_VER1_BIT)):
        return tpm2_rc_name(code)
    return tpm12_rc_name(code)


class TpmResponseError(PpikitError):
    """A TPM answered a command with a non-zero response code.

    ``code`` is the raw value (what firmware writes into pprp), ``name`` its decoded name,
    ``command`` the command's spec name.
    """

    def __init__(self, command: str, code: int, version: TpmVersion | None = None) -> None:
        self.command = command
        self.code = code
        self.name = rc_name(code, version)
        super().__init__(f"{command} failed: {self.name} (0x{code:03X})")
