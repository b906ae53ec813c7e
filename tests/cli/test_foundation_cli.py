"""``ppikit region|fwcfg|ops``: the foundation issue's done-when commands and their errors."""

import json
import os
import re

import pytest

QEMU_TPM2_CONFIG = bytes.fromhex("0050d4fe0201")  # QEMU 7.2 etc/tpm/config, TPM 2.0 + PPI


def test_region_encode_then_decode(ppikit, tmp_path):
    r = ppikit("region", "encode", "--set", "pprq=5", "--func", "5=3", "-o", "p.bin")
    assert (r.code, r.err) == (0, "")
    raw = (tmp_path / "p.bin").read_bytes()
    assert len(raw) == 0x400 and raw[5] == 3 and raw[0x109:0x10D] == bytes.fromhex("05000000")
    r = ppikit("region", "decode", "p.bin")
    assert r.code == 0
    lines = r.out.splitlines()
    assert [" ".join(l.split()) for l in lines if l.startswith(("pprq", "func[5]"))] == [
        "pprq = 5 (Clear) @0x109",
        "func[5] = 3 allowed, user required (Clear) @0x005",
    ]
    assert " ".join(lines[-1].split()) == "func[*] = 0 not implemented for the other 255 operations"


def test_region_decode_json(ppikit, tmp_path):
    ppikit("region", "encode", "--set", "lppr=0x17", "--set", "pprp=0xFFFFFFF1", "--func", "255=0xFF", "-o", "p.bin")
    data = json.loads(ppikit("region", "decode", "p.bin", "--json").out)
    assert data["lppr"] == 23 and data["pprp"] == 0xFFFFFFF1 and data["func"][255] == 0xFF
    assert sorted(data) == ["fret", "func", "lppr", "movv", "next_step", "ppin", "ppip", "pprm", "pprp",
                            "pprq", "res1", "reserved"]


def test_region_decode_tpm12_names_and_raw_upper_bits(ppikit, tmp_path):
    ppikit("region", "encode", "--set", "pprq=21", "--func", "21=0x83", "-o", "p.bin")
    out = ppikit("region", "decode", "--tpm", "1.2", "p.bin").out
    assert "21 (Enable + Activate + Clear)" in out
    assert "3 allowed, user required (Enable + Activate + Clear) [raw 0x83]" in out


def test_region_encode_from_existing_page(ppikit, tmp_path):
    ppikit("region", "encode", "--set", "pprq=5", "-o", "a.bin")
    ppikit("region", "encode", "--from", "a.bin", "--set", "pprm=7", "-o", "b.bin")
    raw = (tmp_path / "b.bin").read_bytes()
    assert raw[0x109] == 5 and raw[0x10D] == 7


def test_fwcfg_decode_qemu_entry(ppikit, tmp_path):
    (tmp_path / "cfg.bin").write_bytes(QEMU_TPM2_CONFIG)
    r = ppikit("fwcfg", "decode", "cfg.bin")
    assert r.code == 0
    assert [" ".join(l.split()) for l in r.out.splitlines()] == [
        "tpmppi_address = 0xFED45000 @0",
        "tpm_version = 2 (TPM 2.0) @4",
        "tpmppi_version = 1 (PPI 1.30) @5",
    ]
    assert json.loads(ppikit("fwcfg", "decode", "--json", "cfg.bin").out) == {
        "tpmppi_address": 0xFED45000, "tpm_version": 2, "tpm_version_label": "2.0",
        "tpmppi_version": 1, "tpmppi_version_label": "1.30"}


def test_fwcfg_encode(ppikit, tmp_path):
    assert ppikit("fwcfg", "encode", "--ppi-address", "0xFED45000", "--tpm", "1.2", "-o", "c.bin").code == 0
    assert (tmp_path / "c.bin").read_bytes() == bytes.fromhex("0050d4fe0101")
    ppikit("fwcfg", "encode", "--ppi-address", "4096", "--tpm", "2.0", "--ppi-version", "none", "-o", "d.bin")
    assert (tmp_path / "d.bin").read_bytes() == bytes.fromhex("00100000" "02" "00")


