"""Executable models of what a TPM ``_DSM`` should do: QEMU 7.2, TCG PPI 1.3, and Linux ``tpm_ppi``.

Why three models: a firmware or VMM author asks three different questions of the same AML -- "does it
behave as QEMU's?" (faithfulness), "does it follow the specifications?" (PPI 1.3, TCG Platform Reset
Attack Mitigation 1.00 and ACPI's ``_DSM`` rules) and "will Linux work with it?" -- and each answer
needs its own expectation for every input of the sweep (:mod:`ppikit.aml.sweep`).

* :data:`QEMU_RULES` re-states acpi-ppi.md §1.5/§1.6 (``hw/acpi/tpm.c``) as data. The tests run it
  against QEMU 7.2's own DSDTs under acpiexec and require zero differences, so it is the reference
  for *any* table, QEMU's DSDT need not be loaded.
* :data:`SPEC_RULES` is the specification reading, one rule per behaviour with the reason. Its rules
  partition the input space the way a reader thinks about it (revision, function, ``func[op]`` flag),
  so they also name the rows of a behavioural diff (:mod:`ppikit.aml.diff`).
* :data:`LINUX_NEEDS` are predicates, not outcomes: Linux only cares about types, shapes and a few
  values (firmware-and-os.md §5.8), and only for the inputs it actually sends.

Rules are matched first to last; the first whose interface, function, revision, flag and argument
conditions all hold decides. "flag" is ``func[op] & 7`` (0 for ``op >= 0x100``, which ``TPFN``
refuses), ``op`` is ``Arg3[0]``.
"""

from __future__ import annotations

from collections.abc import Callable, Container
from dataclasses import dataclass, field
from typing import Any

from ppikit.aml.params import MOR_DSM_UUID, PPI_DSM_UUID
from ppikit.aml.values import AmlValue
from ppikit.ppi.os_linux import acpi_check_dsm
from ppikit.ppi.page import FIELD_OFFSETS, PPI_FUNC_COUNT, TPM_PPI_FUNC_MASK

#: The part of the PPI page a ``_DSM`` may change and the sweep reads back after every call:
#: ``ppin`` (0x100) up to and including ``movv`` (0x15A).
STATE_OFFSET = FIELD_OFFSETS["ppin"][0]
STATE_LENGTH = FIELD_OFFSETS["movv"][0] + FIELD_OFFSETS["movv"][1] - STATE_OFFSET
STATE_FIELDS: tuple[str, ...] = ("ppin", "ppip", "pprp", "pprq", "pprm", "lppr", "fret", "res1", "next_step",
                                 "movv")

PPI = "ppi"
MOR = "mor"
OTHER = "other"
INTERFACE_UUIDS = {PPI: PPI_DSM_UUID, MOR: MOR_DSM_UUID}



class NotIn:
    """Every integer except those of ``excluded`` (e.g. "revision 0 or >= 3")."""

    def __init__(self, excluded: Container[int]) -> None:
        self.excluded = excluded

    def __contains__(self, value: object) -> bool:
        return value not in self.excluded


ANY_INT = range(0, 1 << 64)
VALID_REVISIONS = frozenset({1, 2})  #: PPI 1.3 defines _DSM revisions 1 and 2 only
OTHER_REVISIONS = NotIn(VALID_REVISIONS)
UNDEFINED_FLAGS = frozenset({5, 6, 7})  #: func[] codes PPI 1.3 does not define

# PPI 1.3 / QEMU _DSM return codes (acpi-ppi.md §1.7)
PPI_OK = 0
PPI_NOT_IMPLEMENTED = 1
PPI_GENERAL_FAILURE = 2
PPI_BLOCKED = 3  #: fn 7: blocked by current firmware settings
TRANSITION_REBOOT = 2  #: fn 4 "reboot"
PPI_FN6_NOT_IMPLEMENTED = 3  #: fn 6 (preferred language) is deprecated
MOR_OK = 0
MOR_GENERAL_FAILURE = 1
BUFFER_ZERO = b"\x00"  #: ACPI _DSM "nothing supported / not supported"
PPI_FN0_BITMAP = b"\xff\x01"  #: functions 0..8
MOR_FN0_BITMAP = b"\x03"  #: functions 0..1
PPI_VERSION_1_3 = "1.3"


