"""The fw_cfg device: directory bytes, the selector/data protocol, DMA."""

import pytest

from ppikit.errors import LayoutError, UsageError
from ppikit.fwcfg.device import (
    FW_CFG_DMA_CTL_ERROR,
    FW_CFG_DMA_CTL_READ,
    FW_CFG_DMA_CTL_SELECT,
    FW_CFG_DMA_CTL_SKIP,
    FW_CFG_DMA_CTL_WRITE,
    FW_CFG_FILE_DIR,
    FW_CFG_ID,
    FW_CFG_IO_CTL,
    FW_CFG_IO_DATA,
    FW_CFG_IO_DMA_ADDR_HIGH,
    FW_CFG_IO_DMA_ADDR_LOW,
    FW_CFG_SIGNATURE,
    FwCfgDevice,
    parse_directory,
)

TPM_CONFIG = bytes.fromhex("0050d4fe0201")


class Ram:
    """A flat little guest memory for DMA tests."""

    def __init__(self, size=0x1000):
        self.mem = bytearray(size)

    def read(self, address, length):
        return bytes(self.mem[address:address + length])

    def write(self, address, data):
        self.mem[address:address + len(data)] = data


def qemu_like():
    dev = FwCfgDevice()
    dev.add_file("etc/tpm/log", bytes(0x10000))
    dev.add_file("etc/tpm/config", TPM_CONFIG)
    return dev


def read(dev, n):
    return bytes(dev.io_read(FW_CFG_IO_DATA, 1) for _ in range(n))


def test_files_sorted_by_name_with_selectors_in_order():
    dev = qemu_like()
    assert [(f.name, f.select) for f in dev.files()] == [("etc/tpm/config", 0x20), ("etc/tpm/log", 0x21)]


def test_directory_bytes():
    dev = FwCfgDevice()
    dev.add_file("etc/tpm/config", TPM_CONFIG)
    expected = (
        bytes.fromhex("00000001")  # BE32 count
        + bytes.fromhex("00000006" "0020" "0000")  # BE32 size 6, BE16 select 0x20, reserved
        + b"etc/tpm/config".ljust(56, b"\0")  # NUL-padded name
    )
    assert dev.directory() == expected
    assert parse_directory(expected) == [{"size": 6, "select": 0x20, "name": "etc/tpm/config"}]


def test_truncated_directory():
    with pytest.raises(LayoutError, match="announces 1 entries"):
        parse_directory(bytes.fromhex("00000001") + bytes(10))
    with pytest.raises(LayoutError, match="shorter than its 4-byte count"):
        parse_directory(b"\0")


def test_signature_and_id():
    dev = FwCfgDevice()
    dev.io_write(FW_CFG_IO_CTL, 2, FW_CFG_SIGNATURE)
    assert read(dev, 4) == b"QEMU"
    dev.io_write(FW_CFG_IO_CTL, 2, FW_CFG_ID)
    assert read(dev, 4) == bytes.fromhex("03000000")  # traditional | DMA
    assert FwCfgDevice(dma=False).entry(FW_CFG_ID) == bytes.fromhex("01000000")


def test_selector_resets_offset_and_reads_past_end_are_zero():
    dev = qemu_like()
    dev.io_write(FW_CFG_IO_CTL, 2, 0x20)
    assert read(dev, 3) == TPM_CONFIG[:3]
    dev.io_write(FW_CFG_IO_CTL, 2, 0x20)  # re-select: back to byte 0
    assert read(dev, 8) == TPM_CONFIG + b"\0\0"


def test_unknown_selector_and_port_read_zero():
    dev = qemu_like()
    dev.io_write(FW_CFG_IO_CTL, 2, 0x3FFF)
    assert read(dev, 4) == bytes(4)
    dev.io_write(FW_CFG_IO_CTL, 2, 0x8020)  # arch-local 0x20 is not file 0x20
    assert read(dev, 2) == bytes(2)
    assert dev.io_read(0x60, 1) == 0


