"""Response-code names for both TPM families (TPM 2.0 Part 2 §6.6, TPM 1.2 Part 2 §16)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ppikit.tpm.rc import TpmResponseError, rc_name, tpm2_rc_name
from ppikit.tpm.version import TpmVersion


@pytest.mark.parametrize(("code", "name"), [
    (0x000, "TPM_SUCCESS"),  # ambiguous without a version: TPM 1.2 spelling
    (0x100, "TPM_RC_INITIALIZE"),  # second TPM2_Startup (S-LIVE)
    (0x101, "TPM_RC_FAILURE"),  # swtpm before CMD_INIT / after CMD_STOP
    (0x9A2, "TPM_RC_BAD_AUTH (session 1)"),  # wrong owner password
    (0x98E, "TPM_RC_AUTH_FAIL (session 1)"),  # wrong lockout password (DA-protected)
    (0x185, "TPM_RC_HIERARCHY (handle 1)"),  # CreatePrimary under a disabled hierarchy
    (0x1C3, "TPM_RC_HASH (parameter 1)"),  # PCR_Allocate with an unknown bank
    (0x1C4, "TPM_RC_VALUE (parameter 1)"),
    (0x2C4, "TPM_RC_VALUE (parameter 2)"),
    (0x084, "TPM_RC_VALUE"),  # format 1 without a number (swtpm's answer to TPM_GetTicks)
    (0x907, "TPM_RC_LOCALITY"),  # TPM2_Startup from locality 1
    (0x909, "TPM_RC_CANCELED"),
    (0x922, "TPM_RC_RETRY"),
    (0x921, "TPM_RC_LOCKOUT"),
    (0x910, "TPM_RC_REFERENCE_H0"),
    (0x500, "vendor-specific TPM 2.0 code 0x500"),
    (0x17F, "unknown TPM 2.0 error 0x17F"),
    (0x1FF, "unknown TPM 2.0 format-1 error 0x0BF (parameter 1)"),
    (0x26, "TPM_INVALID_POSTINIT"),  # TPM 1.2
    (0x2D, "TPM_BAD_PRESENCE"),
    (0x09, "TPM_FAIL"),
    (0x800, "TPM_RETRY"),
    (0x1E, "TPM_BADTAG"),
    (0x64, "unknown TPM 1.2 return code 0x64"),
])
def test_rc_names(code: int, name: str) -> None:
    assert rc_name(code) == name


def test_version_settles_ambiguous_codes() -> None:
    assert rc_name(0, TpmVersion.TPM_2_0) == "TPM_RC_SUCCESS"
    assert rc_name(0x1E, TpmVersion.TPM_2_0) == "TPM_RC_BAD_TAG"
    assert rc_name(0x1E, TpmVersion.TPM_1_2) == "TPM_BADTAG"
    assert rc_name(0x9A2, TpmVersion.TPM_1_2) == "unknown TPM 1.2 return code 0x9A2"


def test_response_error_carries_code_and_name() -> None:
    error = TpmResponseError("TPM2_Clear", 0x98E, TpmVersion.TPM_2_0)
    assert (error.command, error.code, error.name) == ("TPM2_Clear", 0x98E, "TPM_RC_AUTH_FAIL (session 1)")
    assert str(error) == "TPM2_Clear failed: TPM_RC_AUTH_FAIL (session 1) (0x98E)"


@given(st.integers(0, 0xF), st.sampled_from([0x01, 0x04, 0x22]))
def test_format1_parameter_numbers(number: int, error: int) -> None:
    name = tpm2_rc_name(0x080 | 0x040 | error | number << 8)
    assert name.endswith(f" (parameter {number})")


@given(st.integers(0, 0xFFFFFFFF))
def test_every_code_has_a_name(code: int) -> None:
    assert rc_name(code).startswith(("TPM_", "unknown TPM", "vendor-specific"))
