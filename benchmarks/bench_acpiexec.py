"""How fast ppikit evaluates AML in acpiexec: single calls, batches, and ACPICA's own ceiling.

Run: ``.venv/bin/python benchmarks/bench_acpiexec.py`` (about 10 s). Prints calls per second and ratios;
nothing is asserted (timing is machine-dependent, the suite never checks it).

What is measured, all against QEMU 7.2's q35 TIS TPM 2.0 DSDT, PPI _DSM function 8 (the TPFN path
with its dynamic OperationRegion, the most expensive PPI function):

* ``acpiexec -b``: one cold process per evaluation (start, load, evaluate, exit) -- what a naive
  runner does;
* single: ``AcpiRuntime.dsm`` one call at a time in a warm session (a driver table per call), on
  the batch fast path (:mod:`ppikit.aml.fastpath`: the driver runs while a trigger table loads,
  results come back by ``dump``) and on the evaluate path (``fast_path = False``: the debugger's
  ``evaluate`` sleeps 10 ms per command);
* batch: ``AcpiRuntime.evaluate_many`` with all calls in one driver table;
* ceiling: one AML method that loops over the same calls inside ACPICA (no ppikit in the loop).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from ppikit.aml.iasl import compile_asl
from ppikit.aml.params import PPI_DSM_UUID
from ppikit.aml.runtime import AcpiRuntime, Call, WriteMemory
from ppikit.aml.tables import fix_checksum
from ppikit.ppi.page import TPM_PPI_ADDR_BASE

ROOT = Path(__file__).resolve().parent.parent
DSDT = fix_checksum((ROOT / "tests/data/qemu-7.2/q35.tis.tpm2.ppi/DSDT.aml").read_bytes())
TPM = "\\_SB.PCI0.SF8.TPM"
PPI = uuid.UUID(PPI_DSM_UUID)
SINGLE_CALLS = 100
BATCH_CALLS = 5120
CEILING_CALLS = 20000

#: ACPICA running the calls itself: Arg0 calls of _DSM fn 8 for ops 0..255, results discarded.
CEILING_ASL = f"""
DefinitionBlock ("", "SSDT", 1, "PPIKIT", "BENCH", 1)
{{
    External ({TPM}._DSM, MethodObj)
    Method (\\LOOP, 1, Serialized)
    {{
        Local1 = Zero
        Local3 = Package (1) {{ Zero }}
        While (Local1 < Arg0)
        {{
            Local3 [Zero] = Local1 & 0xFF
            Local2 = {TPM}._DSM (ToUUID ("{PPI_DSM_UUID}"), One, 8, Local3)
            Local1++
        }}
        Return (Local1)
    }}
}}
"""


def rate(calls: int, seconds: float) -> float:
    return calls / seconds


def bench_cold_batch_mode(calls: int = 3) -> float:
    """``acpiexec -b "evaluate ..."``: a process per call."""
    with tempfile.TemporaryDirectory() as tmp:
        table = Path(tmp) / "dsdt.aml"
        table.write_bytes(DSDT)
        command = f"evaluate {TPM}._HID"
        start = time.perf_counter()
        for _ in range(calls):
            subprocess.run(["acpiexec", "-b", command, str(table)], check=True, capture_output=True, timeout=30)
        return rate(calls, time.perf_counter() - start)


def bench_single(rt: AcpiRuntime) -> float:
    start = time.perf_counter()
    for i in range(SINGLE_CALLS):
        rt.dsm(TPM, PPI, 1, 8, [i & 0xFF])
    return rate(SINGLE_CALLS, time.perf_counter() - start)


def bench_batch(rt: AcpiRuntime) -> float:
    calls = [Call(f"{TPM}._DSM", (PPI, 1, 8, [i & 0xFF])) for i in range(BATCH_CALLS)]
    start = time.perf_counter()
    results = rt.evaluate_many(calls)
    elapsed = time.perf_counter() - start
    assert len(results) == BATCH_CALLS
    return rate(BATCH_CALLS, elapsed)


def bench_sweep(rt: AcpiRuntime) -> float:
    """The conformance sweep shape: 5 func values x ops 0-255 x fn 7/8 x rev 1/2, func[] set per value."""
    steps: list = []
    for func in (0, 1, 2, 3, 4):
        steps.append(WriteMemory(TPM_PPI_ADDR_BASE, bytes([func]) * 256))
        steps += [Call(f"{TPM}._DSM", (PPI, rev, fn, [op, 0])) for fn in (7, 8) for rev in (1, 2) for op in range(256)]
    start = time.perf_counter()
    rt.evaluate_many(steps)
    return rate(len(steps), time.perf_counter() - start)


def bench_ceiling(rt: AcpiRuntime) -> float:
    start = time.perf_counter()
    assert rt.evaluate("\\LOOP", CEILING_CALLS) == CEILING_CALLS
    return rate(CEILING_CALLS, time.perf_counter() - start)


def main() -> None:
    cold = bench_cold_batch_mode()
    with AcpiRuntime([DSDT, compile_asl(CEILING_ASL, name="bench.asl")]) as rt:
        rt.evaluate_many([Call(f"{TPM}._DSM", (PPI, 1, 8, [0]))])  # warm up (method parse caches)
        single = bench_single(rt)
        rt.fast_path = False
        single_evaluate = bench_single(rt)
        batch_evaluate = bench_batch(rt)
        rt.fast_path = True
        batch = bench_batch(rt)
        sweep = bench_sweep(rt)
        ceiling = bench_ceiling(rt)
    rows = [
        ("acpiexec -b (cold process per call)", cold),
        (f"single evaluate, warm session ({SINGLE_CALLS} calls)", single),
        (f"single evaluate, evaluate path ({SINGLE_CALLS} calls)", single_evaluate),
        (f"evaluate_many, one batch ({BATCH_CALLS} calls)", batch),
        (f"evaluate_many, one batch, evaluate path ({BATCH_CALLS} calls)", batch_evaluate),
        ("conformance sweep shape (5 x 256 x 2 x 2 + 5 writes)", sweep),
        (f"ACPICA in-AML loop ceiling ({CEILING_CALLS} calls)", ceiling),
    ]
    for name, value in rows:
        print(f"{name:55s} {value:10.1f} calls/s   {1000 / value:8.3f} ms/call")
    print(f"batch / single      = {batch / single:6.1f}x")
    print(f"fast / evaluate path, single = {single / single_evaluate:6.1f}x")
    print(f"single / cold       = {single / cold:6.1f}x")
    print(f"ceiling / batch     = {ceiling / batch:6.2f}x  (ppikit overhead on top of ACPICA)")
    print(f"sweep wall time     = {5125 / sweep:6.2f} s")


if __name__ == "__main__":
    sys.exit(main())
