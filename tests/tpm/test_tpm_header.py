"""The TPM header's fast struct twin must read exactly what the construct schema reads."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ppikit.errors import LayoutError
from ppikit.tpm.header import TPM_HEADER, TPM_HEADER_STRUCT, parse_header


@given(st.binary(min_size=10, max_size=10))
def test_struct_twin_matches_schema(header: bytes) -> None:
    parsed = TPM_HEADER.parse(header)
    assert TPM_HEADER_STRUCT.unpack(header) == (parsed.tag, parsed.size, parsed.code)


def test_parse_header() -> None:
    header = parse_header(bytes.fromhex("80010000000a00000100"))  # TPM_RC_INITIALIZE reply
    assert (header.tag, header.size, header.code) == (0x8001, 10, 0x100)
    with pytest.raises(LayoutError, match=r"^size @0x002: response header says 11 bytes but 10 arrived$"):
        parse_header(bytes.fromhex("80010000000b00000100"), what="response")
