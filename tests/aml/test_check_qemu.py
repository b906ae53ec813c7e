"""``check`` on QEMU 7.2's own tables: zero deviations from QEMU and Linux, its PPI 1.3 deviations exactly.

Each variant is swept once (module-scoped cache); about 3 s per sweep.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ppikit.aml.acpidump import AcpiTable, read_tables
from ppikit.aml.check import CheckReport, check_tables
from ppikit.aml.params import MOR_DSM_UUID, PPI_DSM_UUID

from .conftest import QEMU_DATA

#: variant -> (TPM node, _HID, TPM table, _CRS window)
VARIANTS = {
    "q35.tis.tpm2.ppi": ("\\_SB.PCI0.SF8.TPM", "MSFT0101", "TPM2", (0xFED40000, 0x5000)),
    "q35.tis.tpm12.ppi": ("\\_SB.PCI0.SF8.TPM", "PNP0C31", "TCPA", (0xFED40000, 0x5000)),
    "q35.crb.tpm2.ppi": ("\\_SB.TPM", "MSFT0101", "TPM2", (0xFED40000, 0x1000)),
}

#: QEMU 7.2's PPI 1.3 / MOR / ACPI deviations: rule -> number of swept inputs that show it
#: (the same for every variant: the _DSM AML is identical).
QEMU_SPEC_DEVIATIONS = {
    "ppi-fn0-unknown-revision": 2,     # rev 0 and 3 answer the fn 0 bitmap {FF 01}
    "ppi-fn2-unknown-revision": 144,   # fn 2 at rev 0/3 acts as rev 1
    "ppi-fn7-unknown-revision": 144,   # fn 7 at rev 0/3 returns 0 without recording
    "ppi-unknown-revision": 152,       # fn 1, 4, 5, 6, 8 at rev 0/3 act as rev 1
    "ppi-fn2-firmware-only": 12,       # fn 2 accepts flag 1 ...
    "ppi-fn2-blocked": 12,             # ... and flag 2
    "ppi-fn2-fn7-undefined-flag": 84,  # fn 2/7 accept flags 5..7
    "ppi-fn7-firmware-only": 12,       # fn 7 accepts flag 1
    "ppi-fn8-undefined-flag": 42,      # fn 8 returns 5..7 raw
    "mor-fn1-not-a-bit": 6,            # MOR fn 1 stores 2 and 0x102 & 0xFF
    "mor-unknown-function": 6,         # MOR fn 2/3: no return value
    "unknown-uuid": 4,                 # other UUIDs: no return value
}


def _tables(variant: str, tpm_table: str) -> list[AcpiTable]:
    return read_tables([QEMU_DATA / variant / "DSDT.aml", QEMU_DATA / variant / f"{tpm_table}.aml"])


@pytest.fixture(scope="module")
def reports() -> dict[str, CheckReport]:
    return {variant: check_tables(_tables(variant, spec[2])) for variant, spec in VARIANTS.items()}


@pytest.mark.parametrize("variant", VARIANTS)
def test_zero_deviations_from_qemu_and_linux(reports, variant):
    report = reports[variant]
    assert [f.key for f in report.all_findings() if f.category in ("qemu", "linux", "table")] == []
    assert report.exit_status(("qemu", "linux", "table")) == 0


@pytest.mark.parametrize("variant", VARIANTS)
def test_ppi_spec_deviations_listed_exactly(reports, variant):
    spec = {f.key: len(f.deviations) for f in reports[variant].all_findings() if f.category == "spec"}
    assert spec == QEMU_SPEC_DEVIATIONS
    assert reports[variant].exit_status() == 1  # default --against spec,linux,table


@pytest.mark.parametrize("variant", VARIANTS)
def test_raw_fw_cfg_fields_are_linker_findings(reports, variant):
    tpm_table = VARIANTS[variant][2]
    linker = [(f.key, f.table.rsplit("/", 1)[-1], f.observed) for f in reports[variant].findings]
    assert linker == [("checksum", "DSDT.aml", "byte 9 = 0x00"), ("checksum", f"{tpm_table}.aml", "byte 9 = 0x00"),
                      ("log-area-address", f"{tpm_table}.aml", "LASA 0")]
    assert {f.category for f in reports[variant].findings} == {"linker"}
    assert reports[variant].exit_status(("linker",)) == 1


@pytest.mark.parametrize("variant", VARIANTS)
def test_device_summary(reports, variant):
    path, hid, _, window = VARIANTS[variant]
    (device,) = reports[variant].devices
    assert (device.path, device.hid, device.cids, device.window) == (path, hid, [], window)
    assert (device.ppi_version, device.ppi_functions, device.mor_functions) == ("1.3", list(range(9)), [0, 1])
    ovmf_ops = [0, 5, 14, 21, 22, 23, 24, 33, 96, 97]
    assert [(s.ops == ovmf_ops, s.fn8, s.fn7) for s in device.op_status] == [
        (True, "Integer 3", "Integer 0; writes pprm = 0, pprq = op"),
        (False, "Integer 0", "Integer 1"),
    ]
    assert device.op_status[1].ops == [op for op in range(256) if op not in ovmf_ops]


def test_deviation_names_input_observed_and_expected(reports):
    finding = next(f for f in reports["q35.tis.tpm2.ppi"].all_findings() if f.key == "ppi-fn2-blocked")
    first = finding.deviations[0].to_dict()
    assert first["input"] == {"uuid": "3dddfaa6-361b-4eb4-a424-8d10089d1653", "revision": 1, "function": 2,
                              "args": [0], "page": "rot2"}
    assert first["input_text"] == "PPI rev 1 fn 2 Package{0} [func[op]=0x02, flag 2]"
    # base page has pprq 0x11 and pprm 0x12: QEMU records op 0 and clears pprm
    assert first["observed"]["text"] == "Integer 0; writes pprm = 0, pprq = 0"
    assert first["expected"] == "Integer 2"


def test_noppi_dsdt_has_no_dsm_and_nothing_to_report():
    report = check_tables(read_tables([QEMU_DATA / "q35.tis.tpm2.noppi" / "DSDT.aml"]))
    (device,) = report.devices
    assert (device.has_dsm, device.inputs, device.findings) == (False, 0, [])
    assert report.exit_status() == 0
    assert report.notes == ["no TPM2 table given: which Linux driver binds MSFT0101 was not checked"]


def test_acpidump_text_gives_the_same_report(reports, tmp_path: Path):
    variant = "q35.tis.tpm2.ppi"
    dump = tmp_path / "acpidump.txt"
    subprocess.run(["acpidump", "-f", str(QEMU_DATA / variant / "DSDT.aml"), "-f", str(QEMU_DATA / variant / "TPM2.aml"),
                    "-o", str(dump)], check=True, timeout=30, capture_output=True)
    tables = read_tables([dump])
    assert [(t.label.rsplit("/", 1)[-1], len(t.data)) for t in tables] == [("acpidump.txt:DSDT#1", 8728),
                                                                           ("acpidump.txt:TPM2#1", 76)]
    from_dump = check_tables(tables)

    def summary(report: CheckReport) -> list[tuple[str, str, int]]:
        return [(f.category, f.key, len(f.deviations)) for f in report.all_findings()]

    assert summary(from_dump) == summary(reports[variant])


def test_cli_page_option_sets_the_base_page(tmp_path: Path):
    from click.testing import CliRunner

    from ppikit.cli import cli
    from ppikit.ppi.page import PpiPage

    page = PpiPage.blank()
    page.func[5] = 4   # Clear: allowed, no user needed
    page.func[23] = 2  # SetPCRBanks: blocked
    page.pprq = 5      # a pending Clear
    path = tmp_path / "page.bin"
    path.write_bytes(page.build())
    result = CliRunner().invoke(cli, ["check", "--json", "--page", str(path), "--against", "qemu,linux",
                                      str(QEMU_DATA / "q35.crb.tpm2.ppi" / "DSDT.aml")], catch_exceptions=False)
    report = json.loads(result.stdout)
    assert (result.exit_code, report["conforms"]) == (0, True)
    status = {tuple(s["ops"]) if len(s["ops"]) == 1 else "rest": (s["fn8"], s["fn7"])
              for s in report["devices"][0]["op_status"]}
    # fn 7 for op 5 writes pprq = 5, pprm = 0: what the page already holds, so no field changes
    assert status == {"rest": ("Integer 0", "Integer 1"), (5,): ("Integer 4", "Integer 0"),
                      (23,): ("Integer 2", "Integer 3")}


@pytest.fixture(scope="module")
def qemu_runtime():
    from ppikit.aml.runtime import AcpiRuntime
    from ppikit.aml.sweep import base_page, state_checker

    data = (QEMU_DATA / "q35.tis.tpm2.ppi" / "DSDT.aml").read_bytes()
    with AcpiRuntime([data, state_checker(base_page().state)], fix_checksums=True) as runtime:
        yield runtime


_UUIDS = st.sampled_from([PPI_DSM_UUID, MOR_DSM_UUID, "00000000-0000-0000-0000-000000000000"])
_U32 = st.integers(0, 0xFFFFFFFF)


@settings(max_examples=100)
@given(uuid=_UUIDS, revision=st.one_of(st.integers(0, 4), _U32), function=st.one_of(st.integers(0, 10), _U32),
       args=st.lists(st.one_of(st.integers(0, 0x101), _U32), max_size=3), flag_byte=st.integers(0, 0xFF))
def test_qemu_model_predicts_qemu_dsdt_for_any_input(qemu_runtime, uuid, revision, function, args, flag_byte):
    """Beyond the sweep: random revisions, functions, argument counts (empty packages fault) and raw
    func[] bytes; the model must give QEMU's return value and page writes exactly."""
    from ppikit.aml.expectations import DsmInput, PageSetup, qemu_expectation
    from ppikit.aml.sweep import base_page, single_call

    base = base_page()
    setup = PageSetup("prop", bytes([flag_byte]) * 256, base.state)  # every op gets the same flag byte
    inp = DsmInput(uuid, revision, function, tuple(args), "prop")
    observed = single_call(qemu_runtime, "\\_SB.PCI0.SF8.TPM", inp, setup)
    assert observed == qemu_expectation(inp, setup).outcome, inp.describe(setup)


