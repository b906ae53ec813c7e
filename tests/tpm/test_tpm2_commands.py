"""TPM 2.0 command bytes and response parsing, as hex literals (qtest vectors where they exist)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ppikit.errors import LayoutError, UsageError
from ppikit.tpm import tpm2
from ppikit.tpm.command import build_command, parse_response
from ppikit.tpm.rc import TpmResponseError
from ppikit.tpm.tpm2 import TPM_ALG, TPM_CAP, TPM_RH, TPM_SU


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


TEST_DIGEST = b"test".ljust(32, b"\0")
PCR10_AFTER_TEST = h("f68598e5868de68b97299960f2717d176789a42f9aaea8c7b7aa79a86256c1de")


@pytest.mark.parametrize(("command", "wire"), [
    # TPM2_Startup(SU_CLEAR), the qtests' test command
    (build_command(tpm2.STARTUP, startupType=TPM_SU.CLEAR), "8001 0000000c 00000144 0000"),
    # qtest TPM2_PCR_Extend of PCR 10: password session, one SHA-256 digest "test" (65 bytes)
    (build_command(tpm2.PCR_EXTEND, handles=[10], digests=[{"hashAlg": TPM_ALG.SHA256, "digest": TEST_DIGEST}]),
     "8002 00000041 00000182 0000000a 00000009 40000009 0000 00 0000 00000001 000b" + TEST_DIGEST.hex()),
    # qtest TPM2_PCR_Read(SHA-256, PCR 10) (20 bytes)
    (build_command(tpm2.PCR_READ, pcrSelectionIn=[{"hash": TPM_ALG.SHA256, "pcrSelect": h("000400")}]),
     "8001 00000014 0000017e 00000001 000b 03 000400"),
    # OVMF's PPI clear: TPM2_ClearControl(TPM_RH_PLATFORM, empty password, disable NO)
    (build_command(tpm2.CLEAR_CONTROL, handles=[TPM_RH.PLATFORM], disable=0),
     "8002 0000001c 00000127 4000000c 00000009 40000009 0000 00 0000 00"),
    (build_command(tpm2.CLEAR, handles=[TPM_RH.PLATFORM]),
     "8002 0000001b 00000126 4000000c 00000009 40000009 0000 00 0000"),
    (build_command(tpm2.CHANGE_EPS, handles=[TPM_RH.PLATFORM]),
     "8002 0000001b 00000124 4000000c 00000009 40000009 0000 00 0000"),
    # GetCapability(TPM_CAP_PCRS) as Tpm2GetCapabilitySupportedAndActivePcrs sends it
    (build_command(tpm2.GET_CAPABILITY, capability=TPM_CAP.PCRS, property=0, propertyCount=1),
     "8001 00000016 0000017a 00000005 00000000 00000001"),
    # PPI op 23 allocation: SHA-1 off, SHA-256 on (0xFF x 3)
    (build_command(tpm2.PCR_ALLOCATE, handles=[TPM_RH.PLATFORM],
                   pcrAllocation=[{"hash": TPM_ALG.SHA1, "pcrSelect": h("000000")},
                                  {"hash": TPM_ALG.SHA256, "pcrSelect": h("ffffff")}]),
     "8002 0000002b 0000012b 4000000c 00000009 40000009 0000 00 0000 00000002 0004 03 000000 000b 03 ffffff"),
    # HierarchyChangeAuth(owner, "owner") with a given password "pw"
    (build_command(tpm2.HIERARCHY_CHANGE_AUTH, handles=[TPM_RH.OWNER], passwords=[b"pw"], newAuth=b"owner"),
     "8002 00000024 00000129 40000001 0000000b 40000009 0000 00 0002 7077 0005 6f776e6572"),
    (build_command(tpm2.HIERARCHY_CONTROL, handles=[TPM_RH.PLATFORM], enable=TPM_RH.ENDORSEMENT, state=0),
     "8002 00000020 00000121 4000000c 00000009 40000009 0000 00 0000 4000000b 00"),
    (build_command(tpm2.GET_RANDOM, bytesRequested=8), "8001 0000000c 0000017b 0008"),
    (build_command(tpm2.SELF_TEST, fullTest=1), "8001 0000000b 00000143 01"),
    (build_command(tpm2.SHUTDOWN, shutdownType=TPM_SU.STATE), "8001 0000000c 00000145 0001"),
    (build_command(tpm2.READ_CLOCK), "8001 0000000a 00000181"),  # QEMU's family probe
    (build_command(tpm2.FLUSH_CONTEXT, flushHandle=0x80000000), "8001 0000000e 00000165 80000000"),
])
def test_command_bytes(command: bytes, wire: str) -> None:
    assert command == h(wire)


def test_pcr_extend_reply_with_session_area() -> None:
    # qtest: 19-byte success reply, parameterSize 0, password session response (continueSession)
    response = parse_response(tpm2.PCR_EXTEND, h("8002 00000013 00000000 00000000 0000 01 0000"))
    assert response.ok and response.params == {}


def test_pcr_read_reply() -> None:
    reply = h("8001 0000003e 00000000 00000015 00000001 000b 03 000400 00000001 0020") + PCR10_AFTER_TEST
    params = parse_response(tpm2.PCR_READ, reply).params
    assert params.pcrUpdateCounter == 0x15
    assert [(s.hash, s.pcrSelect) for s in params.pcrSelectionOut] == [(TPM_ALG.SHA256, h("000400"))]
    assert params.pcrValues == [PCR10_AFTER_TEST]


def test_get_capability_pcrs_reply_of_swtpm() -> None:
    # swtpm 0.7.1 / libtpms 0.9.2: SHA-1, SHA-256, SHA-384, SHA-512 banks, all 24 PCRs active
    reply = h("8001 0000002b 00000000 00 00000005 00000004 0004 03 ffffff 000b 03 ffffff 000c 03 ffffff 000d 03 ffffff")
    params = parse_response(tpm2.GET_CAPABILITY, reply).params
    assert params.moreData == 0
    assert [(s.hash, s.pcrSelect) for s in params.capabilityData.data] == [
        (TPM_ALG.SHA1, h("ffffff")), (TPM_ALG.SHA256, h("ffffff")),
        (TPM_ALG.SHA384, h("ffffff")), (TPM_ALG.SHA512, h("ffffff"))]


def test_error_reply_has_code_and_name() -> None:
    response = parse_response(tpm2.STARTUP, h("8001 0000000a 00000100"))
    assert (response.ok, response.code, response.rc_name, response.params) == (False, 0x100, "TPM_RC_INITIALIZE", None)
    with pytest.raises(TpmResponseError, match=r"^TPM2_Startup failed: TPM_RC_INITIALIZE \(0x100\)$"):
        response.check()


@pytest.mark.parametrize(("reply", "message"), [
    ("8001 0000000c 00000000", r"^size @0x002: TPM2_GetRandom response header says 12 bytes but 10 arrived$"),
    ("8001 00000a", r"^header @0x005: TPM2_GetRandom response is 5 bytes, shorter than the 10-byte header$"),
    ("8001 0000000e 00000000 0008 0102", r"^parameters @0x00A: TPM2_GetRandom response: "),  # 8 promised, 2 given
    ("8001 0000000e 00000000 0001 0102", r"^parameters @0x00A: TPM2_GetRandom response: "),  # trailing byte
    ("8001 0000000c 00000101 0000", r"^size @0x002: TPM2_GetRandom error response has 12 bytes, expected 10$"),
])
def test_malformed_replies_name_the_field(reply: str, message: str) -> None:
    with pytest.raises(LayoutError, match=message):
        parse_response(tpm2.GET_RANDOM, h(reply))


def test_build_errors_are_usage_errors() -> None:
    with pytest.raises(UsageError, match=r"TPM2_Clear takes handles \('authHandle',\), got 0"):
        build_command(tpm2.CLEAR)
    with pytest.raises(UsageError, match="TPM2_Clear takes 1 authorization"):
        build_command(tpm2.CLEAR, handles=[TPM_RH.PLATFORM], passwords=[])
    with pytest.raises(UsageError, match="cannot build TPM2_GetRandom"):
        build_command(tpm2.GET_RANDOM, bytesRequested=0x10000)


def test_ek_template_round_trips() -> None:
    public = tpm2.TPM2B_PUBLIC.build(tpm2.EK_ECC_P256_TEMPLATE)
    assert public[:12] == h("007a 0023 000b 000300b2 0020")  # size 122, ECC, SHA-256, EK attributes, policy
    assert tpm2.TPM2B_PUBLIC.build(tpm2.TPM2B_PUBLIC.parse(public)) == public


@given(st.lists(st.integers(0, 23), unique=True))
def test_pcr_bitmaps_round_trip(pcrs: list[int]) -> None:
    assert tpm2.pcrs_in_bitmap(tpm2.pcr_select_bitmap(pcrs)) == sorted(pcrs)


@given(st.integers(0, 0xFFFF), st.binary(max_size=64))
def test_size_field_matches_length(count: int, password: bytes) -> None:
    for command in (build_command(tpm2.GET_RANDOM, bytesRequested=count),
                    build_command(tpm2.CLEAR, handles=[TPM_RH.LOCKOUT], passwords=[password])):
        assert int.from_bytes(command[2:6], "big") == len(command)
