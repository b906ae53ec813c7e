"""The PPI page schema: size, every field offset, exact bytes, round trips, and clear errors."""

import pytest
from hypothesis import given

from ppikit import strategies
from ppikit.errors import LayoutError
from ppikit.ppi.page import (
    FIELD_OFFSETS,
    PPI_PAGE,
    SCALAR_FIELDS,
    TPM_PPI_ADDR_BASE,
    TPM_PPI_ADDR_SIZE,
    PpiFunc,
    PpiPage,
    field_offset,
)

# The layout table from QEMU docs/specs/tpm.rst / OVMF QEMU_TPM_PPI, offsets in hex.
EXPECTED_OFFSETS = {
    "func": 0x000, "ppin": 0x100, "ppip": 0x101, "pprp": 0x105, "pprq": 0x109, "pprm": 0x10D,
    "lppr": 0x111, "fret": 0x115, "res1": 0x119, "next_step": 0x159, "movv": 0x15A, "reserved": 0x15B,
}


def test_constants():
    assert TPM_PPI_ADDR_BASE == 0xFED45000
    assert TPM_PPI_ADDR_SIZE == 0x400
    assert PPI_PAGE.sizeof() == 0x400


@pytest.mark.parametrize("name,offset", sorted(EXPECTED_OFFSETS.items()))
def test_field_offset(name, offset):
    assert field_offset(name) == offset
    # The schema itself places the field there: sum the sizes of the fields before it.
    before = 0
    for sub in PPI_PAGE.subcons:
        if sub.name == name:
            break
        before += sub.sizeof()
    assert before == offset


@pytest.mark.parametrize("name", SCALAR_FIELDS)
def test_scalar_lands_at_its_offset_little_endian(name):
    offset, size = FIELD_OFFSETS[name]
    value = 0x11223344 if size == 4 else 0xA5
    page = PpiPage.blank()
    setattr(page, name, value)
    raw = page.build()
    assert raw[offset:offset + size] == value.to_bytes(size, "little")
    assert raw.count(0) == TPM_PPI_ADDR_SIZE - size  # nothing else written


def test_clear_request_vector():
    # pprq = 5 (Clear) and func[5] = 3 (allowed, user required): the page a Linux
    # `echo 5 > ppi/request` leaves on QEMU+OVMF.
    page = PpiPage.blank()
    page.pprq = 5
    page.func[5] = 3
    raw = page.build()
    assert raw[0x005] == 0x03
    assert raw[0x109:0x10D] == bytes.fromhex("05000000")
    assert PpiPage.parse(raw).pprq == 5
    assert PpiPage.parse(raw).flag(5) is PpiFunc.ALLOWED_USR_REQ


def test_func_flag_reads_through_mask_and_preserves_upper_bits():
    raw = bytearray(TPM_PPI_ADDR_SIZE)
    raw[23] = 0xFB  # upper bits 0xF8 set, flag bits 011 = ALLOWED_USR_REQ
    page = PpiPage.parse(bytes(raw))
    assert page.flag(23) is PpiFunc.ALLOWED_USR_REQ
    page.set_flag(23, PpiFunc.BLOCKED)
    assert page.func[23] == 0xFA
    assert page.build()[23] == 0xFA
    raw[7] = 0x07  # an undefined flag value is returned as a plain int
    assert PpiPage.parse(bytes(raw)).flag(7) == 7


def test_reserved_tail_is_preserved_byte_for_byte():
    raw = bytearray(TPM_PPI_ADDR_SIZE)
    raw[0x15B] = 0xDE
    raw[0x3FF] = 0xAD
    raw[0x119] = 0x42  # res1
    assert PpiPage.parse(bytes(raw)).build() == bytes(raw)


@given(strategies.page_bytes())
def test_build_parse_is_identity_on_every_page(raw):
    assert PpiPage.parse(raw).build() == raw


@given(strategies.consistent_pages())
def test_parse_build_is_identity_on_objects(page):
    assert PpiPage.parse(page.build()) == page


@pytest.mark.parametrize("length", [0, 0x3FF, 0x401, 0x1000])
def test_wrong_length_names_the_page(length):
    with pytest.raises(LayoutError, match=r"page .*exactly 0x400 bytes") as info:
        PpiPage.parse(bytes(length))
    assert info.value.field == "page"


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("pprq", 1 << 32, r"^pprq @0x109: value 4294967296 outside 0..0xFFFFFFFF"),
        ("pprm", -1, r"^pprm @0x10D: value -1 outside"),
        ("ppin", 256, r"^ppin @0x100: value 256 outside 0..0xFF"),
        ("movv", 2.5, r"^movv @0x15A: must be an integer"),
        ("next_step", True, r"^next_step @0x159: must be an integer"),
    ],
)
def test_out_of_range_names_field_and_offset(field, value, message):
    page = PpiPage.blank()
    setattr(page, field, value)
    with pytest.raises(LayoutError, match=message):
        page.build()


def test_bad_func_entry_names_its_index():
    page = PpiPage.blank()
    page.func[5] = 0x100
    with pytest.raises(LayoutError, match=r"^func\[5\] @0x005: value 256 outside"):
        page.build()
    with pytest.raises(LayoutError, match=r"^func\[9\] @0x009: flag 8 outside 0..7"):
        PpiPage.blank().set_flag(9, 8)
    with pytest.raises(LayoutError, match="outside func"):
        PpiPage.blank().flag(256)


def test_unknown_field_name():
    with pytest.raises(LayoutError, match="^pprx: unknown PPI page field"):
        field_offset("pprx")


def test_parse_rejects_non_bytes():
    with pytest.raises(LayoutError, match="expected bytes"):
        PpiPage.parse("x" * 0x400)
