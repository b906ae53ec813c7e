"""Guest-physical memory as ppikit models it: ordinary RAM plus the PPI page.

Only what the PPI flow touches is modelled: a block of guest RAM (so a memory-overwrite request has
something to clear and a test can prove it was cleared) and the 0x400-byte PPI page, which QEMU maps
as a *ram_device* region -- RAM that migrates, but that the MOR wipe skips (``tpm_ppi_reset``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ppikit.errors import UsageError
from ppikit.ppi.page import TPM_PPI_ADDR_SIZE, PpiPage

#: Byte read at guest-physical addresses no region backs: QEMU 7.2's unassigned memory on q35
#: (observed over qtest: readb/readl/readq at 0x40000000 with 128 MiB of RAM all read 0).
UNMAPPED_BYTE = 0x00


@dataclass
class Region:
    name: str
    base: int
    data: bytearray
    #: False for ram_device regions (the PPI page): a memory-overwrite reset leaves them alone.
    clear_on_mor: bool = True

    @property
    def end(self) -> int:
        return self.base + len(self.data)


@dataclass
class GuestMemory:
    """A sparse guest-physical address space made of non-overlapping regions."""

    regions: list[Region] = field(default_factory=list)

    @classmethod
    def with_ppi(cls, ppi_address: int, *, ram_base: int = 0x100000, ram_size: int = 0x10000) -> GuestMemory:
        """RAM at ``ram_base`` and a zeroed PPI page at ``ppi_address`` (QEMU 7.2's fresh allocation reads
        all zero before the first instruction: observed over qtest)."""
        mem = cls()
        mem.add(Region("ram", ram_base, bytearray(ram_size)))
        mem.add(Region("tpm-ppi", ppi_address, bytearray(TPM_PPI_ADDR_SIZE), clear_on_mor=False))
        return mem

    def add(self, region: Region) -> None:
        for other in self.regions:
            if region.base < other.end and other.base < region.end:
                raise UsageError(f"memory region {region.name} [0x{region.base:X}, 0x{region.end:X}) overlaps "
                                 f"{other.name} [0x{other.base:X}, 0x{other.end:X})")
        self.regions.append(region)

    def region(self, name: str) -> Region:
        for r in self.regions:
            if r.name == name:
                return r
        raise UsageError(f"no memory region named {name!r}")

    def _locate(self, address: int) -> tuple[Region, int] | None:
        for r in self.regions:
            if r.base <= address < r.end:
                return r, address - r.base
        return None

    def _unmapped_run(self, address: int, limit: int) -> int:
        """How many bytes from ``address`` (at most ``limit``) no region maps: one step per gap."""
        following = [r.base for r in self.regions if r.base > address]
        return min(limit, min(following) - address) if following else limit

    def read(self, address: int, length: int) -> bytes:
        out = bytearray()
        while len(out) < length:
            hit = self._locate(address + len(out))
            if hit is None:
                out += bytes([UNMAPPED_BYTE]) * self._unmapped_run(address + len(out), length - len(out))
                continue
            r, off = hit
            take = min(length - len(out), len(r.data) - off)
            out += r.data[off:off + take]
        return bytes(out)

    def mapped(self, address: int, length: int) -> bool:
        """Whether every byte of ``[address, address + length)`` is backed by a region (one step
        per region, so a 4 GiB span costs no more than a byte)."""
        end = address + length
        return sum(max(0, min(end, r.end) - max(address, r.base)) for r in self.regions) == length

    def write(self, address: int, data: bytes) -> None:
        pos = 0
        while pos < len(data):
            hit = self._locate(address + pos)
            if hit is None:  # writes to unmapped addresses are dropped, as on the bus
                pos += self._unmapped_run(address + pos, len(data) - pos)
                continue
            r, off = hit
            take = min(len(data) - pos, len(r.data) - off)
            r.data[off:off + take] = data[pos:pos + take]
            pos += take

    def clear_for_memory_overwrite(self) -> int:
        """QEMU's MOR reset: zero every RAM region except ram_device ones; returns bytes cleared."""
        cleared = 0
        for r in self.regions:
            if r.clear_on_mor:
                r.data[:] = bytes(len(r.data))
                cleared += len(r.data)
        return cleared

    # -- the PPI page by name --------------------------------------------------------------
    @property
    def ppi_region(self) -> Region:
        return self.region("tpm-ppi")

    def ppi_page(self) -> PpiPage:
        return PpiPage.parse(bytes(self.ppi_region.data))

    def store_ppi_page(self, page: PpiPage) -> None:
        self.ppi_region.data[:] = page.build()