def test_data_port_writes_are_ignored():
    dev = qemu_like()
    dev.io_write(FW_CFG_IO_CTL, 2, 0x20)
    dev.io_write(FW_CFG_IO_DATA, 1, 0xFF)
    assert read(dev, 6) == TPM_CONFIG


def test_firmware_lookup_over_ports():
    assert qemu_like().read_file_via_ports("etc/tpm/config") == TPM_CONFIG
    assert qemu_like().read_file_via_ports("etc/none") is None


def test_replacing_a_file_keeps_one_entry():
    dev = qemu_like()
    dev.add_file("etc/tpm/config", bytes.fromhex("0050d4fe0101"))
    assert len(dev.files()) == 2
    assert dev.find("etc/tpm/config").data == bytes.fromhex("0050d4fe0101")
    dev.remove_file("etc/tpm/config")
    assert [(f.name, f.select) for f in dev.files()] == [("etc/tpm/log", 0x20)]


@pytest.mark.parametrize("name", ["", "x" * 56, "a\0b"])
def test_bad_file_names(name):
    with pytest.raises(UsageError, match="fw_cfg file name"):
        FwCfgDevice().add_file(name, b"")


def dma_access(control, length, address):
    return control.to_bytes(4, "big") + length.to_bytes(4, "big") + address.to_bytes(8, "big")


def test_dma_select_and_read_through_the_io_ports():
    dev, ram = qemu_like(), Ram()
    ram.write(0x100, dma_access((0x20 << 16) | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, 8, 0x200))
    ram.write(0x200, b"\xAA" * 8)
    # The guest writes each big-endian half as a 32-bit OUT: value = byte-swapped half.
    dev.io_write(FW_CFG_IO_DMA_ADDR_HIGH, 4, 0, ram)
    dev.io_write(FW_CFG_IO_DMA_ADDR_LOW, 4, int.from_bytes((0x100).to_bytes(4, "big"), "little"), ram)
    assert ram.read(0x200, 8) == TPM_CONFIG + b"\0\0"  # past the end: zeros
    assert ram.read(0x100, 4) == bytes(4)  # control cleared: success


def test_dma_skip_then_read():
    dev, ram = qemu_like(), Ram()
    ram.write(0, dma_access((0x20 << 16) | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_SKIP, 4, 0))
    dev.dma(0, ram)
    ram.write(0, dma_access(FW_CFG_DMA_CTL_READ, 2, 0x40))
    dev.dma(0, ram)
    assert ram.read(0x40, 2) == bytes.fromhex("0201")


def test_dma_write_to_read_only_file_sets_error():
    dev, ram = qemu_like(), Ram()
    ram.write(0, dma_access((0x20 << 16) | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_WRITE, 2, 0x40))
    dev.dma(0, ram)
    assert int.from_bytes(ram.read(0, 4), "big") == FW_CFG_DMA_CTL_ERROR
    assert dev.find("etc/tpm/config").data == TPM_CONFIG


def test_dma_write_to_writable_file():
    dev, ram = FwCfgDevice(), Ram()
    dev.add_file("opt/rw", bytes(4), writable=True)
    ram.write(0x40, b"\x01\x02")
    ram.write(0, dma_access((0x20 << 16) | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_WRITE, 2, 0x40))
    dev.dma(0, ram)
    assert ram.read(0, 4) == bytes(4)
    assert dev.find("opt/rw").data == bytes.fromhex("01020000")


def test_dma_signature_readable():
    dev = FwCfgDevice()
    high = dev.io_read(FW_CFG_IO_DMA_ADDR_HIGH, 4).to_bytes(4, "little")
    low = dev.io_read(FW_CFG_IO_DMA_ADDR_LOW, 4).to_bytes(4, "little")
    assert high + low == b"QEMU CFG"
    assert FwCfgDevice(dma=False).io_read(FW_CFG_IO_DMA_ADDR_HIGH, 4) == 0


def test_directory_via_selector():
    dev = qemu_like()
    dev.select(FW_CFG_FILE_DIR)
    blob = read(dev, 4 + 2 * 64)
    assert parse_directory(blob)[1] == {"size": 0x10000, "select": 0x21, "name": "etc/tpm/log"}
