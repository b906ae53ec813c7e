"""TPM command round trip through the firmware drivers and register models vs raw swtpm.

What it answers: how much a firmware test pays for going through MMIO. One TPM2_GetRandom(8) is
timed (a) raw on swtpm's data channel -- one write, one read, the physical limit -- and (b) as
firmware sends it: TisDriver -> TisDevice -> SwtpmBackend and CrbDriver -> CrbDevice ->
SwtpmBackend, all against the same swtpm in the same run. The paths are measured in interleaved
rounds; each path's best round (the one least disturbed by other load) is compared, and the
median round is printed beside it. Target: both ratios <= 1.5.

Also printed, to show where the time goes: SwtpmBackend.transmit alone (the backend's own cost)
and the CPU time the driver + register model spend per command in front of a backend that
answers instantly (``time.thread_time``, so other load on the machine does not count).

Run: ``.venv/bin/python benchmarks/bench_device.py [--rounds N] [--per-round N] [--asynchronous]``
(``--asynchronous`` measures the devices with the worker-thread execution model). Wall-clock
ratios are only meaningful on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from ppikit.device.backends.swtpm import SwtpmBackend
from ppikit.device.crb import CrbDevice
from ppikit.device.drivers import CrbDriver, TisDriver
from ppikit.device.tis import TisDevice
from ppikit.tpm.version import TpmVersion

TPM2_STARTUP_CLEAR = bytes.fromhex("8001 0000000c 00000144 0000".replace(" ", ""))
TPM2_GET_RANDOM_8 = bytes.fromhex("8001 0000000c 0000017b 0008".replace(" ", ""))
TARGET_RATIO = 1.5


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
                   clock: Callable[[], float] = time.perf_counter) -> float:
    start = clock()
    for _ in range(count):
        transmit(TPM2_GET_RANDOM_8)
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


def model_cpu_us(rounds: int, per_round: int) -> dict[str, float]:
    """Best-of-rounds CPU time per command of driver + model in front of :class:`InstantBackend`."""
    paths = {"TIS": TisDriver(TisDevice(InstantBackend())).transmit,
             "CRB": CrbDriver(CrbDevice(InstantBackend())).transmit}
    return {name: min(per_command_us(transmit, per_round, time.thread_time) for _ in range(rounds))
            for name, transmit in paths.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--per-round", type=int, default=300)
    parser.add_argument("--asynchronous", action="store_true", help="worker-thread execution model")
    args = parser.parse_args()
    with SwtpmBackend(TpmVersion.TPM_2_0) as backend:
        tis = TisDriver(TisDevice(backend, asynchronous=args.asynchronous))
        crb_device = CrbDevice(backend, asynchronous=args.asynchronous)  # its reset re-inits swtpm
        crb = CrbDriver(crb_device)
        crb.transmit(TPM2_STARTUP_CLEAR)
        paths = {"raw swtpm": raw_transport(backend), "TIS": tis.transmit, "CRB": crb.transmit,
                 "backend": lambda command: backend.transmit(command, 0)}
        for transmit in paths.values():  # warm up; every path must answer TPM_RC_SUCCESS
            response = transmit(TPM2_GET_RANDOM_8)
            assert response[6:10] == b"\0\0\0\0" and len(response) == 20, response.hex()
        samples: dict[str, list[float]] = {name: [] for name in paths}
        for _ in range(args.rounds):
            for name, transmit in paths.items():
                samples[name].append(per_command_us(transmit, args.per_round))
    best = {name: min(values) for name, values in samples.items()}
    raw, raw_median = best["raw swtpm"], statistics.median(samples["raw swtpm"])
    mode = "asynchronous" if args.asynchronous else "synchronous"
    print(f"TPM2_GetRandom(8), {args.rounds} rounds x {args.per_round} commands ({mode} devices)")
    print(f"  {'path':42s} {'best us':>8s} {'ratio':>6s}   {'median us':>9s} {'ratio':>6s}")
    labels = {"raw swtpm": "raw swtpm data channel", "TIS": "TisDriver -> TisDevice -> SwtpmBackend",
              "CRB": "CrbDriver -> CrbDevice -> SwtpmBackend", "backend": "SwtpmBackend.transmit alone"}
    for name, values in samples.items():
        median = statistics.median(values)
        print(f"  {labels[name]:42s} {best[name]:8.1f} {best[name] / raw:6.2f}   {median:9.1f} {median / raw_median:6.2f}")
    for name, value in model_cpu_us(args.rounds, args.per_round).items():
        print(f"  {name} driver + model (synchronous), CPU time per command, instant backend: {value:.1f} us")
    worst = max(best["TIS"], best["CRB"]) / raw
    verdict = "OK" if worst <= TARGET_RATIO else "ABOVE TARGET"
    print(f"target: TIS and CRB ratio <= {TARGET_RATIO}: {verdict} (worst {worst:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
