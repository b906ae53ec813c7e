"""``check`` on deliberately broken tables: each fault is named with its input, observed and expected.

The broken _DSMs are tests/data/broken/*.asl (README.md there says how each was made); the broken
TPM2/TCPA tables are QEMU 7.2's with one field changed through the construct schema.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ppikit.aml.acpidump import AcpiTable
from ppikit.aml.check import DeviceReport, check_tpm_tables
from ppikit.aml.iasl import compile_asl
from ppikit.aml.tables import TCPA_TABLE, TPM2_TABLE, fix_checksum
from ppikit.cli import cli

from .conftest import QEMU_DATA, qemu_table

BROKEN = Path(__file__).resolve().parents[1] / "data" / "broken"
NOPPI_DSDT = str(QEMU_DATA / "q35.tis.tpm2.noppi" / "DSDT.aml")


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def broken(tmp_path_factory) -> dict[str, tuple[int, dict[str, Any]]]:
    """Exit status and JSON report of ``ppikit check --json`` for every broken SSDT."""
    out = {}
    folder = tmp_path_factory.mktemp("broken")
    for asl in sorted(BROKEN.glob("*.asl")):
        aml = folder / f"{asl.stem}.aml"
        aml.write_bytes(compile_asl(asl.read_text(), name=asl.name))
        code, stdout, stderr = run("check", "--json", str(aml))
        assert stderr == ""
        out[asl.stem] = code, json.loads(stdout)
    return out


def findings(report: dict[str, Any], category: str) -> dict[str, dict[str, Any]]:
    return {f["key"]: f for f in report["findings"] if f["category"] == category}


def only(finding: dict[str, Any]) -> dict[str, Any]:
    (deviation,) = finding["deviations"]
    return deviation


def test_wrong_return_types(broken):
    code, report = broken["wrong-types"]
    assert code == 1 and report["conforms"] is False
    linux = findings(report, "linux")
    assert sorted(linux) == ["linux-fn1", "linux-fn5"]
    fn1 = only(linux["linux-fn1"])
    assert (fn1["input_text"], fn1["observed"]["text"], fn1["expected"]) == (
        "PPI rev 1 fn 1 Package{}", "Integer 0x13", "String (the version, first 3 characters used)")
    fn5 = only(linux["linux-fn5"])
    # the base page holds lppr 0x0E: the broken fn 5 drops pprp
    assert (fn5["input_text"], fn5["observed"]["text"]) == ("PPI rev 1 fn 5 Package{}",
                                                            "Package {Integer 0, Integer 0xe}")
    assert sorted(findings(report, "qemu")) == ["qemu-ppi-fn1", "qemu-ppi-fn5"]
    spec_fn5 = findings(report, "spec")["ppi-fn5"]
    assert [d["expected"] for d in spec_fn5["deviations"]] == ["Package {Integer 0, Integer 0xe, Integer 0xfffffff0}"] * 2
    assert report["devices"][0]["ppi_version"] == "Integer 0x13"


def test_missing_function(broken):
    code, report = broken["missing-function"]
    assert code == 1
    assert report["devices"][0]["ppi_functions"] == [0, 1, 2, 3, 4, 5, 6, 7]
    linux = findings(report, "linux")
    assert sorted(linux) == ["linux-fn0-fn8", "linux-fn8"]
    assert only(linux["linux-fn0-fn8"])["observed"]["text"] == "Buffer {FF 00}"
    fn8 = linux["linux-fn8"]
    # every fn 8 rev 1 call: 256 ops on the base page + 8 ops on each of the 9 flag layouts
    assert fn8["count"] == 256 + 9 * 8
    assert {d["observed"]["text"] for d in fn8["deviations"]} == {"Buffer {00}"}
    assert sorted(findings(report, "qemu")) == ["qemu-ppi-fn0", "qemu-ppi-fn8"]


def test_dsm_that_faults(broken):
    code, report = broken["faulting-dsm"]
    assert code == 1
    linux = findings(report, "linux")
    assert sorted(linux) == ["linux-fn4"]
    fault = only(linux["linux-fn4"])
    assert fault["input"] == {"uuid": "3dddfaa6-361b-4eb4-a424-8d10089d1653", "revision": 1, "function": 4,
                              "args": [], "page": "base"}
    assert fault["observed"]["value"] == {"type": "Fault", "status": "AE_AML_PACKAGE_LIMIT"}
    qemu = findings(report, "qemu")
    assert sorted(qemu) == ["qemu-ppi-fn4"]
    assert [d["input"]["revision"] for d in qemu["qemu-ppi-fn4"]["deviations"]] == [0, 1, 2, 3]
    assert {d["expected"] for d in qemu["qemu-ppi-fn4"]["deviations"]} == {"Integer 2"}


def test_dsm_with_wrong_arity(broken):
    code, report = broken["dsm-arity"]
    assert code == 1
    (finding,) = report["findings"][-1:]
    assert (finding["category"], finding["key"], finding["observed"]) == (
        "linux", "dsm-arity", "\\_SB.TPM._DSM: \\_SB.TPM._DSM takes 3 argument(s), got 4")
    assert [f["key"] for f in report["findings"]] == ["dsm-arity"]


def test_text_report_names_the_fault_and_its_input(tmp_path):
    aml = tmp_path / "f.aml"
    aml.write_bytes(compile_asl((BROKEN / "faulting-dsm.asl").read_text()))
    code, out, _ = run("check", str(aml), "--against", "linux")
    assert code == 1
    block = out[out.index("[linux] linux-fn4"):].splitlines()[:6]
    assert block == [
        "[linux] linux-fn4: PPI fn 4 rev 1: Linux needs Integer (\\_SB.PCI0.ISA.TPM)",
        "    why: otherwise reading ppi/transition_action fails (ENXIO)",
        "    1 input(s); e.g.",
        "      input:    PPI rev 1 fn 4 Package{} on page 'base'",
        "      observed: fault AE_AML_PACKAGE_LIMIT",
        "      expected: Integer",
    ]
    assert out.rstrip().endswith("result: does not conform (against linux)")


# -- TPM2 / TCPA -------------------------------------------------------------------------------------
def tpm2(variant: str = "q35.tis.tpm2.ppi", **changes: Any) -> AcpiTable:
    """QEMU's TPM2 table with ``changes`` applied to its fields, checksum fixed."""
    fields = dict(TPM2_TABLE.parse(qemu_table(variant, "TPM2")))
    fields.update(changes)
    return AcpiTable("TPM2.aml", fix_checksum(TPM2_TABLE.build(fields)))


