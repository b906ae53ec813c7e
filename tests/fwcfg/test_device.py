"""The fw_cfg device: directory bytes, the selector/data protocol, DMA."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ppikit.errors import LayoutError, UsageError
from ppikit.platform.memory import GuestMemory
from ppikit.ppi.page import TPM_PPI_ADDR_BASE
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
RAM_BASE = 0x100000  #: GuestMemory.with_ppi's RAM
RAM_END = RAM_BASE + 0x10000


class Ram:
    """A flat little guest memory for DMA tests."""

    def __init__(self, size=0x1000):
        self.mem = bytearray(size)

    def read(self, address, length):
        return bytes(self.mem[address:address + length])

    def write(self, address, data):
        end = min(len(self.mem), address + len(data))
        if address < end:
            self.mem[address:end] = data[:end - address]

    def mapped(self, address, length):
        return 0 <= address and address + length <= len(self.mem)


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


def test_ports_the_device_does_not_decode_read_all_ones():
    # QEMU 7.2 x86: an unassigned I/O port reads 0xFF per byte (0x512, 0x513 observed), writes vanish
    dev = qemu_like()
    assert (dev.io_read(0x60, 1), dev.io_read(0x512, 2), dev.io_read(0x51C, 4)) == (0xFF, 0xFFFF, 0xFFFFFFFF)
    dev.io_write(0x512, 2, 0x0020)  # not the selector: entry 0 stays selected
    assert read(dev, 4) == b"QEMU"


def test_power_on_and_reset_select_the_signature():
    # QEMU 7.2 observed: "inb 0x511" x5 before any select reads 51 45 4D 55 00
    dev = qemu_like()
    assert read(dev, 5) == b"QEMU\0"
    dev.io_write(FW_CFG_IO_CTL, 2, 0x20)
    assert read(dev, 2) == TPM_CONFIG[:2]
    dev.reset()
    assert read(dev, 4) == b"QEMU"


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
    assert FwCfgDevice(dma=False).io_read(FW_CFG_IO_DMA_ADDR_HIGH, 4) == 0xFFFFFFFF  # no region there


#: Transcripts of QEMU 7.2.22 (Debian 12, ``qemu-system-x86_64 -M q35 -accel tcg -S -qtest stdio``,
#: no other devices): each qtest line and QEMU's answer, replayed on the model. Entry 0 is the
#: signature "QEMU" (51 45 4D 55), entry 1 the feature bitmap (3: ports + DMA); the DMA address
#: region 0x514-0x51B reads "QEMU CFG"; 0x512, 0x513 and 0x51C up are unassigned.
QEMU_PORT_TRANSCRIPTS = {
    "power-on: the signature entry is selected": [
        ("inb 0x511", 0x51), ("inb 0x511", 0x45), ("inb 0x511", 0x4D), ("inb 0x511", 0x55), ("inb 0x511", 0x00)],
    "16-bit write selects, byte reads advance": [
        ("outw 0x510 0x0", None), ("inb 0x511", 0x51), ("inb 0x511", 0x45), ("inb 0x511", 0x4D),
        ("inb 0x511", 0x55), ("inb 0x511", 0x00), ("inb 0x511", 0x00)],
    "8-bit write to 0x510 is a data write, not a select": [
        ("outw 0x510 0x0", None), ("inb 0x511", 0x51), ("outb 0x510 0x1", None), ("inb 0x511", 0x45)],
    "32-bit write to 0x510 is refused": [
        ("outw 0x510 0x0", None), ("inb 0x511", 0x51), ("outl 0x510 0x00010001", None), ("inb 0x511", 0x45)],
    "byte read at 0x510 reads data": [
        ("outw 0x510 0x0", None), ("inb 0x510", 0x51), ("inb 0x510", 0x45), ("inb 0x511", 0x4D)],
    "16/32-bit reads at 0x510 are refused: 0, nothing consumed": [
        ("outw 0x510 0x0", None), ("inw 0x510", 0x0000), ("inl 0x510", 0x00000000), ("inb 0x511", 0x51)],
    "16-bit read at 0x511: one data byte, then unassigned 0x512": [
        ("outw 0x510 0x0", None), ("inw 0x511", 0xFF51), ("inb 0x511", 0x45)],
    "32-bit read at 0x511: data byte, 0x512-0x513 unassigned, DMA signature byte": [
        ("outw 0x510 0x0", None), ("inl 0x511", 0x51FFFF51), ("inb 0x511", 0x45)],
    "32-bit read at 0x50F: 1 + 2 + 1 pieces, the 16-bit middle refused": [
        ("outw 0x510 0x0", None), ("inl 0x50f", 0xFF0000FF), ("inb 0x511", 0x51)],
    "16-bit read at 0x50F: its upper byte is a data read": [
        ("outw 0x510 0x0", None), ("inw 0x50f", 0x51FF), ("inb 0x511", 0x45)],
    "aligned reads below the device stay unassigned": [
        ("inl 0x50c", 0xFFFFFFFF), ("inw 0x50e", 0xFFFF), ("inl 0x50e", 0x0000FFFF)],
    "16-bit write at 0x511 and at 0x50F do not select": [
        ("outw 0x510 0x0", None), ("inb 0x511", 0x51), ("outw 0x511 0x1", None), ("outw 0x50f 0x0100", None),
        ("outl 0x50d 0x01000000", None), ("inb 0x511", 0x45)],
    "32-bit write at 0x50F selects through its 16-bit middle piece": [
        ("outw 0x510 0x0", None), ("inb 0x511", 0x51), ("outl 0x50f 0x00000100", None), ("inb 0x511", 0x03)],
    "32-bit write at 0x50E selects too": [
        ("outw 0x510 0x0", None), ("inb 0x511", 0x51), ("outl 0x50e 0x00010000", None), ("inb 0x511", 0x03)],
    "32-bit writes at 0x511-0x513 change nothing": [
        ("outw 0x510 0x0", None), ("inb 0x511", 0x51), ("outl 0x511 0x0", None), ("outl 0x512 0x0", None),
        ("outl 0x513 0x0", None), ("inb 0x511", 0x45), ("inl 0x514", 0x554D4551)],
    "feature bitmap: traditional interface and DMA": [
        ("outw 0x510 0x1", None), ("inb 0x511", 0x03), ("inb 0x511", 0x00), ("inb 0x511", 0x00),
        ("inb 0x511", 0x00)],
    "DMA address region reads the signature at any offset and width": [
        ("inl 0x514", 0x554D4551), ("inl 0x518", 0x47464320), ("inw 0x514", 0x4551), ("inb 0x514", 0x51),
        ("inb 0x51b", 0x47), ("inl 0x516", 0x4320554D), ("inb 0x512", 0xFF), ("inb 0x513", 0xFF)],
    "reads straddling the DMA region": [
        ("inw 0x512", 0xFFFF), ("inl 0x512", 0x4551FFFF), ("inw 0x513", 0x51FF), ("inb 0x51c", 0xFF),
        ("inl 0x51a", 0xFFFF4746), ("inw 0x51b", 0xFF47), ("inl 0x513", 0x4D4551FF)],
    "16-bit write to the DMA region is refused": [("outw 0x514 0x1", None), ("inl 0x514", 0x554D4551)],
    "write channel bit ignored for reads, arch-local entries absent": [
        ("outw 0x510 0x4000", None), ("inb 0x511", 0x51), ("outw 0x510 0x8000", None), ("inb 0x511", 0x00),
        ("outw 0x510 0xc000", None), ("inb 0x511", 0x00)],
    "unknown selector reads 0": [("outw 0x510 0x7fff", None), ("inb 0x511", 0x00)],
}
QTEST_SIZES = {"b": 1, "w": 2, "l": 4}


@pytest.mark.parametrize("name", QEMU_PORT_TRANSCRIPTS)
def test_port_accesses_as_qemu_answered_them(name):
    dev = FwCfgDevice()  # the signature and feature entries are all these transcripts read
    for line, expected in QEMU_PORT_TRANSCRIPTS[name]:
        verb, *args = line.split()
        port, size = int(args[0], 16), QTEST_SIZES[verb[-1]]
        if verb.startswith("out"):
            dev.io_write(port, size, int(args[1], 16))
        else:
            assert dev.io_read(port, size) == expected, line


def test_directory_via_selector():
    dev = qemu_like()
    dev.select(FW_CFG_FILE_DIR)
    blob = read(dev, 4 + 2 * 64)
    assert parse_directory(blob)[1] == {"size": 0x10000, "select": 0x21, "name": "etc/tpm/log"}


def test_dma_read_of_4_gib_zero_fills_the_whole_range_without_a_4_gib_buffer():
    # length 0xFFFFFFFF from a 6-byte file: the file, then zeros over everything mapped in the next
    # 4 GiB -- the rest of RAM and the PPI page at 0xFED45000 too, as QEMU's dma_memory_set would
    dev, memory = qemu_like(), GuestMemory.with_ppi(TPM_PPI_ADDR_BASE)
    memory.write(RAM_BASE, dma_access((0x20 << 16) | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ,
                                      0xFFFFFFFF, RAM_END - 0x20))
    memory.write(RAM_END - 0x20, b"\xAA" * 0x20)
    memory.write(TPM_PPI_ADDR_BASE, b"\x55" * 4)
    dev.dma(RAM_BASE, memory)
    assert memory.read(RAM_END - 0x20, 0x20) == TPM_CONFIG + bytes(0x1A)
    assert memory.read(TPM_PPI_ADDR_BASE, 4) == bytes(4)
    assert read(dev, 1) == b"\0"  # the entry's offset is at its end
    # the zeros also crossed unassigned addresses: QEMU's dma_memory_set reports that as an error
    assert memory.read(RAM_BASE, 4) == FW_CFG_DMA_CTL_ERROR.to_bytes(4, "big")


# DMA against memory that is not all there, as QEMU 7.2.22 does it (observed over qtest on q35 with
# 128 MiB of RAM and -device vmgenid for a writable file; 0x40000000 is unassigned there and reads 0).
UNMAPPED = 0x40000000


def dma_through_ports(dev, memory, access_address):
    dev.io_write(FW_CFG_IO_DMA_ADDR_HIGH, 4, 0, memory)
    dev.io_write(FW_CFG_IO_DMA_ADDR_LOW, 4, int.from_bytes(access_address.to_bytes(4, "big"), "little"), memory)


def signature_selected():
    dev, memory = qemu_like(), GuestMemory.with_ppi(TPM_PPI_ADDR_BASE)
    dev.io_write(FW_CFG_IO_CTL, 2, FW_CFG_SIGNATURE)
    return dev, memory


def test_dma_descriptor_in_unmapped_memory_selects_and_moves_nothing():
    # QEMU: inb 0x511 -> 0x51 'Q'; DMA at 0x40000000; inb 0x511 -> 0x45 'E' (selection and offset kept)
    dev, memory = signature_selected()
    assert read(dev, 1) == b"Q"
    dma_through_ports(dev, memory, UNMAPPED)
    assert read(dev, 1) == b"E"


def test_dma_descriptor_partly_in_memory_gets_only_the_error_bit():
    # QEMU: a descriptor at RAM end - 8 (control and length backed, address not) -> control 0x1,
    # nothing read (the signature's offset stays 0)
    dev, memory = signature_selected()
    memory.write(RAM_END - 8, dma_access(FW_CFG_DMA_CTL_READ, 2, 0)[:8])
    dev.dma(RAM_END - 8, memory)
    assert memory.read(RAM_END - 8, 4) == FW_CFG_DMA_CTL_ERROR.to_bytes(4, "big")
    assert read(dev, 1) == b"Q"


def test_dma_read_into_unmapped_memory_is_an_error_but_consumes_the_bytes():
    # QEMU: READ 2 of the signature to 0x40000000 -> control 0x1; inb 0x511 -> 0x4d 'M' (offset 2)
    dev, memory = signature_selected()
    memory.write(RAM_BASE, dma_access(FW_CFG_DMA_CTL_READ, 2, UNMAPPED))
    dev.dma(RAM_BASE, memory)
    assert memory.read(RAM_BASE, 4) == FW_CFG_DMA_CTL_ERROR.to_bytes(4, "big")
    assert read(dev, 1) == b"M"


def test_dma_read_partly_into_unmapped_memory_writes_what_is_backed_and_stops():
    # QEMU: READ 8 of the 4-byte signature to RAM end - 2 -> control 0x1, "QE" in the last two RAM
    # bytes, and no zero fill after the error (the signature is consumed: the next byte reads 0)
    dev, memory = signature_selected()
    memory.write(RAM_BASE, dma_access(FW_CFG_DMA_CTL_READ, 8, RAM_END - 2))
    memory.write(RAM_END - 4, b"\xAA" * 4)
    dev.dma(RAM_BASE, memory)
    assert memory.read(RAM_BASE, 4) == FW_CFG_DMA_CTL_ERROR.to_bytes(4, "big")
    assert memory.read(RAM_END - 4, 4) == b"\xAA\xAAQE"
    assert read(dev, 1) == b"\0"


def writable_file_selected(content=bytes.fromhex("0102030405060708")):
    dev, memory = FwCfgDevice(), GuestMemory.with_ppi(TPM_PPI_ADDR_BASE)
    dev.add_file("etc/vmgenid_addr", content, writable=True)
    return dev, memory, dev.find("etc/vmgenid_addr").select


def test_dma_write_and_skip_together_write():
    # QEMU: control WRITE | SKIP of 4 bytes wrote them (READ, then WRITE, then SKIP are tested)
    dev, memory, select = writable_file_selected()
    memory.write(RAM_BASE + 0x40, bytes.fromhex("aabbccdd"))
    memory.write(RAM_BASE, dma_access((select << 16) | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_WRITE
                                      | FW_CFG_DMA_CTL_SKIP, 4, RAM_BASE + 0x40))
    dev.dma(RAM_BASE, memory)
    assert memory.read(RAM_BASE, 4) == bytes(4)
    assert dev.find("etc/vmgenid_addr").data == bytes.fromhex("aabbccdd05060708")


def test_dma_write_longer_than_the_file_is_refused_but_moves_the_offset_to_its_end():
    # QEMU: WRITE 12 bytes into the 8-byte etc/vmgenid_addr -> control 0x1, file unchanged, and the
    # next data byte comes from past the end (0)
    dev, memory, select = writable_file_selected()
    memory.write(RAM_BASE, dma_access((select << 16) | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_WRITE,
                                      12, RAM_BASE + 0x40))
    dev.dma(RAM_BASE, memory)
    assert memory.read(RAM_BASE, 4) == FW_CFG_DMA_CTL_ERROR.to_bytes(4, "big")
    assert dev.find("etc/vmgenid_addr").data == bytes.fromhex("0102030405060708")
    assert read(dev, 1) == b"\0"


def test_dma_write_to_a_read_only_entry_moves_its_offset():
    # QEMU: WRITE 2 bytes to the signature -> control 0x1; inb 0x511 -> 0x4d 'M' (offset 2)
    dev, memory = signature_selected()
    memory.write(RAM_BASE, dma_access(FW_CFG_DMA_CTL_WRITE, 2, RAM_BASE + 0x40))
    dev.dma(RAM_BASE, memory)
    assert memory.read(RAM_BASE, 4) == FW_CFG_DMA_CTL_ERROR.to_bytes(4, "big")
    assert read(dev, 1) == b"M"


def test_dma_write_from_partly_unmapped_memory_stores_zeros_for_the_rest():
    # QEMU: WRITE 8 bytes from RAM end - 4 (11 22 33 44, then unassigned) -> control 0x1 and the file
    # holds 1122334400000000
    dev, memory, select = writable_file_selected()
    memory.write(RAM_END - 4, bytes.fromhex("11223344"))
    memory.write(RAM_BASE, dma_access((select << 16) | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_WRITE,
                                      8, RAM_END - 4))
    dev.dma(RAM_BASE, memory)
    assert memory.read(RAM_BASE, 4) == FW_CFG_DMA_CTL_ERROR.to_bytes(4, "big")
    assert dev.find("etc/vmgenid_addr").data == bytes.fromhex("1122334400000000")


def test_dma_descriptor_that_memory_cannot_supply_sets_the_error_bit():
    dev, ram = qemu_like(), Ram(0x100)
    ram.mem[0xF8:] = dma_access((0x20 << 16) | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, 4, 0)[:8]  # runs off the end
    dev.dma(0xF8, ram)
    assert ram.read(0xF8, 4) == FW_CFG_DMA_CTL_ERROR.to_bytes(4, "big")
    assert ram.read(0, 4) == bytes(4)  # nothing transferred


def test_dma_write_beyond_a_writable_file_is_refused_before_reading_the_payload():
    dev, memory = FwCfgDevice(), GuestMemory.with_ppi(TPM_PPI_ADDR_BASE)
    dev.add_file("opt/rw", bytes(4), writable=True)
    memory.write(RAM_BASE, dma_access((0x20 << 16) | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_WRITE,
                                      0xFFFFFFFF, RAM_BASE + 0x40))
    dev.dma(RAM_BASE, memory)
    assert memory.read(RAM_BASE, 4) == FW_CFG_DMA_CTL_ERROR.to_bytes(4, "big")
    assert dev.find("opt/rw").data == bytes(4)


@given(st.lists(st.tuples(st.booleans(), st.integers(0x500, 0x520), st.sampled_from([1, 2, 3, 4, 8]),
                          st.integers(0, 2**32 - 1)), max_size=40))
def test_any_port_traffic_never_raises_and_reads_fit_the_width(accesses):
    dev, ram = qemu_like(), GuestMemory.with_ppi(TPM_PPI_ADDR_BASE)
    for is_write, port, size, value in accesses:
        if is_write:
            dev.io_write(port, size, value, ram)
        else:
            assert 0 <= dev.io_read(port, size) < 1 << (8 * size)
    dev.io_write(FW_CFG_IO_CTL, 2, 0x20)  # the protocol still works afterwards
    assert read(dev, 6) == TPM_CONFIG
