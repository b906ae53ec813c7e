"""What TIS and CRB share as MMIO devices: QEMU's access splitting, the guest-proof entry points,
asynchronous command execution, and state-dict checking.

Why the splitting lives here and not in the register code: in QEMU the *memory core*, not the
TPM device, cuts a guest access into pieces the device accepts (``memory_access_size`` in
``softmmu/physmem.c``): at most ``max_access_size`` (4) bytes, never crossing the natural
alignment of the address (the ops do not set ``impl.unaligned``). A 16-bit read at TIS STS+1
therefore reaches the device as two byte reads, and that changes the value (the 1-byte burst
count clamp). Modelling it once, in the entry point, keeps the register code identical to QEMU's
handlers.

Guest-proof entry points: :meth:`MmioDevice.mmio_read` / :meth:`MmioDevice.mmio_write` never
raise for any integer address, size or value:

* sizes 1..8 are accesses (3, 5, 6, 7 are split like any other length, as QEMU's
  ``address_space_read`` does); any other size reads 0 and writes nothing;
* a piece outside the device window is not decoded: it reads 0 and its write is dropped, as
  QEMU 7.2's unassigned memory does on q35 (observed: ``readl 0xfed3fffe`` with a TIS at
  0xFED40000 returns 0x00A10000 -- two undecoded zero bytes, then ACCESS(0));
* written values are truncated to the access size (negative values as two's complement);
* backend failures are caught, answered with QEMU's fatal-error response, and kept in
  :attr:`MmioDevice.last_backend_error`.

Command execution (QEMU runs backend requests on a thread pool and completes them from its main
loop) is modelled in one of two ways, chosen per device:

* synchronous (default, ``asynchronous=False``): the backend runs inside the tpmGo / CTRL_START
  write and the completion is applied before the write returns. Every register value the guest
  reads is one QEMU could show -- the interleaving where the guest's next access comes after the
  TPM finished -- but STS never shows EXECUTION (CRB: Start = 1) and a cancel cannot meet a
  running command. This is the fast mode (no thread hand-off per command).
* asynchronous (``asynchronous=True``): the command goes to a worker thread, STS shows EXECUTION
  (CRB: Start = 1) until the response is in, and a cancel or an abort reaches the backend
  meanwhile. The completion is applied at the next MMIO access (as QEMU applies it between vCPU
  accesses). A poll of the status register while the command runs waits up to
  :attr:`MmioDevice.poll_wait` seconds for the completion before answering, so the guest still
  sees exactly what QEMU would show at that moment and a busy-polling guest loop does not starve
  the worker thread of the GIL.
"""

from __future__ import annotations

import queue
import struct
import threading
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from ppikit.device.backends.base import FATAL_ERROR_RESPONSE, Backend, BackendError
from ppikit.errors import LayoutError, UsageError
from ppikit.tpm.version import TpmVersion

#: Bit masks for access sizes 0..8 bytes.
SIZE_MASK = tuple((1 << (8 * n)) - 1 for n in range(9))
ALL_ONES = 0xFFFFFFFFFFFFFFFF


def split_access(offset: int, size: int, max_access: int = 4) -> list[tuple[int, int]]:
    """QEMU's memory-core split of an access into ``(offset, size)`` pieces, lowest first.

    Each piece is a power of two no larger than ``max_access`` and no larger than the natural
    alignment of its address (``memory_access_size``): ``split_access(0x19, 2)`` is
    ``[(0x19, 1), (0x1A, 1)]``; an 8-byte access at 0x5C is ``[(0x5C, 4), (0x60, 4)]``.
    """
    pieces = []
    done = 0
    while done < size:
        address = offset + done
        limit = max_access
        alignment = address & -address
        if 0 < alignment < limit:
            limit = alignment
        length = min(size - done, limit)
        length = 1 << (length.bit_length() - 1)  # pow2floor
        pieces.append((address, length))
        done += length
    return pieces


def byte_lane(value: int, offset: int, size: int) -> int:
    """The bytes of 32-bit register ``value`` that a ``size``-byte read at ``offset`` sees
    (QEMU: shift right by 8 x (offset & 3), truncate to the access size)."""
    return (value >> ((offset & 3) << 3)) & SIZE_MASK[size]