def device(hid: str, window: tuple[int, int] = (0xFED40000, 0x5000)) -> DeviceReport:
    return DeviceReport("\\_SB.TPM", hid, [], window)


def table_findings(tables: list[AcpiTable], devices: list[DeviceReport]) -> list[tuple[str, str, str, str]]:
    return [(f.category, f.key, f.observed, f.expected) for f in check_tpm_tables(tables, devices, [])]


def test_qemu_tpm2_tables_with_fixed_checksum_are_clean():
    assert table_findings([tpm2(lasa=0x7FFE0000)], [device("MSFT0101")]) == []
    assert table_findings([tpm2("q35.crb.tpm2.ppi", lasa=0x7FFE0000)], [device("MSFT0101", (0xFED40000, 0x1000))]) == []


def test_wrong_checksum():
    table = tpm2(lasa=0x7FFE0000)
    bad = AcpiTable("TPM2.aml", table.data[:9] + bytes([(table.data[9] + 1) & 0xFF]) + table.data[10:])
    assert table_findings([bad], [device("MSFT0101")]) == [
        ("table", "checksum", f"byte 9 = 0x{bad.data[9]:02X}", f"0x{table.data[9]:02X}")]


def test_tpm2_table_for_a_tpm12_device():
    assert table_findings([tpm2(lasa=1)], [device("PNP0C31")]) == [
        ("table", "tpm2-for-tpm12-device", "TPM2 start method 6, device PNP0C31", "TCPA table, or _HID MSFT0101")]


