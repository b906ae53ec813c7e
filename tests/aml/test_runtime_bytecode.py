"""The run-time AML writer (ppikit.aml.bytecode) against the real iasl, and the dump parser."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ppikit.aml import bytecode as bc
from ppikit.aml.iasl import compile_asl
from ppikit.aml.values import DumpParseError, eisa_id_to_str, parse_object_dump, unescape
from ppikit.errors import UsageError

HEADER = 36


def iasl_body(asl_body: str) -> bytes:
    """AML body (after the header) iasl produces for ``asl_body`` in a revision-2 SSDT."""
    aml = compile_asl(f'DefinitionBlock ("", "SSDT", 2, "PPIKIT", "BCTEST", 1) {{ {asl_body} }}', name="bc.asl")
    return aml[HEADER:]


def asl_literal(value) -> str:
    if isinstance(value, int):
        return hex(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bytes):
        return f"Buffer ({len(value)}) {{{', '.join(hex(b) for b in value)}}}"
    return f"Package ({len(value)}) {{{', '.join(asl_literal(v) for v in value)}}}"


# -- encodings ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("body", "encoded"), [
    (0x3E, "3f"),  # total 0x3F: one byte
    (0x3F, "4104"),  # total 0x41: two bytes, low nibble 1, then 0x04
    (0xFFD, "4fff"),  # total 0xFFF: the largest two-byte encoding
    (0xFFE, "810001"),  # total 0x1001: three bytes
    (0x1000, "830001"),
])
def test_pkg_length_counts_its_own_bytes(body, encoded):
    assert bc.pkg_length(body).hex() == encoded
    value, end = bc.decode_pkg_length(bc.pkg_length(body), 0)
    assert value == body + end


@pytest.mark.parametrize(("path", "encoded"), [
    ("\\", "5c00"),
    ("\\_SB", "5c5f53425f"),
    ("\\_SB.PCI0", "5c2e5f53425f50434930"),
    ("\\_SB.PCI0.SF8.TPM", "5c2f045f53425f504349305346385f54504d5f"),
    ("Q001", "51303031"),  # relative: a method-local name
])
def test_name_strings(path, encoded):
    assert bc.name_string(path).hex() == encoded
    assert bc.parse_name_string(bytes.fromhex(encoded), 0)[0] == (path if path != "\\" else "\\")


@pytest.mark.parametrize("bad", ["\\1ABC", "\\_SB.TOOLONG", "\\A-B", "", "\\_SB..X"])
def test_bad_paths_are_refused(bad):
    with pytest.raises(UsageError):
        bc.name_segments(bad)


def test_normalize_path_is_acpicas_spelling():
    assert bc.normalize_path("_sb.pci0.sf8.tpm_") == "\\_SB.PCI0.SF8.TPM"


@settings(deadline=None, max_examples=25)
@given(st.recursive(
    st.integers(0, 0xFFFFFFFFFFFFFFFE) | st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=70)
    | st.binary(max_size=80),
    lambda children: st.lists(children, max_size=6), max_leaves=10))
def test_data_objects_match_iasl(value):
    assert bc.name("\\XVAL", bc.data_object(value)) == iasl_body(f"Name (\\XVAL, {asl_literal(value)})")


def test_var_package_above_255_elements_matches_iasl():
    values = list(range(300))
    assert bc.name("\\XVAL", bc.data_object(values)) == iasl_body(f"Name (\\XVAL, {asl_literal(values)})")


def test_uuid_is_the_touuid_buffer():
    dsm = uuid.UUID("3dddfaa6-361b-4eb4-a424-8d10089d1653")
    assert bc.data_object(dsm) == iasl_body('Name (\\XVAL, ToUUID ("3dddfaa6-361b-4eb4-a424-8d10089d1653"))')[6:]


def test_region_field_and_stores_match_iasl():
    ours = bc.method("\\XMTH", 1, bc.operation_region("Q000", 0xFED45000, 0x400, width=64)
                     + bc.field("Q000", "F000", 0x2000)
                     + bc.store(bc.name_string("F000"), bc.index_of("\\XPKG", 3, width=64)), serialized=True)
    theirs = iasl_body("""Name (\\XPKG, Package (4) {})
        Method (\\XMTH, 1, Serialized) {
            OperationRegion (Q000, SystemMemory, 0xFED45000, 0x400)
            Field (Q000, ByteAcc, NoLock, Preserve) { F000, 0x2000 }
            Store (F000, Index (\\XPKG, 3))
        }""")
    assert theirs.endswith(ours)


def test_driver_step_guard_matches_iasl():
    ours = bc.method("\\XMTH", 1, bc.if_arg0_at_most(300, bc.store(bc.integer(300), bc.name_string("\\XPRG")),
                                                      width=64)
                     + bc.return_(bc.name_string("\\XPRG")))
    theirs = iasl_body("""Name (\\XPRG, 0)
        Method (\\XMTH, 1) { If (Arg0 <= 300) { \\XPRG = 300 } Return (\\XPRG) }""")
    assert theirs.endswith(ours)


def test_result_reader_methods_match_their_asl():
    blocks = ["\\XB00", "\\XB01"]
    ours = (bc.blocks_slice_method("\\XSLC", blocks, width=64)
            + bc.blocks_element_method("\\XELM", blocks, width=64))
    theirs = iasl_body("""Name (\\XB00, Package (2) {1, 2})
        Name (\\XB01, Package (1) {3})
        Method (\\XSLC, 2, Serialized) {
            Local0 = Package (Arg1) {}
            Local1 = Zero
            While (Local1 < Arg1) {
                Local2 = Arg0 + Local1
                If (Local2 == 0) { Local0 [Local1] = \\XB00 }
                If (Local2 == 1) { Local0 [Local1] = \\XB01 }
                Local1++
            }
            Return (Local0)
        }
        Method (\\XELM, 2, Serialized) {
            If (Arg0 == 0) { Local0 = \\XB00 }
            If (Arg0 == 1) { Local0 = \\XB01 }
            Return (DerefOf (Local0 [Arg1]))
        }""")
    assert theirs.endswith(ours)


def test_external_devices_reads_iasl_externals():
    aml = compile_asl("""DefinitionBlock ("", "SSDT", 1, "PPIKIT", "EXT", 1) {
        External (\\_SB.PCI0.ISA, DeviceObj)
        External (\\_SB.PCI0.FOO, MethodObj)
        Scope (\\_SB.PCI0.ISA) { Name (XXXX, 1) } }""", name="ext.asl")
    assert bc.external_devices(aml) == ["\\_SB.PCI0.ISA"]


def test_definition_block_checksum_sums_to_zero():
    table = bc.definition_block(b"\x08XVAL\x0a\x05", oem_table_id="T")
    assert sum(table) & 0xFF == 0 and int.from_bytes(table[4:8], "little") == len(table)


# -- acpiexec's object dump ---------------------------------------------------------------------------
def test_dump_of_nested_package_as_acpiexec_prints_it():
    # Verbatim acpiexec 20200925 output for Package {1, "a b\"c\n]x", Buffer {1,2,3}, Package {...}, ...}
    text = """  [Package] Contains 5 Elements:
    [Integer] = 0000000000000001
    [String] Length 08 = "a b\\"c\\n]x"
    [Buffer] Length 03 =     0000: 01 02 03                                         // ...
    [Package] Contains 2 Elements:
      [Package] Contains 0 Elements:
      [Integer] = 00000000FFFFFFFF
    [Buffer] Length 12 = 
    0000: 01 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00  // ................
    0010: FF 2F                                            // ./
