"""``diff``: the qemu and strict golden SSDTs differ in exactly the rows of docs/qemu-vs-strict.md.

The doc table is parsed (its "Input" column into a predicate over sweep inputs), so the doc, the
profiles and the diff can never drift apart: a new row, a dropped row or a reworded condition that
no longer matches the behaviour fails here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from ppikit.aml.acpidump import read_tables
from ppikit.aml.check import check_tables
from ppikit.aml.diff import DiffReport, diff_tables
from ppikit.aml.expectations import MOR, OTHER, PPI, DsmInput, PageSetup
from ppikit.aml.golden import default_root
from ppikit.cli import cli

from .conftest import QEMU_DATA

DOC = Path(__file__).resolve().parents[2] / "docs" / "qemu-vs-strict.md"
GOLDEN = default_root()

Predicate = Callable[[DsmInput, PageSetup], bool]


@dataclass(frozen=True)
class DocRow:
    number: int
    input: str
    matches: Predicate


def _functions(text: str) -> Callable[[int], bool]:
    """``0`` / ``2 or 7`` / ``1, 4, 5, 6 or 8`` / ``>= 2``."""
    if m := re.fullmatch(r">= (\d+)", text):
        return lambda fn, low=int(m.group(1)): fn >= low
    numbers = {int(n) for n in re.split(r", | or ", text)}
    return lambda fn: fn in numbers


def parse_input(text: str) -> Predicate:
    """The doc's "Input" grammar; anything else is an error (the doc changed: update this parser)."""
    if text == "any other UUID":
        return lambda inp, setup: inp.interface == OTHER
    m = re.fullmatch(r"(PPI|MOR) fn (.+?)(?: \(rev 1/2\))?(?:, (revision 0 or >= 3|func\[op\] & 7 (?:== (\d)|in (\d)\.\.(\d))"
                     r"(?: \([a-z ]+\))?|Arg3\[0\] > 1))?", text)
    if m is None:
        raise AssertionError(f"docs/qemu-vs-strict.md: cannot parse input {text!r}")
    interface = PPI if m.group(1) == "PPI" else MOR
    functions = _functions(m.group(2))
    valid_revisions = "(rev 1/2)" in text
    condition = m.group(3) or ""

    def matches(inp: DsmInput, setup: PageSetup) -> bool:
        if inp.interface != interface or not functions(inp.function):
            return False
        if valid_revisions and inp.revision not in (1, 2):
            return False
        if condition == "revision 0 or >= 3":
            return inp.revision not in (1, 2)
        if m.group(4) is not None:
            return setup.flag(inp.op) == int(m.group(4))
        if m.group(5) is not None:
            return int(m.group(5)) <= setup.flag(inp.op) <= int(m.group(6))
        if condition == "Arg3[0] > 1":
            return inp.op is not None and inp.op > 1
        return True
    return matches


def doc_rows() -> list[DocRow]:
    rows = []
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if len(cells) == 5 and cells[0].isdigit():
            rows.append(DocRow(int(cells[0]), cells[1], parse_input(cells[1])))
    return rows


@pytest.fixture(scope="module")
def golden_diff() -> DiffReport:
    return diff_tables(read_tables([GOLDEN / "tis-tpm2-ppi-qemu" / "ssdt.aml"]),
                       read_tables([GOLDEN / "tis-tpm2-ppi-strict" / "ssdt.aml"]))


def test_doc_table_parses_into_twelve_rows():
    assert [r.number for r in doc_rows()] == list(range(1, 13))


def test_qemu_vs_strict_diff_lists_exactly_the_doc_rows(golden_diff):
    differing = [(d.input, d.setup) for row in golden_diff.rows for d in row.inputs]
    rows = doc_rows()
    doc_groups: dict[int, set[DsmInput]] = {r.number: set() for r in rows}
    for inp, setup in differing:
        owners = [r.number for r in rows if r.matches(inp, setup)]
        assert len(owners) == 1, f"{inp.describe(setup)} matches doc rows {owners}"
        doc_groups[owners[0]].add(inp)
    diff_groups = {row.key: {d.input for d in row.inputs} for row in golden_diff.rows}
    assert all(doc_groups.values()), "a doc row no differing input shows"
    assert sorted(map(frozenset, diff_groups.values()), key=len) == sorted(map(frozenset, doc_groups.values()), key=len)
    assert len(golden_diff.rows) == len(rows) == 12


def test_every_probe_input_of_a_doc_row_differs(golden_diff):
    """The converse: inside a row's condition, every swept input differs (the row is not too wide)."""
    differing = {d.input for row in golden_diff.rows for d in row.inputs}
    from ppikit.aml.sweep import input_space

    space = input_space()
    for row in doc_rows():
        covered = [inp for inp in space.inputs if row.matches(inp, space.setups[inp.setup])]
        # doc row 2 lists fn 1, 4, 5, 6 and 8 but not 3 or >= 9, which answer Buffer {0} in both
        assert covered and all(inp in differing for inp in covered), row.input


def test_diff_row_text(golden_diff):
    row = next(r for r in golden_diff.rows if r.key == "mor-fn1-not-a-bit")
    assert row.input == "MOR fn 1, Arg3[0] > 1"
    assert row.outcomes("a") == [("Integer 0; writes movv = 2", 6)]  # Arg3[0] 2 and 0x102, revisions 0-2
    assert row.outcomes("b") == [("Integer 1", 6)]
    assert golden_diff.exit_status() == 1
    text = golden_diff.render()
    assert "620 of 1433 inputs differ, in 12 row(s)" in text


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_cli_golden_qemu_ssdt_behaves_like_qemu_dsdt():
    code, out, err = run("diff", "--json", str(GOLDEN / "tis-tpm2-ppi-qemu" / "ssdt.aml"),
                         str(QEMU_DATA / "q35.tis.tpm2.ppi" / "DSDT.aml"))
    report = json.loads(out)
    assert (code, err, report["rows"], report["differing_inputs"], report["inputs"]) == (0, "", [], 0, 1433)
    assert (report["a"]["device"], report["b"]["device"]) == ("\\_SB.PCI0.ISA.TPM", "\\_SB.PCI0.SF8.TPM")


def test_cli_diff_without_dsm_on_either_side():
    noppi = str(QEMU_DATA / "q35.tis.tpm2.noppi" / "DSDT.aml")
    code, out, _ = run("diff", noppi, noppi)
    assert code == 0
    assert "0 of 1433 inputs differ, in 0 row(s)" in out.splitlines()
    assert f"note: {noppi}: \\_SB.PCI0.SF8.TPM has no _DSM (every call fails with AE_NOT_FOUND)" in out.splitlines()


def test_golden_strict_ssdt_conforms_to_the_spec_model():
    report = check_tables(read_tables([GOLDEN / "crb-tpm2-ppi-strict" / "ssdt.aml",
                                       GOLDEN / "crb-tpm2-ppi-strict" / "TPM2.aml"]))
    # ppikit builds TPM2 like QEMU: LASA 0, for the firmware's linker to patch
    assert [(f.category, f.key) for f in report.all_findings() if f.category != "qemu"] == \
        [("linker", "log-area-address")]
    assert report.exit_status() == 0
    qemu = {f.key for f in report.all_findings() if f.category == "qemu"}
    assert "qemu-ppi-fn2" in qemu and "qemu-other-uuid" in qemu