@pytest.fixture(scope="module")
def strict_runtime():
    from ppikit.aml.golden import default_root
    from ppikit.aml.runtime import AcpiRuntime, stand_in_dsdt
    from ppikit.aml.sweep import base_page, state_checker

    ssdt = (default_root() / "crb-tpm2-ppi-strict" / "ssdt.aml").read_bytes()
    with AcpiRuntime([stand_in_dsdt([ssdt]), ssdt, state_checker(base_page().state)]) as runtime:
        yield runtime


@settings(max_examples=100)
@given(uuid=_UUIDS, revision=st.one_of(st.integers(0, 4), _U32), function=st.one_of(st.integers(0, 10), _U32),
       args=st.lists(st.one_of(st.integers(0, 0x101), _U32), min_size=2, max_size=3), flag_byte=st.integers(0, 0xFF))
def test_spec_model_predicts_the_strict_golden_ssdt(strict_runtime, uuid, revision, function, args, flag_byte):
    """ppikit's strict profile is the PPI 1.3 reading the spec model states (for every input that
    carries the arguments its function needs; the spec model calls missing ones invalid input)."""
    from ppikit.aml.expectations import DsmInput, PageSetup, spec_expectation
    from ppikit.aml.sweep import base_page, single_call

    setup = PageSetup("prop", bytes([flag_byte]) * 256, base_page().state)
    inp = DsmInput(uuid, revision, function, tuple(args), "prop")
    observed = single_call(strict_runtime, "\\_SB.TPM", inp, setup)
    assert spec_expectation(inp, setup).accepts(observed), inp.describe(setup)
