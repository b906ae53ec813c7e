#!/usr/bin/env python3
"""Differential checker: ppikit's TIS/CRB register models against real QEMU 7.2, access for access.

Why: ppikit's device models claim to reproduce QEMU 7.2's ``tpm-tis`` / ``tpm-crb`` registers.
Hand-written conformance tests only check the cases someone thought of; this tool drives the SAME
random MMIO access sequences (hypothesis-generated, then shrunk) into

(a) real ``qemu-system-x86_64`` 7.2 (q35, ``-accel tcg -S``, the qtest protocol on a unix socket)
    in front of its own fresh ``swtpm socket`` (``--ctrl type=unixio``, nothing else), and
(b) ppikit's :class:`~ppikit.device.tis.TisDevice` / :class:`~ppikit.device.crb.CrbDevice` in
    front of its own fresh :class:`~ppikit.device.backends.swtpm.SwtpmBackend`,

and stops at the first read whose values differ, printing the address, size, QEMU's value, the
model's value and the (shrunk) access sequence that led there, in qtest syntax.

QEMU is a checking tool only: nothing in ppikit or its test suite imports or needs this script.

Configurations: ``tis2`` (TIS, TPM 2.0), ``tis12`` (TIS, TPM 1.2), ``crb2`` (CRB, TPM 2.0).

Traffic: accesses of 1/2/4/8 bytes anywhere in the window (TIS 0xFED40000-0xFED44FFF, CRB
0xFED40000-0xFED40FFF including the data buffer), biased toward meaningful traffic: ACCESS
request/relinquish/seize/beenSeized per locality, STS commandReady/tpmGo/responseRetry/
commandCancel/resetEstablishment, FIFO and XFIFO writes of real TPM commands (Startup, SelfTest,
GetRandom, PCR_Read, PCR_Extend, GetCapability, TPM 1.2 ContinueSelfTest ...) and malformed ones
(short, oversized, bad tag), FIFO reads, INT_ENABLE/INT_STATUS writes, the INTERFACE_ID lock;
CRB LOC_CTRL / CTRL_REQ / CTRL_CANCEL / CTRL_START with commands in the buffer. Every sequence
ends with a probe that reads every status register, so hidden state differences surface.

Comparing like with like:

* QEMU completes a command asynchronously (thread pool + bottom half); ppikit's device runs in its
  default synchronous mode. After any write on which the model sent a command to its backend
  (tpmGo / CTRL_START), the tool polls QEMU (TIS: STS of the sending locality until dataAvail;
  CRB: CTRL_START until Start clears), then reads the same register once on the model and
  compares the settled values. So no access ever meets a command in execution on either side.
* Response bytes that are legitimately different between two swtpms are not compared: FIFO /
  XFIFO data bytes while the current response came from GetRandom or PCR_Read (the random bytes,
  the PCR update counter), and the corresponding bytes of the CRB data buffer. Status registers
  (STS burst counts, dataAvail, CTRL_START ...) are always compared.
* One difference is known and accepted (it ends the sequence, counted as "ended by a command
  swtpm never answers"): swtpm 0.7.1 never answers a command shorter than a TPM header (TIS: 6..9
  bytes, CRB: header size < 10, e.g. Start on an empty buffer). QEMU 7.2 then executes for ever,
  and any control-channel call (cancel, an abort while executing, an uncached GET_TPMESTABLISHED)
  freezes its main loop; ppikit's backend times out (``MODEL_TIMEOUT`` here) and the model
  answers QEMU's fatal-error response -- nothing in ppikit may hang.

Not covered by ``run``: accesses while a command executes (cancel, seize, deferred abort), as
their timing cannot be made equal on both sides; ``replay --asynchronous`` compares such states
for commands that never complete.

Usage (from the repository root, with the project venv)::

    .venv/bin/python tools/qemu_differential.py run                   # all configs, 100 ex. each
    .venv/bin/python tools/qemu_differential.py run -c tis2 -n 500 --max-steps 40 --seed 1
    .venv/bin/python tools/qemu_differential.py replay -c crb2 seq.txt  # qtest lines from a file
    .venv/bin/python tools/qemu_differential.py replay --python -c tis2 seq.txt  # test tuples

``replay`` runs one qtest-syntax sequence (``readl 0xfed40018`` / ``writeb 0xfed40000 0x02``
lines, ``#`` comments) on both sides and prints each read as QEMU value / model value -- the way
QEMU's observed values for tests/device/test_qemu_observed.py were collected. Exit status: 0 no
divergence, 1 divergence found, 2 usage or tool error.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.errors import Flaky

from _lifecycle import Started  # tools/: the script's own folder is on sys.path

from ppikit._subprocess import ManagedProcess
from ppikit.device.backends.swtpm import SwtpmBackend
from ppikit.device.crb import CrbDevice
from ppikit.device.mmio import MmioDevice
from ppikit.device.tis import TisDevice
from ppikit.errors import PpikitError
from ppikit.tpm.version import TpmVersion

BASE = 0xFED40000
SUFFIX = {1: "b", 2: "w", 4: "l", 8: "q"}
SIZE_OF = {suffix: size for size, suffix in SUFFIX.items()}
#: How long QEMU may take to finish one command after tpmGo / Start (seconds).
SETTLE_TIMEOUT = 30.0
IO_TIMEOUT = 30.0
#: The model's swtpm timeout (SwtpmBackend default 10 s): a command swtpm never answers (one
#: shorter than a TPM header) costs this long on the model side.
MODEL_TIMEOUT = 1.0
#: After the model gave up on such a command, how much longer QEMU gets before it counts as hung.
HANG_GRACE = 1.0
#: Tries per sequence when QEMU or a swtpm fails to start or answer (a loaded machine), not a divergence.
INFRA_ATTEMPTS = 3

# TIS offsets inside a locality window / CRB offsets (see ppikit.device.registers)
ACCESS, INT_ENABLE, INT_VECTOR, INT_STATUS, INTF_CAP, STS, FIFO, IFACE_ID = 0x00, 0x08, 0x0C, 0x10, 0x14, 0x18, 0x24, 0x30
XFIFO, XFIFO_END, DID_VID, RID, DEBUG = 0x80, 0xBF, 0xF00, 0xF04, 0xF90
STS_DATA_AVAILABLE = 0x10
LOC_STATE, LOC_CTRL, LOC_STS, CTRL_REQ, CTRL_STS, CTRL_CANCEL, CTRL_START = 0x00, 0x08, 0x0C, 0x40, 0x44, 0x48, 0x4C
DATA_BUFFER, CRB_END = 0x80, 0x1000

#: Ordinals whose responses legitimately differ between two swtpms (random bytes; TPM2 PCR_Read's
#: update counter), mapped to the response byte range that differs (end None = to the end).
NONDETERMINISTIC = {0x17B: (10, None), 0x46: (10, None), 0x17E: (10, 14)}


def _hex(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


TPM2_COMMANDS = {
    "Startup(CLEAR)": _hex("8001 0000000c 00000144 0000"),
    "Startup(STATE)": _hex("8001 0000000c 00000144 0001"),
    "SelfTest(full)": _hex("8001 0000000b 00000143 01"),
    "GetRandom(8)": _hex("8001 0000000c 0000017b 0008"),
    "GetRandom(48)": _hex("8001 0000000c 0000017b 0030"),
    "PCR_Read(sha256:10)": _hex("8001 00000014 0000017e 00000001 000b 03 000400"),
    "PCR_Extend(10,'test')": _hex("8002 00000041 00000182 0000000a 00000009 40000009 0000 00 0000"
                                  "00000001 000b 74657374" + "00" * 28),
    "GetCapability(ALGS)": _hex("8001 00000016 0000017a 00000000 00000001 00000008"),
    "GetCapability(COMMANDS), > 0x100 bytes": _hex("8001 00000016 0000017a 00000002 0000011f 00000080"),
    "Shutdown(CLEAR)": _hex("8001 0000000c 00000145 0000"),
}
TPM12_COMMANDS = {
    "TPM_Startup(ST_CLEAR)": _hex("00c1 0000000c 00000099 0001"),
    "TPM_ContinueSelfTest": _hex("00c1 0000000a 00000053"),
    "TPM_SelfTestFull": _hex("00c1 0000000a 00000050"),
    "TPM_GetRandom(16)": _hex("00c1 0000000e 00000046 00000010"),
    "TPM_PCRRead(0)": _hex("00c1 0000000e 00000015 00000000"),
    "TPM_GetCapability(VERSION)": _hex("00c1 00000012 00000065 00000006 00000000"),
}
MALFORMED_COMMANDS = {
    "header size 6 (never answered)": _hex("8001 00000006"),
    "bad tag": _hex("1234 0000000a 00000144"),
    "size 10, 12 bytes sent": _hex("8001 0000000a 00000144 0000"),
    "size 0x1004 (overflow)": _hex("8001 00001004 0000017b") + bytes(0x1004 - 10),
    "size 0x2000 (truncated)": _hex("8001 00002000 0000017b"),
}


# -- accesses --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Access:
    """One guest access at a window-relative ``offset``; ``value`` is unused for reads."""

    write: bool
    offset: int
    size: int
    value: int = 0

    def qtest(self) -> str:
        """The access as a qtest protocol line."""
        if self.write:
            return f"write{SUFFIX[self.size]} 0x{BASE + self.offset:x} 0x{self.value:x}"
        return f"read{SUFFIX[self.size]} 0x{BASE + self.offset:x}"


def R(offset: int, size: int = 4) -> Access:
    return Access(False, offset, size)


def W(offset: int, size: int, value: int) -> Access:
    return Access(True, offset, size, value & ((1 << (8 * size)) - 1))


def parse_qtest(lines: Sequence[str]) -> list[Access]:
    """``readl 0xfed40018`` / ``writeb 0xfed40000 0x02`` lines (``#`` comments) -> accesses."""
    accesses = []
    for number, raw in enumerate(lines, 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        try:
            kind, size = words[0][:-1], SIZE_OF[words[0][-1]]
            offset = int(words[1], 0) - BASE
            if kind == "read" and len(words) == 2:
                accesses.append(R(offset, size))
            elif kind == "write" and len(words) == 3:
                accesses.append(W(offset, size, int(words[2], 0)))
            else:
                raise ValueError(line)
        except (KeyError, IndexError, ValueError):
            raise PpikitError(f"line {number}: not a qtest read/write: {raw.strip()!r}") from None
    return accesses


@dataclass(frozen=True)
class Config:
    name: str
    interface: str  # "tis" or "crb"
    version: TpmVersion

    @property
    def window(self) -> int:
        return 0x5000 if self.interface == "tis" else CRB_END

    @property
    def commands(self) -> dict[str, bytes]:
        family = TPM2_COMMANDS if self.version == TpmVersion.TPM_2_0 else TPM12_COMMANDS
        return {**family, **MALFORMED_COMMANDS}


CONFIGS = {
    "tis2": Config("tis2", "tis", TpmVersion.TPM_2_0),
    "tis12": Config("tis12", "tis", TpmVersion.TPM_1_2),
    "crb2": Config("crb2", "crb", TpmVersion.TPM_2_0),
}


# -- side (a): real QEMU 7.2 + swtpm -----------------------------------------------------------------
class QemuSide(Started):
    """QEMU 7.2 with a ``tpm-tis`` or ``tpm-crb`` in front of its own swtpm, spoken to via qtest.

    qtest runs on a unix socket, not stdio: a read of the TIS debug register 0xF90 makes QEMU print
    a state dump on its stdout, which would corrupt a stdio qtest stream.
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self._tmp = Path(tempfile.mkdtemp(prefix="ppikit-qdiff-"))
        self._procs: list[ManagedProcess] = []
        self._sock: socket.socket | None = None
        self._file: Any = None

    def _start(self) -> None:
        ctrl, state, qsock = self._tmp / "swtpm.sock", self._tmp / "state", self._tmp / "qtest.sock"
        state.mkdir()
        tpm2 = ["--tpm2"] if self.config.version == TpmVersion.TPM_2_0 else []
        swtpm = ManagedProcess(["swtpm", "socket", *tpm2, "--ctrl", f"type=unixio,path={ctrl}",
                                "--tpmstate", f"dir={state}"],
                               ready=lambda _p: ctrl.exists(), workdir=self._tmp / "swtpm-run")
        self._procs.append(swtpm)
        swtpm.start()
        device = "tpm-tis" if self.config.interface == "tis" else "tpm-crb"
        qemu = ManagedProcess(["qemu-system-x86_64", "-M", "q35", "-accel", "tcg", "-S", "-nodefaults",
                               "-display", "none", "-qtest", f"unix:{qsock},server=on,wait=off",
                               "-qtest-log", "/dev/null", "-chardev", f"socket,id=c,path={ctrl}",
                               "-tpmdev", "emulator,id=t,chardev=c", "-device", f"{device},tpmdev=t"],
                              ready=self._connect(qsock), workdir=self._tmp / "qemu-run", ready_timeout=30)
        self._procs.append(qemu)
        qemu.start()

    def _connect(self, path: Path) -> Any:
        def ready(_process: ManagedProcess) -> bool:
            if not path.exists():
                return False
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(str(path))
            except OSError:
                sock.close()
                raise
            sock.settimeout(IO_TIMEOUT)
            self._sock, self._file = sock, sock.makefile("rb")
            return True
        return ready

    def _command(self, line: str) -> str:
        assert self._sock is not None
        self._sock.sendall(line.encode() + b"\n")
        answer = self._file.readline().decode().strip()
        if not answer.startswith("OK"):
            qemu = self._procs[-1]
            raise PpikitError(f"qtest {line!r} answered {answer!r}; QEMU log: {qemu.log_tail(5)}")
        return answer

    def read(self, offset: int, size: int) -> int:
        return int(self._command(R(offset, size).qtest()).split()[1], 16)

    def write(self, offset: int, size: int, value: int) -> None:
        self._command(W(offset, size, value).qtest())

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        if self._sock is not None:
            self._sock.close()
        for process in reversed(self._procs):
            process.stop()
        shutil.rmtree(self._tmp, ignore_errors=True)


# -- side (b): ppikit's model + its own swtpm ----------------------------------------------------------
class RecordingBackend:
    """Delegates to a SwtpmBackend and remembers what was transmitted (command, locality, response)."""

    def __init__(self, backend: SwtpmBackend) -> None:
        self._backend = backend
        self.transmitted: list[tuple[bytes, int, bytes]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)

    @property
    def version(self) -> TpmVersion:
        return self._backend.version

    def transmit(self, command: bytes, locality: int) -> bytes:
        response = b""
        try:
            response = bytes(self._backend.transmit(command, locality))
        finally:  # a failed command was sent all the same (the device answers a fatal error)
            self.transmitted.append((command, locality, response))
        return response


def nondeterministic_range(command: bytes, response: bytes) -> range:
    """Response byte positions that may differ between two swtpms for this command."""
    ordinal = int.from_bytes(command[6:10], "big") if len(command) >= 10 else None
    if ordinal not in NONDETERMINISTIC:
        return range(0)
    start, end = NONDETERMINISTIC[ordinal]
    return range(start, len(response) if end is None else min(end, len(response)))


class ModelSide:
    """ppikit's device (synchronous mode) in front of a fresh SwtpmBackend, plus the bookkeeping
    that says which read bytes are comparable."""

    def __init__(self, config: Config, asynchronous: bool = False) -> None:
        self.config = config
        self.asynchronous = asynchronous
        self._swtpm = SwtpmBackend(config.version, timeout=MODEL_TIMEOUT)
        self.backend = RecordingBackend(self._swtpm)
        self.device: MmioDevice | None = None
        #: TIS: whether the current response came from a nondeterministic command.
        self._fifo_nondeterministic = False
        #: CRB: per data-buffer byte, whether it holds a nondeterministic response byte.
        self._buffer_nondeterministic = bytearray(CRB_END - DATA_BUFFER)

    def __enter__(self) -> Self:
        self._swtpm.__enter__()
        try:
            cls = TisDevice if self.config.interface == "tis" else CrbDevice
            self.device = cls(self.backend, asynchronous=self.asynchronous)  # type: ignore[arg-type]
        except BaseException:
            self._swtpm.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.device is not None:
            self.device.close()
        self._swtpm.__exit__(None, None, None)

    def compare_mask(self, offset: int, size: int) -> int:
        """Bit mask of the read value's bytes that must agree with QEMU."""
        mask = 0
        for index in range(size):
            byte = offset + index
            if self.config.interface == "tis":
                in_fifo = FIFO <= (byte & 0xFFF) < FIFO + 4 or XFIFO <= (byte & 0xFFF) <= XFIFO_END
                skip = in_fifo and self._fifo_nondeterministic
            else:
                skip = byte >= DATA_BUFFER and bool(self._buffer_nondeterministic[byte - DATA_BUFFER])
            if not skip:
                mask |= 0xFF << (8 * index)
        return mask

    def read(self, offset: int, size: int) -> int:
        assert self.device is not None
        return self.device.mmio_read(BASE + offset, size)

    def error(self) -> str:
        assert self.device is not None
        return str(self.device.last_backend_error)

    def write(self, offset: int, size: int, value: int) -> tuple[bytes, int, bytes] | None:
        """Write; returns (command, locality, response) if the write made the device send a command."""
        assert self.device is not None
        if self.config.interface == "crb":
            for byte in range(max(offset, DATA_BUFFER), min(offset + size, CRB_END)):
                self._buffer_nondeterministic[byte - DATA_BUFFER] = 0
        sent = len(self.backend.transmitted)
        self.device.mmio_write(BASE + offset, size, value)
        if len(self.backend.transmitted) == sent:
            return None
        command, locality, response = self.backend.transmitted[-1]
        varying = nondeterministic_range(command, response)
        if self.config.interface == "tis":
            self._fifo_nondeterministic = bool(varying)
        else:
            count = min(len(response), len(self._buffer_nondeterministic))
            self._buffer_nondeterministic[:count] = bytes(count)
            for position in varying:
                if position < count:
                    self._buffer_nondeterministic[position] = 1
        return command, locality, response


# -- running one sequence on both sides ------------------------------------------------------------------
class Divergence(AssertionError):
    """The first read whose QEMU and model values differ."""


class Unanswered(Exception):
    """A known, accepted difference that ends the sequence: swtpm never answered the command
    (QEMU 7.2 + swtpm 0.7.1 hang in EXECUTION / Start = 1 for ever, as QEMU's emulator backend reads
    the data channel without a timeout), while ppikit's backend gave up after its timeout and the
    model completed the command with QEMU's fatal-error response. Seen for commands shorter than a
    TPM header (TIS: 6..9 bytes; CRB: header size < 10, e.g. Start on an empty buffer)."""


@dataclass
class Trace:
    """What happened so far: (access, QEMU value, model value, note) per step; writes carry None."""

    steps: list[tuple[Access, int | None, int | None, str]] = field(default_factory=list)

    def python(self) -> str:
        """The steps as tuples for a regression test: ("w", offset, size, value) and
        ("r", offset, size, QEMU's value); ``offset`` is relative to 0xFED40000."""
        lines = []
        for access, qemu, _model, note in self.steps:
            op, value = ("w", access.value) if access.write else ("r", qemu)
            comment = f"  # {note}" if note and not access.write else ""
            lines.append(f'    ("{op}", 0x{access.offset:04X}, {access.size}, 0x{value:0{2 * access.size}X}),{comment}')
        return "\n".join(lines)

    def render(self) -> str:
        lines = []
        for access, qemu, model, note in self.steps:
            text = access.qtest()
            if qemu is not None:
                text += f"   # QEMU 0x{qemu:0{2 * access.size}x}"
                if model is not None and model != qemu:
                    text += f"  model 0x{model:0{2 * access.size}x}"
            if note:
                text += f"   [{note}]"
            lines.append(text)
        return "\n".join(lines)


def settle_access(config: Config, locality: int) -> Access:
    """The status read polled until a command sent by tpmGo / Start has completed."""
    return R((locality << 12) + STS) if config.interface == "tis" else R(CTRL_START)


def settled(config: Config, value: int) -> bool:
    return bool(value & STS_DATA_AVAILABLE) if config.interface == "tis" else not value & 1


def run_pair(config: Config, accesses: Sequence[Access], trace: Trace, *, stop: bool = True,
             asynchronous: bool = False) -> int:
    """Run ``accesses`` on fresh QEMU and model sides, appending to ``trace``. Raises
    :class:`Divergence` at the first differing read if ``stop``; returns the number of differing
    reads otherwise. ``asynchronous`` runs the model's device in asynchronous mode and skips the
    settle polls: only for sequences whose commands never complete within the model's
    :data:`MODEL_TIMEOUT` (commands swtpm never answers), otherwise both sides race."""
    differences = 0

    def compare(access: Access, qemu: int, model: int, mask: int, note: str) -> None:
        nonlocal differences
        trace.steps.append((access, qemu, model, note))
        if (qemu ^ model) & mask:
            differences += 1
            if stop:
                raise Divergence(
                    f"{config.name}: {access.qtest()} -> QEMU 0x{qemu:x}, ppikit 0x{model:x} "
                    f"(compared bytes mask 0x{mask:x}) after {len(trace.steps) - 1} steps:\n{trace.render()}")

    with QemuSide(config) as qemu, ModelSide(config, asynchronous) as model:
        for access in accesses:
            if not access.write:
                mask = model.compare_mask(access.offset, access.size)
                compare(access, qemu.read(access.offset, access.size), model.read(access.offset, access.size),
                        mask, "" if mask == (1 << 8 * access.size) - 1 else f"mask 0x{mask:x}")
                continue
            qemu.write(access.offset, access.size, access.value)
            sent = model.write(access.offset, access.size, access.value)
            trace.steps.append((access, None, None, "model sent a command" if sent else ""))
            if sent is None:
                continue
            poll = settle_access(config, sent[1])
            model_failed = not sent[2]
            deadline = time.monotonic() + (HANG_GRACE if model_failed else SETTLE_TIMEOUT)
            polls = 0
            while not settled(config, value := qemu.read(poll.offset, poll.size)):
                polls += 1
                if time.monotonic() > deadline:
                    break  # QEMU never completed: the comparison below reports it
                time.sleep(0.0005)
            if model_failed and not settled(config, value):
                trace.steps.append((poll, value, None, f"QEMU still executing; ppikit: {model.error()}"))
                raise Unanswered(f"{config.name}: {len(sent[0])}-byte command {sent[0].hex()} never answered")
            compare(poll, value, model.read(poll.offset, poll.size), 0xFFFFFFFF,
                    f"settle poll, QEMU polled {polls + 1}x")
    return differences


# -- hypothesis strategies ----------------------------------------------------------------------------------
def chunked_writes(command: bytes, chunk: int, address: Any) -> list[Access]:
    """``command`` as writes of ``chunk`` bytes (the tail in single bytes); piece i goes to
    ``address(i, byte_position)``."""
    accesses = []
    pos = 0
    index = 0
    while pos < len(command):
        size = chunk if len(command) - pos >= chunk else 1
        accesses.append(W(address(index, pos), size, int.from_bytes(command[pos:pos + size], "little")))
        pos += size
        index += 1
    return accesses


def tis_strategy(config: Config) -> st.SearchStrategy[list[Access]]:
    loc = st.sampled_from([0, 0, 0, 1, 2, 3, 4])
    sizes = st.sampled_from([1, 2, 4, 8])
    command = st.sampled_from(sorted(config.commands.items()))
    chunk = st.sampled_from([1, 1, 2, 4])

    @st.composite
    def raw(draw: Any) -> list[Access]:
        size = draw(sizes)
        offset = draw(st.one_of(st.integers(0, config.window - size),
                                st.builds(lambda l, o: (l << 12) + o, loc,
                                          st.sampled_from([ACCESS, INT_ENABLE, INT_VECTOR, INT_STATUS, INTF_CAP,
                                                           STS, STS + 1, STS + 2, STS + 3, FIFO, FIFO + 1,
                                                           FIFO + 2, 0x20, 0x2C, IFACE_ID, IFACE_ID + 2, XFIFO,
                                                           XFIFO + 4, XFIFO_END - 3, DID_VID, RID, DEBUG]))))
        if draw(st.booleans()):
            return [R(offset, size)]
        value = draw(st.one_of(st.integers(0, (1 << 8 * size) - 1),
                               st.sampled_from([0x02, 0x20, 0x08, 0x40, 0xFF, 0xFFFFFFFF, 0x80000087])))
        return [W(offset, size, value)]

    access_write = st.builds(lambda l, v: [W((l << 12) + ACCESS, 1, v)], loc,
                             st.sampled_from([0x02, 0x02, 0x20, 0x20, 0x08, 0x10, 0x0A, 0x22, 0x28, 0x12, 0x00,
                                              0xFF]))
    sts_write = st.builds(lambda l, ov: [W((l << 12) + ov[0], ov[1], ov[2])], loc,
                          st.sampled_from([(STS, 4, 0x40), (STS, 1, 0x40), (STS, 4, 0x20), (STS, 1, 0x20),
                                           (STS, 1, 0x02), (STS, 1, 0x60), (STS, 1, 0xC0), (STS, 4, 0x01000000),
                                           (STS + 3, 1, 0x01), (STS + 3, 1, 0x02), (STS, 4, 0x02000000),
                                           (STS, 2, 0x0040), (STS, 4, 0x22)]))

    @st.composite
    def fifo_write(draw: Any) -> list[Access]:
        l, data, size = draw(loc), draw(command)[1], draw(chunk)
        if draw(st.booleans()):
            return chunked_writes(data, size, lambda i, pos: (l << 12) + FIFO)
        return chunked_writes(data, size, lambda i, pos: (l << 12) + XFIFO + ((pos & 0x3F) & ~(size - 1)))

    fifo_read = st.builds(lambda l, n, s, reg: [R((l << 12) + reg, s)] * n, loc, st.integers(1, 40),
                          st.sampled_from([1, 1, 2, 4]), st.sampled_from([FIFO, FIFO, XFIFO, XFIFO + 8, FIFO + 2]))

    @st.composite
    def transaction(draw: Any) -> list[Access]:
        l, data, size = draw(loc), draw(command)[1], draw(chunk)
        base = l << 12
        steps = [W(base + ACCESS, 1, 0x02), R(base + ACCESS, 1), W(base + STS, 1, 0x40), R(base + STS)]
        steps += chunked_writes(data, size, lambda i, pos: base + FIFO)
        steps += [R(base + STS), W(base + STS, 1, 0x20), R(base + STS)]
        read_size = draw(st.sampled_from([1, 4]))
        steps += [R(base + FIFO, read_size)] * draw(st.integers(0, 20)) + [R(base + STS)]
        if draw(st.booleans()):
            steps.append(W(base + ACCESS, 1, 0x20))
        return steps

    int_write = st.builds(lambda l, reg, sv: [W((l << 12) + reg, sv[0], sv[1]), R((l << 12) + reg)], loc,
                          st.sampled_from([INT_ENABLE, INT_STATUS]),
                          st.sampled_from([(4, 0xFFFFFFFF), (4, 0x80000087), (1, 0x87), (4, 0x01), (4, 0x04),
                                           (1, 0xFF), (4, 0x80000000), (2, 0xFFFF)]))
    iface_lock = st.builds(lambda l, sv: [W((l << 12) + sv[0], sv[1], sv[2])], loc,
                           st.sampled_from([(IFACE_ID, 4, 0x00080000), (IFACE_ID + 2, 1, 0x08),
                                            (IFACE_ID, 4, 0xFFFFFFFF)]))
    return st.one_of(raw(), access_write, sts_write, fifo_write(), fifo_read, transaction(), int_write,
                     iface_lock, st.just(tis_probe()))


def tis_probe() -> list[Access]:
    """Every status register of every locality, plus the byte-wise burst count of locality 0."""
    reads = []
    for l in range(5):
        base = l << 12
        reads += [R(base + ACCESS, 1), R(base + STS), R(base + INT_ENABLE), R(base + INT_STATUS), R(base + IFACE_ID)]
    return reads + [R(STS + 1, 1), R(STS + 2, 1), R(STS + 1, 2)]


def crb_strategy(config: Config) -> st.SearchStrategy[list[Access]]:
    sizes = st.sampled_from([1, 2, 4, 8])
    command = st.sampled_from(sorted(config.commands.items()))

    @st.composite
    def raw(draw: Any) -> list[Access]:
        size = draw(sizes)
        offset = draw(st.one_of(st.integers(0, config.window - size),
                                st.sampled_from([LOC_STATE, LOC_CTRL, LOC_STS, 0x30, 0x34, 0x38, CTRL_REQ, CTRL_STS,
                                                 CTRL_CANCEL, CTRL_START, 0x50, 0x54, 0x58, 0x5C, 0x60, 0x64, 0x68,
                                                 0x6C, 0x7C, 0x7E, DATA_BUFFER, 0x81]),
                                st.integers(DATA_BUFFER, 0x100)))
        offset = min(offset, config.window - size)
        if draw(st.booleans()):
            return [R(offset, size)]
        return [W(offset, size, draw(st.one_of(st.integers(0, (1 << 8 * size) - 1), st.sampled_from([1, 2, 4, 8]))))]

    register_write = st.builds(lambda rv, size: [W(rv[0], size, rv[1])],
                               st.sampled_from([(LOC_CTRL, 1), (LOC_CTRL, 2), (LOC_CTRL, 4), (LOC_CTRL, 8),
                                                (LOC_CTRL, 3), (CTRL_REQ, 1), (CTRL_REQ, 2), (CTRL_REQ, 3),
                                                (CTRL_CANCEL, 1), (CTRL_START, 1), (CTRL_START, 1), (CTRL_START, 3),
                                                (CTRL_START, 0x101), (LOC_STS, 1), (CTRL_STS, 1)]),
                               st.sampled_from([1, 4, 4]))

    @st.composite
    def buffer_write(draw: Any) -> list[Access]:
        data, size = draw(command)[1], draw(st.sampled_from([1, 4, 8]))
        start = DATA_BUFFER + draw(st.sampled_from([0, 0, 0, 1, 4]))
        data = data[:CRB_END - start]
        return chunked_writes(data, size, lambda i, pos: start + pos)

    buffer_read = st.builds(lambda start, n, s: [R(min(start + k * s, CRB_END - s), s) for k in range(n)],
                            st.sampled_from([DATA_BUFFER, DATA_BUFFER + 2, DATA_BUFFER + 10, 0x7C]),
                            st.integers(1, 16), st.sampled_from([1, 4, 8]))

    @st.composite
    def transaction(draw: Any) -> list[Access]:
        data, size = draw(command)[1], draw(st.sampled_from([4, 8]))
        steps = []
        if draw(st.booleans()):
            steps.append(W(LOC_CTRL, 4, 1))
        steps += [W(CTRL_REQ, 4, 1), R(CTRL_STS)]
        steps += chunked_writes(data[:CRB_END - DATA_BUFFER], size, lambda i, pos: DATA_BUFFER + pos)
        steps += [W(CTRL_START, 4, 1), R(CTRL_START), R(CTRL_STS)]
        steps += [R(DATA_BUFFER + 4 * k) for k in range(draw(st.integers(0, 8)))]
        if draw(st.booleans()):
            steps += [W(CTRL_REQ, 4, 2), W(LOC_CTRL, 4, 2)]
        return steps

    return st.one_of(raw(), register_write, buffer_write(), buffer_read, transaction(), st.just(crb_probe()))


def crb_probe() -> list[Access]:
    """Every 32-bit register of the CRB block, LOC_STATE's byte, and the start of the buffer."""
    return [R(offset) for offset in range(0, DATA_BUFFER, 4)] + [R(LOC_STATE, 1)] + \
        [R(DATA_BUFFER + 4 * k) for k in range(4)]


def strategy(config: Config) -> st.SearchStrategy[list[Access]]:
    return tis_strategy(config) if config.interface == "tis" else crb_strategy(config)


# -- commands --------------------------------------------------------------------------------------------------
@dataclass
class Outcome:
    config: str
    examples: int
    accesses: int
    unanswered: int
    retried: int
    process_failures: list[str]
    seconds: float
    divergence: str | None


def fuzz(config: Config, examples: int, max_steps: int, seed: int | None) -> Outcome:
    """Run ``examples`` hypothesis sequences; on a divergence, return hypothesis' shrunk report."""
    stats = {"examples": 0, "accesses": 0, "unanswered": 0, "retried": 0}
    probe = tis_probe() if config.interface == "tis" else crb_probe()
    last_failure: list[str] = []
    process_failures: list[str] = []

    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck), print_blob=False,
              phases=[Phase.generate, Phase.shrink])
    @given(st.lists(strategy(config), min_size=1, max_size=max_steps))
    def check(steps: list[list[Access]]) -> None:
        accesses = [access for step in steps for access in step] + probe
        stats["examples"] += 1
        stats["accesses"] += len(accesses)
        for attempt in range(INFRA_ATTEMPTS):
            try:
                run_pair(config, accesses, Trace())
            except Unanswered:
                stats["unanswered"] += 1  # accepted difference; the sequence ends here
            except Divergence as exc:
                last_failure[:] = [str(exc)]
                raise
            except (PpikitError, OSError) as exc:  # a process that did not start or answer in time
                last_failure[:] = [f"{type(exc).__name__}: {exc}"]
                if attempt == INFRA_ATTEMPTS - 1:
                    raise
                stats["retried"] += 1
                process_failures.append(last_failure[0][:300])
                continue
            return

    if seed is not None:
        check = hypothesis_seed(seed)(check)
    started = time.monotonic()
    divergence = None
    try:
        check()
    except Divergence as exc:
        divergence = str(exc)
    except Flaky as exc:
        divergence = f"not reproducible (timing?): {exc}\nlast failure seen:\n" + "".join(last_failure)
    except (PpikitError, OSError) as exc:
        divergence = f"infrastructure failure {INFRA_ATTEMPTS} times in a row: {type(exc).__name__}: {exc}"
    return Outcome(config.name, stats["examples"], stats["accesses"], stats["unanswered"], stats["retried"],
                   process_failures, time.monotonic() - started, divergence)


