"""Firmware-side TIS and CRB drivers: send a TPM command through MMIO only, as firmware does.

Why they exist: the PPI firmware models (and users' own firmware tests) must reach the TPM the
way OVMF's ``Tpm2DeviceLibDTpm`` / ``Tcg2Dxe`` do -- request the locality, commandReady, FIFO
writes bounded by the burst count, tpmGo, poll, read, relinquish -- so that what the device sees
is what QEMU sees from real firmware. A driver talks to anything with ``mmio_read(addr, size)`` /
``mmio_write(addr, size, value)``: a :class:`TisDevice` / :class:`CrbDevice`, or a platform bus.

``transmit(command) -> response`` is the transport the TPM command layer (``TpmClient``) uses.
Every wait has a deadline: :class:`DriverTimeout`; a TPM that misbehaves (Expect still set after
the whole command, a malformed response header, CRB tpmSts): :class:`DriverError`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Protocol

from ppikit.device.registers import (
    A_CRB_CTRL_REQ,
    A_CRB_CTRL_START,
    A_CRB_CTRL_STS,
    A_CRB_LOC_CTRL,
    A_CRB_LOC_STS,
    CRB_CTRL_REQ_CMD_READY,
    CRB_CTRL_REQ_GO_IDLE,
    CRB_CTRL_STS_TPM_IDLE,
    CRB_CTRL_STS_TPM_STS,
    CRB_LOC_CTRL_RELINQUISH,
    CRB_LOC_CTRL_REQUEST_ACCESS,
    CRB_LOC_STS_GRANTED,
    CRB_START_INVOKE,
    TPM_CRB_ADDR_BASE,
    TPM_TIS_ACCESS_ACTIVE_LOCALITY,
    TPM_TIS_ACCESS_REQUEST_USE,
    TPM_TIS_ACCESS_TPM_REG_VALID_STS,
    TPM_TIS_ADDR_BASE,
    TPM_TIS_BUFFER_MAX,
    TPM_TIS_LOCALITY_SHIFT,
    TPM_TIS_NUM_LOCALITIES,
    TPM_TIS_REG_ACCESS,
    TPM_TIS_REG_DATA_FIFO,
    TPM_TIS_REG_STS,
    TPM_TIS_STS_COMMAND_READY,
    TPM_TIS_STS_DATA_AVAILABLE,
    TPM_TIS_STS_EXPECT,
    TPM_TIS_STS_TPM_GO,
    TPM_TIS_STS_VALID,
    A_CRB_CTRL_CMD_LADDR,
    A_CRB_CTRL_CMD_SIZE,
    A_CRB_CTRL_RSP_ADDR,
    A_CRB_CTRL_RSP_SIZE,
)
from ppikit.device.mmio import copy_from, copy_to, repeat_reads, repeat_writes, tpm_header_size
from ppikit.errors import PpikitError, UsageError

TPM_HEADER_SIZE = 10  #: tag (2), size (4), code (4)
_MAX_RESPONSE = TPM_TIS_BUFFER_MAX


class DriverError(PpikitError):
    """The TPM interface did not behave as the protocol requires (firmware would fail too)."""


class DriverTimeout(DriverError):
    """A register did not reach the awaited state before the deadline."""


class MmioBus(Protocol):
    """What a driver needs: guest-physical MMIO reads and writes."""

    def mmio_read(self, addr: int, size: int) -> int: ...

    def mmio_write(self, addr: int, size: int, value: int) -> None: ...


def _response_size(header: bytes) -> int:
    size = tpm_header_size(header)
    if not TPM_HEADER_SIZE <= size <= _MAX_RESPONSE:
        raise DriverError(f"malformed TPM response header {header[:TPM_HEADER_SIZE].hex()} (size {size})")
    return size


class _Driver:
    """Shared deadline polling."""

    def __init__(self, bus: MmioBus, *, base: int | None, default_base: int, timeout: float) -> None:
        self.bus = bus
        self._bus_read, self._bus_write = bus.mmio_read, bus.mmio_write  # bound once: every access uses them
        # FIFO transfers and memcpy: the bus's own (TisDevice, CrbDevice) or, for a bus with single
        # accesses only, the same accesses one by one
        self._read_rep: Callable[[int, int, int], bytes] = getattr(
            bus, "mmio_read_rep", partial(repeat_reads, bus.mmio_read))
        self._write_rep: Callable[[int, int, bytes], None] = getattr(
            bus, "mmio_write_rep", partial(repeat_writes, bus.mmio_write))
        self._read_block: Callable[[int, int], bytes] = getattr(
            bus, "mmio_read_block", partial(copy_from, bus.mmio_read))
        self._write_block: Callable[[int, bytes], None] = getattr(
            bus, "mmio_write_block", partial(copy_to, bus.mmio_write))
        self.base = getattr(bus, "base", default_base) if base is None else base
        self.timeout = timeout

    def _wait(self, addr: int, size: int, done: Callable[[int], bool], what: str) -> int:
        """Poll ``addr`` until ``done(value)``; return the value or raise :class:`DriverTimeout`."""
        read = self.bus.mmio_read
        value = read(addr, size)
        if done(value):
            return value
        deadline = time.monotonic() + self.timeout
        while True:
            time.sleep(0)  # let a backend thread run, like a firmware stall between polls
            value = read(addr, size)
            if done(value):
                return value
            if time.monotonic() > deadline:
                raise DriverTimeout(f"timed out after {self.timeout:g} s waiting for {what} "
                                    f"(register 0x{addr:08X} = 0x{value:0{2 * size}X})")


def _bits_set(mask: int) -> Callable[[int], bool]:
    return lambda value: value & mask == mask


def _bits_clear(mask: int) -> Callable[[int], bool]:
    return lambda value: not value & mask


def _burst(sts: int) -> int:
    return (sts >> 8) & 0xFFFF


_DATA_READY = TPM_TIS_STS_VALID | TPM_TIS_STS_DATA_AVAILABLE
# CRB completion tests for the waits that poll (built once)
_LOC_GRANTED = _bits_set(CRB_LOC_STS_GRANTED)
_NOT_IDLE = _bits_clear(CRB_CTRL_STS_TPM_IDLE)
_START_DONE = _bits_clear(CRB_START_INVOKE)


class TisDriver(_Driver):
    """A TIS FIFO driver for one locality, shaped like OVMF's ``Tpm2Tis.c`` / ``TisPc.c``.

    Like OVMF (``Tpm2RequestUseTpm`` once, then ``Tpm2TisTpmCommand`` per command) the locality
    is requested on first use and kept; it is requested again whenever STS reads all-ones (the
    locality is no longer active, e.g. after a reset or a seize). ``keep_locality=False``
    relinquishes it after every command instead, as Linux ``tpm_tis`` does.
    """

    def __init__(self, bus: MmioBus, *, locality: int = 0, timeout: float = 10.0,
                 base: int | None = None, keep_locality: bool = True) -> None:
        """:param bus: the TIS device (or any MMIO bus); its ``base`` is used unless given.
        :param locality: 0..4 (locality 4 cannot write on QEMU: requests then time out).
        :param timeout: seconds for each wait (locality grant, commandReady, response).
        :param keep_locality: keep the locality between commands (OVMF) or relinquish (Linux)."""
        if locality not in range(TPM_TIS_NUM_LOCALITIES):
            raise UsageError(f"TIS locality must be 0..4, not {locality!r}")
        super().__init__(bus, base=base, default_base=TPM_TIS_ADDR_BASE, timeout=timeout)
        self.locality = locality
        self.keep_locality = keep_locality
        window = self.base + (locality << TPM_TIS_LOCALITY_SHIFT)
        self._access = window + TPM_TIS_REG_ACCESS
        self._sts = window + TPM_TIS_REG_STS
        self._fifo = window + TPM_TIS_REG_DATA_FIFO

    def request_locality(self) -> None:
        """Write requestUse and wait until ACCESS shows tpmRegValidSts | activeLocality."""
        granted = _bits_set(TPM_TIS_ACCESS_TPM_REG_VALID_STS | TPM_TIS_ACCESS_ACTIVE_LOCALITY)
        if granted(self.bus.mmio_read(self._access, 1)):
            return
        self.bus.mmio_write(self._access, 1, TPM_TIS_ACCESS_REQUEST_USE)
        self._wait(self._access, 1, granted, f"locality {self.locality}")

    def relinquish_locality(self) -> None:
        """Write activeLocality to ACCESS (give the locality up)."""
        self.bus.mmio_write(self._access, 1, TPM_TIS_ACCESS_ACTIVE_LOCALITY)

    def transmit(self, command: bytes) -> bytes:
        """Send ``command`` and return the complete response."""
        write, read, sts_addr = self._bus_write, self._bus_read, self._sts
        write(sts_addr, 1, TPM_TIS_STS_COMMAND_READY)
        sts = read(sts_addr, 4)
        if sts == 0xFFFFFFFF:  # STS reads all-ones unless our locality is active
            self.request_locality()
            write(sts_addr, 1, TPM_TIS_STS_COMMAND_READY)
            sts = read(sts_addr, 4)
        try:
            if not sts & TPM_TIS_STS_COMMAND_READY:
                sts = self._wait(sts_addr, 4, _bits_set(TPM_TIS_STS_COMMAND_READY), "STS.commandReady")
            self._write_command(command, sts)
            write(sts_addr, 1, TPM_TIS_STS_TPM_GO)
            sts = read(sts_addr, 4)
            if sts & _DATA_READY != _DATA_READY:
                try:
                    sts = self._wait(sts_addr, 4, _bits_set(_DATA_READY), "STS.dataAvail (command execution)")
                except DriverTimeout:
                    write(sts_addr, 1, TPM_TIS_STS_COMMAND_READY)  # abort, as OVMF does
                    raise
            response = self._read_response(sts)
            write(sts_addr, 1, TPM_TIS_STS_COMMAND_READY)  # OVMF: ready for the next one
        finally:
            if not self.keep_locality:
                self.relinquish_locality()
        return response

    def _write_command(self, command: bytes, sts: int) -> None:
        """FIFO writes bounded by the burst count: 4 bytes per access where the burst allows."""
        write_rep, fifo = self._write_rep, self._fifo
        index, total = 0, len(command)
        burst = (sts >> 8) & 0xFFFF
        if burst >= total and not total & 3:  # the usual case: the whole command, one burst of words
            write_rep(fifo, 4, command)
            index = total
        while index < total:
            if burst == 0:
                burst = _burst(self._wait(self._sts, 4, _burst, "a non-zero burst count"))
            end = index + burst if burst < total - index else total
            burst -= end - index
            words_end = end - ((end - index) & 3)
            if words_end > index:
                write_rep(fifo, 4, command[index:words_end])
            if words_end < end:
                write_rep(fifo, 1, command[words_end:end])
            index = end
        sts = self._bus_read(self._sts, 4)
        if sts & (TPM_TIS_STS_VALID | TPM_TIS_STS_EXPECT) != TPM_TIS_STS_VALID:
            raise DriverError(f"TPM still expects data after the whole {total}-byte command "
                              f"(STS 0x{sts:08X})")

    def _read_response(self, sts: int) -> bytes:
        """Read the response in burst-bounded FIFO reads, 4 bytes each where the burst allows.

        The burst count never exceeds what is left of the response, so a whole burst is read
        before the header is known; after that, only up to the header's size. Like OVMF's
        ``Tpm2TisTpmCommand``, STS is not read again after the last byte: commandReady follows."""
        read_rep, fifo = self._read_rep, self._fifo
        data = b""
        needed = 0  # unknown until the header is in
        burst = (sts >> 8) & 0xFFFF
        if burst >= TPM_HEADER_SIZE and not burst & 3:  # the usual case: one burst of words, all of it
            data = read_rep(fifo, 4, burst >> 2)
            needed, burst = _response_size(data), 0
        while not needed or len(data) < needed:
            if burst == 0:
                sts = self._wait(self._sts, 4, _burst, "a non-zero burst count")
                if not sts & TPM_TIS_STS_DATA_AVAILABLE:
                    raise DriverError(f"TPM response ended after {len(data)} of {needed or TPM_HEADER_SIZE} "
                                      f"bytes (header {data[:TPM_HEADER_SIZE].hex()})")
                burst = _burst(sts)
            chunk = burst if not needed or burst < needed - len(data) else needed - len(data)
            burst -= chunk
            data += read_rep(fifo, 4, chunk >> 2)
            if chunk & 3:
                data += read_rep(fifo, 1, chunk & 3)
            if not needed and len(data) >= TPM_HEADER_SIZE:
                needed = _response_size(data)
        return data if len(data) == needed else data[:needed]


class CrbDriver(_Driver):
    """A CRB driver (locality 0), shaped like OVMF's ``Tpm2Ptp.c`` CRB path.

    Like OVMF (``PtpCrbRequestUseTpm`` once, then ``PtpCrbTpmCommand`` per command, which does not
    touch the locality) the locality is requested on first use and kept; LOC_STS is read before
    each command and the locality requested again if it is no longer granted (after a reset, or a
    relinquish by someone else). ``keep_locality=False`` requests and relinquishes it around every
    command instead, as Linux ``tpm_crb`` does.
    """

    def __init__(self, bus: MmioBus, *, timeout: float = 10.0, base: int | None = None,
                 keep_locality: bool = True) -> None:
        """:param bus: the CRB device (or any MMIO bus); its ``base`` is used unless given.
        :param timeout: seconds for each wait (locality grant, cmdReady, Start completion).
        :param keep_locality: keep the locality between commands (OVMF) or relinquish (Linux)."""
        super().__init__(bus, base=base, default_base=TPM_CRB_ADDR_BASE, timeout=timeout)
        self.keep_locality = keep_locality
        self._buffers: tuple[int, int, int, int] | None = None

    def _buffer_layout(self) -> tuple[int, int, int, int]:
        """(command address, command size, response address, response size) from the control
        area, read once (QEMU's are constant)."""
        if self._buffers is None:
            read, base = self.bus.mmio_read, self.base
            self._buffers = (read(base + A_CRB_CTRL_CMD_LADDR, 8), read(base + A_CRB_CTRL_CMD_SIZE, 4),
                             read(base + A_CRB_CTRL_RSP_ADDR, 8), read(base + A_CRB_CTRL_RSP_SIZE, 4))
        return self._buffers

    def transmit(self, command: bytes) -> bytes:
        """Send ``command`` and return the complete response; goIdle after (and relinquish,
        unless the locality is kept).

        Each wait reads its register once and polls only if the TPM is not there yet (with QEMU's
        CRB, which answers synchronously here, it always is)."""
        write, read, base = self._bus_write, self._bus_read, self.base
        cmd_addr, cmd_size, rsp_addr, rsp_size = self._buffer_layout()
        if len(command) > cmd_size:
            raise DriverError(f"{len(command)}-byte command exceeds the CRB command buffer ({cmd_size} bytes)")
        if not (self.keep_locality and read(base + A_CRB_LOC_STS, 4) & CRB_LOC_STS_GRANTED):
            write(base + A_CRB_LOC_CTRL, 4, CRB_LOC_CTRL_REQUEST_ACCESS)
            if not read(base + A_CRB_LOC_STS, 4) & CRB_LOC_STS_GRANTED:
                self._wait(base + A_CRB_LOC_STS, 4, _LOC_GRANTED, "LOC_STS.Granted")
        try:
            write(base + A_CRB_CTRL_REQ, 4, CRB_CTRL_REQ_CMD_READY)
            if read(base + A_CRB_CTRL_STS, 4) & CRB_CTRL_STS_TPM_IDLE:
                self._wait(base + A_CRB_CTRL_STS, 4, _NOT_IDLE, "CTRL_STS.tpmIdle = 0")
            self._write_block(cmd_addr, command)
            write(base + A_CRB_CTRL_START, 4, CRB_START_INVOKE)
            if read(base + A_CRB_CTRL_START, 4) & CRB_START_INVOKE:
                self._wait(base + A_CRB_CTRL_START, 4, _START_DONE, "CTRL_START = 0 (command execution)")
            if read(base + A_CRB_CTRL_STS, 4) & CRB_CTRL_STS_TPM_STS:
                raise DriverError("CRB reports a fatal error (CTRL_STS.tpmSts = 1)")
            header = self._read_block(rsp_addr, TPM_HEADER_SIZE)
            size = _response_size(header)
            if size > rsp_size:
                raise DriverError(f"{size}-byte response exceeds the CRB response buffer ({rsp_size} bytes)")
            response = header + self._read_block(rsp_addr + TPM_HEADER_SIZE, size - TPM_HEADER_SIZE)
            write(base + A_CRB_CTRL_REQ, 4, CRB_CTRL_REQ_GO_IDLE)
        finally:
            if not self.keep_locality:
                write(base + A_CRB_LOC_CTRL, 4, CRB_LOC_CTRL_RELINQUISH)
        return response
