"""Firmware-side drivers: the MMIO traffic they produce, locality handling, and that every wait
ends in DriverTimeout and every protocol violation in DriverError -- never a hang."""

from __future__ import annotations

import threading

import pytest
from device_model_support import TPM2_ERROR_REPLY, TPM2_STARTUP_CLEAR, QtestEmulator

from ppikit.device.crb import CrbDevice
from ppikit.device.drivers import CrbDriver, DriverError, DriverTimeout, TisDriver
from ppikit.device.tis import TisDevice
from ppikit.errors import PpikitError, UsageError

BASE = 0xFED40000


class SpyBus:
    """Forwards to a device, logging (kind, offset, size); ``burst_cap`` makes STS reads show a
    smaller burst count, like a TPM with a small FIFO."""

    def __init__(self, device, burst_cap: int | None = None) -> None:
        self.device = device
        self.base = device.base
        self.burst_cap = burst_cap
        self.log: list[tuple[str, int, int]] = []

    def mmio_read(self, addr: int, size: int) -> int:
        self.log.append(("r", addr - self.base, size))
        value = self.device.mmio_read(addr, size)
        if self.burst_cap is not None and (addr - self.base) & 0xFFF == 0x18 and value != 0xFFFFFFFF:
            burst = min((value >> 8) & 0xFFFF, self.burst_cap)
            value = (value & ~0xFFFF00) | burst << 8
        return value

    def mmio_write(self, addr: int, size: int, value: int) -> None:
        self.log.append(("w", addr - self.base, size))
        self.device.mmio_write(addr, size, value)


def test_driver_errors_are_ppikit_errors() -> None:
    assert issubclass(DriverTimeout, DriverError) and issubclass(DriverError, PpikitError)


def test_tis_fifo_traffic_uses_4_byte_accesses() -> None:
    backend = QtestEmulator()
    bus = SpyBus(TisDevice(backend))
    command = TPM2_STARTUP_CLEAR + b"\x00"  # 13 bytes: three 4-byte writes and one byte
    command = command[:2] + (13).to_bytes(4, "big") + command[6:]
    assert TisDriver(bus).transmit(command) == TPM2_ERROR_REPLY
    assert [size for kind, off, size in bus.log if kind == "w" and off == 0x24] == [4, 4, 4, 1]
    # the 10-byte response: burst 10 allows two 4-byte reads, then bytes
    assert [size for kind, off, size in bus.log if kind == "r" and off == 0x24] == [4, 4, 1, 1]
    assert backend.commands == [(command, 0)]


def test_tis_command_makes_ovmfs_accesses_in_ovmfs_order() -> None:
    # Tpm2TisTpmCommand (OVMF 2022.11): commandReady and wait for it; the command through the FIFO
    # (burst counts read from STS); wait for Expect to clear; tpmGo; wait for dataAvail; the
    # response through the FIFO; commandReady -- and no STS read between the last byte and it.
    # (STS is read 4 bytes wide: status and burst count in one access.)
    bus = SpyBus(TisDevice(QtestEmulator()))
    driver = TisDriver(bus)
    driver.transmit(TPM2_STARTUP_CLEAR)  # the first command also requests the locality
    bus.log.clear()
    assert driver.transmit(TPM2_STARTUP_CLEAR) == TPM2_ERROR_REPLY
    assert bus.log == [("w", 0x18, 1), ("r", 0x18, 4),  # commandReady, wait (+ burst count)
                       ("w", 0x24, 4), ("w", 0x24, 4), ("w", 0x24, 4),  # 12 command bytes
                       ("r", 0x18, 4),  # Expect clear?
                       ("w", 0x18, 1), ("r", 0x18, 4),  # tpmGo, wait for dataAvail (+ burst count)
                       ("r", 0x24, 4), ("r", 0x24, 4), ("r", 0x24, 1), ("r", 0x24, 1),  # 10-byte reply
                       ("w", 0x18, 1)]  # commandReady


def test_tis_writes_never_exceed_the_burst_count() -> None:
    backend = QtestEmulator()
    bus = SpyBus(TisDevice(backend), burst_cap=5)
    assert TisDriver(bus).transmit(TPM2_STARTUP_CLEAR) == TPM2_ERROR_REPLY
    first_fifo_write = bus.log.index(("w", 0x24, 4))
    go = bus.log.index(("w", 0x18, 1), first_fifo_write)
    sending = [(kind, size) for kind, off, size in bus.log[first_fifo_write:go]]
    # burst 5: 4 + 1 bytes, re-read STS, 4 + 1, re-read, the last 2 bytes, final Expect check
    assert sending == [("w", 4), ("w", 1), ("r", 4), ("w", 4), ("w", 1), ("r", 4), ("w", 1), ("w", 1), ("r", 4)]
    assert backend.commands == [(TPM2_STARTUP_CLEAR, 0)]


def test_tis_keeps_the_locality_like_ovmf_and_rerequests_it() -> None:
    device = TisDevice(QtestEmulator())
    driver = TisDriver(device)
    driver.transmit(TPM2_STARTUP_CLEAR)
    assert device.active_locality == 0
    driver.relinquish_locality()
    assert device.active_locality is None
    assert driver.transmit(TPM2_STARTUP_CLEAR) == TPM2_ERROR_REPLY  # STS read all-ones: re-request
    assert device.active_locality == 0


