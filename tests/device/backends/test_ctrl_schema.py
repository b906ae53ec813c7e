"""Control-channel layouts against the bytes of swtpm's protocol (tis-crb-swtpm.md §4.1, S-LIVE 0.7.1)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ppikit.device.backends.ctrl import (
    GET_CAPABILITY_REPLY,
    GET_STATEBLOB_TAIL,
    GET_TPMESTABLISHED_TAIL,
    REQUIRED_CAPS_TPM2,
    REQUIRED_CAPS_TPM12,
    SET_BUFFERSIZE_TAIL,
    PtmBlobType,
    PtmCap,
    PtmCmd,
    build_request,
    ptm_result_name,
)
from ppikit.errors import UsageError

H = bytes.fromhex


@pytest.mark.parametrize(("cmd", "fields", "wire"), [
    (PtmCmd.GET_CAPABILITY, {}, "00000001"),
    (PtmCmd.INIT, {"init_flags": 0}, "00000002 00000000"),  # QEMU reset: INIT(0)
    (PtmCmd.INIT, {"init_flags": 1}, "00000002 00000001"),  # post-migration: DELETE_VOLATILE
    (PtmCmd.SHUTDOWN, {}, "00000003"),
    (PtmCmd.SET_LOCALITY, {"loc": 3}, "00000005 03000000"),  # locality byte + 3 pad, as QEMU sends
    (PtmCmd.RESET_TPMESTABLISHED, {"loc": 3}, "0000000b 03000000"),
    (PtmCmd.GET_STATEBLOB, {"state_flags": 1, "type": PtmBlobType.VOLATILE, "offset": 0},
     "0000000c 00000001 00000002 00000000"),  # DECRYPTED, volatile, from offset 0
    (PtmCmd.SET_STATEBLOB, {"state_flags": 0, "type": PtmBlobType.PERMANENT, "length": 1321},
     "0000000d 00000000 00000001 00000529"),  # header only; the blob bytes follow
    (PtmCmd.STOP, {}, "0000000e"),
    (PtmCmd.SET_BUFFERSIZE, {"buffersize": 3968}, "00000011 00000f80"),
    (PtmCmd.SET_BUFFERSIZE, {"buffersize": 0}, "00000011 00000000"),  # 0 = query
    (PtmCmd.GET_INFO, {"flags": 1, "offset": 10}, "00000012 0000000000000001 0000000a 00000000"),
])
def test_request_bytes(cmd: PtmCmd, fields: dict, wire: str) -> None:
    assert build_request(cmd, **fields) == H(wire.replace(" ", ""))


def test_get_capability_reply_of_swtpm_0_7_1() -> None:
    # S-LIVE: 8 bytes, no result word in 0.7.x; every command up to SEND_COMMAND_HEADER
    caps = PtmCap(GET_CAPABILITY_REPLY.parse(H("000000000000ffff")).caps)
    assert caps == 0xFFFF
    assert PtmCap.SEND_COMMAND_HEADER in caps and PtmCap.LOCK_STORAGE not in caps


def test_required_capabilities_are_qemus() -> None:
    # INIT, SHUTDOWN, GET_TPMESTABLISHED, SET_LOCALITY, STOP, SET_DATAFD, SET_BUFFERSIZE (+RESET_EST for TPM 2)
    assert int(REQUIRED_CAPS_TPM12) == 0x340F
    assert int(REQUIRED_CAPS_TPM2) == 0x348F


def test_reply_tails() -> None:
    # SET_BUFFERSIZE after STOP on 0.7.1 (checklist 40): size 0xF80, min 0xAF8, max 0x1000
    tail = SET_BUFFERSIZE_TAIL.parse(H("00000f80 00000af8 00001000".replace(" ", "")))
    assert (tail.buffersize, tail.minsize, tail.maxsize) == (0xF80, 0xAF8, 0x1000)
    assert GET_TPMESTABLISHED_TAIL.parse(H("01000000")).bit == 1
    blob = GET_STATEBLOB_TAIL.parse(H("00000000 00000529 00000529".replace(" ", "")))
    assert (blob.state_flags, blob.totlength, blob.length) == (0, 1321, 1321)


@pytest.mark.parametrize(("result", "name"), [
    (0x00, "TPM_SUCCESS (0x00)"),
    (0x03, "TPM_BAD_PARAMETER (0x03)"),
    (0x0A, "TPM_BAD_ORDINAL (0x0A)"),
    (0x0D, "TPM_KEYNOTFOUND (0x0D)"),
    (0x1F, "TPM_IOERROR (0x1F)"),
    (0x21, "TPM_DECRYPT_ERROR (0x21)"),
    (0x800, "TPM_RETRY (0x800)"),
    (0x7777, "unknown TPM 1.2 return code 0x7777 (0x7777)"),
])
def test_result_names(result: int, name: str) -> None:
    assert ptm_result_name(result) == name


@given(st.integers(0, 0xFF))
def test_locality_request_is_byte_plus_padding(locality: int) -> None:
    assert build_request(PtmCmd.SET_LOCALITY, loc=locality) == H("00000005") + bytes([locality, 0, 0, 0])


def test_missing_request_field_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"cannot build CMD_GET_STATEBLOB from \{'type': 1\}"):
        build_request(PtmCmd.GET_STATEBLOB, type=1)
