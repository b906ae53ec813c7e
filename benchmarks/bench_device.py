"""TPM command round trip through the firmware drivers and register models vs raw swtpm.

What it answers: how much a firmware test pays for going through MMIO. Three workloads: the PPI
workload -- the TPM 2.0 commands OVMF sends while it processes a Clear request
(GetCapability(PCRS), PCR_Extend, PCR_Read, ClearControl, Clear) --, the worst case for the model,
the cheapest command there is, one TPM2_GetRandom(8), and a long transfer (a 387-byte GetCapability
response, where the TIS FIFO is drained with repeated accesses). Each is timed (a) raw on swtpm's
data channel -- one write, one read, the physical limit -- and (b) as firmware sends it: TisDriver
-> TisDevice -> SwtpmBackend and CrbDriver -> CrbDevice -> SwtpmBackend, all against the same swtpm
in the same run. The paths are measured in interleaved rounds; each path's best round (the one
least disturbed by other load) is compared, and the median round is printed beside it. Target
(issue 4): TIS and CRB at most 1.5x the raw round trip for GetRandom(8); its verdict is printed for
both statistics, and the same bound is applied to the other two workloads for reference. A
statistic is not judged when SwtpmBackend.transmit alone -- raw plus a few hundred ns -- is itself
more than 1.1x raw by it: the raw path then had an outlier round (seen on VMs, best rounds only)
and every ratio against it is inflated.

Also printed, to show where the time goes: SwtpmBackend.transmit alone (the backend's own cost),
the CPU time the driver + register model spend per command in front of a backend that answers
instantly (``time.thread_time``, so other load on the machine does not count), and a control: the
raw round trip with a busy CPU spin as long as the TIS model's cost between commands. On a VM the
control is well above 1 + cost / raw: while the client computes, swtpm's idle vCPU is halted and
waking it costs more than the spin itself, so any client, however written, pays that amplification
on top of its own CPU time.

Both placements are measured in one run: client and swtpm free to run on different CPUs (as a VMM
and its swtpm usually do), then both pinned to one CPU. Pinned, the raw round trip loses the
cross-CPU wake-up and shows what swtpm itself costs (about 15 us for GetRandom(8) here, against
about 45-55 us unpinned); there the model's own CPU time per command (printed last) is what the
ratio measures, so it is the stricter of the two.

Run: ``.venv/bin/python benchmarks/bench_device.py [--rounds N] [--per-round N] [--asynchronous]``
(``--asynchronous`` measures the devices with the worker-thread execution model). Wall-clock
ratios are only meaningful on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable

from ppikit.device.backends.swtpm import SwtpmBackend
from ppikit.device.crb import CrbDevice
from ppikit.device.drivers import CrbDriver, TisDriver
from ppikit.device.tis import TisDevice
from ppikit.tpm import tpm2
from ppikit.tpm.command import build_command
from ppikit.tpm.version import TpmVersion

TPM2_STARTUP_CLEAR = bytes.fromhex("8001 0000000c 00000144 0000".replace(" ", ""))
TPM2_GET_RANDOM_8 = bytes.fromhex("8001 0000000c 0000017b 0008".replace(" ", ""))
TARGET_RATIO = 1.5
_SHA256 = tpm2.TPM_ALG.SHA256
_PCR16 = tpm2.pcr_select_bitmap([16])
#: What OVMF sends to the TPM while it executes a PPI Clear (firmware-and-os.md §2.4), minus the
#: commands that cannot repeat without a reset (Startup) or would lock the platform hierarchy.
PPI_WORKLOAD: tuple[bytes, ...] = (
    build_command(tpm2.GET_CAPABILITY, capability=tpm2.TPM_CAP.PCRS, property=0, propertyCount=1),
    build_command(tpm2.PCR_EXTEND, handles=[16], digests=[{"hashAlg": _SHA256, "digest": bytes(32)}]),
    build_command(tpm2.PCR_READ, pcrSelectionIn=[{"hash": _SHA256, "pcrSelect": _PCR16}]),
    build_command(tpm2.CLEAR_CONTROL, handles=[tpm2.TPM_RH.PLATFORM], disable=0),
    build_command(tpm2.CLEAR, handles=[tpm2.TPM_RH.PLATFORM]),
)

#: A long transfer: GetCapability(TPM_PROPERTIES) of every fixed property (TPM_PT 0x100 on), whose
#: response is 387 bytes on swtpm 0.7 -- 97 FIFO reads through TIS, 49 buffer reads through CRB.
LARGE_RESPONSE = build_command(tpm2.GET_CAPABILITY, capability=tpm2.TPM_CAP.TPM_PROPERTIES,
                               property=tpm2.TPM_PT.FAMILY_INDICATOR, propertyCount=127)


def raw_transport(backend: SwtpmBackend) -> Callable[[bytes], bytes]:
    """One write and one read on swtpm's data channel (the socket QEMU's emulator backend uses)."""
    sock = backend.data_socket
    assert sock is not None

    def transmit(command: bytes) -> bytes:
        sock.sendall(command)
        response = sock.recv(65536)
        while len(response) < 10 or len(response) < int.from_bytes(response[2:6], "big"):
            response += sock.recv(65536)
        return response

    return transmit


def per_command_us(transmit: Callable[[bytes], bytes], count: int,
                   clock: Callable[[], float] = time.perf_counter,
                   workload: tuple[bytes, ...] = (TPM2_GET_RANDOM_8,)) -> float:
    """Wall (or ``clock``) time per pass over ``workload``, in microseconds."""
    start = clock()
    for _ in range(count):
        for command in workload:
            transmit(command)
    return (clock() - start) / count * 1e6


class InstantBackend:
    """A Backend whose every answer is ready at once: what is left is driver + model cost."""

    version = TpmVersion.TPM_2_0
    response = bytes.fromhex("8001 00000014 00000000 0008 0001020304050607".replace(" ", ""))

    def get_buffer_size(self) -> int:
        return 4096

    def startup(self, buffer_size: int) -> None:
        pass

    def transmit(self, command: bytes, locality: int) -> bytes:
        return self.response

    def cancel(self) -> None:
        pass

    def get_established(self) -> bool:
        return False

    def reset_established(self, locality: int) -> None:
        pass


def with_cpu_spin(transmit: Callable[[bytes], bytes], spin_us: float) -> Callable[[bytes], bytes]:
    """``transmit`` preceded by ``spin_us`` of busy CPU (the control row: raw + the model's cost)."""
    spin_s = spin_us / 1e6
    clock = time.perf_counter

    def spun(command: bytes) -> bytes:
        end = clock() + spin_s
        while clock() < end:
            pass
        return transmit(command)

    return spun


def model_cpu_us(rounds: int, per_round: int) -> dict[str, float]:
    """Best-of-rounds CPU time per command of driver + model in front of :class:`InstantBackend`."""
    paths = {"TIS": TisDriver(TisDevice(InstantBackend())).transmit,
             "CRB": CrbDriver(CrbDevice(InstantBackend())).transmit}
    return {name: min(per_command_us(transmit, per_round, time.thread_time) for _ in range(rounds))
            for name, transmit in paths.items()}


def measure(paths: dict[str, Callable[[bytes], bytes]], workload: tuple[bytes, ...], rounds: int,
            per_round: int) -> dict[str, list[float]]:
    """Interleaved rounds over every path; every response must be TPM_RC_SUCCESS."""
    for transmit in paths.values():
        for command in workload:
            response = transmit(command)
            assert response[6:10] == b"\0\0\0\0", response.hex()
    samples: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(rounds):
        for name, transmit in paths.items():
            samples[name].append(per_command_us(transmit, per_round, workload=workload))
    return samples


LABELS = {"raw swtpm": "raw swtpm data channel", "TIS": "TisDriver -> TisDevice -> SwtpmBackend",
          "CRB": "CrbDriver -> CrbDevice -> SwtpmBackend", "backend": "SwtpmBackend.transmit alone",
          "control": "control: raw + TIS model's CPU as a spin"}


#: SwtpmBackend.transmit alone costs the raw round trip plus a few hundred ns; when it comes out
#: further above raw than this, the raw path had a round far faster than its usual (on a VM: the
#: client and swtpm happened to share a CPU) and that statistic compares against an outlier.
OUTLIER_RATIO = 1.1

Ratios = tuple[tuple[float, float], tuple[float, float]]


def report(title: str, samples: dict[str, list[float]]) -> Ratios:
    """Print one table; return (worst TIS/CRB ratio, SwtpmBackend-alone ratio) by best rounds and
    by median rounds."""
    best = {name: min(values) for name, values in samples.items()}
    median = {name: statistics.median(values) for name, values in samples.items()}
    print(title)
    print(f"  {'path':42s} {'best us':>8s} {'ratio':>6s}   {'median us':>9s} {'ratio':>6s}")
    for name in samples:
        print(f"  {LABELS[name]:42s} {best[name]:8.1f} {best[name] / best['raw swtpm']:6.2f}   "
              f"{median[name]:9.1f} {median[name] / median['raw swtpm']:6.2f}")
    worst = tuple(max(stat["TIS"], stat["CRB"]) / stat["raw swtpm"] for stat in (best, median))
    backend = tuple(stat["backend"] / stat["raw swtpm"] for stat in (best, median))
    return worst, backend  # type: ignore[return-value]


def verdict(workload: str, ratios: Ratios) -> str:
    """One line: the worst TIS/CRB ratio against the target for both statistics; a statistic whose
    raw reference was an outlier (see OUTLIER_RATIO) is marked as such rather than judged."""
    def judged(ratio: float, backend: float) -> str:
        if backend > OUTLIER_RATIO:
            return (f"{ratio:.2f} (not judged: SwtpmBackend alone is at {backend:.2f}, "
                    "the raw path had an outlier round)")
        return f"{ratio:.2f} {'OK' if ratio <= TARGET_RATIO else 'ABOVE TARGET'}"
    (best, median), (backend_best, backend_median) = ratios
    return (f"  {workload:13s} worst of TIS/CRB: best rounds {judged(best, backend_best)}, "
            f"median rounds {judged(median, backend_median)}")


def measure_paths(args: argparse.Namespace, model_cpu: dict[str, float]) -> tuple[dict, dict, dict]:
    """Every workload over every path, against one fresh swtpm (placed where this process may run)."""
    with SwtpmBackend(TpmVersion.TPM_2_0) as backend:
        tis = TisDriver(TisDevice(backend, asynchronous=args.asynchronous))
        crb_device = CrbDevice(backend, asynchronous=args.asynchronous)  # its reset re-inits swtpm
        crb = CrbDriver(crb_device)
        crb.transmit(TPM2_STARTUP_CLEAR)
        raw = raw_transport(backend)
        paths = {"raw swtpm": raw, "TIS": tis.transmit, "CRB": crb.transmit,
                 "backend": lambda command: backend.transmit(command, 0)}
        ppi = measure(paths, PPI_WORKLOAD, args.rounds, max(1, args.per_round // 30))
        tiny = measure({**paths, "control": with_cpu_spin(raw, model_cpu["TIS"])}, (TPM2_GET_RANDOM_8,),
                       args.rounds, args.per_round)
        large = measure(paths, (LARGE_RESPONSE,), args.rounds, max(1, args.per_round // 10))
    return ppi, tiny, large


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--per-round", type=int, default=300)
    parser.add_argument("--asynchronous", action="store_true", help="worker-thread execution model")
    args = parser.parse_args()
    model_cpu = model_cpu_us(args.rounds, args.per_round)
    mode = "asynchronous" if args.asynchronous else "synchronous"
    placements = [("client and swtpm on any CPU", None)]
    if len(os.sched_getaffinity(0)) > 1:
        placements.append(("client and swtpm pinned to one CPU", min(os.sched_getaffinity(0))))
    for placement, cpu in placements:
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})  # swtpm, started next, inherits it
        ppi, tiny, large = measure_paths(args, model_cpu)
        print(f"== {placement}")
        ppi_ratios = report(f"PPI workload (GetCapability, PCR_Extend, PCR_Read, ClearControl, Clear), us per "
                            f"pass, {args.rounds} rounds ({mode} devices)", ppi)
        tiny_ratios = report(f"TPM2_GetRandom(8), us per command, {args.rounds} rounds x {args.per_round}", tiny)
        large_ratios = report(f"TPM2_GetCapability(all fixed TPM properties): 387-byte response, us per command, "
                              f"{args.rounds} rounds", large)
        print(f"target (issue 4): GetRandom(8) through TIS and CRB at most {TARGET_RATIO}x the raw swtpm round trip")
        print(verdict("GetRandom(8)", tiny_ratios))
        print("the same bound, for reference:")
        print(verdict("PPI workload", ppi_ratios))
        print(verdict("387-byte rsp", large_ratios))
    for name, value in model_cpu.items():
        print(f"{name} driver + model (synchronous), CPU time per command, instant backend: {value:.1f} us")
    print(f"interpreter: {interpreter()}")
    return 0


def interpreter() -> str:
    """Which Python ran the model: its CPU time per command depends on the build (on the machine
    these notes come from, Debian's /usr/bin/python3.11 ran it ~15% faster than a pyenv 3.11)."""
    return f"{platform.python_implementation()} {platform.python_version()} at {sys.base_prefix}"


if __name__ == "__main__":
    raise SystemExit(main())
