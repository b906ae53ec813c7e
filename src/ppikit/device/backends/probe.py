"""QEMU's ``tpm_util`` helpers that every backend shares: family probe and response framing checks.

The probe runs before the TPM is initialised, so it looks at the response *tag* only: any TPM 2.0
answers TPM2_ReadClock with tag TPM_ST_NO_SESSIONS (even the un-initialised error reply
``80 01 00 00 00 0A 00 00 01 01``), and a TPM 1.2 answers TPM_GetTicks with TPM_TAG_RSP_COMMAND.
"""

from __future__ import annotations

from collections.abc import Callable

from ppikit.device.backends.base import BackendError
from ppikit.tpm.header import TPM_HEADER_SIZE, TPM_HEADER_STRUCT, TPM_ST_NO_SESSIONS, TPM_TAG_RSP_COMMAND
from ppikit.tpm.version import TpmVersion

#: TPM2_ReadClock, no sessions (``tpm_util_test_tpmdev``).
TPM2_READCLOCK_PROBE = bytes.fromhex("8001 0000000a 00000181".replace(" ", ""))
#: TPM_GetTicks (TPM 1.2 ordinal 0xF1).
TPM12_GETTICKS_PROBE = bytes.fromhex("00c1 0000000a 000000f1".replace(" ", ""))


def check_response_frame(response: bytes) -> bytes:
    """QEMU's acceptance rule for a response: at least 10 bytes and exactly the header's size."""
    if len(response) < TPM_HEADER_SIZE:
        raise BackendError(f"short TPM response: {len(response)} bytes ({response.hex()})")
    _, size, _ = TPM_HEADER_STRUCT.unpack_from(response)
    if size != len(response):
        raise BackendError(f"malformed TPM response: header size {size} but {len(response)} bytes arrived")
    return response


def probe_version(transact: Callable[[bytes], bytes]) -> TpmVersion:
    """Which TPM family answers ``transact`` -- exactly QEMU's ``tpm_util_test_tpmdev`` order."""
    for probe, tag, version in ((TPM2_READCLOCK_PROBE, TPM_ST_NO_SESSIONS, TpmVersion.TPM_2_0),
                                (TPM12_GETTICKS_PROBE, TPM_TAG_RSP_COMMAND, TpmVersion.TPM_1_2)):
        if TPM_HEADER_STRUCT.unpack_from(check_response_frame(transact(probe)))[0] == tag:
            return version
    raise BackendError("TPM answered neither TPM2_ReadClock nor TPM_GetTicks with a known tag")
