"""One full PPI cycle on a warm platform, measured: OS writes Clear -> reboot -> OVMF executes Clear
through TIS into swtpm -> OS reads the response.

Prints median and p95 of the cycle and a breakdown: time inside acpiexec (the OS's _DSM calls and
the PPI page sync), inside swtpm (data-channel commands and control-channel calls, i.e. the
backend), and the rest (ppikit's firmware logic, device model, drivers). The physical limit for
the TPM part is the raw swtpm time measured in the same run.

Run: .venv/bin/python benchmarks/bench_cycle.py [--cycles N] [--interface tis|crb]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from functools import wraps

from ppikit.platform.platform import Platform, PlatformConfig
from ppikit.ppi.os_linux import attach

TIMERS: dict[str, float] = defaultdict(float)


def timed(obj: object, name: str, bucket: str) -> None:
    """Wrap ``obj.name`` so its wall time accumulates in ``TIMERS[bucket]`` (outermost call only)."""
    original = getattr(obj, name)
    depth = {"n": 0}

    @wraps(original)
    def wrapper(*args, **kwargs):
        depth["n"] += 1
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            depth["n"] -= 1
            if depth["n"] == 0:
                TIMERS[bucket] += time.perf_counter() - start

    setattr(obj, name, wrapper)


def cycle(platform: Platform) -> str:
    with platform.os_session() as acpi:
        attach(acpi).write_request("5\n")
    platform.reboot()
    with platform.os_session() as acpi:
        return attach(acpi).read("response")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=30)
    parser.add_argument("--interface", choices=["tis", "crb"], default="tis")
    args = parser.parse_args()
    with Platform(PlatformConfig.create(interface=args.interface)) as platform:
        platform.power_on()
        timed(platform.acpi, "run", "acpiexec")
        for name in ("transmit", "startup", "get_buffer_size", "get_established"):
            timed(platform.backend, name, "swtpm")
        cycle(platform)  # warm-up
        totals, parts = [], defaultdict(list)
        for _ in range(args.cycles):
            TIMERS.clear()
            start = time.perf_counter()
            response = cycle(platform)
            total = time.perf_counter() - start
            assert response == "5 0: Success\n", response
            totals.append(total)
            for bucket in ("acpiexec", "swtpm"):
                parts[bucket].append(TIMERS[bucket])
            parts["ppikit (firmware, device, drivers, glue)"].append(total - TIMERS["acpiexec"] - TIMERS["swtpm"])
    ms = lambda s: f"{s * 1000:7.1f} ms"  # noqa: E731
    p95 = lambda xs: sorted(xs)[max(0, round(0.95 * len(xs)) - 1)]  # noqa: E731
    print(f"full PPI cycle ({args.interface}, {args.cycles} cycles): median {ms(statistics.median(totals))}, "
          f"p95 {ms(p95(totals))}  (target: median <= 100 ms)")
    for bucket, values in parts.items():
        share = statistics.median(values) / statistics.median(totals)
        print(f"  {bucket:42s} median {ms(statistics.median(values))}  ({share:5.1%})")
    print(f"  ratio cycle / swtpm time (physical limit of the TPM part): "
          f"{statistics.median(totals) / statistics.median(parts['swtpm']):.1f}")


if __name__ == "__main__":
    main()