@dataclass(frozen=True)
class Fault:
    """The ``_DSM`` aborted inside ACPICA with ``status`` (an ``AE_`` code)."""

    status: str


Observed = AmlValue | Fault  #: what one call gave: a value, None (no return value) or a Fault


@dataclass(frozen=True)
class PageSetup:
    """The PPI page contents before a call: ``func[]`` (256 bytes) and the state bytes 0x100..0x15A."""

    name: str
    func: bytes
    state: bytes

    def flag(self, op: int | None) -> int:
        """``func[op] & 7`` as ``TPFN`` sees it; 0 for ops outside ``func[]`` or a missing op."""
        if op is None or not 0 <= op < PPI_FUNC_COUNT:
            return 0
        return self.func[op] & TPM_PPI_FUNC_MASK

    def field(self, name: str) -> int:
        return state_fields(self.state)[name]


def state_fields(state: bytes) -> dict[str, int]:
    """The fields of the state bytes by name (``res1`` as a little-endian integer)."""
    out = {}
    for name in STATE_FIELDS:
        offset, size = FIELD_OFFSETS[name]
        out[name] = int.from_bytes(state[offset - STATE_OFFSET:offset - STATE_OFFSET + size], "little")
    return out


def page_writes(before: bytes, after: bytes) -> tuple[tuple[str, int], ...]:
    """The fields whose value changed, as sorted ``(name, new value)`` pairs."""
    old, new = state_fields(before), state_fields(after)
    return tuple(sorted((name, new[name]) for name in STATE_FIELDS if new[name] != old[name]))


@dataclass(frozen=True)
class DsmInput:
    """One ``_DSM(uuid, revision, function, Package(args))`` call on a named page setup."""

    uuid: str
    revision: int
    function: int
    args: tuple[int, ...]
    setup: str

    @property
    def interface(self) -> str:
        return next((name for name, text in INTERFACE_UUIDS.items() if text == self.uuid), OTHER)

    @property
    def op(self) -> int | None:
        return self.args[0] if self.args else None

    def describe(self, setup: PageSetup | None = None) -> str:
        name = {PPI: "PPI", MOR: "MOR"}.get(self.interface, f"UUID {self.uuid}")
        args = ", ".join(map(number_text, self.args))
        text = f"{name} rev {self.revision} fn {self.function} Package{{{args}}}"
        if setup is not None and self.interface == PPI and self.function in (2, 7, 8):
            op = self.op
            raw = f"0x{setup.func[op]:02X}" if op is not None and 0 <= op < PPI_FUNC_COUNT else "none"
            text += f" [func[op]={raw}, flag {setup.flag(op)}]"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {"uuid": self.uuid, "revision": self.revision, "function": self.function,
                "args": list(self.args), "page": self.setup}


@dataclass(frozen=True)
class Outcome:
    """What a call returned (or its :class:`Fault`) and the page fields it changed."""

    value: Observed
    writes: tuple[tuple[str, int], ...] = ()

    def describe(self, op: int | None = None) -> str:
        """One line; with ``op``, a ``pprq`` write of that op reads ``pprq = op`` (so ops group)."""
        text = describe_value(self.value)
        if self.writes:
            text += "; writes " + ", ".join(
                f"{n} = {'op' if n == 'pprq' and v == op else number_text(v)}" for n, v in self.writes)
        return text

    def to_dict(self) -> dict[str, Any]:
        return {"value": value_to_json(self.value), "writes": dict(self.writes), "text": self.describe()}


def number_text(value: int) -> str:
    """Small numbers in decimal, others in hex (how reports print integers)."""
    return f"{value:#x}" if value > 9 else str(value)


def describe_value(value: Observed) -> str:
    """A one-line, unambiguous rendering: ``Integer 0x2``, ``String "1.3"``, ``Buffer {FF 01}``..."""
    if isinstance(value, Fault):
        return f"fault {value.status}"
    if value is None:
        return "no return value"
    if isinstance(value, bool):
        raise TypeError("AML has no booleans")
    if isinstance(value, int):
        return f"Integer {number_text(value)}"
    if isinstance(value, str):
        return f'String "{value}"'
    if isinstance(value, bytes):
        return "Buffer {" + " ".join(f"{b:02X}" for b in value) + "}"
    return "Package {" + ", ".join(describe_value(v) for v in value) + "}"


