"""TPM command round trip through the firmware drivers and register models vs raw swtpm.

What it answers: how much a firmware test pays for going through MMIO. One TPM2_GetRandom(8) is
timed (a) raw on swtpm's data channel -- one write, one read, the physical limit -- and (b) as
firmware sends it: TisDriver -> TisDevice -> SwtpmBackend and CrbDriver -> CrbDevice ->
SwtpmBackend, all against the same swtpm in the same run. The three are measured in interleaved
rounds and the median round of each is compared, so a busy machine skews all of them alike.
Target: both ratios <= 1.5.

Run: ``.venv/bin/python benchmarks/bench_device.py [--rounds N] [--per-round N] [--asynchronous]``
(``--asynchronous`` measures the devices with the worker-thread execution model).
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
    sock = backend._data  # noqa: SLF001 -- the raw channel is the point of the comparison
    assert sock is not None

    def transmit(command: bytes) -> bytes:
        sock.sendall(command)
        response = sock.recv(65536)
        while len(response) < 10 or len(response) < int.from_bytes(response[2:6], "big"):
            response += sock.recv(65536)
        return response

    return transmit


def per_command_us(transmit: Callable[[bytes], bytes], count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        transmit(TPM2_GET_RANDOM_8)
    return (time.perf_counter() - start) / count * 1e6


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
        paths = {"raw swtpm": raw_transport(backend), "TIS": tis.transmit, "CRB": crb.transmit}
        for transmit in paths.values():  # warm up; every path must answer TPM_RC_SUCCESS
            response = transmit(TPM2_GET_RANDOM_8)
            assert response[6:10] == b"\0\0\0\0" and len(response) == 20, response.hex()
        samples: dict[str, list[float]] = {name: [] for name in paths}
        for _ in range(args.rounds):
            for name, transmit in paths.items():
                samples[name].append(per_command_us(transmit, args.per_round))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    raw = medians["raw swtpm"]
    mode = "asynchronous" if args.asynchronous else "synchronous"
    print(f"TPM2_GetRandom(8), median of {args.rounds} rounds x {args.per_round} commands ({mode} devices)")
    worst = 0.0
    for name, value in medians.items():
        ratio = value / raw
        worst = max(worst, ratio)
        print(f"  {name:10s} {value:8.1f} us/command   ratio {ratio:4.2f}")
    verdict = "OK" if worst <= TARGET_RATIO else "ABOVE TARGET"
    print(f"target ratio <= {TARGET_RATIO}: {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
