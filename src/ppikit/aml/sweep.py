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

Each call runs on a reset page: the state bytes 0x100..0x15A are rewritten before and read back after
every call (one acpiexec batch of three steps per input), so page writes are observed exactly and
never leak into the next input. Writes to ``func[]`` or beyond 0x15A are not observed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
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
from ppikit.aml.params import MOR_DSM_UUID, PPI_DSM_UUID
from ppikit.aml.runtime import AcpiRuntime, AmlEvalError, Call, ReadMemory, Step, WriteMemory
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
STEPS_PER_BATCH = 900  #: steps per acpiexec batch (measured: larger batches are slower again)


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


def run_sweep(runtime: AcpiRuntime, device: str, space: InputSpace) -> dict[DsmInput, Outcome]:
    """Run every input of ``space`` on ``device``'s ``_DSM``; batches of :data:`STEPS_PER_BATCH` steps."""
    method = f"{device}._DSM"
    results: dict[DsmInput, Outcome] = {}
    current_func: str | None = None
    steps: list[Step] = []
    pending: list[DsmInput] = []

    def flush() -> None:
        values = runtime.run(steps)
        calls = iter(k for k, step in enumerate(steps) if isinstance(step, Call))
        for inp in pending:
            k = next(calls)
            value = values[k]
            after = values[k + 1]
            observed = Fault(value.status) if isinstance(value, AmlEvalError) else value
            if isinstance(after, AmlEvalError):  # cannot happen for a plain memory read; keep it visible
                raise after
            assert isinstance(after, bytes)
            results[inp] = Outcome(observed, page_writes(space.setups[inp.setup].state, after))
        steps.clear()
        pending.clear()

    for inp in space.inputs:
        setup = space.setups[inp.setup]
        if inp.setup != current_func:
            steps.append(WriteMemory(TPM_PPI_ADDR_BASE, setup.func))
            current_func = inp.setup
        steps.extend(_call_steps(method, inp, setup))
        pending.append(inp)
        if len(steps) >= STEPS_PER_BATCH:
            flush()
    if steps:
        flush()
    return results


def _call_steps(method: str, inp: DsmInput, setup: PageSetup) -> Sequence[Step]:
    state_address = TPM_PPI_ADDR_BASE + STATE_OFFSET
    return (WriteMemory(state_address, setup.state),
            Call(method, (uuid.UUID(inp.uuid), inp.revision, inp.function, list(inp.args))),
            ReadMemory(state_address, STATE_LENGTH))


def single_call(runtime: AcpiRuntime, device: str, inp: DsmInput, setup: PageSetup) -> Outcome:
    """One input on its own (used to probe a device before the sweep)."""
    steps = [WriteMemory(TPM_PPI_ADDR_BASE, setup.func), *_call_steps(f"{device}._DSM", inp, setup)]
    values = runtime.run(steps)
    value, after = values[2], values[3]
    observed = Fault(value.status) if isinstance(value, AmlEvalError) else value
    assert isinstance(after, bytes)
    return Outcome(observed, page_writes(setup.state, after))

