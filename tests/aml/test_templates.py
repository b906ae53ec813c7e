"""SSDT templates: parameters are validated first, every configuration compiles, and the objects iasl
puts in the table are exactly QEMU 7.2's (compared by disassembly against QEMU's own DSDTs)."""

from __future__ import annotations

import re

import pytest

from ppikit.aml import golden
from ppikit.aml.iasl import disassemble
from ppikit.aml.params import SsdtParams
from ppikit.aml.render import build_scope_dsdt, build_ssdt, render_scope_dsdt, render_ssdt
from ppikit.errors import UsageError

QEMU_NODE_OF = {  # ppikit configuration -> QEMU 7.2 reference DSDT with the same TPM device
    "tis-tpm12-ppi-qemu": "q35.tis.tpm12.ppi",
    "tis-tpm2-ppi-qemu": "q35.tis.tpm2.ppi",
    "crb-tpm2-ppi-qemu": "q35.crb.tpm2.ppi",
    "tis-tpm12-noppi": "q35.tis.tpm12.noppi",
    "tis-tpm2-noppi": "q35.tis.tpm2.noppi",
    "crb-tpm2-noppi": "q35.crb.tpm2.noppi",
}


def device_node(dsl: str, name: str = "TPM") -> str:
    """The ``Device (name)`` block of a disassembly, dedented, comments removed."""
    lines = dsl.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == f"Device ({name})")
    indent = len(lines[start]) - len(lines[start].lstrip())
    block = []
    for line in lines[start:]:
        block.append(line[indent:])
        if line.strip() == "}" and len(line) - len(line.lstrip()) == indent:
            break
    text = re.sub(r"//.*", "", re.sub(r"/\*.*?\*/", "", "\n".join(block)))
    return "\n".join(line.rstrip() for line in text.splitlines())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"interface": "usb"}, "'usb' is not a valid Interface"),
        ({"tpm": "3.0"}, "unknown TPM version '3.0'"),
        ({"profile": "lenient"}, "'lenient' is not a valid Profile"),
        ({"interface": "crb", "tpm": "1.2"}, "tpm 1.2 is only defined with the TIS interface"),
        ({"device_name": "tpm"}, "device_name 'tpm' is not an ACPI NameSeg"),
        ({"device_name": "TPM01"}, "device_name 'TPM01' is not an ACPI NameSeg"),
        ({"device_name": "1TPM"}, "device_name '1TPM' is not an ACPI NameSeg"),
        ({"scope": "_SB.PCI0"}, "must be an absolute ACPI path"),
        ({"scope": "\\_SB.PCI0.LPC-"}, "scope segment 'LPC-' is not an ACPI NameSeg"),
        ({"ppi_address": 0x1_0000_0000}, "ppi_address 4294967296 must be an integer in 0..0xFFFFFFFF"),
        ({"ppi_address": 0xFFFFFE00}, "must end below 4 GiB"),
        ({"ppi_address": 0xFED45E00}, "must not cross a 4 KiB page"),
        ({"ppi_address": 0xFED44000}, "overlaps the TPM MMIO window 0xFED40000+0x5000"),
        ({"mmio_size": 0}, "must be non-zero"),
        ({"mmio_base": 0xFFFFF000, "mmio_size": 0x2000}, "end at or below 4 GiB"),
        ({"mmio_base": -1}, "mmio_base -1 must be an integer"),
        ({"oem_id": "TOOLONG"}, "oem_id 'TOOLONG' must be 1-6 printable ASCII"),
        ({"oem_table_id": 'A"B'}, "oem_table_id 'A\"B' must be 1-8 printable ASCII"),
        ({"oem_id": ""}, "oem_id '' must be 1-6"),
        ({"oem_revision": 2**32}, "oem_revision"),
        ({"ppi": "yes"}, "ppi must be a bool"),
        ({"colour": "red"}, "unknown SSDT parameter(s): colour"),
    ],
)
def test_bad_parameters_fail_before_rendering(kwargs, message):
    with pytest.raises(UsageError) as info:
        SsdtParams.create(**kwargs)
    assert message in str(info.value)


def test_render_validates_a_directly_built_dataclass():
    with pytest.raises(UsageError, match="NameSeg"):
        render_ssdt(SsdtParams(device_name="tpm0"))


def test_ppi_off_ignores_the_page_address():
    # the page does not exist without PPI, so an address that would overlap the MMIO window is fine
    assert SsdtParams.create(ppi=False, ppi_address=0xFED40000).config_name == "tis-tpm2-noppi"


