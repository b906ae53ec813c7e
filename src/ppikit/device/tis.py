"""QEMU 7.2's TPM TIS (FIFO) interface, register for register (``hw/tpm/tpm_tis_common.c``).

Why a faithful model and not a clean TIS implementation: firmware authors use ppikit to predict
what their driver sees on QEMU, including QEMU's quirks -- the 0xFF burst-count clamp on byte
reads, the dynamic 4096-byte burst count, silently dropped over-long writes, locality-4 writes
dropped, selfTestDone only for the TPM 1.2 ordinal, INT_ENABLE/INT_STATUS writable only from the
active locality (7.2; 8.1 relaxed it), the 0xF90 debug register. Each handler below mirrors the
QEMU handler of the same register; the register map itself is data in :mod:`registers`.

All 5 localities share one 4096-byte buffer and ``rw_offset``, as in QEMU.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ppikit.device.backends.base import Backend
from ppikit.device.mmio import (
    PACK_PIECE,
    SIZE_MASK,
    TPM_HEADER_SIZE_FIELD,
    UNPACK_PIECE,
    MmioDevice,
    byte_lane,
    check_state,
)
from ppikit.device.registers import (
    TIS_REGISTERS,
    TPM_ORD_CONTINUE_SELF_TEST,
    TPM_TIS_ACCESS_ACTIVE_LOCALITY,
    TPM_TIS_ACCESS_BEEN_SEIZED,
    TPM_TIS_ACCESS_PENDING_REQUEST,
    TPM_TIS_ACCESS_REQUEST_USE,
    TPM_TIS_ACCESS_SEIZE,
    TPM_TIS_ACCESS_TPM_ESTABLISHMENT,
    TPM_TIS_ACCESS_TPM_REG_VALID_STS,
    TPM_TIS_ADDR_BASE,
    TPM_TIS_ADDR_SIZE,
    TPM_TIS_BUFFER_MAX,
    TPM_TIS_CAPABILITIES_SUPPORTED1_3,
    TPM_TIS_CAPABILITIES_SUPPORTED2_0,
    TPM_TIS_IFACE_ID_INT_SEL_LOCK,
    TPM_TIS_IFACE_ID_SUPPORTED_FLAGS1_3,
    TPM_TIS_IFACE_ID_SUPPORTED_FLAGS2_0,
    TPM_TIS_INT_COMMAND_READY,
    TPM_TIS_INT_DATA_AVAILABLE,
    TPM_TIS_INT_ENABLED,
    TPM_TIS_INT_LOCALITY_CHANGED,
    TPM_TIS_INT_POLARITY_LOW_LEVEL,
    TPM_TIS_INT_POLARITY_MASK,
    TPM_TIS_INT_STS_VALID,
    TPM_TIS_INTERRUPTS_SUPPORTED,
    TPM_TIS_NO_LOCALITY,
    TPM_TIS_NUM_LOCALITIES,
    TPM_TIS_STATE_COMPLETION,
    TPM_TIS_STATE_EXECUTION,
    TPM_TIS_STATE_IDLE,
    TPM_TIS_STATE_READY,
    TPM_TIS_STATE_RECEPTION,
    TPM_TIS_STS_COMMAND_CANCEL,
    TPM_TIS_STS_COMMAND_READY,
    TPM_TIS_STS_DATA_AVAILABLE,
    TPM_TIS_STS_EXPECT,
    TPM_TIS_STS_RESET_ESTABLISHMENT_BIT,
    TPM_TIS_STS_RESPONSE_RETRY,
    TPM_TIS_STS_SELFTEST_DONE,
    TPM_TIS_STS_TPM_FAMILY1_2,
    TPM_TIS_STS_TPM_FAMILY2_0,
    TPM_TIS_STS_TPM_FAMILY_MASK,
    TPM_TIS_STS_TPM_GO,
    TPM_TIS_STS_VALID,
)
from ppikit.errors import LayoutError
from ppikit.tpm.version import TpmVersion

#: Per-family reset values: (INTF_CAPABILITY, INTERFACE_ID, STS). UNSPEC leaves INTERFACE_ID and
#: STS untouched in QEMU; ppikit starts them at 0.
_FAMILY_VALUES: dict[TpmVersion, tuple[int, int | None, int | None]] = {
    TpmVersion.UNSPEC: (0, None, None),
    TpmVersion.TPM_1_2: (TPM_TIS_CAPABILITIES_SUPPORTED1_3, TPM_TIS_IFACE_ID_SUPPORTED_FLAGS1_3,
                         TPM_TIS_STS_TPM_FAMILY1_2),
    TpmVersion.TPM_2_0: (TPM_TIS_CAPABILITIES_SUPPORTED2_0, TPM_TIS_IFACE_ID_SUPPORTED_FLAGS2_0,
                         TPM_TIS_STS_TPM_FAMILY2_0),
}
_STS_KEPT = TPM_TIS_STS_SELFTEST_DONE | TPM_TIS_STS_TPM_FAMILY_MASK
_STS_ACTIONS = TPM_TIS_STS_COMMAND_READY | TPM_TIS_STS_TPM_GO | TPM_TIS_STS_RESPONSE_RETRY
#: STS bits QEMU acts on only for a TPM 2.0 (commandCancel, resetEstablishmentBit).
_STS_TPM2_ONLY = TPM_TIS_STS_COMMAND_CANCEL | TPM_TIS_STS_RESET_ESTABLISHMENT_BIT
#: The ordinal (bytes 6..9) of TPM_ContinueSelfTest, whose success sets selfTestDone.
_SELFTEST_ORDINAL = TPM_ORD_CONTINUE_SELF_TEST.to_bytes(4, "big")
_INT_ENABLE_WRITABLE = TPM_TIS_INT_ENABLED | TPM_TIS_INT_POLARITY_MASK | TPM_TIS_INTERRUPTS_SUPPORTED
_LOCALITIES = range(TPM_TIS_NUM_LOCALITIES)
_PER_LOCALITY = ("access", "sts", "state", "int_enable", "int_status", "interface_id")
#: ``_header_size(buffer)[0]``: the size field of the command or response in the buffer, read on
#: every FIFO access and STS read (bound once: no Python frame on the hot path).
_header_size = TPM_HEADER_SIZE_FIELD.unpack_from


def _valid(locty: int) -> bool:
    return locty < TPM_TIS_NUM_LOCALITIES


class TisDevice(MmioDevice):
    """QEMU 7.2 ``tpm-tis`` at ``base`` (5 localities x 4 KiB) in front of a :class:`Backend`.

    Construction performs the machine reset (which starts the backend); see :meth:`reset`.
    Guest access: :meth:`mmio_read` / :meth:`mmio_write` (never raise). Inspection:
    :attr:`active_locality`, :attr:`irq_level`, :attr:`last_backend_error`,
    :attr:`startup_error`; snapshots: :meth:`get_state` / :meth:`set_state`.
    """

    def __init__(self, backend: Backend, *, base: int = TPM_TIS_ADDR_BASE, asynchronous: bool = False,
                 poll_wait: float = 0.001) -> None:
        super().__init__(backend, base=base, size=TPM_TIS_ADDR_SIZE, asynchronous=asynchronous,
                         poll_wait=poll_wait)
        window_readers: list[Callable[[int, int], int]] = [self._read_unmapped] * 1024
        window_writers: list[Callable[[int, int, int], None]] = [self._write_ignore] * 1024
        for register in TIS_REGISTERS:
            reader = self._const_reader(register.value) if register.read == "const" else \
                getattr(self, f"_read_{register.read}")
            writer = getattr(self, f"_write_{register.write}")
            for index in register.word_indexes():
                window_readers[index] = reader
                window_writers[index] = writer
        # the same 4 KiB map in every locality window, except that QEMU drops every write to
        # locality 4 (trace tpm_tis_mmio_write_locty4)
        live = (window_readers * TPM_TIS_NUM_LOCALITIES,
                window_writers * (TPM_TIS_NUM_LOCALITIES - 1) + [self._write_ignore] * 1024)
        # "live", and "dead": QEMU after a failed backend start-up (had_startup_error) reads 0 and
        # drops writes
        self._tables = {"live": live, "dead": ([self._read_zero] * len(live[0]), [self._write_ignore] * len(live[1]))}
        self._readers, self._writers = live
        self._bulk = {self._read_fifo: self._read_fifo_rep, self._write_fifo: self._write_fifo_rep}
        self._buffer = bytearray(TPM_TIS_BUFFER_MAX)
        self._version = TpmVersion.UNSPEC
        self._buffer_size = TPM_TIS_BUFFER_MAX
        self._access = [0] * TPM_TIS_NUM_LOCALITIES
        self._sts = [0] * TPM_TIS_NUM_LOCALITIES
        self._state = [TPM_TIS_STATE_IDLE] * TPM_TIS_NUM_LOCALITIES
        self._inte = [0] * TPM_TIS_NUM_LOCALITIES
        self._ints = [0] * TPM_TIS_NUM_LOCALITIES
        self._iface = [0] * TPM_TIS_NUM_LOCALITIES
        self._active = self._next = self._aborting = TPM_TIS_NO_LOCALITY
        self._rw = 0
        self._cmd_locty = 0
        #: Level of the (polling-mode, unrouted) TIS interrupt line.
        self.irq_level = False
        self.reset()

    # -- reset and state --------------------------------------------------------------------------
    def reset(self) -> None:
        """QEMU's ``tpm_tis_reset``: finish the command in flight, re-read the backend's version and
        buffer size (``MIN(size, 4096)``), reset every locality, then ``backend.startup(size)``.

        Raises :class:`BackendError` if the backend cannot start; the device then reads 0 at every
        offset and ignores writes until a successful reset (QEMU: ``had_startup_error``).
        """
        self._readers, self._writers = self._tables["dead"]
        self._reset_with_backend(TPM_TIS_BUFFER_MAX, self._reset_registers)
        self._readers, self._writers = self._tables["live"]

    def _reset_registers(self, version: TpmVersion, buffer_size: int) -> None:
        self._version = version
        self._buffer_size = buffer_size
        _capability, iface_id, sts = _FAMILY_VALUES[version]
        self._active = self._next = self._aborting = TPM_TIS_NO_LOCALITY
        for locty in _LOCALITIES:
            self._access[locty] = TPM_TIS_ACCESS_TPM_REG_VALID_STS
            if sts is not None:
                self._sts[locty] = sts
            if iface_id is not None:
                self._iface[locty] = iface_id
            self._inte[locty] = TPM_TIS_INT_POLARITY_LOW_LEVEL
            self._ints[locty] = 0
            self._state[locty] = TPM_TIS_STATE_IDLE
        self._rw = 0
        self.irq_level = False

    @property
    def active_locality(self) -> int | None:
        """The active locality, or None."""
        return self._active if _valid(self._active) else None

    @property
    def buffer_size(self) -> int:
        """``be_buffer_size``: the backend's buffer size, at most 4096."""
        return self._buffer_size

    def get_state(self) -> dict[str, Any]:
        """Register state as a JSON-able dict, after finishing the command in flight (QEMU's
        pre-save ``finish_sync``): a command being received or a response being read is kept."""
        self.finish_pending()
        state: dict[str, Any] = {
            "interface": "tis", "version": int(self._version), "buffer_size": self._buffer_size,
            "active_locality": self._active, "next_locality": self._next,
            "aborting_locality": self._aborting, "rw_offset": self._rw,
            "command_locality": self._cmd_locty, "irq_level": int(self.irq_level),
            "buffer": bytes(self._buffer).rstrip(b"\0").hex(),
        }
        for key, values in zip(_PER_LOCALITY, self._per_locality()):
            state[key] = list(values)
        return state

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Load a :meth:`get_state` dict (the backend is not touched). Raises :class:`LayoutError`."""
        fields = {"version": (int, 2), "buffer_size": (int, TPM_TIS_BUFFER_MAX),
                  "active_locality": (int, 0xFF), "next_locality": (int, 0xFF),
                  "aborting_locality": (int, 0xFF), "rw_offset": (int, TPM_TIS_BUFFER_MAX),
                  "command_locality": (int, TPM_TIS_NUM_LOCALITIES - 1), "irq_level": (int, 1),
                  "buffer": (str, TPM_TIS_BUFFER_MAX)}
        fields.update({key: (list, TPM_TIS_NUM_LOCALITIES) for key in _PER_LOCALITY})
        check_state(state, "tis", fields)
        if any(value > TPM_TIS_STATE_RECEPTION for value in state["state"]):
            raise LayoutError("locality state must be 0..4", field="state")
        if TPM_TIS_STATE_EXECUTION in state["state"]:
            raise LayoutError("a snapshot never holds an executing command (taken after finish)",
                              field="state")
        self.finish_pending()
        self.startup_error = None
        self._readers, self._writers = self._tables["live"]
        self._version = TpmVersion(state["version"])
        self._buffer_size = state["buffer_size"]
        self._active, self._next = state["active_locality"], state["next_locality"]
        self._aborting, self._rw = state["aborting_locality"], state["rw_offset"]
        self._cmd_locty, self.irq_level = state["command_locality"], bool(state["irq_level"])
        data = bytes.fromhex(state["buffer"])
        self._buffer[:] = data + bytes(TPM_TIS_BUFFER_MAX - len(data))
        for key, target in zip(_PER_LOCALITY, self._per_locality()):
            target[:] = state[key]

    def _per_locality(self) -> tuple[list[int], ...]:
        return self._access, self._sts, self._state, self._inte, self._ints, self._iface

    # -- reads: one aligned piece at ``offset`` (window-relative) -----------------------------------
    @staticmethod
    def _const_reader(value: int) -> Callable[[int, int], int]:
        return lambda offset, size: byte_lane(value, offset, size)

    @staticmethod
    def _read_unmapped(offset: int, size: int) -> int:
        return SIZE_MASK[size]  # 0xFFFFFFFF, shifted to the byte lane and truncated

    @staticmethod
    def _read_zero(offset: int, size: int) -> int:
        return 0

    def _read_access(self, offset: int, size: int) -> int:
        locty = offset >> 12
        value = self._access[locty] & ~TPM_TIS_ACCESS_SEIZE
        if self._request_use_except(locty):
            value |= TPM_TIS_ACCESS_PENDING_REQUEST
        if not self._backend_call(self.backend.get_established, default=False):
            value |= TPM_TIS_ACCESS_TPM_ESTABLISHMENT
        return byte_lane(value, offset, size)

    def _read_int_enable(self, offset: int, size: int) -> int:
        return byte_lane(self._inte[offset >> 12], offset, size)

    def _read_int_status(self, offset: int, size: int) -> int:
        return byte_lane(self._ints[offset >> 12], offset, size)

    def _read_intf_capability(self, offset: int, size: int) -> int:
        return byte_lane(_FAMILY_VALUES[self._version][0], offset, size)

    def _read_interface_id(self, offset: int, size: int) -> int:
        return byte_lane(self._iface[offset >> 12], offset, size)

    def _read_sts(self, offset: int, size: int) -> int:
        locty = offset >> 12
        if self._inflight and self._state[locty] == TPM_TIS_STATE_EXECUTION:
            self._collect(self.poll_wait)
        if self._active != locty:
            return SIZE_MASK[size]
        sts = self._sts[locty]
        if sts & TPM_TIS_STS_DATA_AVAILABLE:
            burst = _header_size(self._buffer)[0]
            if burst > self._buffer_size:
                burst = self._buffer_size
            burst -= self._rw
        else:
            burst = self._buffer_size - self._rw
            if size == 1 and burst > 0xFF:
                burst = 0xFF  # a byte read never shows 0x00 for 0x100+ free bytes
        return (((burst << 8) | sts) >> ((offset & 3) << 3)) & SIZE_MASK[size]  # byte_lane, inlined

    def _read_fifo(self, offset: int, size: int) -> int:
        """Response bytes, 0xFF (TPM_TIS_NO_DATA_BYTE) where there are none. QEMU does not shift
        FIFO data to the byte lane: a byte read at 0x25 returns the next response byte."""
        locty = offset >> 12
        if (self._active != locty or self._state[locty] != TPM_TIS_STATE_COMPLETION
                or not self._sts[locty] & TPM_TIS_STS_DATA_AVAILABLE):
            return SIZE_MASK[size]
        buffer, start = self._buffer, self._rw
        length = _header_size(buffer)[0]
        if length > self._buffer_size:
            length = self._buffer_size
        end = start + size
        if end < length:
            self._rw = end
            return UNPACK_PIECE[size](buffer, start)[0]
        # the last response byte is in this access: at least one byte is read, as in QEMU
        data = buffer[start:length if length > start else start + 1]
        self._rw = start + len(data)
        self._sts_set(locty, TPM_TIS_STS_VALID)
        self._raise_irq(locty, TPM_TIS_INT_STS_VALID)
        return int.from_bytes(data, "little") | (SIZE_MASK[size] & ~SIZE_MASK[len(data)])

    def _read_fifo_rep(self, offset: int, size: int, count: int) -> bytes:
        """``count`` FIFO reads in one go, with the effect of :meth:`_read_fifo` per piece. While a
        response is readable, the pieces that end before its last byte return buffer bytes and
        advance ``rw_offset``; the next one returns the rest (at least one byte, 0xFF after),
        sets STS to Valid alone and raises stsValid; every piece after that, like every piece
        when no response is readable, reads all-ones."""
        locty = offset >> 12
        if (not count or self._active != locty or self._state[locty] != TPM_TIS_STATE_COMPLETION
                or not self._sts[locty] & TPM_TIS_STS_DATA_AVAILABLE):
            return b"\xff" * (size * count)
        buffer, start, length = self._buffer, self._rw, _header_size(self._buffer)[0]
        if length > self._buffer_size:
            length = self._buffer_size
        plain = (length - 1 - start) // size  # pieces that end before the last byte
        if plain >= count:
            self._rw = end = start + count * size
            return bytes(memoryview(buffer)[start:end])
        if plain < 0:
            plain = 0
        end = start + plain * size  # where the piece with the last byte starts
        # that piece reads up to the last byte, and at least one byte while the buffer has one
        self._rw = rw = length if length > end else end + 1 if end < TPM_TIS_BUFFER_MAX else end
        self._sts[locty] = (self._sts[locty] & _STS_KEPT) | TPM_TIS_STS_VALID  # _sts_set
        if self._inte[locty] & TPM_TIS_INT_ENABLED:  # _raise_irq's first test
            self._raise_irq(locty, TPM_TIS_INT_STS_VALID)
        padding = start + count * size - rw  # 0xFF after the last byte, and for every later piece
        return bytes(buffer[start:rw]) + b"\xff" * padding if padding else bytes(buffer[start:rw])

    # -- writes: ``value`` is the piece's value, not yet moved to its byte lane ---------------------
    @staticmethod
    def _write_ignore(offset: int, size: int, value: int) -> None:
        return None

    def _write_access(self, offset: int, size: int, value: int) -> None:
        locty = offset >> 12
        val = value << ((offset & 3) << 3)
        if val & TPM_TIS_ACCESS_SEIZE:
            val &= ~(TPM_TIS_ACCESS_REQUEST_USE | TPM_TIS_ACCESS_ACTIVE_LOCALITY)
        new_active = self._active
        switch = True
        if val & TPM_TIS_ACCESS_ACTIVE_LOCALITY:
            if self._active == locty:  # give up the locality; anybody waiting for it?
                waiting = [c for c in reversed(_LOCALITIES) if self._access[c] & TPM_TIS_ACCESS_REQUEST_USE]
                if waiting:
                    switch = False
                    self._prep_abort(locty, waiting[0])
                else:
                    new_active = TPM_TIS_NO_LOCALITY
            else:  # not the owner: cancel its pending request
                self._access[locty] &= ~TPM_TIS_ACCESS_REQUEST_USE
        if val & TPM_TIS_ACCESS_BEEN_SEIZED:
            self._access[locty] &= ~TPM_TIS_ACCESS_BEEN_SEIZED
        if val & TPM_TIS_ACCESS_SEIZE and self._may_seize(locty):
            for lower in range(locty):
                self._access[lower] &= ~TPM_TIS_ACCESS_SEIZE
            self._access[locty] |= TPM_TIS_ACCESS_SEIZE
            switch = False
            self._prep_abort(self._active, locty)
        if val & TPM_TIS_ACCESS_REQUEST_USE and self._active != locty:
            if _valid(self._active):
                self._access[locty] |= TPM_TIS_ACCESS_REQUEST_USE
            else:  # no locality active: this one becomes active now
                new_active = locty
        if switch:
            self._new_active_locality(new_active)

    def _may_seize(self, locty: int) -> bool:
        """Seize only from above the active locality (or with none active), with no seize of
        this or a higher locality already pending."""
        if _valid(self._active) and locty <= self._active:
            return False
        return not any(self._access[l] & TPM_TIS_ACCESS_SEIZE for l in range(locty, TPM_TIS_NUM_LOCALITIES))

    def _write_int_enable(self, offset: int, size: int, value: int) -> None:
        locty = offset >> 12
        if self._active != locty:
            return  # QEMU <= 8.0: only the active locality may write it
        shift = (offset & 3) << 3
        keep = ~(SIZE_MASK[size] << shift) & 0xFFFFFFFF
        self._inte[locty] = (self._inte[locty] & keep) | ((value << shift) & _INT_ENABLE_WRITABLE)

    def _write_int_status(self, offset: int, size: int, value: int) -> None:
        locty = offset >> 12
        if self._active != locty:
            return
        clear = (value << ((offset & 3) << 3)) & TPM_TIS_INTERRUPTS_SUPPORTED
        if clear and self._ints[locty] & TPM_TIS_INTERRUPTS_SUPPORTED:
            self._ints[locty] &= ~clear
            if self._ints[locty] == 0:
                self.irq_level = False
        self._ints[locty] &= ~clear

    def _write_interface_id(self, offset: int, size: int, value: int) -> None:
        if (value << ((offset & 3) << 3)) & TPM_TIS_IFACE_ID_INT_SEL_LOCK:
            for l in _LOCALITIES:
                self._iface[l] |= TPM_TIS_IFACE_ID_INT_SEL_LOCK

    def _write_sts(self, offset: int, size: int, value: int) -> None:
        locty = offset >> 12
        if self._active != locty:
            return
        val = value << ((offset & 3) << 3)
        state = self._state[locty]
        if val & _STS_TPM2_ONLY and self._version == TpmVersion.TPM_2_0:
            if val & TPM_TIS_STS_COMMAND_CANCEL and state == TPM_TIS_STATE_EXECUTION:
                self._backend_call(self.backend.cancel)
            if val & TPM_TIS_STS_RESET_ESTABLISHMENT_BIT and locty in (3, 4):
                self._backend_call(self.backend.reset_established, locty)
        val &= _STS_ACTIONS
        if val == TPM_TIS_STS_COMMAND_READY:
            if state == TPM_TIS_STATE_READY:
                self._rw = 0
            elif state == TPM_TIS_STATE_IDLE:
                self._sts_set(locty, TPM_TIS_STS_COMMAND_READY)
                self._state[locty] = TPM_TIS_STATE_READY
                self._raise_irq(locty, TPM_TIS_INT_COMMAND_READY)
            elif state in (TPM_TIS_STATE_EXECUTION, TPM_TIS_STATE_RECEPTION):
                self._prep_abort(locty, locty)  # abort the command being sent or run
            else:  # COMPLETION: shortcut to READY
                self._rw = 0
                self._state[locty] = TPM_TIS_STATE_READY
                sts = self._sts[locty]
                if not sts & TPM_TIS_STS_COMMAND_READY:
                    sts = (sts & _STS_KEPT) | TPM_TIS_STS_COMMAND_READY  # _sts_set
                    if self._inte[locty] & TPM_TIS_INT_ENABLED:  # _raise_irq's first test
                        self._raise_irq(locty, TPM_TIS_INT_COMMAND_READY)
                self._sts[locty] = sts & ~TPM_TIS_STS_DATA_AVAILABLE
        elif val == TPM_TIS_STS_TPM_GO:
            if state == TPM_TIS_STATE_RECEPTION and not self._sts[locty] & TPM_TIS_STS_EXPECT:
                self._send(locty)
        elif val == TPM_TIS_STS_RESPONSE_RETRY and state == TPM_TIS_STATE_COMPLETION:
            self._rw = 0
            self._sts_set(locty, TPM_TIS_STS_VALID | TPM_TIS_STS_DATA_AVAILABLE)

    def _write_fifo(self, offset: int, size: int, value: int) -> None:
        locty = offset >> 12
        if self._active != locty:
            return
        state = self._state[locty]
        if state != TPM_TIS_STATE_RECEPTION:
            if state != TPM_TIS_STATE_READY:
                return  # IDLE, EXECUTION, COMPLETION: the bytes are dropped
            self._state[locty] = TPM_TIS_STATE_RECEPTION
            self._sts_set(locty, TPM_TIS_STS_EXPECT | TPM_TIS_STS_VALID)
        sts = self._sts[locty]
        if sts & TPM_TIS_STS_EXPECT:
            start = self._rw
            end = start + size
            if end > self._buffer_size:  # buffer full with bytes left: Expect clears, the rest is dropped
                count = self._buffer_size - start
                if count > 0:
                    self._buffer[start:self._buffer_size] = (value & SIZE_MASK[count]).to_bytes(count, "little")
                    self._rw = self._buffer_size
                self._sts_set(locty, TPM_TIS_STS_VALID)
                return
            PACK_PIECE[size](self._buffer, start, value)
            self._rw = end
            if end > 5:  # a packet length is there: is all of it?
                # QEMU keeps the announced size in a uint16_t: a size >= 0x10000 wraps.
                if _header_size(self._buffer)[0] & 0xFFFF > end:
                    flags = TPM_TIS_STS_EXPECT | TPM_TIS_STS_VALID
                else:  # packet complete
                    flags = TPM_TIS_STS_VALID
                self._sts[locty] = (sts & _STS_KEPT) | flags  # _sts_set, inlined: sts is current
                if not sts & TPM_TIS_STS_VALID:
                    self._raise_irq(locty, TPM_TIS_INT_STS_VALID)

    def _write_fifo_rep(self, offset: int, size: int, data: bytes) -> None:
        """FIFO writes of ``data`` in ``size``-byte pieces in one go, with the effect of
        :meth:`_write_fifo` per piece. While a command is being received (Expect set), every
        piece that neither overflows the buffer nor completes the announced size only stores its
        bytes and keeps Expect | Valid; the piece that completes it is stored and leaves Valid
        alone, and every piece after that is dropped. A piece that overflows the buffer, and
        anything in an unusual state, goes through :meth:`_write_fifo` one by one."""
        locty = offset >> 12
        if self._active != locty or not data:
            return
        state = self._state[locty]
        if state == TPM_TIS_STATE_READY:  # the first piece starts the reception, as one write does
            self._state[locty] = state = TPM_TIS_STATE_RECEPTION
            self._sts[locty] = (self._sts[locty] & _STS_KEPT) | TPM_TIS_STS_EXPECT | TPM_TIS_STS_VALID  # _sts_set
        if state != TPM_TIS_STATE_RECEPTION:
            return  # IDLE, EXECUTION, COMPLETION: every piece is dropped
        count, sts, start = len(data) // size, self._sts[locty], self._rw
        plain = 0  # leading pieces that only store their bytes
        if sts & (TPM_TIS_STS_EXPECT | TPM_TIS_STS_VALID) == TPM_TIS_STS_EXPECT | TPM_TIS_STS_VALID:
            # the size field (bytes 2..5) as each piece past byte 5 sees it: it is stored by then
            header = self._buffer if start >= 6 else data if start == 0 else bytes(self._buffer[:start]) + data
            # the last end of a plain piece: not past the buffer, before the announced size (QEMU's
            # 16-bit copy of it) -- or byte 5, which no packet-length check looks at
            limit = _header_size(header)[0] & 0xFFFF if len(header) >= 6 else 0
            limit = 5 if limit <= 6 else limit - 1
            if limit > self._buffer_size:
                limit = self._buffer_size
            plain = (limit - start) // size
            plain = 0 if plain < 0 else count if plain > count else plain
            end = start + plain * size
            if plain < count and end + size <= self._buffer_size:
                # the next piece completes the announced size (it is not plain and does not
                # overflow): stored with the plain ones, Expect clears, every later piece is dropped
                self._rw = end = end + size
                self._buffer[start:end] = data if end - start == len(data) else data[:end - start]
                self._sts[locty] = (sts & _STS_KEPT) | TPM_TIS_STS_VALID
                return
            if plain:
                self._rw = end
                self._buffer[start:end] = data[:end - start]
                if end > 5:
                    self._sts[locty] = (sts & _STS_KEPT) | TPM_TIS_STS_EXPECT | TPM_TIS_STS_VALID
        write, unpack = self._write_fifo, UNPACK_PIECE[size]
        for index in range(plain * size, count * size, size):
            write(offset, size, unpack(data, index)[0])

    # -- locality switching, abort, execution ----------------------------------------------------
    def _request_use_except(self, locty: int) -> bool:
        return any(self._access[l] & TPM_TIS_ACCESS_REQUEST_USE for l in _LOCALITIES if l != locty)

    def _sts_set(self, locty: int, flags: int) -> None:
        """QEMU ``tpm_tis_sts_set``: keep selfTestDone and the family bits, replace the rest."""
        self._sts[locty] = (self._sts[locty] & _STS_KEPT) | flags

    def _raise_irq(self, locty: int, mask: int) -> None:
        if locty < TPM_TIS_NUM_LOCALITIES and self._inte[locty] & TPM_TIS_INT_ENABLED and self._inte[locty] & mask:
            self.irq_level = True
            self._ints[locty] |= mask

    def _new_active_locality(self, new: int) -> None:
        change = self._active != new
        old = self._active
        if change and _valid(old):
            is_seize = _valid(new) and bool(self._access[new] & TPM_TIS_ACCESS_SEIZE)
            if is_seize:  # the seized locality keeps its request and learns it was seized
                self._access[old] = (self._access[old] & ~TPM_TIS_ACCESS_ACTIVE_LOCALITY) | TPM_TIS_ACCESS_BEEN_SEIZED
            else:
                self._access[old] &= ~(TPM_TIS_ACCESS_ACTIVE_LOCALITY | TPM_TIS_ACCESS_REQUEST_USE)
        self._active = new
        if _valid(new):
            self._access[new] = (self._access[new] | TPM_TIS_ACCESS_ACTIVE_LOCALITY) & ~(
                TPM_TIS_ACCESS_REQUEST_USE | TPM_TIS_ACCESS_SEIZE)
        if change:
            self._raise_irq(new, TPM_TIS_INT_LOCALITY_CHANGED)

    def _prep_abort(self, aborting: int, new: int) -> None:
        """Abort now, or -- if any locality is executing -- cancel and abort on completion."""
        self._aborting, self._next = aborting, new
        if TPM_TIS_STATE_EXECUTION in self._state:
            self._backend_call(self.backend.cancel)
        else:
            self._abort()

    def _abort(self) -> None:
        self._rw = 0
        if self._aborting == self._next:  # commandReady abort by the same locality
            self._state[self._aborting] = TPM_TIS_STATE_READY
            self._sts_set(self._aborting, TPM_TIS_STS_COMMAND_READY)
            self._raise_irq(self._aborting, TPM_TIS_INT_COMMAND_READY)
        self._new_active_locality(self._next)
        self._next = self._aborting = TPM_TIS_NO_LOCALITY

    def _send(self, locty: int) -> None:
        """tpmGo: hand ``rw_offset`` buffered bytes to the backend (QEMU ``tpm_tis_tpm_send``)."""
        self._state[locty] = TPM_TIS_STATE_EXECUTION
        self._cmd_locty = locty
        self._submit(bytes(self._buffer[:self._rw]), locty)

    def _complete(self, response: bytes, failed: bool) -> None:
        """QEMU ``tpm_tis_request_completed`` (the backend's return code is ignored, as there).

        Whether the command was TPM_ContinueSelfTest is read from the buffer before the response
        overwrites it: nothing changes the buffer or ``rw_offset`` while a command executes."""
        selftest = self._rw >= 10 and self._buffer[6:10] == _SELFTEST_ORDINAL
        count = len(response)
        if count <= self._buffer_size:
            self._buffer[:count] = response
        else:
            self._buffer[:self._buffer_size] = response[:self._buffer_size]
        locty = self._cmd_locty
        sts = self._sts
        if selftest and not failed and int.from_bytes(response[6:10], "big") == 0:
            for l in _LOCALITIES:
                sts[l] |= TPM_TIS_STS_SELFTEST_DONE
        sts[locty] = (sts[locty] & _STS_KEPT) | TPM_TIS_STS_VALID | TPM_TIS_STS_DATA_AVAILABLE  # _sts_set
        self._state[locty] = TPM_TIS_STATE_COMPLETION
        self._rw = 0
        if self._next < TPM_TIS_NUM_LOCALITIES:  # _valid
            self._abort()
        if self._inte[locty] & TPM_TIS_INT_ENABLED:  # _raise_irq's first test, inlined
            self._raise_irq(locty, TPM_TIS_INT_DATA_AVAILABLE | TPM_TIS_INT_STS_VALID)