def value_to_json(value: Observed) -> Any:
    if isinstance(value, Fault):
        return {"type": "Fault", "status": value.status}
    if value is None:
        return {"type": "None"}
    if isinstance(value, int):
        return {"type": "Integer", "value": value}
    if isinstance(value, str):
        return {"type": "String", "value": value}
    if isinstance(value, bytes):
        return {"type": "Buffer", "value": value.hex()}
    return {"type": "Package", "value": [value_to_json(v) for v in value]}


# -- rules -----------------------------------------------------------------------------------------
OutcomeFn = Callable[[DsmInput, PageSetup], Outcome]


@dataclass(frozen=True)
class Rule:
    """One behaviour: the inputs it covers, what they must give, and why.

    ``outcome`` gives the expected :class:`Outcome`; ``also`` lists further accepted values (the
    specification leaves a choice, e.g. fn 4's transition action).
    """

    key: str
    interface: str
    text: str
    reason: str
    outcome: OutcomeFn
    functions: Container[int] = ANY_INT
    revisions: Container[int] = ANY_INT
    flags: Container[int] = ANY_INT
    arg0: Container[int] = ANY_INT
    arg_counts: Container[int] = ANY_INT
    also: tuple[Observed, ...] = ()

    def matches(self, inp: DsmInput, setup: PageSetup) -> bool:
        return (inp.interface == self.interface and inp.function in self.functions
                and inp.revision in self.revisions and setup.flag(inp.op) in self.flags
                and len(inp.args) in self.arg_counts
                and (inp.op in self.arg0 if inp.op is not None else self.arg0 is ANY_INT))


@dataclass(frozen=True)
class Expectation:
    rule: Rule
    outcome: Outcome
    accepted: tuple[Outcome, ...] = field(default=())

    def accepts(self, observed: Outcome) -> bool:
        return observed == self.outcome or observed in self.accepted

    def describe(self) -> str:
        text = self.outcome.describe()
        if self.accepted:
            text += " (or " + " / ".join(o.describe() for o in self.accepted) + ")"
        return text


def expect(rules: tuple[Rule, ...], inp: DsmInput, setup: PageSetup) -> Expectation:
    """The first rule of ``rules`` that covers ``inp`` and the outcome it prescribes."""
    for rule in rules:
        if rule.matches(inp, setup):
            outcome = rule.outcome(inp, setup)
            return Expectation(rule, outcome, tuple(Outcome(v, outcome.writes) for v in rule.also))
    raise LookupError(f"no rule covers {inp.describe()}")  # the rule tables end in catch-alls


def _value(value: Observed) -> OutcomeFn:
    return lambda inp, setup: Outcome(value)


def _flag_value(inp: DsmInput, setup: PageSetup) -> Outcome:
    return Outcome(setup.flag(inp.op))


def _record(param_from_args: bool) -> OutcomeFn:
    """Success and ``pprq = op``; ``pprm = Arg3[1]`` (fn 7 rev 2) or 0."""
    def outcome(inp: DsmInput, setup: PageSetup) -> Outcome:
        assert inp.op is not None
        pprm = inp.args[1] if param_from_args else 0
        writes = {"pprq": inp.op & 0xFFFFFFFF, "pprm": pprm & 0xFFFFFFFF}
        return Outcome(PPI_OK, _changed(setup, writes))
    return outcome


def _changed(setup: PageSetup, writes: dict[str, int]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted((k, v) for k, v in writes.items() if setup.field(k) != v))


def _pending(revision: int) -> OutcomeFn:
    def outcome(inp: DsmInput, setup: PageSetup) -> Outcome:
        if revision == 1:
            return Outcome([0, setup.field("pprq")])
        return Outcome([0, setup.field("pprq"), setup.field("pprm")])
    return outcome


def _response(inp: DsmInput, setup: PageSetup) -> Outcome:
    return Outcome([0, setup.field("lppr"), setup.field("pprp")])


