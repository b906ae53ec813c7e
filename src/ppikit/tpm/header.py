"""The 10-byte header every TPM 1.2 and TPM 2.0 command and response starts with.

Both families share the shape (tag BE16, size BE32, ordinal/command code or return code BE32), which
is why QEMU's ``tpm_util`` can probe the family and frame responses by looking at the header only.
"""

from __future__ import annotations

import struct

import construct as cs

from ppikit.errors import LayoutError

TPM_HEADER = cs.Struct("tag" / cs.Int16ub, "size" / cs.Int32ub, "code" / cs.Int32ub)
TPM_HEADER_SIZE = 10
#: The same layout precompiled for per-command hot paths (a construct parse costs ~34 us, this
#: ~0.2 us, and backends frame every response). Derived from TPM_HEADER: declared once.
TPM_HEADER_STRUCT = struct.Struct(">" + "".join(sc.subcon.fmtstr[1:] for sc in TPM_HEADER.subcons))

# TPM 2.0 tags (TPM_ST_*)
TPM_ST_NO_SESSIONS = 0x8001
TPM_ST_SESSIONS = 0x8002
# TPM 1.2 tags (TPM_TAG_*)
TPM_TAG_RQU_COMMAND = 0x00C1
TPM_TAG_RQU_AUTH1_COMMAND = 0x00C2
TPM_TAG_RQU_AUTH2_COMMAND = 0x00C3
TPM_TAG_RSP_COMMAND = 0x00C4
TPM_TAG_RSP_AUTH1_COMMAND = 0x00C5
TPM_TAG_RSP_AUTH2_COMMAND = 0x00C6


def parse_header(message: bytes, *, what: str = "TPM message") -> cs.Container:
    """Parse the header of ``message`` and check its size field against the real length."""
    if len(message) < TPM_HEADER_SIZE:
        raise LayoutError(f"{what} is {len(message)} bytes, shorter than the 10-byte header",
                          field="header", offset=len(message))
    tag, size, code = TPM_HEADER_STRUCT.unpack_from(message)
    if size != len(message):
        raise LayoutError(f"{what} header says {size} bytes but {len(message)} arrived",
                          field="size", offset=2)
    return cs.Container(tag=tag, size=size, code=code)