def test_ops_listing(ppikit):
    out = ppikit("ops").out.splitlines()
    assert out[0].split() == ["op", "name", "param", "user", "confirms", "reboot"]
    row23 = next(l for l in out if l.startswith("23 "))
    assert row23.split() == ["23", "SetPCRBanks", "yes", "yes", "yes"]
    assert out[-1].split()[:3] == ["128-255", "Vendor", "specific"]
    tpm12 = json.loads(ppikit("ops", "--tpm", "1.2", "--json").out)
    assert tpm12[10] == {"number": 10, "name": "Enable + Activate + SetOwnerInstall_True", "kind": "defined",
                         "takes_parameter": False, "pp_required": False, "reboot": True, "boots": 2}
    assert len(json.loads(ppikit("ops", "--all", "--json").out)) == 256


@pytest.mark.parametrize(
    "args,pattern",
    [
        (("region", "decode", "missing.bin"), r"^ppikit: error: cannot read PPI page 'missing.bin'"),
        (("region", "decode", "short.bin"), r"^ppikit: error: page @0x005: PPI page must be exactly 0x400 bytes"),
        (("region", "decode", "."), r"^ppikit: error: cannot read PPI page '.'"),
        (("region", "encode", "--set", "pprq=1x", "-o", "x"), r"--set pprq: '1x' is not an integer"),
        (("region", "encode", "--set", "bogus=1", "-o", "x"), r"^ppikit: error: bogus: --set 'bogus=1': not a settable"),
        (("region", "encode", "--set", "pprq", "-o", "x"), r"--set 'pprq': expected NAME=VALUE"),
        (("region", "encode", "--set", "ppin=256", "-o", "x"), r"ppin @0x100: value 256 outside 0..0xFF"),
        (("region", "encode", "--func", "256=1", "-o", "x"), r"operation 256 outside 0..255"),
        (("region", "encode", "--func", "5=300", "-o", "x"), r"func\[5\] @0x005: value 300 outside"),
        (("region", "encode", "--set", "pprq=1"), r"Missing option '-o'"),
        (("region", "encode", "--set", "pprq=1", "-o", "nodir/x.bin"), r"cannot write PPI page 'nodir/x.bin'"),
        (("region", "decode", "--tpm", "3", "short.bin"), r"Invalid value for '--tpm'"),
        (("fwcfg", "decode", "short.bin"), r"etc/tpm/config must be exactly 6 bytes, got 5"),
        (("fwcfg", "encode", "--ppi-address", "zz", "--tpm", "2.0", "-o", "x"), r"--ppi-address: 'zz' is not an integer"),
        (("fwcfg", "encode", "--ppi-address", "0x100000000", "--tpm", "2.0", "-o", "x"), r"tpmppi_address @0x000"),
        (("fwcfg", "encode", "--ppi-address", "0", "--tpm", "2.1", "-o", "x"), r"Invalid value for '--tpm'"),
        (("ops", "--tpm", "1.3"), r"Invalid value for '--tpm'"),
        (("nosuchcommand",), r"No such command 'nosuchcommand'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(ppikit, tmp_path, args, pattern):
    (tmp_path / "short.bin").write_bytes(bytes(5))
    ppikit(*args).assert_one_line_error(pattern)


ENDLESS = "/dev/zero"  # an input that never ends: reading it whole would never return


@pytest.mark.parametrize(
    "args,what",
    [
        (("region", "decode", ENDLESS), "PPI page"),
        (("fwcfg", "decode", ENDLESS), "etc/tpm/config file"),
        (("table", "decode", ENDLESS), "ACPI table"),
        (("dsm", ENDLESS, "1"), "table"),
        (("linux-ppi", ENDLESS), "ACPI table"),
        (("check", ENDLESS), "table"),
        (("snapshot", "inspect", ENDLESS), "snapshot"),
    ],
)
def test_endless_input_is_bad_input_not_a_hang(ppikit, args, what):
    ppikit(*args, timeout=60).assert_one_line_error(
        rf"^ppikit: error: cannot read {re.escape(what)} '/dev/zero': larger than 67108864 bytes: not a ppikit input$")


def test_fifo_without_a_writer_reads_as_empty_not_a_hang(ppikit, tmp_path):
    os.mkfifo(tmp_path / "nowriter")
    ppikit("fwcfg", "decode", "nowriter", timeout=60).assert_one_line_error(
        r"^ppikit: error: etc/tpm/config @0x000: etc/tpm/config must be exactly 6 bytes, got 0$")