def _mor_set(inp: DsmInput, setup: PageSetup) -> Outcome:
    assert inp.op is not None
    return Outcome(MOR_OK, _changed(setup, {"movv": inp.op & 0xFF}))


def _fn(*numbers: int) -> frozenset[int]:
    return frozenset(numbers)


PACKAGE_LIMIT = Fault("AE_AML_PACKAGE_LIMIT")  #: what ACPICA raises for Arg3[n] beyond the package


def _queued_then_fault(inp: DsmInput, setup: PageSetup) -> Outcome:
    assert inp.op is not None
    return Outcome(PACKAGE_LIMIT, _changed(setup, {"pprq": inp.op & 0xFFFFFFFF}))


# QEMU 7.2, hw/acpi/tpm.c (acpi-ppi.md §1.5, §1.6): no revision check except fn 3 and fn 7's writes.
QEMU_RULES: tuple[Rule, ...] = (
    Rule("qemu-ppi-missing-op", PPI, "PPI fn 2, 7 or 8 with an empty package",
         "DerefOf (Arg3 [Zero]) aborts the method", _value(PACKAGE_LIMIT), _fn(2, 7, 8), arg_counts=_fn(0)),
    Rule("qemu-mor-missing-arg", MOR, "MOR fn 1 with an empty package", "DerefOf (Arg3 [Zero]) aborts the method",
         _value(PACKAGE_LIMIT), _fn(1), arg_counts=_fn(0)),
    Rule("qemu-ppi-fn0", PPI, "PPI fn 0", "functions 0-8, any revision", _value(PPI_FN0_BITMAP), _fn(0)),
    Rule("qemu-ppi-fn1", PPI, "PPI fn 1", "version string, any revision", _value(PPI_VERSION_1_3), _fn(1)),
    Rule("qemu-ppi-fn2-not-implemented", PPI, "PPI fn 2, flag 0", "(flags & 7) == 0 -> 1",
         _value(PPI_NOT_IMPLEMENTED), _fn(2), flags=_fn(0)),
    Rule("qemu-ppi-fn2", PPI, "PPI fn 2, flag 1-7", "any other flag is accepted: pprq = op, pprm = 0",
         _record(False), _fn(2)),
    Rule("qemu-ppi-fn3-rev1", PPI, "PPI fn 3, rev 1", "TPM2 package {0, pprq}", _pending(1), _fn(3), _fn(1)),
    Rule("qemu-ppi-fn3-rev2", PPI, "PPI fn 3, rev 2", "TPM3 package {0, pprq, pprm}", _pending(2), _fn(3), _fn(2)),
    Rule("qemu-ppi-fn4", PPI, "PPI fn 4", "reboot", _value(TRANSITION_REBOOT), _fn(4)),
    Rule("qemu-ppi-fn5", PPI, "PPI fn 5", "TPM3 package {0, lppr, pprp}", _response, _fn(5)),
    Rule("qemu-ppi-fn6", PPI, "PPI fn 6", "not implemented", _value(PPI_FN6_NOT_IMPLEMENTED), _fn(6)),
    Rule("qemu-ppi-fn7-not-implemented", PPI, "PPI fn 7, flag 0", "-> 1", _value(PPI_NOT_IMPLEMENTED), _fn(7),
         flags=_fn(0)),
    Rule("qemu-ppi-fn7-blocked", PPI, "PPI fn 7, flag 2", "-> 3", _value(PPI_BLOCKED), _fn(7), flags=_fn(2)),
    Rule("qemu-ppi-fn7-rev1", PPI, "PPI fn 7 rev 1, other flags", "pprq = op, pprm = 0", _record(False),
         _fn(7), _fn(1)),
    Rule("qemu-ppi-fn7-rev2-missing-parameter", PPI, "PPI fn 7 rev 2 without Arg3[1], other flags",
         "pprq = op is stored, then DerefOf (Arg3 [One]) aborts the method", _queued_then_fault, _fn(7), _fn(2),
         arg_counts=_fn(1)),
    Rule("qemu-ppi-fn7-rev2", PPI, "PPI fn 7 rev 2, other flags", "pprq = op, pprm = Arg3[1]", _record(True),
         _fn(7), _fn(2)),
    Rule("qemu-ppi-fn7-other-revision", PPI, "PPI fn 7 other revisions, other flags",
         "returns 0 without writing", _value(PPI_OK), _fn(7)),
    Rule("qemu-ppi-fn8", PPI, "PPI fn 8", "flags & 7, raw", _flag_value, _fn(8)),
    Rule("qemu-ppi-fallthrough", PPI, "PPI fn 3 other revisions, fn >= 9", "Buffer {0}", _value(BUFFER_ZERO)),
    Rule("qemu-mor-fn0", MOR, "MOR fn 0", "functions 0-1", _value(MOR_FN0_BITMAP), _fn(0)),
    Rule("qemu-mor-fn1", MOR, "MOR fn 1", "movv = Arg3[0] & 0xFF", _mor_set, _fn(1)),
    Rule("qemu-mor-other", MOR, "MOR fn >= 2", "falls off the end of _DSM", _value(None)),
    Rule("qemu-other-uuid", OTHER, "any other UUID", "falls off the end of _DSM", _value(None)),
)