def test_crb_start_method_on_a_tis_device_without_control_area():
    # start method 7 makes tpm_crb take the MSFT0101 device; QEMU's TIS table has control area 0
    assert table_findings([tpm2(start_method=7, lasa=1)], [device("MSFT0101")]) == [
        ("linux", "tpm2-control-area", "control area 0x0, _CRS window 0xFED40000+0x5000",
         "an address inside the _CRS window (QEMU: base + 0x40)")]


def test_reserved_start_method_binds_no_driver():
    assert table_findings([tpm2(start_method=9, lasa=1)], [device("MSFT0101")]) == [
        ("linux", "tpm2-start-method", "start method 9", "6 (TIS/FIFO) or 7 (CRB)")]


def test_tpm2_lengths_and_revisions():
    rev3 = tpm2(lasa=1).data[:52]
    rev3 = AcpiTable("TPM2.aml", fix_checksum(rev3[:4] + (52).to_bytes(4, "little") + b"\x03" + rev3[9:]))
    # 52-byte revision 3 (cloud-hypervisor style): fine for Linux, not QEMU's layout
    assert table_findings([rev3], [device("MSFT0101")]) == [
        ("qemu", "tpm2-layout", "rev 3, 52 bytes", "rev 4, 76 bytes")]
    short = AcpiTable("TPM2.aml", fix_checksum(rev3.data[:4] + (48).to_bytes(4, "little") + rev3.data[8:48]))
    assert table_findings([short], [device("MSFT0101")]) == [("linux", "tpm2-length", "48 bytes", ">= 52 bytes")]


def test_log_area_length_below_minimum():
    assert table_findings([tpm2(laml=0x8000, lasa=1)], [device("MSFT0101")]) == [
        ("table", "log-area-length", "LAML 0x8000", ">= 0x10000")]


def test_tcpa_next_to_a_tpm2_device():
    tcpa = AcpiTable("TCPA.aml", qemu_table("q35.tis.tpm12.ppi", "TCPA"))
    assert TCPA_TABLE.parse(tcpa.data).lasa == 0
    assert table_findings([tcpa], [device("MSFT0101")]) == [
        ("qemu", "tcpa-for-tpm2-device", "TCPA", "TPM2 table"),
        ("linker", "log-area-address", "LASA 0", "the address of the event log")]


def test_cli_tpm2_start_method_contradiction_exit_1(tmp_path):
    bad = tmp_path / "TPM2.aml"
    bad.write_bytes(tpm2(start_method=7, lasa=1).data)
    code, out, _ = run("check", NOPPI_DSDT, str(bad))
    assert code == 1
    assert "[linux] tpm2-control-area: tpm_crb cannot map \\_SB.PCI0.SF8.TPM's control area" in out
    # QEMU's own raw TPM2 (checksum 0, LASA 0) only has linker findings: conforms by default
    code, out, _ = run("check", NOPPI_DSDT, str(QEMU_DATA / "q35.tis.tpm2.ppi" / "TPM2.aml"))
    assert (code, out.splitlines()[-1]) == (0, "result: conforms (against spec,linux,table)")
    assert run("check", NOPPI_DSDT, str(QEMU_DATA / "q35.tis.tpm2.ppi" / "TPM2.aml"), "--against", "linker")[0] == 1


@pytest.mark.parametrize(("args", "message"), [
    (["check", "no-such-file.aml"], "ppikit: error: cannot read table 'no-such-file.aml': No such file or directory\n"),
    (["check", NOPPI_DSDT, "--against", "bogus"],
     "ppikit: error: --against 'bogus': choose from spec,qemu,linux,table,linker\n"),
    (["check", str(QEMU_DATA / "q35.tis.tpm2.ppi" / "TPM2.aml")],
     "ppikit: error: no DSDT or SSDT among the tables: nothing declares a TPM device\n"),
])
def test_bad_input_exit_2(args, message):
    assert run(*args) == (2, "", message)


def test_garbage_file_exit_2(tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes.fromhex("00ff00ff") * 20)  # no ACPI signature, not acpidump text
    code, out, err = run("check", str(junk))
    assert (code, out) == (2, "")
    assert err.startswith("ppikit: error: signature @0x000: ") and err.count("\n") == 1
