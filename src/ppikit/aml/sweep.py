"""The ``_DSM`` input space of a TPM device and one pass over it in acpiexec.

Why a fixed, generated input space: ``check`` compares every answer with three models and ``diff``
compares two tables answer by answer, so both need the same inputs, each run on a known PPI page.
The space covers what the models distinguish (acpi-ppi.md §1.5-§1.7, firmware-and-os.md §5):

* every PPI function 0-9 and 0xFF at revisions 0-3 (Linux uses 1 and 2);
* functions 2, 7 and 8 with a set of operations (in range, vendor, 0xFF, beyond ``func[]``) under nine
  ``func[]`` layouts: eight rotations ``func[op] = (op + k) & 7`` (each op sees every flag 0-7) and
  one with the upper flag bits set (``TPFN`` must mask them);
* the per-operation status Linux shows: fn 8 and fn 7 (rev 1) for all 256 ops on the *base* page
  (OVMF's ``func[]`` for a TPM 2.0 guest, or the user's ``--page``);
* MOR functions 0-3 with Arg3[0] in {0, 1, 2, 0x102}; two unknown UUIDs.

Each call runs on the setup's page, and its page writes are observed exactly: after every ``_DSM``
call the sweep calls ``\\PKCK.SNAP`` from a helper SSDT (:func:`state_checker`) that compares the
state bytes 0x100..0x15A with the setup's and, only if they changed, returns the new bytes and restores
the old ones. Two calls per input, no memory steps: measured 2.5x faster than a write + call + read
per input (acpiexec's per-step OperationRegions dominate). Writes to ``func[]`` or beyond 0x15A are
not observed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from ppikit.aml.expectations import (
    STATE_LENGTH,
    STATE_OFFSET,
    DsmInput,
    Fault,
    Outcome,
    PageSetup,
    page_writes,
)
from ppikit.aml import bytecode as bc
from ppikit.aml.params import MOR_DSM_UUID, PPI_DSM_UUID
from ppikit.aml.runtime import AcpiRuntime, AmlEvalError, Call, Step, WriteMemory
from ppikit.ppi.page import PPI_FUNC_COUNT, TPM_PPI_ADDR_BASE, PpiPage

PPI_FUNCTIONS_PLAIN = (0, 1, 3, 4, 5, 6, 9, 0xFF)  #: functions without an operation argument
PPI_FUNCTIONS_WITH_OP = (2, 7, 8)
REVISIONS = (0, 1, 2, 3)
#: NoOperation, Clear, SetPCRBanks (takes a parameter), EnableBlockSID, first vendor op, last op,
#: the first op beyond func[] and a 32-bit maximum (TPFN must refuse both).
SWEEP_OPS = (0, 5, 23, 96, 128, 255, 0x100, 0xFFFFFFFF)
FN7_REV2_PARAM = 3  #: SetPCRBanks parameter Linux passes for "23 3" (SHA-1 | SHA-256)
MOR_ARGS = (0, 1, 2, 0x102)
MOR_FUNCTIONS = (0, 1, 2, 3)
MOR_REVISIONS = (0, 1, 2)
UNKNOWN_UUIDS = ("00000000-0000-0000-0000-000000000000", "33d74b7b-6e79-4cdc-9ba6-08d1fb32af36")
HIGH_FLAG_BITS = 0xF8

#: The fields every setup starts with: initialised page (ppin 1), a pending request (pprq 17 with
#: parameter 18) and a last response (op 14 aborted by the user), so fn 3/5 results and fn 2/7
#: writes are all visible.
DEFAULT_STATE = {"ppin": 1, "pprp": 0xFFFFFFF0, "pprq": 0x11, "pprm": 0x12, "lppr": 0x0E}
#: OVMF's func[] for a TPM 2.0 guest (QemuTpmInitPPI): 3 = allowed, user required.
BASE_FUNC_OPS = frozenset({0, 5, 14, 21, 22, 23, 24, 33, 96, 97})
BASE_FUNC_VALUE = 3
STEPS_PER_BATCH = 900  #: benchmarks/bench_check_sweep.py: 400-2000 steps per batch are within noise


@dataclass(frozen=True)
class InputSpace:
    """The page setups and the inputs, in the order they run."""

    setups: dict[str, PageSetup]
    inputs: tuple[DsmInput, ...]


def base_page(page: PpiPage | None = None) -> PageSetup:
    """The ``base`` setup: ``page`` (``--page``) or OVMF's TPM 2.0 ``func[]`` with :data:`DEFAULT_STATE`."""
    if page is None:
        page = PpiPage.blank()
        page.func = [BASE_FUNC_VALUE if op in BASE_FUNC_OPS else 0 for op in range(PPI_FUNC_COUNT)]
        for name, value in DEFAULT_STATE.items():
            setattr(page, name, value)
    data = page.build()
    return PageSetup("base", data[:PPI_FUNC_COUNT], data[STATE_OFFSET:STATE_OFFSET + STATE_LENGTH])


def input_space(base: PageSetup | None = None) -> InputSpace:
    """The full sweep (about 1,400 calls)."""
    base = base or base_page()
    setups = {"base": base}
    for k in range(8):
        setups[f"rot{k}"] = PageSetup(f"rot{k}", bytes((op + k) & 7 for op in range(PPI_FUNC_COUNT)), base.state)
    setups["high"] = PageSetup("high", bytes(HIGH_FLAG_BITS | (op & 7) for op in range(PPI_FUNC_COUNT)),
                               base.state)
    return InputSpace(setups, tuple(_inputs(setups)))