def _missing_op(inp: DsmInput, setup: PageSetup) -> Outcome:
    return Outcome(0 if inp.function == 8 else PPI_GENERAL_FAILURE)


_ACPI_DSM = "ACPI 6.4 §9.1.1"
_PPI = "TCG PPI 1.3"
_MOR = "TCG Platform Reset Attack Mitigation 1.00 §6"

# The specification reading. Rule order matters: revision guards first, then function and flag.
SPEC_RULES: tuple[Rule, ...] = (
    Rule("ppi-missing-op", PPI, "PPI fn 2, 7 or 8 with an empty package",
         f"{_PPI}: Arg3 carries the operation; without it the request is invalid (2 general failure; fn 8: "
         "0 not implemented)", _missing_op, _fn(2, 7, 8), VALID_REVISIONS, arg_counts=_fn(0)),
    Rule("mor-missing-arg", MOR, "MOR fn 1 with an empty package",
         f"{_MOR}: Arg3[0] carries the MOR bit; without it the request is invalid (1 general failure)",
         _value(MOR_GENERAL_FAILURE), _fn(1), arg_counts=_fn(0)),
    Rule("ppi-fn0-unknown-revision", PPI, "PPI fn 0, revision 0 or >= 3",
         f"{_ACPI_DSM}: the fn 0 bitmap is per UUID and revision, bit 0 clear = nothing supported; "
         f"{_PPI} defines revisions 1 and 2 only", _value(BUFFER_ZERO), _fn(0), OTHER_REVISIONS),
    Rule("ppi-fn2-unknown-revision", PPI, "PPI fn 2, revision 0 or >= 3",
         f"{_PPI} defines revisions 1 and 2 only; a request under an unknown revision must not be recorded",
         _value(BUFFER_ZERO), _fn(2), OTHER_REVISIONS),
    Rule("ppi-fn7-unknown-revision", PPI, "PPI fn 7, revision 0 or >= 3",
         f"{_PPI} defines fn 7 for revisions 1 and 2; success must mean the request was recorded",
         _value(BUFFER_ZERO), _fn(7), OTHER_REVISIONS),
    Rule("ppi-unknown-revision", PPI, "PPI fn 1, 3-6, 8 or >= 9, revision 0 or >= 3",
         f"{_ACPI_DSM}: fn 0 reports no function for that revision, so every call gets Buffer {{0}}",
         _value(BUFFER_ZERO), revisions=OTHER_REVISIONS),
    Rule("ppi-fn0", PPI, "PPI fn 0 (rev 1/2)", f"{_PPI}: functions 0-8 are defined and required",
         _value(PPI_FN0_BITMAP), _fn(0)),
    Rule("ppi-fn1", PPI, "PPI fn 1 (rev 1/2)", f"{_PPI}: the interface version string", _value(PPI_VERSION_1_3),
         _fn(1)),
    Rule("ppi-fn2-not-implemented", PPI, "PPI fn 2 (rev 1/2), flag 0 (not implemented)",
         f"{_PPI} fn 2: 1 = operation not supported", _value(PPI_NOT_IMPLEMENTED), _fn(2), flags=_fn(0)),
    Rule("ppi-fn2-firmware-only", PPI, "PPI fn 2 (rev 1/2), flag 1 (firmware only)",
         f"{_PPI} fn 8 code 1: only available through firmware, so an OS request is refused (2)",
         _value(PPI_GENERAL_FAILURE), _fn(2), flags=_fn(1)),
    Rule("ppi-fn2-blocked", PPI, "PPI fn 2 (rev 1/2), flag 2 (blocked)",
         f"{_PPI} fn 8 code 2: blocked for the OS; fn 2 can only report general failure (2)",
         _value(PPI_GENERAL_FAILURE), _fn(2), flags=_fn(2)),
    Rule("ppi-fn2-fn7-undefined-flag", PPI, "PPI fn 2 or 7 (rev 1/2), flag 5..7 (undefined)",
         f"{_PPI} defines flag codes 0-4 only; an undefined code means not implemented (1)",
         _value(PPI_NOT_IMPLEMENTED), _fn(2, 7), flags=UNDEFINED_FLAGS),
    Rule("ppi-fn2-allowed", PPI, "PPI fn 2 (rev 1/2), flag 3 or 4 (allowed)",
         f"{_PPI} fn 2: record the request (pprq = op, pprm = 0) and return 0", _record(False), _fn(2)),
    Rule("ppi-fn3-rev1", PPI, "PPI fn 3, rev 1", f"{_PPI} fn 3: {{0, pending op}}", _pending(1), _fn(3), _fn(1)),
    Rule("ppi-fn3-rev2", PPI, "PPI fn 3, rev 2", f"{_PPI} fn 3: {{0, pending op, parameter}}", _pending(2),
         _fn(3), _fn(2)),
    Rule("ppi-fn4", PPI, "PPI fn 4 (rev 1/2)", f"{_PPI} fn 4: 0 none, 1 shutdown, 2 reboot, 3 OS vendor specific",
         _value(TRANSITION_REBOOT), _fn(4), also=(0, 1, 3)),
    Rule("ppi-fn5", PPI, "PPI fn 5 (rev 1/2)", f"{_PPI} fn 5: {{0, last op, response}}", _response, _fn(5)),
    Rule("ppi-fn6", PPI, "PPI fn 6 (rev 1/2)", f"{_PPI} fn 6 is deprecated: 3 = not implemented",
         _value(PPI_FN6_NOT_IMPLEMENTED), _fn(6)),
    Rule("ppi-fn7-not-implemented", PPI, "PPI fn 7 (rev 1/2), flag 0 (not implemented)",
         f"{_PPI} fn 7: 1 = not implemented", _value(PPI_NOT_IMPLEMENTED), _fn(7), flags=_fn(0)),
    Rule("ppi-fn7-firmware-only", PPI, "PPI fn 7 (rev 1/2), flag 1 (firmware only)",
         f"{_PPI} fn 8 code 1: the OS may not request a firmware-only operation; fn 7 code 3 is the refusal",
         _value(PPI_BLOCKED), _fn(7), flags=_fn(1)),
    Rule("ppi-fn7-blocked", PPI, "PPI fn 7 (rev 1/2), flag 2 (blocked)", f"{_PPI} fn 7: 3 = blocked by firmware",
         _value(PPI_BLOCKED), _fn(7), flags=_fn(2)),
    Rule("ppi-fn7-allowed-rev1", PPI, "PPI fn 7 rev 1, flag 3 or 4 (allowed)",
         f"{_PPI} fn 7: record the request (pprq = op, pprm = 0) and return 0", _record(False), _fn(7), _fn(1)),
    Rule("ppi-fn7-rev2-missing-parameter", PPI, "PPI fn 7 rev 2 without Arg3[1], flag 3 or 4",
         f"{_PPI} fn 7 rev 2 carries the operation's parameter; without it the request is invalid (2)",
         _value(PPI_GENERAL_FAILURE), _fn(7), _fn(2), arg_counts=_fn(1)),
    Rule("ppi-fn7-allowed-rev2", PPI, "PPI fn 7 rev 2, flag 3 or 4 (allowed)",
         f"{_PPI} fn 7 rev 2: record op and parameter (pprm = Arg3[1]) and return 0", _record(True), _fn(7),
         _fn(2)),
    Rule("ppi-fn8-undefined-flag", PPI, "PPI fn 8 (rev 1/2), flag 5..7 (undefined)",
         f"{_PPI} fn 8 returns 0-4 only; an undefined code is 0 (not implemented)", _value(0), _fn(8),
         flags=UNDEFINED_FLAGS),
    Rule("ppi-fn8", PPI, "PPI fn 8 (rev 1/2), flag 0..4", f"{_PPI} fn 8: the operation's flag", _flag_value,
         _fn(8)),
    Rule("ppi-unknown-function", PPI, "PPI fn >= 9", f"{_ACPI_DSM}: an unsupported function returns Buffer {{0}}",
         _value(BUFFER_ZERO)),
    Rule("mor-fn0", MOR, "MOR fn 0", f"{_MOR}: functions 0 and 1", _value(MOR_FN0_BITMAP), _fn(0)),
    Rule("mor-fn1-not-a-bit", MOR, "MOR fn 1, Arg3[0] > 1",
         f"{_MOR}: fn 1 sets the MOR bit (0 or 1); other values are invalid input (1, nothing written)",
         _value(MOR_GENERAL_FAILURE), _fn(1), arg0=range(2, 1 << 64)),
    Rule("mor-fn1", MOR, "MOR fn 1, Arg3[0] 0 or 1", f"{_MOR}: movv = Arg3[0], return 0", _mor_set, _fn(1)),
    Rule("mor-unknown-function", MOR, "MOR fn >= 2",
         f"{_ACPI_DSM}: every _DSM call returns an object; an unsupported function returns Buffer {{0}}",
         _value(BUFFER_ZERO)),
    Rule("unknown-uuid", OTHER, "any other UUID",
         f"{_ACPI_DSM}: for an unsupported UUID every function returns Buffer {{0}} (nothing supported)",
         _value(BUFFER_ZERO)),
)

