"""Test support for the TIS/CRB model tests: QEMU's qtest fake swtpm as a Backend, and harnesses
that address registers by (locality, offset).

Register-only tests use :class:`QtestEmulator`, a backend that answers exactly like QEMU's own
qtest fake swtpm (``tests/qtest/tpm-emu.c``): every TPM command gets the 10-byte error reply, the
established flag reads 0, the buffer size is 4096. That is what QEMU's conformance tests run
against, so the expected values carry over one to one.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from ppikit.device.backends.base import BackendError
from ppikit.device.crb import CrbDevice
from ppikit.device.tis import TisDevice
from ppikit.tpm.version import TpmVersion

#: tpm-emu.c's answer to every command: TPM 2 tag 0x8001, size 10, TPM_RC_FAILURE 0x101.
TPM2_ERROR_REPLY = bytes.fromhex("8001 0000000a 00000101".replace(" ", ""))
#: ... and for TPM 1.2: tag 0x00C4, size 10, TPM_FAIL 9 (also QEMU's fatal-error response).
TPM12_ERROR_REPLY = bytes.fromhex("00c4 0000000a 00000009".replace(" ", ""))
#: TPM2_Startup(SU_CLEAR), the qtests' test command.
TPM2_STARTUP_CLEAR = bytes.fromhex("8001 0000000c 00000144 0000".replace(" ", ""))

TIS = 0xFED40000


@dataclass
class QtestEmulator:
    """A Backend answering like QEMU's qtest fake swtpm, recording what the device asked.

    ``hold`` (an Event) makes ``transmit`` block until it is set, so asynchronous tests can look
    at the device while a command executes; ``fail`` makes ``transmit`` raise BackendError.
    """

    version: TpmVersion = TpmVersion.TPM_2_0
    buffer_size: int = 4096
    reply: bytes | None = None
    fail: bool = False
    fail_startup: bool = False
    hold: threading.Event | None = None
    commands: list[tuple[bytes, int]] = field(default_factory=list)
    startups: list[int] = field(default_factory=list)
    cancels: int = 0
    reset_established_calls: list[int] = field(default_factory=list)

    def get_buffer_size(self) -> int:
        return self.buffer_size

    def startup(self, buffer_size: int) -> None:
        if self.fail_startup:
            raise BackendError("swtpm CMD_INIT failed: TPM_FAIL")
        self.startups.append(buffer_size)

    def transmit(self, command: bytes, locality: int) -> bytes:
        self.commands.append((command, locality))
        if self.hold is not None:
            self.hold.wait(10)
        if self.fail:
            raise BackendError("swtpm data channel: peer closed the connection")
        if self.reply is not None:
            return self.reply
        return TPM2_ERROR_REPLY if self.version == TpmVersion.TPM_2_0 else TPM12_ERROR_REPLY

    def cancel(self) -> None:
        self.cancels += 1

    def get_established(self) -> bool:
        return False

    def reset_established(self, locality: int) -> None:
        self.reset_established_calls.append(locality)


class TisHarness:
    """A TisDevice plus register accessors by (locality, offset)."""

    def __init__(self, device: TisDevice, backend: QtestEmulator) -> None:
        self.device = device
        self.backend = backend

    def read(self, locty: int, reg: int, size: int = 4) -> int:
        return self.device.mmio_read(TIS + (locty << 12) + reg, size)

    def write(self, locty: int, reg: int, value: int, size: int = 1) -> None:
        self.device.mmio_write(TIS + (locty << 12) + reg, size, value)

    def access(self, locty: int) -> int:
        return self.read(locty, 0x00, 1)

    def sts(self, locty: int = 0) -> int:
        return self.read(locty, 0x18, 4)

    def send_bytes(self, data: bytes, locty: int = 0) -> None:
        for byte in data:
            self.write(locty, 0x24, byte)


class CrbHarness:
    """A CrbDevice plus register accessors by offset."""

    def __init__(self, device: CrbDevice, backend: QtestEmulator) -> None:
        self.device = device
        self.backend = backend

    def read(self, reg: int, size: int = 4) -> int:
        return self.device.mmio_read(TIS + reg, size)

    def write(self, reg: int, value: int, size: int = 4) -> None:
        self.device.mmio_write(TIS + reg, size, value)
