"""``ppikit linux-ppi``: the PPI sysfs files as Linux shows them, from the real CLI process."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from ppikit.aml.iasl import compile_asl
from ppikit.ppi.page import PpiPage

TESTS = Path(__file__).resolve().parent.parent
QEMU_TPM2 = TESTS / "data" / "qemu-7.2" / "q35.tis.tpm2.ppi" / "DSDT.aml"
QEMU_TPM2_NOPPI = TESTS / "data" / "qemu-7.2" / "q35.tis.tpm2.noppi" / "DSDT.aml"
ODD_ASL = TESTS / "ppi" / "data" / "odd_dsm.asl"

#: OVMF 2022.11's func[] (3 for these ops), ppin = 1: what Linux 6.1 read on QEMU 7.2.
OVMF_ALLOWED_OPS = (0, 5, 14, 21, 22, 23, 24, 33, 96, 97)
LINUX_61_TRANSCRIPT = (
    "# /sys/class/tpm/tpm0/ppi for \\_SB.PCI0.SF8.TPM\n"
    "$ cat version\n1.3\n"
    "$ cat request\n0\n"
    "$ cat transition_action\n2: Reboot\n"
    "$ cat response\n0: No Recent Request\n"
    "$ cat tcg_operations\n" + "".join(f"{op} 3: User required\n" for op in OVMF_ALLOWED_OPS)
    + "$ cat vs_operations\n"
)


@pytest.fixture(scope="module")
def ovmf_page(tmp_path_factory):
    """OVMF's page made the way a user would: ``ppikit region encode``."""
    path = tmp_path_factory.mktemp("page") / "ovmf.bin"
    funcs = [arg for op in OVMF_ALLOWED_OPS for arg in ("--func", f"{op}=3")]
    proc = subprocess.run([sys.executable, "-m", "ppikit", "region", "encode", "--set", "ppin=1", *funcs,
                           "-o", str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return path


def with_fields(page: Path, directory: Path, **fields: int) -> Path:
    """A copy of ``page`` with ``fields`` changed."""
    parsed = PpiPage.parse(page.read_bytes())
    for name, value in fields.items():
        setattr(parsed, name, value)
    path = directory / "changed.bin"
    path.write_bytes(parsed.build())
    return path


def test_prints_what_linux_6_1_printed(ppikit, ovmf_page):
    result = ppikit("linux-ppi", QEMU_TPM2, "--page", ovmf_page)
    assert (result.code, result.err) == (0, "")
    assert result.out == LINUX_61_TRANSCRIPT


def test_ppikit_ssdt_alone_prints_the_same(ppikit, ovmf_page, tmp_path):
    # ppikit's own qemu-profile SSDT, given without a DSDT: a stand-in DSDT supplies \_SB.PCI0.ISA.
    assert ppikit("ssdt", "--interface", "tis", "--tpm", "2.0", "-o", tmp_path / "s.aml").code == 0
    result = ppikit("linux-ppi", tmp_path / "s.aml", "--page", ovmf_page)
    assert (result.code, result.err) == (0, "")
    assert result.out == LINUX_61_TRANSCRIPT.replace("\\_SB.PCI0.SF8.TPM", "\\_SB.PCI0.ISA.TPM")


def test_write_request_23_3_then_reads_and_saves_the_page(ppikit, ovmf_page, tmp_path):
    saved = tmp_path / "after.bin"
    result = ppikit("linux-ppi", QEMU_TPM2, "--page", ovmf_page, "--write-request", "23 3",
                    "--save-page", saved)
    assert result.code == 0, result.err
    assert result.out.startswith("# /sys/class/tpm/tpm0/ppi for \\_SB.PCI0.SF8.TPM\n"
                                 '$ echo "23 3" > request\n$ cat version\n1.3\n$ cat request\n23 3\n')
    page = PpiPage.parse(saved.read_bytes())
    assert (page.pprq, page.pprm, page.func[23]) == (23, 3, 3)


def test_refused_write_shows_the_errno_and_reads_go_on(ppikit, ovmf_page, tmp_path):
    result = ppikit("linux-ppi", QEMU_TPM2, "--page", with_fields(ovmf_page, tmp_path, lppr=5, pprp=0xFFFFFFF0),
                    "--write-request", "2", "--calls")
    assert result.code == 0  # a refused request is Linux's answer, not a defect of the tables
    assert "\n#   rev 1 fn 7 Package{0x2} -> 0x1\n" in result.out  # func[2] == 0: QEMU answers 1
    assert ('$ echo "2" > request\nbash: echo: write error: Operation not permitted [EPERM]\n'
            in result.out)
    assert "$ cat response\n5 0xFFFFFFF0: User Abort\n" in result.out


def test_json_with_cached_format(ppikit, ovmf_page):
    result = ppikit("linux-ppi", QEMU_TPM2, "--page", ovmf_page, "--format", "cached",
                    "--write-request", "5", "--json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert doc["device"] == "\\_SB.PCI0.SF8.TPM" and doc["format"] == "cached"
    assert doc["write"] == {"input": "5\n", "bytes": 2, "errno": None, "strerror": None, "reason": None}
    assert doc["files"]["request"] == {"file": "request", "content": "5\n", "errno": None, "reason": None}
    assert doc["files"]["tcg_operations"]["content"].startswith(
        "0 3: User required\n1 0: Not implemented\n2 0: Not implemented\n3 0: Not implemented\n")
    assert doc["calls"][:2] == [
        {"revision": 1, "function": 0, "argument": {"package": []}, "result": {"buffer": "ff01"}},
        {"revision": 1, "function": 1, "argument": {"package": []}, "result": "1.3"},
    ]


def test_failing_reads_print_like_cat_and_exit_1(ppikit, tmp_path):
    table = tmp_path / "odd.aml"
    table.write_bytes(compile_asl(ODD_ASL.read_text(), name=ODD_ASL.name))
    page = bytearray(0x400)
    page[0x203], page[0x205] = 3, 1  # fn 3 answers an Integer, fn 5 a 2-element Package
    page[0x210:0x228] = struct.pack("<3Q", 0, 5, 0)
    (tmp_path / "odd.bin").write_bytes(page)
    result = ppikit("linux-ppi", table, "--page", tmp_path / "odd.bin", "--json")
    assert result.code == 1
    files = json.loads(result.out)["files"]
    assert (files["request"]["errno"], files["response"]["errno"]) == ("ENXIO", "EINVAL")
    result = ppikit("linux-ppi", table, "--page", tmp_path / "odd.bin", "--device", "\\_SB.ODD")
    assert result.code == 1
    assert "$ cat request\ncat: request: No such device or address [ENXIO]\n" in result.out
    assert "$ cat response\ncat: response: Invalid argument [EINVAL]\n" in result.out


def test_no_ppi_directory_without_a_dsm(ppikit):
    result = ppikit("linux-ppi", QEMU_TPM2_NOPPI)
    assert result.code == 1
    assert result.out == ("no /sys/class/tpm/tpm0/ppi directory: \\_SB.PCI0.SF8.TPM: _DSM fn 0 rev 1 does not "
                          "advertise functions 0 and 1 (acpi_check_dsm); it answered nothing\n")


def test_bad_inputs_are_one_line_errors(ppikit, tmp_path):
    ppikit("linux-ppi", tmp_path / "missing.aml").assert_one_line_error(r"cannot read ACPI table .*missing\.aml")
    (tmp_path / "short.bin").write_bytes(bytes(100))
    ppikit("linux-ppi", QEMU_TPM2, "--page", tmp_path / "short.bin").assert_one_line_error(
        r"page @0x064: PPI page must be exactly 0x400 bytes")
    tpm2_table = QEMU_TPM2.parent / "TPM2.aml"
    ppikit("linux-ppi", tpm2_table).assert_one_line_error(r"signature 'TPM2' is not an AML table")
    ppikit("linux-ppi", QEMU_TPM2, "--format", "new").assert_one_line_error(r"'new' is not one of")