RULES_BY_KEY: dict[str, Rule] = {rule.key: rule for rule in QEMU_RULES + SPEC_RULES}


def qemu_expectation(inp: DsmInput, setup: PageSetup) -> Expectation:
    """What QEMU 7.2's ``_DSM`` gives for ``inp`` (acpi-ppi.md §1.5/§1.6)."""
    return expect(QEMU_RULES, inp, setup)


def spec_expectation(inp: DsmInput, setup: PageSetup) -> Expectation:
    """What PPI 1.3 / MOR 1.00 / ACPI ``_DSM`` rules prescribe for ``inp``."""
    return expect(SPEC_RULES, inp, setup)


def spec_rule(inp: DsmInput, setup: PageSetup) -> Rule:
    """The specification rule that covers ``inp`` (the input's class in reports and diffs)."""
    return spec_expectation(inp, setup).rule


# -- Linux tpm_ppi (firmware-and-os.md §5) --------------------------------------------------------------
@dataclass(frozen=True)
class LinuxNeed:
    """What Linux needs from the answer to the calls it makes (``function`` at ``revision``)."""

    key: str
    function: int
    revision: int
    needs: str  #: the expectation, as text (reports show it as "expected")
    breaks: str  #: what the user sees on Linux when the need is not met
    check: Callable[[DsmInput, PageSetup, Outcome], bool]
    arg_count: int | None = None  #: only calls with this many arguments (None: any)

    def applies(self, inp: DsmInput) -> bool:
        return (inp.interface == PPI and inp.function == self.function and inp.revision == self.revision
                and (self.arg_count is None or len(inp.args) == self.arg_count))


