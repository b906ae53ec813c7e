"""How fast ``ppikit check`` sweeps a ``_DSM``, and why page writes are observed in AML.

Run: ``.venv/bin/python benchmarks/bench_check_sweep.py`` (about 10 s). Prints milliseconds per input
and ratios; nothing is asserted (timing is machine-dependent, the suite never checks it).

Against QEMU 7.2's q35 TIS TPM 2.0 DSDT, the full sweep input space (:func:`ppikit.aml.sweep.input_space`):

* steps: per input ``WriteMemory`` (reset the page state) + the ``_DSM`` call + ``ReadMemory`` (read
  it back) -- each memory step is a dynamic OperationRegion in the runtime's driver method;
* checker: per input the ``_DSM`` call + ``\\PKCK.SNAP`` (:func:`ppikit.aml.sweep.state_checker`),
  which compares and restores the state inside ACPICA and returns bytes only when they changed --
  what :func:`ppikit.aml.sweep.run_sweep` does;
* calls only: the ``_DSM`` calls without observing the page (the floor).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

from ppikit.aml.expectations import STATE_LENGTH, STATE_OFFSET, DsmInput
from ppikit.aml.runtime import AcpiRuntime, Call, ReadMemory, Step, WriteMemory
from ppikit.aml.sweep import CHECKER_METHOD, STEPS_PER_BATCH, input_space, state_checker
from ppikit.aml.tables import fix_checksum
from ppikit.ppi.page import TPM_PPI_ADDR_BASE

ROOT = Path(__file__).resolve().parent.parent
DSDT = fix_checksum((ROOT / "tests/data/qemu-7.2/q35.tis.tpm2.ppi/DSDT.aml").read_bytes())
DSM = "\\_SB.PCI0.SF8.TPM._DSM"
STATE_ADDRESS = TPM_PPI_ADDR_BASE + STATE_OFFSET
SPACE = input_space()
STATE = SPACE.setups["base"].state


def call(inp: DsmInput) -> Call:
    return Call(DSM, (uuid.UUID(inp.uuid), inp.revision, inp.function, list(inp.args)))


STRATEGIES: dict[str, Callable[[DsmInput], list[Step]]] = {
    "steps (write + call + read)": lambda inp: [WriteMemory(STATE_ADDRESS, STATE), call(inp),
                                                 ReadMemory(STATE_ADDRESS, STATE_LENGTH)],
    "checker (call + SNAP)": lambda inp: [call(inp), Call(CHECKER_METHOD)],
    "calls only": lambda inp: [call(inp)],
}


def measure(runtime: AcpiRuntime, make: Callable[[DsmInput], list[Step]]) -> float:
    steps = [step for inp in SPACE.inputs for step in make(inp)]
    start = time.perf_counter()
    for k in range(0, len(steps), STEPS_PER_BATCH):
        runtime.run(steps[k:k + STEPS_PER_BATCH])
    return (time.perf_counter() - start) / len(SPACE.inputs) * 1000


def main() -> None:
    with AcpiRuntime([DSDT, state_checker(STATE)]) as runtime:
        runtime.write_memory(TPM_PPI_ADDR_BASE, SPACE.setups["base"].func + STATE)
        results = {name: measure(runtime, make) for name, make in STRATEGIES.items()}
    floor = results["calls only"]
    print(f"{len(SPACE.inputs)} inputs, batches of {STEPS_PER_BATCH} steps")
    for name, ms in results.items():
        print(f"  {name:30s} {ms:6.3f} ms/input  ({ms / floor:4.1f}x calls only)")


if __name__ == "__main__":
    main()
