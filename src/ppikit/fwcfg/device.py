"""A model of QEMU's fw_cfg device: named files, the file directory, the legacy ports and DMA.

Firmware finds ``etc/tpm/config`` (and through it the PPI page) by reading the fw_cfg file
directory, so ppikit's firmware models go through the same protocol real firmware uses: write a
selector, read bytes sequentially from the data port, or hand the device a DMA descriptor. Layouts
are construct schemas; selectors and ports carry QEMU's names (``hw/nvram/fw_cfg.c``,
``docs/specs/fw_cfg.rst``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import construct as cs

from ppikit.errors import LayoutError, UsageError

FW_CFG_SIGNATURE = 0x00  #: "QEMU"
FW_CFG_ID = 0x01  #: feature bitmap, LE32
FW_CFG_FILE_DIR = 0x19  #: the file directory
FW_CFG_FILE_FIRST = 0x20  #: selector of the first named file
FW_CFG_WRITE_CHANNEL = 0x4000
FW_CFG_ARCH_LOCAL = 0x8000
FW_CFG_ENTRY_MASK = ~(FW_CFG_WRITE_CHANNEL | FW_CFG_ARCH_LOCAL) & 0xFFFF
FW_CFG_MAX_FILE_PATH = 56
FW_CFG_VERSION = 0x01  #: FW_CFG_ID bit: traditional interface
FW_CFG_VERSION_DMA = 0x02  #: FW_CFG_ID bit: DMA interface

FW_CFG_IO_BASE = 0x510
FW_CFG_IO_CTL = FW_CFG_IO_BASE  #: selector register, 16-bit
FW_CFG_IO_DATA = FW_CFG_IO_BASE + 1  #: data register, byte-wide
FW_CFG_CTL_SIZE = 2  #: the "fwcfg" I/O region: selector and data register overlap in it
FW_CFG_IO_DMA_ADDR_HIGH = FW_CFG_IO_BASE + 4  #: DMA address, high 32 bits (big-endian)
FW_CFG_IO_DMA_ADDR_LOW = FW_CFG_IO_BASE + 8  #: DMA address, low 32 bits (big-endian); writing it starts DMA
FW_CFG_DMA_SIZE = 8  #: the "fwcfg.dma" I/O region (one dma_addr_t)
FW_CFG_DMA_SIGNATURE = 0x51454D5520434647  #: "QEMU CFG", read back from the DMA address register
#: What an I/O port no device decodes reads as on QEMU's x86 machines, per byte.
UNASSIGNED_IO_BYTE = 0xFF
#: Zeros written per step when a DMA read runs past the end of its entry.
_DMA_FILL_BLOCK = 0x10000

FW_CFG_DMA_CTL_ERROR = 0x01
FW_CFG_DMA_CTL_READ = 0x02
FW_CFG_DMA_CTL_SKIP = 0x04
FW_CFG_DMA_CTL_SELECT = 0x08
FW_CFG_DMA_CTL_WRITE = 0x10
#: The transfer kinds in the order QEMU tests the control bits: READ, then WRITE, then SKIP
#: (observed on QEMU 7.2: WRITE | SKIP writes).
_DMA_MODES = (FW_CFG_DMA_CTL_READ, FW_CFG_DMA_CTL_WRITE, FW_CFG_DMA_CTL_SKIP)

#: struct FWCfgFile: one directory entry (all big-endian).
FW_CFG_FILE = cs.Struct(
    "size" / cs.Int32ub,
    "select" / cs.Int16ub,
    "reserved" / cs.Int16ub,
    "name" / cs.PaddedString(FW_CFG_MAX_FILE_PATH, "ascii"),
)
#: struct FWCfgFiles: BE32 count, then the entries.
FW_CFG_FILES = cs.Struct("count" / cs.Int32ub, "files" / cs.Array(cs.this.count, FW_CFG_FILE))
#: struct FWCfgDmaAccess (big-endian).
FW_CFG_DMA_ACCESS = cs.Struct("control" / cs.Int32ub, "length" / cs.Int32ub, "address" / cs.Int64ub)


class GuestMemory(Protocol):
    """What DMA needs from guest memory: reads (unbacked bytes read 0), writes (unbacked bytes
    are dropped), and whether a span is backed at all -- QEMU's DMA reports a transfer that
    touched unbacked addresses with the error bit, after moving what it could."""

    def read(self, address: int, length: int) -> bytes: ...

    def write(self, address: int, data: bytes) -> None: ...

    def mapped(self, address: int, length: int) -> bool: ...


#: An I/O region's handler: ``(offset, size, value or None for a read, guest memory) -> value read``.
_IoHandler = Callable[[int, int, "int | None", "GuestMemory | None"], int]


@dataclass
class FwCfgFile:
    name: str
    data: bytes
    select: int
    writable: bool = False


class FwCfgDevice:
    """fw_cfg with named files kept sorted by name, as QEMU does (selectors follow the order)."""

    def __init__(self, *, dma: bool = True) -> None:
        self.dma_enabled = dma
        self._files: list[FwCfgFile] = []
        self._selector = FW_CFG_SIGNATURE
        self._offset = 0
        self._dma_high = 0
        #: (base, length, max access size, handler) per I/O region of the device, as QEMU maps them.
        self._io_regions: list[tuple[int, int, int, _IoHandler]] = [
            (FW_CFG_IO_CTL, FW_CFG_CTL_SIZE, 4, self._ctl_data_region)]
        if dma:
            self._io_regions.append((FW_CFG_IO_DMA_ADDR_HIGH, FW_CFG_DMA_SIZE, 8, self._dma_address_region))

    # -- configuration (host side) ---------------------------------------------------------
    def add_file(self, name: str, data: bytes, *, writable: bool = False) -> int:
        """Add (or replace) a named file; returns its selector."""
        raw = name.encode("ascii", errors="replace")
        if not name or len(raw) >= FW_CFG_MAX_FILE_PATH or "\0" in name:
            raise UsageError(f"fw_cfg file name {name!r} must be 1..{FW_CFG_MAX_FILE_PATH - 1} ASCII characters")
        self._files = [f for f in self._files if f.name != name]
        self._files.append(FwCfgFile(name, bytes(data), 0, writable))
        self._files.sort(key=lambda f: f.name)
        for index, f in enumerate(self._files):
            f.select = FW_CFG_FILE_FIRST + index
        return self.find(name).select

    def remove_file(self, name: str) -> None:
        self._files = [f for f in self._files if f.name != name]
        for index, f in enumerate(self._files):
            f.select = FW_CFG_FILE_FIRST + index

    def find(self, name: str) -> FwCfgFile:
        for f in self._files:
            if f.name == name:
                return f
        raise UsageError(f"fw_cfg has no file {name!r}")

    def files(self) -> list[FwCfgFile]:
        return list(self._files)

    def directory(self) -> bytes:
        """The FW_CFG_FILE_DIR blob."""
        return FW_CFG_FILES.build({"count": len(self._files), "files": [
            {"size": len(f.data), "select": f.select, "reserved": 0, "name": f.name} for f in self._files]})

    def entry(self, selector: int) -> bytes | None:
        """Contents behind a selector (None: no such entry)."""
        key = selector & FW_CFG_ENTRY_MASK
        if selector & FW_CFG_ARCH_LOCAL:
            return None
        if key == FW_CFG_SIGNATURE:
            return b"QEMU"
        if key == FW_CFG_ID:
            features = FW_CFG_VERSION | (FW_CFG_VERSION_DMA if self.dma_enabled else 0)
            return features.to_bytes(4, "little")
        if key == FW_CFG_FILE_DIR:
            return self.directory()
        index = key - FW_CFG_FILE_FIRST
        if 0 <= index < len(self._files):
            return self._files[index].data
        return None

    # -- guest side: legacy selector/data protocol ------------------------------------------
    def reset(self) -> None:
        """Machine reset (QEMU ``fw_cfg_reset``): the signature entry is selected, so a data read
        before any select returns "QEMU" (observed). The DMA address high half is kept, as QEMU does."""
        self.select(FW_CFG_SIGNATURE)

    def select(self, selector: int) -> None:
        """Writing a selector resets the read offset."""
        self._selector = selector & 0xFFFF
        self._offset = 0

    def read_data(self) -> int:
        """One byte from the selected entry; 0 past the end or for an unknown entry."""
        data = self.entry(self._selector)
        if data is None or self._offset >= len(data):
            return 0
        value = data[self._offset]
        self._offset += 1
        return value

    # -- guest side: the I/O ports, as QEMU's memory core dispatches them ----------------------
    # A port access is cut into pieces the way QEMU cuts an access to I/O regions: the length is
    # not clamped to a region; each piece is the largest power of two that fits the remaining
    # length, the region's maximum access size and the alignment of its offset in the region.
    # Each region then accepts or refuses its piece. Observed on QEMU 7.2 (q35, qtest):
    # ``outb 0x510`` and ``outl 0x510`` do not select (only a 16-bit write does), ``inb 0x510``
    # reads a data byte, ``inw 0x510`` and ``inl 0x510`` read 0 and consume nothing, ``inw 0x511``
    # consumes one data byte and reads 0xFF from the unassigned port 0x512 above it, and
    # ``outl 0x50E`` selects (its middle piece is a 16-bit write at 0x510).
    def io_read(self, port: int, size: int) -> int:
        """Guest ``in`` of 1, 2 or 4 bytes at ``port``, little-endian; never raises.

        Ports outside the device read as all ones (QEMU's unassigned I/O); other sizes read 0."""
        if size not in (1, 2, 4):
            return 0
        value = 0
        for at, piece, handler, offset in self._io_pieces(port, size):
            if handler is None:
                part = int.from_bytes(bytes([UNASSIGNED_IO_BYTE]) * piece, "little")
            else:
                part = handler(offset, piece, None, None)
            value |= part << (8 * (at - port))
        return value

    def io_write(self, port: int, size: int, value: int, memory: GuestMemory | None = None) -> None:
        """Guest ``out`` of 1, 2 or 4 bytes; ``memory`` is where a DMA descriptor is read from.

        Data-port writes are ignored (QEMU >= 2.4), as is anything a region refuses."""
        if size not in (1, 2, 4):
            return
        for at, piece, handler, offset in self._io_pieces(port, size):
            if handler is not None:
                handler(offset, piece, (value >> (8 * (at - port))) & ((1 << (8 * piece)) - 1), memory)

    def _io_pieces(self, port: int, size: int) -> Iterator[tuple[int, int, _IoHandler | None, int]]:
        """(port, size, region handler or None for unassigned, offset in the region) per piece."""
        regions = self._io_regions
        at, end = port & 0xFFFF, (port & 0xFFFF) + size
        while at < end:
            handler, base, max_access = next(((h, b, m) for b, length, m, h in regions if b <= at < b + length),
                                             (None, 0, 4))  # unassigned I/O: one region from port 0
            offset = at - base
            limit = min(end - at, max_access, offset & -offset or max_access)
            piece = 1 << (limit.bit_length() - 1)
            yield at, piece, handler, offset
            at += piece

    def _ctl_data_region(self, offset: int, size: int, value: int | None, memory: GuestMemory | None) -> int:
        """``fw_cfg_comb_mem_ops``: byte reads read data, byte writes are data writes (ignored),
        a 16-bit write selects; any other access is refused (reads 0, consumes nothing)."""
        if value is None:
            return self.read_data() if size == 1 else 0
        if size == 2:
            self.select(value)
        return 0

    def _dma_address_region(self, offset: int, size: int, value: int | None, memory: GuestMemory | None) -> int:
        """``fw_cfg_dma_mem_ops`` (big-endian): reads return the "QEMU CFG" signature bytes at any
        offset; only 32-bit writes at 0 (high half) and 4 (low half, starts the transfer) count."""
        if value is None:
            return int.from_bytes(FW_CFG_DMA_SIGNATURE.to_bytes(8, "big")[offset:offset + size], "little")
        if size == 4:
            half = int.from_bytes(value.to_bytes(4, "little"), "big")  # the guest wrote cpu_to_be32(half)
            if offset == 0:
                self._dma_high = half
            elif offset == 4 and memory is not None:
                self.dma((self._dma_high << 32) | half, memory)
                self._dma_high = 0
        return 0

    # -- guest side: DMA ---------------------------------------------------------------------
    def dma(self, access_address: int, memory: GuestMemory) -> None:
        """Run the FWCfgDmaAccess at ``access_address``; its control word gets 0 or the error bit.

        QEMU 7.2's ``fw_cfg_dma_transfer``, as observed over qtest: a descriptor that is not
        wholly in backed memory only gets the error bit (nothing selected, nothing moved); READ
        beats WRITE beats SKIP when several are set; the transfer runs while length is left and
        no error is set -- the entry's bytes first, then (past its end) zeros for a read, an
        error for a write. A transfer that touches unbacked guest memory moves what it can and
        sets the error bit; a refused write (read-only entry, or longer than what is left of
        the entry) still advances the entry's offset, as QEMU does. Bounded: zeros go out in
        64 KiB blocks (a 4 GiB length is not a 4 GiB allocation), and a write is checked
        against the entry before its payload is read."""
        size = FW_CFG_DMA_ACCESS.sizeof()
        raw = memory.read(access_address, size)
        if len(raw) != size or not memory.mapped(access_address, size):
            memory.write(access_address, FW_CFG_DMA_CTL_ERROR.to_bytes(4, "big"))
            return
        access = FW_CFG_DMA_ACCESS.parse(raw)
        control = access.control
        if control & FW_CFG_DMA_CTL_SELECT:
            self.select(control >> 16)
        mode = next((bit for bit in _DMA_MODES if control & bit), 0)
        length = access.length if mode else 0
        address, error = access.address, False
        data = self.entry(self._selector)
        while length > 0 and not error:
            if data is None or self._offset >= len(data):  # past the entry: zeros, or a refused write
                count = length
                if mode == FW_CFG_DMA_CTL_READ:
                    for at in range(0, count, _DMA_FILL_BLOCK):
                        memory.write(address + at, bytes(min(_DMA_FILL_BLOCK, count - at)))
                    error = not memory.mapped(address, count)
                elif mode == FW_CFG_DMA_CTL_WRITE:
                    error = True
            else:
                count = min(length, len(data) - self._offset)
                if mode == FW_CFG_DMA_CTL_READ:
                    memory.write(address, data[self._offset:self._offset + count])
                    error = not memory.mapped(address, count)
                elif mode == FW_CFG_DMA_CTL_WRITE:
                    error = not self._dma_write(memory, address, count, whole=count == length)
                self._offset += count
            address += count
            length -= count
        memory.write(access_address, (FW_CFG_DMA_CTL_ERROR if error else 0).to_bytes(4, "big"))

    def _dma_write(self, memory: GuestMemory, address: int, count: int, *, whole: bool) -> bool:
        """Store ``count`` guest bytes at the selected file's offset. Refused (False, nothing read
        or written) unless the file is writable and the whole request fits (``whole``); guest
        bytes that no memory backs are stored as 0 and make it an error too, as in QEMU."""
        pos = (self._selector & FW_CFG_ENTRY_MASK) - FW_CFG_FILE_FIRST
        if not whole or not 0 <= pos < len(self._files) or not self._files[pos].writable:
            return False
        f = self._files[pos]
        payload = memory.read(address, count)
        if len(payload) != count:
            return False
        f.data = f.data[:self._offset] + payload + f.data[self._offset + count:]
        return memory.mapped(address, count)

    # -- firmware convenience (what QemuFwCfgFindFile does, over the legacy protocol) --------
    def read_file_via_ports(self, name: str) -> bytes | None:
        """Find ``name`` in the directory and read it byte by byte, as firmware would."""
        self.io_write(FW_CFG_IO_CTL, 2, FW_CFG_FILE_DIR)
        count = int.from_bytes(bytes(self.io_read(FW_CFG_IO_DATA, 1) for _ in range(4)), "big")
        for _ in range(count):
            raw = bytes(self.io_read(FW_CFG_IO_DATA, 1) for _ in range(FW_CFG_FILE.sizeof()))
            entry = FW_CFG_FILE.parse(raw)
            if entry.name == name:
                self.io_write(FW_CFG_IO_CTL, 2, entry.select)
                return bytes(self.io_read(FW_CFG_IO_DATA, 1) for _ in range(entry.size))
        return None


def parse_directory(blob: bytes) -> list[dict[str, object]]:
    """Decode a FW_CFG_FILE_DIR blob (raises :class:`LayoutError` if truncated)."""
    if len(blob) < 4:
        raise LayoutError("file directory shorter than its 4-byte count", field="fw_cfg.count", offset=0)
    count = int.from_bytes(blob[:4], "big")
    need = 4 + count * FW_CFG_FILE.sizeof()
    if len(blob) < need:
        raise LayoutError(f"directory announces {count} entries ({need} bytes) but has {len(blob)} bytes",
                          field="fw_cfg.files", offset=len(blob))
    return [dict(size=e.size, select=e.select, name=e.name) for e in FW_CFG_FILES.parse(blob).files]