LINUX_DSM_REVISION = 1  #: acpi_check_dsm and most calls use revision 1


def _int(value: Observed) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _has_bits(*bits: int) -> Callable[[DsmInput, PageSetup, Outcome], bool]:
    """Linux's own rule (:func:`ppikit.ppi.os_linux.acpi_check_dsm`): bit 0 and every bit of ``bits``."""
    funcs = sum(1 << b for b in bits)

    def check(inp: DsmInput, setup: PageSetup, out: Outcome) -> bool:
        return not isinstance(out.value, Fault) and out.value is not None and acpi_check_dsm(out.value, funcs)
    return check


def _int_package(min_count: int, max_count: int) -> Callable[[DsmInput, PageSetup, Outcome], bool]:
    def check(inp: DsmInput, setup: PageSetup, out: Outcome) -> bool:
        value = out.value
        return (isinstance(value, list) and min_count <= len(value) <= max_count
                and all(_int(v) for v in value) and value[0] == 0)
    return check


def _is_int(inp: DsmInput, setup: PageSetup, out: Outcome) -> bool:
    return _int(out.value)


def _is_string(inp: DsmInput, setup: PageSetup, out: Outcome) -> bool:
    return isinstance(out.value, str)


def _request_stored(inp: DsmInput, setup: PageSetup, out: Outcome) -> bool:
    if not _int(out.value):
        return False
    if out.value != PPI_OK:
        return True
    after = {**state_fields(setup.state), **dict(out.writes)}
    param = inp.args[1] if inp.revision == 2 and len(inp.args) > 1 else None
    return after["pprq"] == inp.op and (param is None or after["pprm"] == param)


