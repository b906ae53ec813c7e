"""Guest memory: what unbacked addresses read, and which spans count as backed (DMA's error bit)."""

from __future__ import annotations

import pytest

from ppikit.errors import UsageError
from ppikit.platform.memory import GuestMemory, Region
from ppikit.ppi.page import TPM_PPI_ADDR_BASE

RAM_BASE, RAM_END = 0x100000, 0x110000  #: GuestMemory.with_ppi's RAM


def test_unbacked_addresses_read_zero_and_drop_writes():
    # QEMU 7.2 q35, 128 MiB: readb/readl/readq 0x40000000 all read 0 (observed over qtest)
    memory = GuestMemory.with_ppi(TPM_PPI_ADDR_BASE)
    memory.write(RAM_END - 2, b"\x11\x22\x33\x44")
    assert memory.read(RAM_END - 2, 4) == b"\x11\x22\x00\x00"
    assert memory.read(0x40000000, 8) == bytes(8)


@pytest.mark.parametrize("address, length, backed", [
    (RAM_BASE, 0x10000, True),  # all of RAM
    (RAM_END - 2, 4, False),  # two bytes past RAM's end
    (RAM_BASE - 1, 1, False),
    (TPM_PPI_ADDR_BASE, 0x400, True),  # the PPI page
    (TPM_PPI_ADDR_BASE + 0x3FF, 2, False),
    (RAM_BASE, 0x1_0000_0000, False),  # a 4 GiB DMA length: one step per region, not per byte
    (0x40000000, 0, True),  # an empty span
])
def test_mapped_spans(address: int, length: int, backed: bool):
    assert GuestMemory.with_ppi(TPM_PPI_ADDR_BASE).mapped(address, length) is backed


def test_adjacent_regions_back_a_span_together():
    memory = GuestMemory([Region("low", 0x1000, bytearray(0x1000)), Region("high", 0x2000, bytearray(0x1000))])
    assert memory.mapped(0x1800, 0x1000)
    with pytest.raises(UsageError, match=r"memory region x \[0x1800, 0x1810\) overlaps low"):
        memory.add(Region("x", 0x1800, bytearray(0x10)))