def replay(config: Config, accesses: Sequence[Access], as_python: bool = False, asynchronous: bool = False) -> int:
    """Run one sequence on both sides, print every step; returns the number of differing reads."""
    trace = Trace()
    try:
        differences = run_pair(config, accesses, trace, stop=False, asynchronous=asynchronous)
    except Unanswered as exc:
        print(trace.python() if as_python else trace.render())
        print(f"# stopped: {exc} (QEMU hangs for ever, ppikit answers a fatal error: accepted)")
        return 0
    print(trace.python() if as_python else trace.render())
    print(f"# {config.name}: {len(accesses)} accesses, {differences} differing read(s)")
    return differences


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="hypothesis-driven differential run")
    run.add_argument("-c", "--config", action="append", choices=sorted(CONFIGS),
                     help="configuration (repeatable; default: all)")
    run.add_argument("-n", "--examples", type=int, default=100, help="sequences per configuration")
    run.add_argument("--max-steps", type=int, default=30, help="traffic steps per sequence (before the probe)")
    run.add_argument("--seed", type=int, help="derandomize (reproducible runs)")
    rep = sub.add_parser("replay", help="run one qtest-syntax sequence on both sides and print it")
    rep.add_argument("-c", "--config", choices=sorted(CONFIGS), required=True)
    rep.add_argument("--python", action="store_true", help="print test tuples instead of qtest lines")
    rep.add_argument("--asynchronous", action="store_true",
                     help="model in asynchronous mode, no settle polls (for commands that never complete)")
    rep.add_argument("file", help="file with qtest read/write lines ('-' = stdin)")
    args = parser.parse_args(argv)
    try:
        if args.command == "replay":
            text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()
            return 1 if replay(CONFIGS[args.config], parse_qtest(text.splitlines()), args.python,
                             args.asynchronous) else 0
        found = False
        for name in args.config or sorted(CONFIGS):
            outcome = fuzz(CONFIGS[name], args.examples, args.max_steps, args.seed)
            verdict = "DIVERGENCE" if outcome.divergence else "no divergence"
            print(f"{outcome.config}: {outcome.examples} sequences ({outcome.unanswered} ended by a command "
                  f"swtpm never answers, {outcome.retried} re-run after a process failure), "
                  f"{outcome.accesses} accesses, {outcome.seconds:.0f} s: {verdict}", flush=True)
            for failure in outcome.process_failures[:3]:
                print(f"  process failure (re-run): {failure}", flush=True)
            if outcome.divergence:
                found = True
                print(outcome.divergence, flush=True)
        return 1 if found else 0
    except (PpikitError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
