"""Where the ``strict`` _DSM profile departs from QEMU 7.2's, as data.

Why data: the same rows are the documentation (``docs/qemu-vs-strict.md`` is rendered from
:func:`markdown_table` and a test keeps them equal), the test that runs one probe per row against both
golden SSDTs in acpiexec, and the list a behavioural diff of the two profiles must reproduce. Every
input not covered by a row behaves identically in both profiles (return value and page bytes).

Probes: ``flag`` is written to ``func[op]`` before the call (``op`` = ``args[0]``); ``qemu`` and
``strict`` give the expected return value (``NO_RETURN`` when the AML returns nothing) and the PPI page
fields that change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ppikit.aml.params import MOR_DSM_UUID, PPI_DSM_UUID

NO_RETURN = "no return value"  #: the AML falls off the end of _DSM without Return
UNKNOWN_UUID = "00000000-0000-0000-0000-000000000000"
BUFFER_ZERO = b"\x00"


@dataclass(frozen=True)
class Outcome:
    """A _DSM result: the returned value and the PPI page fields it changed (name -> new value)."""

    value: Any
    page: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Probe:
    """One concrete call that shows a row's difference."""

    uuid: str
    revision: int
    function: int
    args: tuple[int, ...]
    flag: int | None
    qemu: Outcome
    strict: Outcome


@dataclass(frozen=True)
class ProfileDifference:
    """One row of the "qemu vs strict" table."""

    key: str
    input: str
    qemu: str
    strict: str
    reason: str
    probe: Probe


PROFILE_DIFFERENCES: tuple[ProfileDifference, ...] = (
    ProfileDifference(
        "ppi-fn0-unknown-revision",
        "PPI fn 0, revision 0 or >= 3",
        "Buffer {0xFF, 0x01}",
        "Buffer {0x00}",
        "ACPI 6.4 §9.1.1: the fn 0 bitmap is per UUID *and revision*, bit 0 clear = nothing supported; "
        "PPI 1.3 defines _DSM revisions 1 and 2 only.",
        Probe(PPI_DSM_UUID, 3, 0, (), None, Outcome(b"\xff\x01"), Outcome(BUFFER_ZERO)),
    ),
    ProfileDifference(
        "ppi-unknown-revision",
        "PPI fn 1, 4, 5, 6 or 8, revision 0 or >= 3",
        "same result as revision 1",
        "Buffer {0x00}",
        "fn 0 reports no function for that revision (row above); an unsupported revision gets the "
        "_DSM 'not supported' Buffer {0} instead of revision-1 semantics.",
        Probe(PPI_DSM_UUID, 0, 1, (), None, Outcome("1.3"), Outcome(BUFFER_ZERO)),
    ),
    ProfileDifference(
        "ppi-fn2-unknown-revision",
        "PPI fn 2, revision 0 or >= 3",
        "as revision 1: flag 0 -> 1; otherwise 0 and pprq = op, pprm = 0",
        "Buffer {0x00}, page unchanged",
        "PPI 1.3 defines _DSM revisions 1 and 2 only; a request under an unknown revision must not "
        "be recorded.",
        Probe(PPI_DSM_UUID, 0, 2, (5,), 3, Outcome(0, {"pprq": 5}), Outcome(BUFFER_ZERO)),
    ),
    ProfileDifference(
        "ppi-fn7-unknown-revision",
        "PPI fn 7, revision 0 or >= 3",
        "flag 0 -> 1, flag 2 -> 3, otherwise 0 without writing the page",
        "Buffer {0x00}, page unchanged",
        "PPI 1.3 defines fn 7 for revisions 1 and 2; QEMU reports success (0) for a request it did "
        "not record.",
        Probe(PPI_DSM_UUID, 3, 7, (5,), 3, Outcome(0), Outcome(BUFFER_ZERO)),
    ),
    ProfileDifference(
        "ppi-fn2-firmware-only",
        "PPI fn 2 (rev 1/2), func[op] & 7 == 1 (firmware only)",
        "0, pprq = op, pprm = 0",
        "2 (general failure), page unchanged",
        "PPI 1.3 fn 8 code 1: the operation is only available through firmware, so an OS request is "
        "refused; fn 2 has no 'blocked' code (0/1/2 only).",
        Probe(PPI_DSM_UUID, 1, 2, (5,), 1, Outcome(0, {"pprq": 5}), Outcome(2)),
    ),
    ProfileDifference(
        "ppi-fn2-blocked",
        "PPI fn 2 (rev 1/2), func[op] & 7 == 2 (blocked)",
        "0, pprq = op, pprm = 0",
        "2 (general failure), page unchanged",
        "PPI 1.3 fn 8 code 2: blocked for the OS by firmware configuration; fn 7 answers 3 for this, "
        "fn 2 can only report general failure.",
        Probe(PPI_DSM_UUID, 1, 2, (5,), 2, Outcome(0, {"pprq": 5}), Outcome(2)),
    ),
    ProfileDifference(
        "ppi-fn7-firmware-only",
        "PPI fn 7 (rev 1/2), func[op] & 7 == 1 (firmware only)",
        "0, pprq = op, pprm = 0 (rev 1) or Arg3[1] (rev 2)",
        "3 (blocked by firmware settings), page unchanged",
        "PPI 1.3 fn 8 code 1: the OS may not request a firmware-only operation; fn 7 code 3 is the "
        "refusal by firmware policy (as QEMU already does for flag 2).",
        Probe(PPI_DSM_UUID, 2, 7, (23, 3), 1, Outcome(0, {"pprq": 23, "pprm": 3}), Outcome(3)),
    ),
    ProfileDifference(
        "ppi-fn2-fn7-undefined-flag",
        "PPI fn 2 or 7 (rev 1/2), func[op] & 7 in 5..7",
        "0 and the request is recorded",
        "1 (not implemented), page unchanged",
        "PPI 1.3 defines flag codes 0-4 only; an undefined code is treated as 0 (not implemented).",
        Probe(PPI_DSM_UUID, 1, 7, (5,), 5, Outcome(0, {"pprq": 5}), Outcome(1)),
    ),
    ProfileDifference(
        "ppi-fn8-undefined-flag",
        "PPI fn 8 (rev 1/2), func[op] & 7 in 5..7",
        "the raw code 5..7",
        "0 (not implemented)",
        "PPI 1.3 fn 8 returns 0-4 only (Linux tcg_operations prints nothing for >= 5).",
        Probe(PPI_DSM_UUID, 1, 8, (5,), 6, Outcome(6), Outcome(0)),
    ),
    ProfileDifference(
        "mor-fn1-not-a-bit",
        "MOR fn 1, Arg3[0] > 1",
        "0, movv = Arg3[0] & 0xFF",
        "1 (general failure), movv unchanged",
        "TCG Platform Reset Attack Mitigation 1.00: fn 1 sets the MOR *bit* (0 or 1); other values "
        "are invalid input.",
        Probe(MOR_DSM_UUID, 1, 1, (0x102,), None, Outcome(0, {"movv": 0x02}), Outcome(1)),
    ),
    ProfileDifference(
        "mor-unknown-function",
        "MOR fn >= 2",
        NO_RETURN,
        "Buffer {0x00}",
        "ACPI 6.4 §9.1.1: every _DSM call returns an object; an unsupported function returns "
        "Buffer {0} (ACPICA otherwise reports AE_AML_NO_RETURN_VALUE to callers that need a value).",
        Probe(MOR_DSM_UUID, 1, 2, (), None, Outcome(NO_RETURN), Outcome(BUFFER_ZERO)),
    ),
    ProfileDifference(
        "unknown-uuid",
        "any other UUID",
        NO_RETURN,
        "Buffer {0x00}",
        "ACPI 6.4 §9.1.1: for an unsupported UUID, fn 0 returns Buffer {0} (nothing supported) and "
        "no function is implemented.",
        Probe(UNKNOWN_UUID, 1, 0, (), None, Outcome(NO_RETURN), Outcome(BUFFER_ZERO)),
    ),
)