"""
    assert parse_object_dump(text.splitlines()) == [
        1, 'a b"c\n]x', b"\x01\x02\x03", [[], 0xFFFFFFFF], b"\x01" + bytes(15) + b"\xff\x2f"]


def test_dump_of_null_and_empty_values():
    assert parse_object_dump(["  [Null Object] (Type=0)"]) is None
    assert parse_object_dump(['  [String] Length 00 = ""']) == ""
    assert parse_object_dump(["  [Buffer] Length 00 = "]) == b""


@pytest.mark.parametrize("lines", [
    ["  [Object Reference] = 0x1234"],  # references are not supported results
    ["  [Package] Contains 2 Elements:", "    [Integer] = 0000000000000001"],  # too few elements
    ['  [String] Length 05 = "abc"'],  # length disagrees: truncated
    ["  [Integer] = 0000000000000001", "  [Integer] = 0000000000000002"],  # trailing object
])
def test_unexpected_dumps_are_errors(lines):
    with pytest.raises(DumpParseError):
        parse_object_dump(lines)


def test_unescape_reverses_acpica_string_escapes():
    assert unescape(r"\a\b\f\n\r\t\v\'\"\\\x01z") == "\a\b\f\n\r\t\v'\"\\\x01z"


@pytest.mark.parametrize("text", ["PNP0C31", "PNP0A08", "MSF0001", "ZAB12EF"])
def test_eisa_ids_decode_what_iasl_encodes(text):
    body = iasl_body(f'Name (\\XVAL, EisaId ("{text}"))')
    assert body[6] == bc.DWORD_PREFIX
    assert eisa_id_to_str(int.from_bytes(body[7:11], "little")) == text