#: The big-endian 32-bit size field at bytes 2..5 of a TPM command or response header.
TPM_HEADER_SIZE_FIELD = struct.Struct(">2xI")
_PIECE_STRUCTS = {1: struct.Struct("<B"), 2: struct.Struct("<H"), 4: struct.Struct("<I"), 8: struct.Struct("<Q")}
#: ``UNPACK_PIECE[size](buffer, start)[0]`` / ``PACK_PIECE[size](buffer, start, value)``: one
#: little-endian piece of 1, 2, 4 or 8 bytes (None for other sizes), indexed by size. The TIS FIFO
#: and the CRB data buffer move bytes between a piece and their buffer with these, without
#: intermediate ``bytes`` objects or a dict lookup (they are the hot path of every command).
UNPACK_PIECE = tuple(_PIECE_STRUCTS[n].unpack_from if n in _PIECE_STRUCTS else None for n in range(9))
PACK_PIECE = tuple(_PIECE_STRUCTS[n].pack_into if n in _PIECE_STRUCTS else None for n in range(9))


#: struct format letter of one little-endian access of 1, 2, 4 or 8 bytes (a string instruction's
#: element sizes).
_REP_FORMATS = {1: "B", 2: "H", 4: "I", 8: "Q"}
_REP_STRUCTS: dict[tuple[int, int], struct.Struct] = {}


def rep_struct(size: int, count: int) -> struct.Struct:
    """The struct of ``count`` little-endian ``size``-byte accesses, back to back (cached).

    Raises :class:`UsageError` for a size other than 1, 2, 4, 8 or a negative count: no guest
    access produces those, so it is a caller's mistake, not guest traffic to absorb."""
    layout = _REP_STRUCTS.get((size, count))
    if layout is None:
        if size not in _REP_FORMATS or type(count) is not int or count < 0:
            raise UsageError(f"repeated access needs a size of 1, 2, 4 or 8 and a count >= 0, "
                             f"not size {size!r}, count {count!r}")
        layout = _REP_STRUCTS[size, count] = struct.Struct(f"<{count}{_REP_FORMATS[size]}")
    return layout


def repeat_reads(read: Callable[[int, int], int], addr: int, size: int, count: int) -> bytes:
    """``count`` calls of ``read(addr, size)``, packed little-endian one after the other.
    Raises :class:`UsageError` for a size other than 1, 2, 4, 8 or a negative count."""
    return rep_struct(size, count).pack(*[read(addr, size) for _ in range(count)])


def repeat_writes(write: Callable[[int, int, int], None], addr: int, size: int, data: bytes | bytearray) -> None:
    """``write(addr, size, piece)`` for each little-endian ``size``-byte piece of ``data``.
    Raises :class:`UsageError` (before any write) for a size other than 1, 2, 4, 8 or a length
    that is not a whole number of pieces."""
    _check_repeated_writes(size, data)
    unpack = UNPACK_PIECE[size]
    for index in range(0, len(data), size):
        write(addr, size, unpack(data, index)[0])


def _check_repeated_writes(size: int, data: bytes | bytearray) -> None:
    """Raise :class:`UsageError` unless ``data`` is a whole number of 1-, 2-, 4- or 8-byte pieces."""
    if size not in _REP_FORMATS:
        raise UsageError(f"repeated access needs a size of 1, 2, 4 or 8, not size {size!r}")
    if len(data) % size:
        raise UsageError(f"{len(data)} bytes are not a whole number of {size}-byte accesses")


def copy_from(read: Callable[[int, int], int], addr: int, length: int) -> bytes:
    """``length`` bytes from ``addr`` up as a firmware memcpy reads them through ``read(addr,
    size)``: 8-byte accesses, then one access for the tail (1..7 bytes)."""
    parts = []
    index = 0
    while length - index >= 8:
        parts.append(read(addr + index, 8).to_bytes(8, "little"))
        index += 8
    if index < length:
        parts.append(read(addr + index, length - index).to_bytes(length - index, "little"))
    return b"".join(parts)


def copy_to(write: Callable[[int, int, int], None], addr: int, data: bytes | bytearray) -> None:
    """``data`` to ``addr`` up as a firmware memcpy writes it through ``write(addr, size, value)``:
    8-byte accesses, then one access for the tail."""
    index, length = 0, len(data)
    while length - index >= 8:
        write(addr + index, 8, int.from_bytes(data[index:index + 8], "little"))
        index += 8
    if index < length:
        write(addr + index, length - index, int.from_bytes(data[index:], "little"))


def tpm_header_size(data: bytes | bytearray) -> int:
    """The big-endian 32-bit size field at bytes 2..5 of a TPM command or response header."""
    return TPM_HEADER_SIZE_FIELD.unpack_from(data)[0]


class _WorkerLink:
    """The queues to and from the backend worker thread, and the thread once started (one
    attribute on the device: see :class:`MmioDevice` on why it keeps few)."""

    __slots__ = ("requests", "results", "thread")

    def __init__(self) -> None:
        self.requests: queue.SimpleQueue = queue.SimpleQueue()
        self.results: queue.SimpleQueue = queue.SimpleQueue()
        self.thread: threading.Thread | None = None