def _inputs(setups: dict[str, PageSetup]) -> Iterator[DsmInput]:
    for rev in REVISIONS:
        for fn in PPI_FUNCTIONS_PLAIN:
            yield DsmInput(PPI_DSM_UUID, rev, fn, (), "base")
    for fn in (8, 7):
        for op in range(PPI_FUNC_COUNT):
            yield DsmInput(PPI_DSM_UUID, 1, fn, (op,), "base")
    for name in setups:
        if name == "base":
            continue
        for fn in PPI_FUNCTIONS_WITH_OP:
            for rev in REVISIONS:
                for op in SWEEP_OPS:
                    args = (op, FN7_REV2_PARAM) if rev == 2 and fn == 7 else (op,)
                    yield DsmInput(PPI_DSM_UUID, rev, fn, args, name)
    for rev in MOR_REVISIONS:
        for fn in MOR_FUNCTIONS:
            for args in ([(a,) for a in MOR_ARGS] if fn == 1 else [()]):
                yield DsmInput(MOR_DSM_UUID, rev, fn, args, "base")
    for text in UNKNOWN_UUIDS:
        for fn in (0, 1):
            yield DsmInput(text, 1, fn, (), "base")


CHECKER_DEVICE = "\\PKCK"  #: helper device of :func:`state_checker` (a name no platform uses)
CHECKER_METHOD = f"{CHECKER_DEVICE}.SNAP"


def state_checker(state: bytes, *, revision: int = 1) -> bytes:
    """An SSDT with ``\\PKCK.SNAP``: Integer 0 if the page state still equals ``state``, else the
    changed state bytes (Buffer), after restoring ``state``.

    ASL equivalent::

        Device (\\PKCK) {
            OperationRegion (PKCR, SystemMemory, 0xFED45100, 0x5B)
            Field (PKCR, ByteAcc, NoLock, Preserve) { PKST, 728 }
            Name (PKRF, Buffer (0x5B) { <state> })
            Method (SNAP, 0, Serialized) {
                If (LNot (LEqual (PKST, PKRF))) { Store (PKST, Local0)  Store (PKRF, PKST)  Return (Local0) }
                Return (Zero)
            }
        }
    """
    width = 32 if revision < 2 else 64
    local0 = bytes([bc.LOCAL0_OP])
    changed = (bc.store(bc.name_string("PKST"), local0) + bc.store(bc.name_string("PKRF"), bc.name_string("PKST"))
               + bc.return_(local0))
    condition = bytes([bc.LNOT_OP, bc.LEQUAL_OP]) + bc.name_string("PKST") + bc.name_string("PKRF")
    snap = (bytes([bc.IF_OP]) + bc.pkg_length(len(condition) + len(changed)) + condition + changed
            + bc.return_(bc.integer(0, width=width)))
    body = (bc.operation_region("PKCR", TPM_PPI_ADDR_BASE + STATE_OFFSET, STATE_LENGTH, width=width)
            + bc.field("PKCR", "PKST", 8 * STATE_LENGTH)
            + bc.name("PKRF", bc.buffer(state))
            + bc.method("SNAP", 0, snap, serialized=True))
    return bc.definition_block(bc.device(CHECKER_DEVICE, body), oem_table_id="PPIKITCK", revision=revision)


def run_sweep(runtime: AcpiRuntime, device: str, space: InputSpace) -> dict[DsmInput, Outcome]:
    """Run every input of ``space`` on ``device``'s ``_DSM``; batches of :data:`STEPS_PER_BATCH` steps.

    ``runtime`` must hold :func:`state_checker` for the setups' state (all setups share one).
    """
    method = f"{device}._DSM"
    results: dict[DsmInput, Outcome] = {}
    current: str | None = None
    steps: list[Step] = []
    pending: list[tuple[DsmInput, int]] = []

    def flush() -> None:
        values = runtime.run(steps)
        for inp, k in pending:
            value, after = values[k], values[k + 1]
            if isinstance(after, AmlEvalError):  # the checker itself cannot fail: keep it visible
                raise after
            state = space.setups[inp.setup].state
            observed = Fault(value.status) if isinstance(value, AmlEvalError) else value
            results[inp] = Outcome(observed, page_writes(state, after) if isinstance(after, bytes) else ())
        steps.clear()
        pending.clear()

    for inp in space.inputs:
        setup = space.setups[inp.setup]
        if inp.setup != current or not steps:
            steps.append(WriteMemory(TPM_PPI_ADDR_BASE, setup.func + setup.state))
            current = inp.setup
        pending.append((inp, len(steps)))
        steps.extend((Call(method, _dsm_args(inp)), Call(CHECKER_METHOD)))
        if len(steps) >= STEPS_PER_BATCH:
            flush()
    if steps:
        flush()
    return results


def _dsm_args(inp: DsmInput) -> tuple:
    return (uuid.UUID(inp.uuid), inp.revision, inp.function, list(inp.args))


def single_call(runtime: AcpiRuntime, device: str, inp: DsmInput, setup: PageSetup) -> Outcome:
    """One input on its own (used to probe a device before the sweep)."""
    steps = [WriteMemory(TPM_PPI_ADDR_BASE, setup.func + setup.state), Call(f"{device}._DSM", _dsm_args(inp)),
             Call(CHECKER_METHOD)]
    _, value, after = runtime.run(steps)
    observed = Fault(value.status) if isinstance(value, AmlEvalError) else value
    return Outcome(observed, page_writes(setup.state, after) if isinstance(after, bytes) else ())
