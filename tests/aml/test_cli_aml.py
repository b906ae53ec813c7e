"""``ppikit ssdt``, ``tables`` and ``table decode``: thin, exact wrappers; bad input is one line, exit 2."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from ppikit.aml import golden
from ppikit.aml.params import SsdtParams
from ppikit.aml.render import build_scope_dsdt, build_ssdt, render_ssdt
from ppikit.aml.tables import build_tpm2
from ppikit.cli import cli


def test_ssdt_writes_the_built_table_and_its_source(tmp_path):
    out, asl, dsdt, dsl = tmp_path / "s.aml", tmp_path / "s.asl", tmp_path / "d.aml", tmp_path / "s.dsl"
    result = CliRunner().invoke(cli, ["ssdt", "--interface", "tis", "--tpm", "2.0", "--profile", "strict",
                                      "-o", str(out), "--asl", str(asl), "--scope-dsdt", str(dsdt),
                                      "--dsl", str(dsl)])
    assert result.exit_code == 0, result.output
    params = SsdtParams.create(interface="tis", tpm="2.0", profile="strict")
    assert out.read_bytes() == build_ssdt(params)
    assert asl.read_text() == render_ssdt(params)
    assert dsdt.read_bytes() == build_scope_dsdt(params)
    assert dsl.read_text() == (golden.default_root() / "tis-tpm2-ppi-strict" / golden.SSDT_DSL).read_text()
    assert result.output == f"{out}: SSDT {len(out.read_bytes())} bytes, \\_SB.PCI0.ISA.TPM (tis-tpm2-ppi-strict)\n"


def test_ssdt_options_reach_the_parameters(tmp_path):
    out = tmp_path / "s.aml"
    result = CliRunner().invoke(cli, ["ssdt", "--interface", "crb", "--tpm", "2.0", "--no-ppi", "--scope", "\\_SB.PCI0",
                                      "--device-name", "TPM0", "--mmio-base", "0xFE000000", "--mmio-size", "0x2000",
                                      "--oem-id", "ACME", "--oem-table-id", "TPMTBL", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == build_ssdt(SsdtParams.create(
        interface="crb", tpm="2.0", ppi=False, scope="\\_SB.PCI0", device_name="TPM0", mmio_base=0xFE000000,
        mmio_size=0x2000, oem_id="ACME", oem_table_id="TPMTBL"))


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    """Run as a real process: the CLI contract is one stderr line and status 2, no traceback."""
    cases = [
        (["ssdt", "--interface", "crb", "--tpm", "1.2", "-o", str(tmp_path / "x")],
         "ppikit: error: tpm 1.2 is only defined with the TIS interface (CRB is a TPM 2.0 interface)\n"),
        (["ssdt", "--interface", "tis", "--tpm", "2.0", "--mmio-base", "zero", "-o", str(tmp_path / "x")],
         "ppikit: error: --mmio-base: 'zero' is not an integer\n"),
        (["table", "decode", str(tmp_path / "missing.aml")],
         f"ppikit: error: cannot read ACPI table '{tmp_path / 'missing.aml'}': No such file or directory\n"),
        (["tpm2-table", "--interface", "tis", "--lasa", "0x10000000000000000", "-o", str(tmp_path / "x")],
         "ppikit: error: lasa @0x044: value 18446744073709551616 outside 0..0xFFFFFFFFFFFFFFFF (64-bit field)\n"),
        (["tpm2-table", "--interface", "crb", "--laml", "-1", "-o", str(tmp_path / "x")],
         "ppikit: error: laml @0x040: value -1 outside 0..0xFFFFFFFF (32-bit field)\n"),
        (["tcpa-table", "--lasa", "0x1_0000_0000_0000_0000", "-o", str(tmp_path / "x")],
         "ppikit: error: lasa @0x02A: value 18446744073709551616 outside 0..0xFFFFFFFFFFFFFFFF (64-bit field)\n"),
        (["tcpa-table", "--laml", "big", "-o", str(tmp_path / "x")],
         "ppikit: error: --laml: 'big' is not an integer\n"),
    ]
    for argv, expected in cases:
        proc = subprocess.run([sys.executable, "-c", "from ppikit.cli import main; main()", *argv],
                              capture_output=True, text=True, timeout=60)
        assert (proc.returncode, proc.stdout, proc.stderr) == (2, "", expected)


def test_tpm2_table_and_decode(tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["tpm2-table", "--interface", "crb", "--lasa", "0x7F000000", "-o", str(tmp_path / "t.aml")])
    assert (result.exit_code, result.output) == (0, f"{tmp_path / 't.aml'}: TPM2 76 bytes\n")
    data = (tmp_path / "t.aml").read_bytes()
    assert data == build_tpm2(SsdtParams.create(interface="crb"), lasa=0x7F000000)
    decoded = runner.invoke(cli, ["table", "decode", str(tmp_path / "t.aml"), "--json"])
    fields = json.loads(decoded.output)
    assert (fields["start_method"], fields["control_area_address"], fields["lasa"], fields["laml"],
            fields["checksum_ok"]) == (7, 0xFED40040, 0x7F000000, 0x10000, True)
    text = runner.invoke(cli, ["table", "decode", str(tmp_path / "t.aml")]).output
    assert "control_area_address  =  0xFED40040" in text and "checksum_ok           =  yes" in text


def test_tpm2_table_for_tis_is_qemus(qemu_tables, tmp_path):
    """Default TIS TPM2 table == QEMU 7.2's (q35, TIS) once its checksum is fixed: LASA 0, LAML 64 KiB."""
    result = CliRunner().invoke(cli, ["tpm2-table", "--interface", "tis", "-o", str(tmp_path / "TPM2.aml")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "TPM2.aml").read_bytes() == qemu_tables("q35.tis.tpm2.ppi", "TPM2")


def test_tcpa_table_is_qemus_and_takes_a_log_area(qemu_tables, tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["tcpa-table", "-o", str(tmp_path / "TCPA.aml")])
    assert (result.exit_code, result.output) == (0, f"{tmp_path / 'TCPA.aml'}: TCPA 50 bytes\n")
    assert (tmp_path / "TCPA.aml").read_bytes() == qemu_tables("q35.tis.tpm12.ppi", "TCPA")
    result = runner.invoke(cli, ["tcpa-table", "--lasa", "0x7FFF0000", "--laml", "0x20000", "-o", str(tmp_path / "log.aml")])
    assert result.exit_code == 0, result.output
    fields = json.loads(runner.invoke(cli, ["table", "decode", "--json", str(tmp_path / "log.aml")]).output)
    assert (fields["signature"], fields["lasa"], fields["laml"], fields["checksum_ok"]) == ("TCPA", 0x7FFF0000, 0x20000, True)


def test_decode_qemu_raw_table(qemu_tables, tmp_path):
    raw = tmp_path / "TCPA.aml"
    raw.write_bytes(qemu_tables("q35.tis.tpm12.ppi", "TCPA", fixed=False))
    runner = CliRunner()
    strict = runner.invoke(cli, ["table", "decode", str(raw)])
    assert strict.exit_code == 2
    report = runner.invoke(cli, ["table", "decode", "--no-verify", "--json", str(raw)])
    assert report.exit_code == 0
    fields = json.loads(report.output)
    assert (fields["signature"], fields["checksum_ok"], fields["expected_checksum"], fields["laml"]) == \
        ("TCPA", False, 0x38, 0x10000)
