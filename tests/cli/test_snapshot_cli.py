"""``ppikit snapshot save|restore|inspect`` as a user runs them; every failure is one line, exit 2,
and the snapshot file is byte-for-byte unchanged."""

import json
import re
import secrets
import struct

import pytest

from ppikit.platform.platform import PlatformConfig
from ppikit.platform.simulate import Request
from ppikit.platform.snapshot_format import SNAPSHOT_HEADER_SIZE
from ppikit.platform.snapshot_scenario import save_pending

RESPONSE_LINE = "OS reads /sys/class/tpm/tpm0/ppi/response: "


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Pending-request snapshots made once through the library: TIS 2.0 Clear, TIS 1.2 op 21
    (their restores are covered in tests/platform/test_snapshot.py)."""
    base = tmp_path_factory.mktemp("cli-snapshots")
    paths = {"tis2": base / "tis2.snap", "tis12": base / "tis12.snap"}
    save_pending(PlatformConfig.create(interface="tis", tpm="2.0"), Request(5), paths["tis2"])
    save_pending(PlatformConfig.create(interface="tis", tpm="1.2"), Request(21), paths["tis12"])
    return {name: (path, path.read_bytes()) for name, path in paths.items()}


def test_save_inspect_restore(ppikit, tmp_path):
    out = tmp_path / "pending.snap"
    result = ppikit("snapshot", "save", "--request", "5", "--interface", "crb", "-o", out)
    assert result.code == 0, result.err
    assert result.out.startswith(f"saved {out}: CRB + TPM 2.0, firmware ovmf, request 5 (Clear) pending, ")
    assert "swtpm state: permanent " in result.out and "volatile " in result.out and "(encrypted)" not in result.out
    data = out.read_bytes()

    inspected = ppikit("snapshot", "inspect", out, "--json")
    assert inspected.code == 0, inspected.err
    summary = json.loads(inspected.out)
    assert summary["format_version"] == 1
    assert summary["body_size"] == len(data) - SNAPSHOT_HEADER_SIZE
    assert summary["config"] == {"interface": "crb", "tpm": "2.0", "firmware": "ovmf", "profile": "qemu",
                                 "ppi": True, "ppi_address": 0xFED45000, "ram_size": 0x10000}
    assert (summary["boot_count"], summary["page"]["pprq"], summary["page"]["ppin"]) == (1, 5, 1)
    assert sorted(summary["blobs"]) == ["permanent", "volatile"]  # no savestate on a running TPM 2
    assert summary["blobs"]["permanent"]["swtpm_header_flags"] == 0x04  # BLOB_FLAG_MIGRATION_DATA only
    assert summary["swtpm"]["migration_key"] is False
    assert [f["name"] for f in summary["fwcfg"]] == ["etc/tpm/config", "etc/tpm/log"]
    human = ppikit("snapshot", "inspect", out)
    assert human.code == 0
    assert re.search(r"^pprq +=  5 \(Clear\) +@0x109$", human.out, re.M)
    assert f"body            {len(data) - SNAPSHOT_HEADER_SIZE} bytes, SHA-256 {summary['body_sha256']} (verified)" \
        in human.out

    restored = ppikit("snapshot", "restore", out)
    assert restored.code == 0, restored.err
    lines = restored.out.splitlines()
    assert lines[-1] == RESPONSE_LINE + "5 0: Success"
    assert "TPM: owner_auth_set: True -> False" in lines
    assert out.read_bytes() == data


def test_restore_rejected_json(ppikit, saved):
    path, data = saved["tis2"]
    result = ppikit("snapshot", "restore", path, "--confirm", "reject", "--json")
    assert result.code == 0, result.err
    out = json.loads(result.out)
    assert (out["response"], out["tpm_changes"], out["boots"]) == ("5 0xFFFFFFF0: User Abort", [], 2)
    assert path.read_bytes() == data


@pytest.mark.parametrize("damage,pattern", [
    (lambda d: d[:-1], r"truncated: the header announces \d+ body bytes, the file has \d+$"),
    (lambda d: d[:30], r"truncated: 30 bytes, shorter than the 56-byte header$"),
    (lambda d: d[:-10] + bytes([d[-10] ^ 0xFF]) + d[-9:], r"corrupted: body SHA-256 is "),
    (lambda d: d[:8] + struct.pack(">H", 7) + d[10:], r"snapshot format version 7 is newer than this ppikit reads"),
], ids=["truncated-body", "truncated-header", "corrupted", "newer-format"])
def test_damaged_file_is_one_line(ppikit, saved, tmp_path, damage, pattern):
    _, data = saved["tis2"]
    bad = tmp_path / "bad.snap"
    bad.write_bytes(damage(data))
    before = bad.read_bytes()
    ppikit("snapshot", "restore", "bad.snap").assert_one_line_error(r"^ppikit: error: bad\.snap: " + pattern)
    assert bad.read_bytes() == before


def test_inspect_refuses_a_damaged_file(ppikit, saved, tmp_path):
    _, data = saved["tis2"]
    (tmp_path / "bad.snap").write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    ppikit("snapshot", "inspect", "bad.snap").assert_one_line_error(r"^ppikit: error: bad\.snap: corrupted: body SHA-256")


@pytest.mark.parametrize("file,options,pattern", [
    ("tis2", ["--tpm", "1.2"], r"the snapshot has tpm TPM 2\.0, this platform TPM 1\.2"),
    ("tis12", ["--tpm", "2.0"], r"the snapshot has tpm TPM 1\.2, this platform TPM 2\.0"),
    ("tis2", ["--interface", "crb"], r"the snapshot has interface TIS, this platform CRB"),
], ids=["tpm2-into-tpm12", "tpm12-into-tpm2", "tis-into-crb"])
def test_mismatched_destination_is_one_line(ppikit, saved, file, options, pattern):
    path, data = saved[file]
    ppikit("snapshot", "restore", path, *options).assert_one_line_error(r"^ppikit: error: cannot restore: " + pattern)
    assert path.read_bytes() == data


def test_migration_keys(ppikit, tmp_path):
    k1, k2 = tmp_path / "k1.hex", tmp_path / "k2.hex"
    k1.write_text(secrets.token_hex(16))
    k2.write_text(secrets.token_hex(16))
    out = tmp_path / "encrypted.snap"
    saved = ppikit("snapshot", "save", "--request", "5", "--migration-key", k1, "-o", out)
    assert saved.code == 0, saved.err
    assert saved.out.splitlines()[1].startswith("swtpm state: permanent ") and "(encrypted)" in saved.out
    data = out.read_bytes()
    ppikit("snapshot", "restore", out, "--migration-key", k2).assert_one_line_error(
        r"^ppikit: error: cannot restore: the destination swtpm's --migration-key is not the one that encrypted "
        r"the snapshot's TPM state \(swtpm: .*Decrypting the permall blob with the migration key failed")
    ppikit("snapshot", "restore", out).assert_one_line_error(
        r"^ppikit: error: cannot restore: the snapshot's TPM state is encrypted with a migration key and the "
        r"destination swtpm has none")
    ppikit("snapshot", "restore", out, "--migration-key", tmp_path / "nokey").assert_one_line_error(
        r"cannot read migration key '.*nokey': no such file")
    assert out.read_bytes() == data
    ok = ppikit("snapshot", "restore", out, "--migration-key", k1)
    assert ok.code == 0, ok.err
    assert ok.out.splitlines()[-1] == RESPONSE_LINE + "5 0: Success"


def test_usage_errors_are_one_line(ppikit, tmp_path):
    ppikit("snapshot", "restore", tmp_path / "none.snap").assert_one_line_error(
        r"^ppikit: error: cannot read snapshot '.*none\.snap': No such file or directory$")
    ppikit("snapshot", "save", "--request", "2", "-o", tmp_path / "x.snap").assert_one_line_error(
        r"^ppikit: error: the OS could not queue request '2': .*EPERM")
    assert not (tmp_path / "x.snap").exists()