def _execute(backend: Backend, requests: queue.SimpleQueue, results: queue.SimpleQueue) -> None:
    """Worker thread body: run one command at a time until ``None`` arrives.

    It references the backend and the queues only, never the device, so a device that is no
    longer used can be collected (its finalizer then stops this thread).
    """
    while (request := requests.get()) is not None:
        command, locality = request
        try:
            results.put((bytes(backend.transmit(command, locality)), None))
        except Exception as exc:  # noqa: BLE001 -- any backend fault is the guest's fatal-error reply
            results.put((None, exc))


class MmioDevice:
    """Base of the TIS and CRB models: window, splitting, backend calls, command execution.

    Subclasses fill the ``_readers`` / ``_writers`` dispatch tables and implement
    ``_complete(response, failed)`` for a finished command and ``reset()``.

    A device keeps at most 29 instance attributes (``tests/device/test_mmio_access.py`` checks):
    with 30 or more, CPython 3.11 stops sharing the instance dict's keys and every attribute
    access in the register handlers takes a slower path (measured ~8% per access here).
    """

    #: Largest piece the memory core hands to the register handlers (``max_access_size``).
    max_access_size = 4

    def __init__(self, backend: Backend, *, base: int, size: int, asynchronous: bool, poll_wait: float,
                 ram_offset: int | None = None) -> None:
        self.backend = backend
        self.base = base
        self.size = size
        #: Where plain RAM begins in the window (CRB's data buffer; the window size if none). The
        #: memory core does not split an access to RAM: one that lies wholly inside it reaches
        #: its handler as a single piece of any size up to 8 (a firmware memcpy's 8-byte moves).
        self.ram_offset = size if ram_offset is None else ram_offset
        #: Whether commands run on a worker thread (see the module docstring).
        self.asynchronous = asynchronous
        #: How long a status poll waits for an executing command before answering (seconds).
        self.poll_wait = poll_wait
        #: The last exception a backend call raised (None if none did since construction).
        self.last_backend_error: BaseException | None = None
        #: Why the last reset could not start the backend (QEMU's ``had_startup_error``), or None.
        self.startup_error: BaseException | None = None
        self._inflight = False
        self._worker = _WorkerLink()
        weakref.finalize(self, self._worker.requests.put, None)
        #: Handlers that have a whole-transfer version for repeated accesses (the TIS FIFO):
        #: handler -> ``bulk(offset, size, count) -> bytes`` for a reader, ``bulk(offset, size,
        #: data)`` for a writer, each with exactly the effect of the handler once per piece.
        self._bulk: Mapping[Callable[..., Any], Callable[..., Any]] = {}

    # -- window -----------------------------------------------------------------------------------
    def contains(self, addr: int) -> bool:
        """Whether guest-physical ``addr`` lies in this device's MMIO window."""
        return 0 <= addr - self.base < self.size

    # -- guest entry points -----------------------------------------------------------------------
    # Subclasses fill ``_readers`` / ``_writers``: one handler per 32-bit word of the window,
    # called as ``reader(offset, size) -> value`` / ``writer(offset, size, value)`` for one
    # aligned piece (``value`` already truncated to the piece). The fast path below serves the
    # common aligned 1/2/4-byte access with a single handler call.
    _readers: list[Callable[[int, int], int]]
    _writers: list[Callable[[int, int, int], None]]
    #: The bytes behind ``[ram_offset, size)`` when that part of the window is plain RAM (CRB's
    #: data buffer), for block transfers; None when the device has no RAM.
    _ram: bytearray | None = None

    def mmio_read(self, addr: int, size: int) -> int:
        """A guest read of ``size`` bytes at guest-physical ``addr``, little-endian; never raises."""
        if self._inflight:
            self._collect(0)
        offset = addr - self.base
        if (size == 4 or size == 1 or size == 2) and 0 <= offset < self.size and not offset & (size - 1):
            return self._readers[offset >> 2](offset, size)
        if not 0 < size <= 8:
            return 0
        if self.ram_offset <= offset and offset + size <= self.size:
            return self._readers[offset >> 2](offset, size)
        value = 0
        for piece, length in split_access(offset, size, self.max_access_size):
            if 0 <= piece < self.size:
                value |= self._readers[piece >> 2](piece, length) << (8 * (piece - offset))
        return value

    def mmio_write(self, addr: int, size: int, value: int) -> None:
        """A guest write of ``size`` bytes of ``value`` at guest-physical ``addr``; never raises."""
        if self._inflight:
            self._collect(0)
        offset = addr - self.base
        if (size == 4 or size == 1 or size == 2) and 0 <= offset < self.size and not offset & (size - 1):
            self._writers[offset >> 2](offset, size, value & SIZE_MASK[size])
            return
        if not 0 < size <= 8:
            return
        if self.ram_offset <= offset and offset + size <= self.size:
            self._writers[offset >> 2](offset, size, value & SIZE_MASK[size])
            return
        for piece, length in split_access(offset, size, self.max_access_size):
            if 0 <= piece < self.size:
                self._writers[piece >> 2](piece, length, (value >> (8 * (piece - offset))) & SIZE_MASK[length])

    # -- repeated accesses at one address (FIFO transfers) ----------------------------------------
    def mmio_read_rep(self, addr: int, size: int, count: int) -> bytes:
        """``count`` guest reads of ``size`` bytes, all at ``addr``, concatenated little-endian.

        This is how a driver drains a FIFO register (Linux ``ioread32_rep``, a firmware read
        loop): the result and the device state afterwards are exactly those of ``count``
        :meth:`mmio_read` calls -- the device sees the same accesses, one by one -- but the
        address is decoded once. ``size`` is 1, 2, 4 or 8; another size or a negative count
        raises :class:`UsageError`."""
        offset = addr - self.base
        # mmio_read's fast path: one handler per access
        if ((size == 4 or size == 1 or size == 2) and not self.asynchronous and not self._inflight
                and 0 <= offset < self.size and not offset & (size - 1)):
            read = self._readers[offset >> 2]
            bulk = self._bulk.get(read)
            if bulk is not None and type(count) is int and count >= 0:
                return bulk(offset, size, count)
            return repeat_reads(read, offset, size, count)
        return repeat_reads(self.mmio_read, addr, size, count)

    def mmio_write_rep(self, addr: int, size: int, data: bytes | bytearray) -> None:
        """Guest writes of ``data`` in ``size``-byte little-endian pieces, all at ``addr`` (a FIFO
        fill: Linux ``iowrite32_rep``): exactly ``len(data) // size`` :meth:`mmio_write` calls,
        with the address decoded once. ``size`` is 1, 2, 4 or 8 and ``len(data)`` a multiple of
        it, else :class:`UsageError`."""
        offset = addr - self.base
        if ((size == 4 or size == 1 or size == 2) and not self.asynchronous and not self._inflight
                and 0 <= offset < self.size and not offset & (size - 1)):
            write = self._writers[offset >> 2]
            bulk = self._bulk.get(write)
            if bulk is not None and not len(data) % size:
                bulk(offset, size, data)
                return
            repeat_writes(write, offset, size, data)
            return
        repeat_writes(self.mmio_write, addr, size, data)

    # -- memcpy-style block transfers (the CRB data buffer) ---------------------------------------
    def mmio_read_block(self, addr: int, length: int) -> bytes:
        """``length`` bytes from ``addr`` up, read as a firmware memcpy does (8-byte accesses, then
        the tail): exactly what those :meth:`mmio_read` calls return. A span wholly inside the
        device's RAM (CRB's data buffer: guest RAM in QEMU, reads have no side effect) is one
        copy; anything else goes access by access. A negative length raises :class:`UsageError`."""
        if type(length) is not int or length < 0:
            raise UsageError(f"block length must be an int >= 0, not {length!r}")
        offset = addr - self.base
        if self._ram is not None and not self.asynchronous and self.ram_offset <= offset <= self.size - length:
            start = offset - self.ram_offset
            return bytes(memoryview(self._ram)[start:start + length])
        return copy_from(self.mmio_read, addr, length)

    def mmio_write_block(self, addr: int, data: bytes | bytearray) -> None:
        """``data`` written to ``addr`` up as a firmware memcpy does (8-byte accesses, then the
        tail), with exactly the effect of those :meth:`mmio_write` calls; one copy where the span
        is wholly inside the device's RAM."""
        offset = addr - self.base
        if self._ram is not None and not self.asynchronous and self.ram_offset <= offset <= self.size - len(data):
            start = offset - self.ram_offset
            self._ram[start:start + len(data)] = data
            return
        copy_to(self.mmio_write, addr, data)

    # -- backend calls ----------------------------------------------------------------------------
    def _backend_call(self, call: Callable[..., Any], *args: Any, default: Any = None) -> Any:
        """Run a backend control call; a failure is recorded and ``default`` returned, as QEMU
        logs and carries on (cancel, established flag, reset-established)."""
        try:
            return call(*args)
        except Exception as exc:  # noqa: BLE001 -- a guest access must never raise
            self.last_backend_error = exc
            return default

    def _reset_with_backend(self, limit: int, reset_registers: Callable[[TpmVersion, int], None]) -> None:
        """QEMU's reset order around the device's own register reset.

        Finish the command in flight (``tpm_backend_finish_sync``), re-read the backend's version
        and buffer size (``MIN(size, limit)``), reset the registers, then ``startup(size)``. A
        failing backend is latched in :attr:`startup_error` (QEMU exits instead) and re-raised as
        :class:`BackendError`; the registers are reset either way.
        """
        self.finish_pending()
        self.startup_error = None
        version, buffer_size = TpmVersion.UNSPEC, limit
        try:
            version = TpmVersion(int(self.backend.version))
            buffer_size = min(int(self.backend.get_buffer_size()), limit)
        except Exception as exc:  # noqa: BLE001 -- recorded, then raised as BackendError below
            self.startup_error = exc
        reset_registers(version, buffer_size)
        if self.startup_error is None:
            try:
                self.backend.startup(buffer_size)
            except Exception as exc:  # noqa: BLE001
                self.startup_error = exc
        error = self.startup_error
        if error is not None:
            self.last_backend_error = error
            if isinstance(error, BackendError):
                raise error
            raise BackendError(f"backend start-up failed: {error!r}") from error

    # -- asynchronous execution -------------------------------------------------------------------
    def _submit(self, command: bytes, locality: int) -> None:
        """Execute a command (QEMU ``tpm_backend_deliver_request``): inline, or on the worker."""
        if not self.asynchronous:
            try:
                response = bytes(self.backend.transmit(command, locality))
            except Exception as exc:  # noqa: BLE001 -- any backend fault is the guest's fatal-error reply
                self._finish(None, exc)
            else:
                self._complete(response, False)
            return
        worker = self._worker
        if worker.thread is None:
            worker.thread = threading.Thread(target=_execute, name="ppikit-tpm-backend", daemon=True,
                                             args=(self.backend, worker.requests, worker.results))
            worker.thread.start()
        self._inflight = True
        worker.requests.put((command, locality))

    def _collect(self, timeout: float | None) -> bool:
        """Apply the worker's completion if the command has finished (waiting up to ``timeout``
        seconds; ``None`` = until it finishes). Returns whether it was applied."""
        try:
            if timeout == 0:
                response, error = self._worker.results.get_nowait()
            else:
                response, error = self._worker.results.get(timeout=timeout)
        except queue.Empty:
            return False
        self._inflight = False
        self._finish(response, error)
        return True

    def _finish(self, response: bytes | None, error: BaseException | None) -> None:
        if error is not None:
            self.last_backend_error = error
            response = FATAL_ERROR_RESPONSE
        self._complete(response, error is not None)

    def _complete(self, response: bytes, failed: bool) -> None:
        """Apply a finished command (``response`` is the fatal-error reply if ``failed``)."""
        raise NotImplementedError

    def finish_pending(self, timeout: float | None = None) -> bool:
        """Wait for the command in flight, if any, and apply its completion (QEMU's
        ``tpm_backend_finish_sync``). Returns False only if ``timeout`` expired first."""
        return not self._inflight or self._collect(timeout)

    def close(self) -> None:
        """Stop the worker thread (after the command in flight). The backend is not closed."""
        self.finish_pending()
        self._worker.requests.put(None)
        self._worker.thread = None


def check_state(state: Mapping[str, Any], interface: str, fields: Mapping[str, tuple[type, int]]) -> None:
    """Validate a ``get_state()`` dict before ``set_state`` loads it.

    ``fields`` maps each key to ``(type, bound)``: ints must lie in ``0..bound``, lists must
    have ``bound`` entries, strings (hex) must decode to ``bound`` bytes at most. Raises
    :class:`LayoutError` naming the offending key.
    """
    if not isinstance(state, Mapping):
        raise LayoutError("device state must be a mapping", field="state")
    if state.get("interface") != interface:
        raise LayoutError(f"not a {interface} state: interface={state.get('interface')!r}", field="interface")
    for key, (kind, bound) in fields.items():
        if key not in state:
            raise LayoutError("missing", field=key)
        value = state[key]
        if kind is int:
            ok = type(value) is int and 0 <= value <= bound
        elif kind is list:
            ok = isinstance(value, list) and len(value) == bound and all(
                type(item) is int and 0 <= item <= 0xFFFFFFFF for item in value)
        else:
            try:
                ok = isinstance(value, str) and len(bytes.fromhex(value)) <= bound
            except ValueError:
                ok = False
        if not ok:
            raise LayoutError(f"bad value {value!r}", field=key)
