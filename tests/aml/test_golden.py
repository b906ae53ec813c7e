"""The golden corpus matches what ppikit builds, and any drift is reported with config and mode."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest
from click.testing import CliRunner

from ppikit.aml import golden
from ppikit.aml.iasl import disassemble, iasl_version
from ppikit.cli import cli

CONFIG_NAMES = [
    "tis-tpm12-ppi-qemu", "tis-tpm12-ppi-strict", "tis-tpm12-noppi",
    "tis-tpm2-ppi-qemu", "tis-tpm2-ppi-strict", "tis-tpm2-noppi",
    "crb-tpm2-ppi-qemu", "crb-tpm2-ppi-strict", "crb-tpm2-noppi",
]


@pytest.fixture
def corpus(tmp_path):
    """A private copy of the packaged corpus to damage."""
    root = tmp_path / "golden"
    shutil.copytree(golden.default_root(), root)
    return root


def test_packaged_corpus_matches_byte_for_byte():
    report = golden.check()
    assert [r.config for r in report.results] == CONFIG_NAMES
    assert report.ok, report.to_dict()
    assert {r.mode for r in report.results} == {golden.MODE_BYTES}
    assert report.iasl_version == iasl_version()


def test_corpus_layout_and_manifest():
    root = golden.default_root()
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == sorted(CONFIG_NAMES)
    manifest = json.loads((root / "tis-tpm12-ppi-qemu" / golden.MANIFEST).read_text())
    assert sorted(manifest["sha256"]) == ["TCPA.aml", "ssdt.aml", "ssdt.dsl"]
    assert manifest["params"]["tpm"] == "1.2" and manifest["params"]["profile"] == "qemu"
    noppi = json.loads((root / "crb-tpm2-noppi" / golden.MANIFEST).read_text())
    assert sorted(noppi["sha256"]) == ["TPM2.aml", "ssdt.aml", "ssdt.dsl"]
    assert noppi["params"]["profile"] is None  # no _DSM without PPI: the profile cannot matter


def test_stored_dsl_is_the_normalised_disassembly():
    folder = golden.default_root() / "crb-tpm2-ppi-strict"
    dsl = (folder / golden.SSDT_DSL).read_text()
    assert dsl.startswith('DefinitionBlock ("", "SSDT", 1, "BOCHS ", "BXPC    ", 0x00000001)')
    assert dsl == golden.normalise_dsl(disassemble((folder / golden.SSDT_AML).read_bytes()))


def test_flipped_byte_is_drift(corpus):
    path = corpus / "tis-tpm2-ppi-strict" / golden.SSDT_AML
    data = bytearray(path.read_bytes())
    data[0x40] ^= 0x01
    path.write_bytes(bytes(data))
    report = golden.check(corpus)
    assert not report.ok
    bad = {r.config: r for r in report.results if not r.ok}
    assert list(bad) == ["tis-tpm2-ppi-strict"]
    assert bad["tis-tpm2-ppi-strict"].problems == [
        "ssdt.aml: sha256 differs from the manifest (file changed after update)",
        "ssdt.aml: first byte difference at offset 0x40 (corpus 0x%02X, generated 0x%02X)" % (data[0x40],
                                                                                               data[0x40] ^ 1),
    ]


def test_flipped_byte_in_a_table_with_a_consistent_manifest_is_drift(corpus):
    folder = corpus / "crb-tpm2-noppi"
    data = bytearray((folder / "TPM2.aml").read_bytes())
    data[0x30] = 6  # start method CRB -> TIS
    (folder / "TPM2.aml").write_bytes(bytes(data))
    manifest = json.loads((folder / golden.MANIFEST).read_text())
    manifest["sha256"]["TPM2.aml"] = hashlib.sha256(bytes(data)).hexdigest()
    (folder / golden.MANIFEST).write_text(json.dumps(manifest))
    result = next(r for r in golden.check(corpus).results if r.config == "crb-tpm2-noppi")
    assert result.problems == ["TPM2.aml: first byte difference at offset 0x30 (corpus 0x06, generated 0x07)"]


def test_other_iasl_version_compares_by_disassembly(corpus):
    manifest_path = corpus / "tis-tpm2-noppi" / golden.MANIFEST
    manifest = json.loads(manifest_path.read_text())
    manifest["iasl_version"] = "19990101"
    manifest_path.write_text(json.dumps(manifest))
    report = golden.check(corpus)
    modes = {r.config: r.mode for r in report.results}
    assert modes["tis-tpm2-noppi"] == golden.MODE_DISASSEMBLY
    assert modes["tis-tpm2-ppi-qemu"] == golden.MODE_BYTES
    assert report.ok


def test_disassembly_mode_still_catches_a_semantic_change(corpus):
    folder = corpus / "crb-tpm2-noppi"
    manifest = json.loads((folder / golden.MANIFEST).read_text())
    manifest["iasl_version"] = "19990101"
    aml = bytearray((folder / golden.SSDT_AML).read_bytes())
    at = aml.index(b"\x08_STA\x0a\x0f") + 6
    aml[at] = 0x0B  # _STA 0x0F -> 0x0B, checksum fixed so iasl accepts the table
    aml[9] = (aml[9] + 4) & 0xFF
    (folder / golden.SSDT_AML).write_bytes(bytes(aml))
    manifest["sha256"][golden.SSDT_AML] = hashlib.sha256(bytes(aml)).hexdigest()
    (folder / golden.MANIFEST).write_text(json.dumps(manifest))
    result = next(r for r in golden.check(corpus).results if r.config == "crb-tpm2-noppi")
    assert (result.mode, result.problems) == (golden.MODE_DISASSEMBLY, ["ssdt.aml: normalised disassembly differs"])


def test_missing_folder_is_drift(corpus):
    shutil.rmtree(corpus / "crb-tpm2-ppi-qemu")
    result = next(r for r in golden.check(corpus).results if r.config == "crb-tpm2-ppi-qemu")
    assert not result.ok and result.problems[0].startswith("cannot read manifest.json")


def test_update_regenerates_an_identical_corpus(tmp_path):
    golden.update(tmp_path)
    (tmp_path / "stale-config").mkdir()
    (tmp_path / "stale-config" / golden.MANIFEST).write_text("{}")
    golden.update(tmp_path)
    assert not (tmp_path / "stale-config").exists()
    for name in CONFIG_NAMES:
        for path in (golden.default_root() / name).iterdir():
            assert (tmp_path / name / path.name).read_bytes() == path.read_bytes(), (name, path.name)


def test_cli_golden_check_exit_codes(corpus):
    runner = CliRunner()
    ok = runner.invoke(cli, ["golden", "check", "--root", str(corpus)])
    assert ok.exit_code == 0
    assert "tis-tpm12-ppi-qemu: ok (compared by bytes, iasl " in ok.output
    path = corpus / "crb-tpm2-ppi-qemu" / golden.SSDT_DSL
    path.write_text(path.read_text().replace("0x0F", "0x0E", 1))
    drift = runner.invoke(cli, ["golden", "check", "--root", str(corpus), "--json"])
    assert drift.exit_code == 1
    report = json.loads(drift.output)
    assert report["ok"] is False
    bad = [c for c in report["configs"] if not c["ok"]]
    assert [(c["config"], c["mode"]) for c in bad] == [("crb-tpm2-ppi-qemu", "bytes")]
    assert "ssdt.dsl: sha256 differs from the manifest (file changed after update)" in bad[0]["problems"]