@pytest.mark.parametrize("params", golden.GOLDEN_CONFIGS, ids=lambda p: p.config_name)
def test_every_configuration_compiles_to_an_ssdt(params):
    aml = build_ssdt(params)
    assert aml[:4] == b"SSDT" and aml[8] == 1  # revision 1: 32-bit integers
    assert aml[10:16] == b"BOCHS " and aml[16:24] == b"BXPC    "
    assert sum(aml) & 0xFF == 0


@pytest.mark.parametrize("config", sorted(QEMU_NODE_OF))
def test_device_node_disassembles_like_qemus(qemu_tables, config):
    """Object for object the node equals QEMU 7.2's, except _STR, which iasl only accepts as Unicode."""
    params = next(p for p in golden.GOLDEN_CONFIGS if p.config_name == config)
    ours = device_node(disassemble(build_ssdt(params)))
    theirs = device_node(disassemble(qemu_tables(QEMU_NODE_OF[config], "DSDT")))
    theirs = theirs.replace('Name (_STR, "TPM 2.0 Device")', 'Name (_STR, Unicode ("TPM 2.0 Device"))')
    assert ours == theirs


def test_exact_objects_of_the_tis_tpm2_node():
    dsl = device_node(disassemble(build_ssdt(SsdtParams.create(interface="tis", tpm="2.0"))))
    assert dsl.splitlines()[:13] == [
        "Device (TPM)",
        "{",
        '    Name (_HID, "MSFT0101" )',
        '    Name (_STR, Unicode ("TPM 2.0 Device"))',
        "    Name (_UID, One)",
        "    Name (_STA, 0x0F)",
        "    Name (_CRS, ResourceTemplate ()",
        "    {",
        "        Memory32Fixed (ReadWrite,",
        "            0xFED40000,",
        "            0x00005000,",
        "            )",
        "    })",
    ]


def test_tpm12_uses_pnp0c31_and_no_str():
    aml = build_ssdt(SsdtParams.create(tpm="1.2"))
    assert bytes.fromhex("085f4849440c41d00c31") in aml  # Name (_HID, EisaId ("PNP0C31")) = 0x310CD041
    assert b"_STR" not in aml and b"MSFT0101" not in aml


def test_str_is_a_unicode_buffer():
    aml = build_ssdt(SsdtParams.create(interface="crb"))
    # Name (_STR, Buffer (0x1E) { UTF-16LE "TPM 2.0 Device" NUL })
    assert bytes.fromhex("085f535452" "11" "21" "0a1e") + "TPM 2.0 Device\0".encode("utf-16-le") in aml


def test_crs_bytes_follow_mmio_parameters():
    aml = build_ssdt(SsdtParams.create(interface="crb", mmio_base=0xFE000000, mmio_size=0x2000, ppi=False))
    # Memory32Fixed: 0x86, length 9, RW, base, size; then EndTag 0x79 0x00
    assert bytes.fromhex("86090001" "000000fe" "00200000" "7900") in aml


def test_custom_ppi_address_moves_every_region():
    params = SsdtParams.create(interface="crb", ppi_address=0x90000000)
    dsl = disassemble(build_ssdt(params))
    assert "OperationRegion (TPP2, SystemMemory, 0x90000100, 0x5A)" in dsl
    assert "OperationRegion (TPP3, SystemMemory, 0x9000015A, One)" in dsl
    assert "OperationRegion (TPP1, SystemMemory, (0x90000000 + Arg0), One)" in dsl


def test_scope_and_name_parameters():
    params = SsdtParams.create(scope="\\_SB.PCI0.SF8", device_name="TPM0")
    asl = render_ssdt(params)
    assert "External (\\_SB.PCI0.SF8, DeviceObj)" in asl
    assert "Scope (\\_SB.PCI0.SF8)" in asl and "Device (TPM0)" in asl
    assert params.device_path == "\\_SB.PCI0.SF8.TPM0"
    crb = render_ssdt(SsdtParams.create(interface="crb"))
    assert "External" not in crb and "Scope (\\_SB)" in crb


def test_scope_dsdt_defines_the_scope_devices_at_revision_1():
    params = SsdtParams.create(scope="\\_SB.PCI0.SF8")
    dsl = disassemble(build_scope_dsdt(params))
    assert 'DefinitionBlock ("", "DSDT", 1, "BOCHS ", "PPISCOPE", 0x00000001)' in dsl
    assert "Device (PCI0)" in dsl and "Device (SF8)" in dsl
    assert "Device" not in render_scope_dsdt(SsdtParams.create(interface="crb")).split("{", 1)[1]


def test_templates_load_from_the_installed_package():
    import importlib.resources

    names = {p.name for p in importlib.resources.files("ppikit").joinpath("asl_templates").iterdir()}
    assert {"ssdt.asl.j2", "tpm_device.asl.j2", "ppi_page.asl.j2", "dsm.asl.j2", "scope_dsdt.asl.j2"} <= names
