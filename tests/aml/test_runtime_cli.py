"""``ppikit dsm`` end to end: ppikit's own SSDT and QEMU's raw DSDT through the real CLI."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from ppikit.cli import cli
from ppikit.cli.dsm import page_changes
from ppikit.ppi.page import PpiPage

QEMU_DSDT = "tests/data/qemu-7.2/q35.tis.tpm2.ppi/DSDT.aml"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def ssdt(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("dsm") / "s.aml"
    code, _, err = run("ssdt", "--interface", "tis", "--tpm", "2.0", "-o", str(path))
    assert code == 0, err
    return str(path)


@pytest.fixture
def page_file(tmp_path) -> str:
    page = PpiPage.blank()
    page.func[5] = 3  # op 5 (clear): allowed, user required
    path = tmp_path / "p.bin"
    path.write_bytes(page.build())
    return str(path)


def test_fn1_prints_the_version(ssdt):
    assert run("dsm", ssdt, "1") == (0, "1.3\n", "")


def test_fn7_accepts_op5_and_shows_the_page_change(ssdt, page_file, tmp_path):
    saved = tmp_path / "after.bin"
    assert run("dsm", ssdt, "--page", page_file, "7", "--arg", "5", "--write-page", str(saved)) == (
        0, "0\npprq 0 -> 5\n", "")
    assert PpiPage.parse(saved.read_bytes()).pprq == 5


def test_json_output_with_rev2_parameter(ssdt, page_file):
    code, out, _ = run("dsm", ssdt, "--page", page_file, "--rev", "2", "7", "--arg", "5", "--arg", "0x9", "--json")
    assert code == 0
    assert json.loads(out) == {"device": "\\_SB.PCI0.ISA.TPM", "result": 0,
                               "page_changes": {"pprq": [0, 5], "pprm": [0, 9]}}


def test_qemu_raw_dsdt_buffer_and_package_results():
    assert run("dsm", QEMU_DSDT, "0") == (0, "Buffer {FF 01}\n", "")
    assert run("dsm", QEMU_DSDT, "--rev", "2", "3") == (0, "Package {0, 0, 0}\n", "")
    assert run("dsm", QEMU_DSDT, "--uuid", "mor", "2") == (0, "(no return value)\n", "")
    assert run("dsm", QEMU_DSDT, "--uuid", "mor", "1", "--arg", "1") == (0, "0\nmovv 0 -> 1\n", "")


@pytest.mark.parametrize(("args", "message"), [
    (("--device", "\\_SB.NOPE", "1"), "ppikit: error: \\_SB.NOPE._DSM: AE_NOT_FOUND\n"),
    (("--uuid", "tpm", "1"), "ppikit: error: not a UUID or one of ppi, mor: 'tpm'\n"),
    (("--arg", "b:zz", "7"), "ppikit: error: --arg 'b:zz': b: needs hex digits\n"),
    (("x",), "ppikit: error: FUNCTION: 'x' is not an integer\n"),
])
def test_bad_input_is_one_line_and_exit_2(ssdt, args, message):
    assert run("dsm", ssdt, *args) == (2, "", message)


def test_missing_function_is_a_usage_error(ssdt):
    code, _, err = run("dsm", ssdt)
    assert (code, err) == (2, "ppikit: error: give at least one TABLE.aml and a FUNCTION number\n")


def test_page_changes_lists_func_entries_and_reserved_ranges():
    before = PpiPage.blank().build()
    after = bytearray(before)
    after[7] = 4  # func[7]
    after[0x109] = 0x17  # pprq
    after[0x200] = 0xAA  # reserved tail of the page
    assert page_changes(before, bytes(after)) == [("pprq", 0, 0x17), ("func[7]", 0, 4), ("reserved", None, None)]