def test_tis_locality_held_elsewhere_times_out() -> None:
    device = TisDevice(QtestEmulator())
    device.mmio_write(BASE + 0x1000, 1, 0x02)  # locality 1 takes the TPM
    with pytest.raises(DriverTimeout, match=r"waiting for locality 0 \(register 0xFED40000 = 0x83\)"):
        TisDriver(device, timeout=0.05).transmit(TPM2_STARTUP_CLEAR)


def test_tis_locality_4_cannot_be_requested_on_qemu() -> None:
    with pytest.raises(DriverTimeout, match="locality 4"):
        TisDriver(TisDevice(QtestEmulator()), locality=4, timeout=0.05).transmit(TPM2_STARTUP_CLEAR)


def test_tis_bad_locality_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="0..4"):
        TisDriver(TisDevice(QtestEmulator()), locality=5)


def test_tis_execution_timeout_aborts_and_cancels() -> None:
    backend = QtestEmulator(hold=threading.Event())
    device = TisDevice(backend, asynchronous=True)
    with pytest.raises(DriverTimeout, match=r"STS.dataAvail \(command execution\)"):
        TisDriver(device, timeout=0.05).transmit(TPM2_STARTUP_CLEAR)
    assert backend.cancels == 1  # the driver's commandReady abort reached the backend
    backend.hold.set()
    assert device.finish_pending(10)
    assert device.mmio_read(BASE + 0x18, 4) == 0x04100040  # deferred abort ran: READY, response gone
    device.close()


def test_tis_command_shorter_than_announced_is_a_driver_error() -> None:
    device = TisDevice(QtestEmulator())
    short = TPM2_STARTUP_CLEAR[:2] + (20).to_bytes(4, "big") + TPM2_STARTUP_CLEAR[6:]
    with pytest.raises(DriverError, match=r"still expects data after the whole 12-byte command \(STS 0x040FF488\)"):
        TisDriver(device).transmit(short)


@pytest.mark.parametrize("driver_class, device_class, message", [
    (TisDriver, TisDevice, r"TPM response ended after 5 of 10 bytes \(header 8001000000\)"),  # dataAvail gone
    (CrbDriver, CrbDevice, r"malformed TPM response header 80010000000500000000 \(size 5\)"),
])
def test_malformed_response_header_is_a_driver_error(driver_class, device_class, message: str) -> None:
    device = device_class(QtestEmulator(reply=bytes.fromhex("8001 00000005 00000000".replace(" ", ""))))
    with pytest.raises(DriverError, match=message):
        driver_class(device).transmit(TPM2_STARTUP_CLEAR)


def test_crb_command_larger_than_the_buffer_is_a_driver_error() -> None:
    with pytest.raises(DriverError, match="3969-byte command exceeds the CRB command buffer"):
        CrbDriver(CrbDevice(QtestEmulator())).transmit(bytes(0xF81))


@pytest.mark.parametrize("keep_locality, loc_sts", [(False, 0), (True, 1)])  # relinquished even so; kept
def test_crb_execution_timeout(keep_locality: bool, loc_sts: int) -> None:
    backend = QtestEmulator(hold=threading.Event())
    device = CrbDevice(backend, asynchronous=True)
    with pytest.raises(DriverTimeout, match=r"CTRL_START = 0"):
        CrbDriver(device, timeout=0.05, keep_locality=keep_locality).transmit(TPM2_STARTUP_CLEAR)
    assert device.mmio_read(BASE + 0x0C, 4) == loc_sts  # LOC_STS.Granted
    backend.hold.set()
    assert device.finish_pending(10)
    device.close()


def test_crb_traffic_relinquishing_like_linux() -> None:
    bus = SpyBus(CrbDevice(QtestEmulator()))
    assert CrbDriver(bus, keep_locality=False).transmit(TPM2_STARTUP_CLEAR) == TPM2_ERROR_REPLY
    writes = [(off, size) for kind, off, size in bus.log if kind == "w"]
    # LOC_CTRL request, CTRL_REQ cmdReady, 8+4 command bytes, CTRL_START, goIdle, relinquish
    assert writes == [(0x08, 4), (0x40, 4), (0x80, 8), (0x88, 4), (0x4C, 4), (0x40, 4), (0x08, 4)]


def test_crb_keeps_the_locality_like_ovmf_and_rerequests_it() -> None:
    # PtpCrbTpmCommand leaves the locality alone: requested once, then LOC_STS (0x0C) is only read
    device = CrbDevice(QtestEmulator())
    bus = SpyBus(device)
    driver = CrbDriver(bus)
    driver.transmit(TPM2_STARTUP_CLEAR)
    bus.log.clear()
    assert driver.transmit(TPM2_STARTUP_CLEAR) == TPM2_ERROR_REPLY
    assert bus.log == [("r", 0x0C, 4),  # LOC_STS: still granted
                       ("w", 0x40, 4), ("r", 0x44, 4),  # cmdReady, tpmIdle clear?
                       ("w", 0x80, 8), ("w", 0x88, 4),  # the command
                       ("w", 0x4C, 4), ("r", 0x4C, 4), ("r", 0x44, 4),  # Start, done?, tpmSts?
                       ("r", 0x80, 8), ("r", 0x88, 2),  # the 10-byte reply
                       ("w", 0x40, 4)]  # goIdle
    device.reset()  # a reboot drops the locality: the next command asks for it again
    bus.log.clear()
    assert driver.transmit(TPM2_STARTUP_CLEAR) == TPM2_ERROR_REPLY
    assert bus.log[:3] == [("r", 0x0C, 4), ("w", 0x08, 4), ("r", 0x0C, 4)]