def markdown_table() -> str:
    """The "qemu vs strict" table as it appears in ``docs/qemu-vs-strict.md``."""
    lines = ["| # | Input | qemu result | strict result | Spec reason |", "|---|---|---|---|---|"]
    for number, row in enumerate(PROFILE_DIFFERENCES, 1):
        cells = [str(number), row.input, row.qemu, row.strict, row.reason]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


_BY_KEY = {row.key: row for row in PROFILE_DIFFERENCES}
_UNDEFINED_FLAGS = frozenset({5, 6, 7})


def difference_for(dsm_uuid: str, revision: int, function: int, args: tuple, flag: int) -> ProfileDifference | None:
    """The row under which this call behaves differently in the two profiles, or None if it behaves
    the same. ``flag`` is ``func[args[0]] & 7`` (0 when ``args[0]`` is past ``func[]``)."""
    dsm_uuid = str(dsm_uuid).lower()
    if dsm_uuid == PPI_DSM_UUID:
        if revision not in (1, 2):
            key = {0: "ppi-fn0-unknown-revision", 2: "ppi-fn2-unknown-revision",
                   7: "ppi-fn7-unknown-revision"}.get(function)
            if key is None and function in (1, 4, 5, 6, 8):
                key = "ppi-unknown-revision"
            return _BY_KEY.get(key) if key else None
        if function in (2, 7) and flag in _UNDEFINED_FLAGS:
            return _BY_KEY["ppi-fn2-fn7-undefined-flag"]
        key = {(2, 1): "ppi-fn2-firmware-only", (2, 2): "ppi-fn2-blocked", (7, 1): "ppi-fn7-firmware-only"}.get(
            (function, flag))
        if key is None and function == 8 and flag in _UNDEFINED_FLAGS:
            key = "ppi-fn8-undefined-flag"
        return _BY_KEY[key] if key else None
    if dsm_uuid == MOR_DSM_UUID:
        if function >= 2:
            return _BY_KEY["mor-unknown-function"]
        if function == 1 and args and isinstance(args[0], int) and args[0] > 1:
            return _BY_KEY["mor-fn1-not-a-bit"]
        return None
    return _BY_KEY["unknown-uuid"]
