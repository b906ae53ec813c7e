"""The Platform's own duties: fw_cfg contents, memory-overwrite on reset, the OS/firmware page sync."""

import pytest

from ppikit.aml.params import MOR_DSM_UUID
from ppikit.platform.platform import Platform, PlatformConfig
from ppikit.ppi.os_linux import NoPpiDirectory, attach

RAM_BASE = 0x100000  # GuestMemory.with_ppi default


@pytest.fixture
def platform():
    with Platform(PlatformConfig()) as p:
        p.power_on()
        yield p


def test_fwcfg_carries_qemus_records(platform):
    assert platform.fwcfg.read_file_via_ports("etc/tpm/config") == bytes.fromhex("0050d4fe0201")
    assert len(platform.fwcfg.read_file_via_ports("etc/tpm/log")) == 0x10000


def test_page_is_all_zero_before_the_first_boot():
    # QEMU 7.2 observed (q35, tpm-tis, qtest "read 0xfed45000 0x400" before the first instruction):
    # 1024 zero bytes; also the one byte fw_cfg hands out before any select is the signature's
    with Platform(PlatformConfig()) as p:
        assert p.memory.read(0xFED45000, 0x400) == bytes(0x400)
        assert p.fwcfg.io_read(0x511, 1) == 0x51


def test_first_boot_initialises_the_page_like_ovmf(platform):
    page = platform.page
    assert page.ppin == 1
    assert [op for op, v in enumerate(page.func) if v] == [0, 5, 14, 21, 22, 23, 24, 33, 96, 97]
    assert {page.func[op] for op in (0, 5, 97)} == {3}


def test_memory_overwrite_request_clears_ram_but_keeps_the_page(platform):
    platform.memory.write(RAM_BASE + 0x40, b"secret")
    with platform.os_session() as acpi:
        device = attach(acpi).dsm.device
        # MOR _DSM fn 1 with Package{1}: QEMU stores the byte into MOVV and returns 0.
        assert acpi.dsm(device, MOR_DSM_UUID, 1, 1, [1]) == 0
    assert platform.page.movv == 1
    platform.reboot()
    assert platform.memory.read(RAM_BASE + 0x40, 6) == bytes(6)
    assert platform.page.movv == 1  # QEMU does not clear MOVV; firmware or OS must
    assert platform.page.ppin == 1  # the ram_device page survived the wipe
    assert any("memory overwrite requested" in e.text for e in platform.timeline)


def test_without_mor_ram_survives_a_reboot(platform):
    platform.memory.write(RAM_BASE, b"kept")
    platform.reboot()
    assert platform.memory.read(RAM_BASE, 4) == b"kept"


def test_os_session_round_trips_the_page(platform):
    page = platform.page
    page.pprq = 0  # nothing pending
    page.lppr, page.pprp = 5, 0xFFFFFFF0
    platform.page = page
    with platform.os_session() as acpi:
        assert attach(acpi).read("response") == "5 0xFFFFFFF0: User Abort\n"
        acpi.write_memory(0xFED45000 + 0x10D, bytes.fromhex("03000000"))  # the AML side writes pprm
    assert platform.page.pprm == 3


def test_ppi_off_means_no_config_file_and_no_ppi_directory():
    with Platform(PlatformConfig(ppi=False)) as p:
        p.power_on()
        assert p.fwcfg.read_file_via_ports("etc/tpm/config") is None
        assert p.page.ppin == 0  # firmware found no PPI and never touched the page
        with p.os_session() as acpi, pytest.raises(NoPpiDirectory):
            attach(acpi)

