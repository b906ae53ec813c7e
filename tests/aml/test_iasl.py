"""The iasl wrapper runs the real compiler: bytes out, text back, errors that point at the template."""

from __future__ import annotations

import re

import pytest

from ppikit.aml.iasl import AslCompileError, compile_asl, disassemble, iasl_version, template_at
from ppikit.errors import ToolError, ToolMissingError

TINY = '''DefinitionBlock ("", "SSDT", 1, "PPIKIT", "TINY", 1)
{
    Name (\\XVAL, 0x1234)
}
'''


def test_compile_returns_an_ssdt_with_our_header():
    aml = compile_asl(TINY)
    assert aml[:4] == b"SSDT"
    assert int.from_bytes(aml[4:8], "little") == len(aml)
    assert aml[8] == 1  # revision 1 as written
    assert aml[10:16] == b"PPIKIT"
    assert aml[16:24] == b"TINY\0\0\0\0"  # iasl NUL-pads short table ids
    assert sum(aml) & 0xFF == 0  # iasl sets the checksum
    # Name (\XVAL, 0x1234) = NameOp, RootChar, 'XVAL', WordPrefix, 0x1234
    assert aml.endswith(bytes.fromhex("085c5856414c0b3412"))


def test_disassemble_round_trips_the_name():
    text = disassemble(compile_asl(TINY))
    assert 'DefinitionBlock ("", "SSDT", 1, "PPIKIT", "TINY", 0x00000001)' in text
    assert "Name (\\XVAL, 0x1234)" in text


def test_version_is_an_acpica_date():
    assert re.fullmatch(r"\d{8}", iasl_version())


def test_compile_error_names_template_and_line():
    source = (
        "/* ppikit-template: outer.asl.j2 */\n"
        'DefinitionBlock ("", "SSDT", 1, "PPIKIT", "BAD", 1)\n'
        "{\n"
        "    // ppikit-template: inner.asl.j2\n"
        '    Name (_STR, "not unicode")\n'
        "}\n"
    )
    with pytest.raises(AslCompileError) as info:
        compile_asl(source, name="outer.asl.j2")
    err = info.value
    assert err.template == "inner.asl.j2"
    assert err.line == 5
    assert "inner.asl.j2: rendered line 5" in str(err)
    assert "Buffer required" in str(err)
    assert 'Name (_STR, "not unicode")' in str(err)


def test_template_at_picks_the_closest_marker_above():
    source = "// ppikit-template: a\nx\n// ppikit-template: b\ny\n"
    assert template_at(source, 2) == "a"
    assert template_at(source, 4) == "b"
    assert template_at("nothing\n", 1) is None


def test_missing_iasl_names_the_debian_package(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ToolMissingError, match="acpica-tools"):
        compile_asl(TINY)


def test_disassemble_with_externals_passes_them_to_iasl():
    """-e tables are read (a bad one is an error); iasl 20200925 embeds External arities in the AML,
    so a ppikit SSDT disassembles the same with or without its stand-in DSDT."""
    from ppikit.aml.params import SsdtParams
    from ppikit.aml.render import build_scope_dsdt, build_ssdt

    params = SsdtParams.create(ppi=False)
    aml = build_ssdt(params)
    plain = disassemble(aml)
    with_scope = disassemble(aml, externals=[build_scope_dsdt(params)])
    assert "External (_SB_.PCI0.ISA_, DeviceObj)" in with_scope
    assert with_scope.split("*/", 1)[1] == plain.split("*/", 1)[1]
    with pytest.raises(ToolError, match="could not disassemble") as info:
        disassemble(aml, externals=[b"not an ACPI table"])
    assert "-e" in info.value.argv