LINUX_NEEDS: tuple[LinuxNeed, ...] = (
    LinuxNeed("linux-fn0-ppi", 0, 1, "Integer or Buffer (first 8 bytes) with bits 0 and 1 set",
              "acpi_check_dsm fails: no /sys/class/tpm/tpmN/ppi directory at all", _has_bits(1)),
    LinuxNeed("linux-fn0-fn7", 0, 1, "bit 7 set (fn 7 offered)",
              "requests are sent with the PPI 1.0 fn 2 instead of fn 7", _has_bits(7)),
    LinuxNeed("linux-fn0-fn8", 0, 1, "bit 8 set (fn 8 offered)",
              "tcg_operations and vs_operations fail with EPERM", _has_bits(8)),
    LinuxNeed("linux-fn1", 1, 1, "String (the version, first 3 characters used)",
              "the ppi directory is created with an empty version: Linux then treats the firmware as "
              "PPI < 1.2 (Buffer arguments, fn 3 at revision 1)", _is_string),
    LinuxNeed("linux-fn3-rev2", 3, 2, "Package of 2 or 3 Integers, element 0 = 0",
              "reading ppi/request fails (ENXIO, EINVAL or EFAULT)", _int_package(2, 3)),
    LinuxNeed("linux-fn3-rev1", 3, 1, "Package of 2 or 3 Integers, element 0 = 0 (kernels before PPI 1.2 "
              "support and PPI < 1.2 firmware)", "reading ppi/request fails", _int_package(2, 3)),
    LinuxNeed("linux-fn4", 4, 1, "Integer", "reading ppi/transition_action fails (ENXIO)", _is_int),
    LinuxNeed("linux-fn5", 5, 1, "Package of >= 3 Integers, element 0 = 0",
              "reading ppi/response fails (EINVAL or EFAULT)", _int_package(3, 1 << 32)),
    LinuxNeed("linux-fn7-rev1", 7, 1, "Integer; 0 only if pprq = op was stored",
              "writing ppi/request fails or reports success for a request that was not queued",
              _request_stored, 1),
    LinuxNeed("linux-fn7-rev2", 7, 2, "Integer; 0 only if pprq = op and pprm = Arg3[1] were stored",
              "'echo \"23 3\" > ppi/request' fails or is lost", _request_stored, 2),
    LinuxNeed("linux-fn2", 2, 1, "Integer (used when fn 7 is not offered)", "writing ppi/request fails",
              _is_int, 1),
    LinuxNeed("linux-fn8", 8, 1, "Integer, for every op 0..255", "tcg_operations / vs_operations fail (ENOMEM)",
              _is_int, 1),
)


def linux_failures(inp: DsmInput, setup: PageSetup, observed: Outcome) -> list[LinuxNeed]:
    """The Linux needs ``observed`` does not meet (empty for inputs Linux never sends)."""
    return [need for need in LINUX_NEEDS if need.applies(inp) and not need.check(inp, setup, observed)]
