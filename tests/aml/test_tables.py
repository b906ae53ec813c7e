"""TPM2/TCPA tables: built bytes equal QEMU 7.2's, parsing verifies the checksum and names bad fields."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ppikit.aml.params import SsdtParams
from ppikit.aml.tables import (
    build_tcpa,
    build_tpm2,
    build_tpm_table,
    checksum_ok,
    decode_table,
    fix_checksum,
)
from ppikit.errors import LayoutError

# QEMU 7.2 TPM2, TIS: header "TPM2" len 0x4C rev 4, checksum 0x1B, "BOCHS " "BXPC    " oem rev 1,
# creator "BXPC" rev 1 | class 0, reserved 0 | control area 0 | start method 6 | 12 zero bytes |
# LAML 0x10000 | LASA 0
TPM2_TIS = bytes.fromhex(
    "54504d324c000000041b424f43485320" "4258504320202020010000004258504301000000"
    "00000000" "0000000000000000" "06000000" "000000000000000000000000" "00000100" "0000000000000000"
)
# QEMU 7.2 TPM2, CRB: checksum 0x08, control area 0xFED40040, start method 7
TPM2_CRB = bytes.fromhex(
    "54504d324c0000000408424f43485320" "4258504320202020010000004258504301000000"
    "00000000" "4000d4fe00000000" "07000000" "000000000000000000000000" "00000100" "0000000000000000"
)
# QEMU 7.2 TCPA (TPM 1.2): len 0x32 rev 2 checksum 0x38 | class 0 | LAML 0x10000 | LASA 0
TCPA_TIS12 = bytes.fromhex(
    "54435041320000000238424f43485320"
    "4258504320202020010000004258504301000000" "0000" "00000100" "0000000000000000"
)


@pytest.mark.parametrize(
    ("kwargs", "variant", "signature", "expected"),
    [
        ({"interface": "tis", "tpm": "2.0"}, "q35.tis.tpm2.ppi", "TPM2", TPM2_TIS),
        ({"interface": "crb", "tpm": "2.0"}, "q35.crb.tpm2.ppi", "TPM2", TPM2_CRB),
        ({"interface": "tis", "tpm": "1.2"}, "q35.tis.tpm12.ppi", "TCPA", TCPA_TIS12),
    ],
)
def test_built_table_is_qemus_with_the_checksum_set(qemu_tables, kwargs, variant, signature, expected):
    sig, built = build_tpm_table(SsdtParams.create(**kwargs))
    assert sig == signature
    assert built == expected
    assert built == qemu_tables(variant, signature)  # QEMU's raw bytes once byte 9 is fixed
    raw = qemu_tables(variant, signature, fixed=False)
    assert raw[9] == 0 and built[:9] == raw[:9] and built[10:] == raw[10:]


def test_qemu_raw_table_reports_instead_of_failing_when_asked(qemu_tables):
    raw = qemu_tables("q35.crb.tpm2.ppi", "TPM2", fixed=False)
    decoded = decode_table(raw, verify=False)
    assert not decoded.checksum_ok
    assert decoded.expected_checksum == 0x08
    assert decoded.fields["start_method"] == 7
    assert decoded.fields["control_area_address"] == 0xFED40040
    assert decoded.fields["laml"] == 0x10000
    with pytest.raises(LayoutError, match=r"^checksum @0x009: .*expected 0x08") as info:
        decode_table(raw)
    assert (info.value.field, info.value.offset) == ("checksum", 9)


def test_decode_fields_of_a_built_tcpa():
    decoded = decode_table(TCPA_TIS12)
    assert decoded.checksum_ok
    assert decoded.to_dict() == {
        "signature": "TCPA", "checksum_ok": True, "expected_checksum": 0x38, "length": 50, "revision": 2,
        "checksum": 0x38, "oem_id": "BOCHS ", "oem_table_id": "BXPC    ", "oem_revision": 1,
        "creator_id": "BXPC", "creator_revision": 1, "platform_class": 0, "laml": 0x10000, "lasa": 0,
    }


@pytest.mark.parametrize(
    ("data", "field", "offset"),
    [
        (TPM2_TIS[:20], "header", 20),  # shorter than a header
        (b"SSDT" + TPM2_TIS[4:], "signature", 0),  # not a TPM table
        (TPM2_TIS[:-4], "length", 4),  # header says 76, 72 bytes given
        (fix_checksum(TPM2_TIS[:8] + b"\x03" + TPM2_TIS[9:]), "revision", 8),  # revision 3
    ],
)
def test_malformed_tables_name_field_and_offset(data, field, offset):
    with pytest.raises(LayoutError) as info:
        decode_table(data)
    assert (info.value.field, info.value.offset) == (field, offset)


def test_table_kind_must_match_the_tpm_family():
    with pytest.raises(LayoutError, match="TCPA"):
        build_tpm2(SsdtParams.create(tpm="1.2"))
    with pytest.raises(LayoutError, match="TPM2"):
        build_tcpa(SsdtParams.create(tpm="2.0"))


def test_fix_checksum_rejects_a_short_blob():
    with pytest.raises(LayoutError) as info:
        fix_checksum(b"TPM2")
    assert info.value.field == "header"


@given(
    lasa=st.integers(0, 2**64 - 1),
    interface=st.sampled_from(["tis", "crb"]),
    oem_id=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, blacklist_characters='"\\'),
                   min_size=1, max_size=6),
)
def test_tpm2_round_trip_and_checksum(lasa, interface, oem_id):
    params = SsdtParams.create(interface=interface, tpm="2.0", oem_id=oem_id)
    data = build_tpm2(params, lasa=lasa)
    assert len(data) == 76 and checksum_ok(data)
    fields = decode_table(data).fields
    assert fields["lasa"] == lasa
    assert fields["oem_id"].rstrip("\0") == oem_id
    assert fields["start_method"] == (7 if interface == "crb" else 6)
