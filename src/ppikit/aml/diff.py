"""``ppikit diff``: how two tables' TPM ``_DSM`` behaviours differ, input by input.

Why behavioural and not textual: two ``_DSM``s can differ in every byte and behave the same, or differ
in one comparison and change what Linux queues. Both tables run the same sweep
(:mod:`ppikit.aml.sweep`) on the same PPI pages; an input differs when the return value or the page
writes differ.

Rows: differing inputs are grouped by the PPI 1.3 rule that covers them (:data:`SPEC_RULES`, the
input classes a reader reasons in: revision, function, ``func[op]`` flag, argument). Each row shows
the distinct outcomes of either side over its inputs (``pprq = op`` stands for "the op was queued").
The diff of the ``qemu`` and ``strict`` golden SSDTs reproduces ``docs/qemu-vs-strict.md`` row for
row; tests/aml/test_diff.py keeps the two together.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ppikit.aml.acpidump import AcpiTable
from ppikit.aml.check import open_runtime, sweep_device
from ppikit.aml.expectations import SPEC_RULES, DsmInput, Fault, Outcome, PageSetup, spec_rule
from ppikit.aml.runtime import TPM_HIDS
from ppikit.aml.sweep import InputSpace, base_page, input_space
from ppikit.errors import UsageError
from ppikit.ppi.page import PpiPage

EXAMPLES_IN_TEXT = 2
OUTCOMES_IN_TEXT = 4


@dataclass(frozen=True)
class DiffInput:
    """One input on which the two sides disagree."""

    input: DsmInput
    setup: PageSetup
    a: Outcome
    b: Outcome

    def to_dict(self) -> dict[str, Any]:
        return {"input": self.input.to_dict(), "input_text": self.input.describe(self.setup),
                "a": self.a.to_dict(), "b": self.b.to_dict()}


@dataclass
class DiffRow:
    """All differing inputs of one input class (a :data:`SPEC_RULES` rule)."""

    key: str
    input: str
    reason: str
    inputs: list[DiffInput] = field(default_factory=list)

    def outcomes(self, side: str) -> list[tuple[str, int]]:
        """Distinct outcomes of side ``a`` or ``b`` over the row, most frequent first."""
        return Counter(getattr(d, side).describe(d.input.op) for d in self.inputs).most_common()

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "input": self.input, "reason": self.reason, "count": len(self.inputs),
                "a": [{"outcome": o, "count": n} for o, n in self.outcomes("a")],
                "b": [{"outcome": o, "count": n} for o, n in self.outcomes("b")],
                "inputs": [d.to_dict() for d in self.inputs]}

    def render(self, number: int) -> list[str]:
        lines = [f"{number}. {self.input}  [{self.key}, {len(self.inputs)} input(s)]"]
        for side in ("a", "b"):
            outcomes = self.outcomes(side)
            shown = "; ".join(f"{o} (x{n})" for o, n in outcomes[:OUTCOMES_IN_TEXT])
            more = f"; ... {len(outcomes) - OUTCOMES_IN_TEXT} more" if len(outcomes) > OUTCOMES_IN_TEXT else ""
            lines.append(f"   {side.upper()}: {shown}{more}")
        for d in self.inputs[:EXAMPLES_IN_TEXT]:
            lines.append(f"   e.g. {d.input.describe(d.setup)} on page '{d.setup.name}': "
                         f"A {d.a.describe()} | B {d.b.describe()}")
        return lines


@dataclass
class DiffReport:
    a_label: str
    b_label: str
    a_device: str
    b_device: str
    inputs: int
    rows: list[DiffRow]
    notes: list[str]

    @property
    def identical(self) -> bool:
        return not self.rows

    def exit_status(self) -> int:
        """0: same behaviour on every input; 1: at least one difference."""
        return 0 if self.identical else 1

    def to_dict(self) -> dict[str, Any]:
        return {"a": {"tables": self.a_label, "device": self.a_device},
                "b": {"tables": self.b_label, "device": self.b_device},
                "inputs": self.inputs, "differing_inputs": sum(len(r.inputs) for r in self.rows),
                "rows": [r.to_dict() for r in self.rows], "notes": self.notes}

    def render(self) -> str:
        lines = [f"A: {self.a_device} in {self.a_label}", f"B: {self.b_device} in {self.b_label}"]
        lines.extend(f"note: {n}" for n in self.notes)
        differing = sum(len(r.inputs) for r in self.rows)
        lines.append(f"{differing} of {self.inputs} inputs differ, in {len(self.rows)} row(s)")
        for number, row in enumerate(self.rows, 1):
            lines.extend(row.render(number))
        return "\n".join(lines)


def diff_behaviour(space: InputSpace, a: dict[DsmInput, Outcome], b: dict[DsmInput, Outcome]) -> list[DiffRow]:
    """The rows of differences between two sweeps of ``space`` (rows in :data:`SPEC_RULES` order)."""
    rows: dict[str, DiffRow] = {}
    for inp in space.inputs:
        if a[inp] == b[inp]:
            continue
        setup = space.setups[inp.setup]
        rule = spec_rule(inp, setup)
        row = rows.setdefault(rule.key, DiffRow(rule.key, rule.text, rule.reason))
        row.inputs.append(DiffInput(inp, setup, a[inp], b[inp]))
    order = {rule.key: i for i, rule in enumerate(SPEC_RULES)}
    return sorted(rows.values(), key=lambda r: order[r.key])


def _sweep_side(tables: Sequence[AcpiTable], label: str, space: InputSpace,
                notes: list[str]) -> tuple[str, dict[DsmInput, Outcome]]:
    side_notes: list[str] = []
    with open_runtime(tables, side_notes, space) as runtime:
        devices = runtime.find_devices(TPM_HIDS)
        if not devices:
            raise UsageError(f"{label}: no TPM device (_HID or _CID MSFT0101 / PNP0C31)")
        if len(devices) > 1:
            notes.append(f"{label}: {len(devices)} TPM devices, comparing the first ({devices[0]})")
        results = sweep_device(runtime, devices[0], space)
    if results is None:
        notes.append(f"{label}: {devices[0]} has no _DSM (every call fails with AE_NOT_FOUND)")
        results = {inp: Outcome(Fault("AE_NOT_FOUND")) for inp in space.inputs}
    notes.extend(f"{label}: {n}" for n in side_notes)
    return devices[0], results


def diff_tables(a: Sequence[AcpiTable], b: Sequence[AcpiTable], *, page: PpiPage | None = None,
                a_label: str = "A", b_label: str = "B") -> DiffReport:
    """Sweep the first TPM device of ``a`` and of ``b`` and report where they behave differently."""
    space = input_space(base_page(page))
    notes: list[str] = []
    a_device, a_results = _sweep_side(a, a_label, space, notes)
    b_device, b_results = _sweep_side(b, b_label, space, notes)
    return DiffReport(a_label, b_label, a_device, b_device, len(space.inputs),
                      diff_behaviour(space, a_results, b_results), notes)
