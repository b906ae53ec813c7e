"""Real TPM round trips through firmware driver -> register model -> SwtpmBackend -> swtpm.

The TPM 2.0 vectors are QEMU's swtpm qtests (tpm-tests.c): Startup, PCR_Extend of PCR 10 with
"test", PCR_Read with the known SHA-256 value. TPM 1.2 runs its own Startup / Extend /
ContinueSelfTest, the last one also checking STS.selfTestDone, which QEMU sets only for it.
"""

from __future__ import annotations

import hashlib
import os
import signal

import pytest

from ppikit.device.backends.base import FATAL_ERROR_RESPONSE, BackendError
from ppikit.device.backends.swtpm import SwtpmBackend
from ppikit.device.crb import CrbDevice
from ppikit.device.drivers import CrbDriver, DriverError, TisDriver
from ppikit.device.tis import TisDevice
from ppikit.tpm.client import Tpm2Client

TPM2_STARTUP_CLEAR = bytes.fromhex("8001 0000000c 00000144 0000".replace(" ", ""))
TPM2_SUCCESS = bytes.fromhex("8001 0000000a 00000000".replace(" ", ""))
#: TPM2_PCR_Extend(PCR 10), password session (TPM_RS_PW, empty), one SHA-256 digest "test\0...".
TPM2_PCR_EXTEND_10_TEST = bytes.fromhex(
    "8002 00000041 00000182 0000000a 00000009 40000009 0000 00 0000 00000001 000b".replace(" ", "")
) + b"test".ljust(32, b"\0")
TPM2_PCR_EXTEND_REPLY = bytes.fromhex("8002 00000013 00000000 00000000 0000 0100 00".replace(" ", ""))
#: TPM2_PCR_Read(SHA-256, PCR 10): one selection, 3 select bytes, bit 10 = byte 1 bit 2.
TPM2_PCR_READ_10 = bytes.fromhex("8001 00000014 0000017e 00000001 000b 03 000400".replace(" ", ""))
#: PCR 10 after extending "test" once (QEMU tpm-tests.c).
PCR10_AFTER_TEST = bytes.fromhex(
    "f68598e5868de68b97299960f2717d176789a42f9aaea8c7b7aa79a86256c1de")

TPM12_STARTUP_CLEAR = bytes.fromhex("00c1 0000000c 00000099 0001".replace(" ", ""))
TPM12_SUCCESS = bytes.fromhex("00c4 0000000a 00000000".replace(" ", ""))
TPM12_CONTINUE_SELF_TEST = bytes.fromhex("00c1 0000000a 00000053".replace(" ", ""))


def tpm2_pcr_sequence(transmit) -> None:
    assert transmit(TPM2_STARTUP_CLEAR) == TPM2_SUCCESS
    assert transmit(TPM2_PCR_EXTEND_10_TEST) == TPM2_PCR_EXTEND_REPLY
    response = transmit(TPM2_PCR_READ_10)
    assert len(response) == 62
    assert response[:10] == bytes.fromhex("8001 0000003e 00000000".replace(" ", ""))
    assert response[14:] == bytes.fromhex("00000001 000b 03 000400 00000001 0020".replace(" ", "")) + PCR10_AFTER_TEST


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_tis_tpm2_pcr_extend_and_read(swtpm_tpm2: SwtpmBackend, asynchronous: bool) -> None:
    device = TisDevice(swtpm_tpm2, asynchronous=asynchronous)
    tpm2_pcr_sequence(TisDriver(device).transmit)
    assert device.last_backend_error is None


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_crb_tpm2_pcr_extend_and_read(swtpm_tpm2: SwtpmBackend, asynchronous: bool) -> None:
    device = CrbDevice(swtpm_tpm2, asynchronous=asynchronous)
    assert swtpm_tpm2.buffer_size == 0xF80  # the reset asked swtpm for MIN(4096, 0xF80)
    tpm2_pcr_sequence(CrbDriver(device).transmit)


def test_tis_tpm2_from_locality_3_with_linux_style_driver(swtpm_tpm2: SwtpmBackend) -> None:
    device = TisDevice(swtpm_tpm2)
    driver = TisDriver(device, locality=3, keep_locality=False)
    assert driver.transmit(TPM2_STARTUP_CLEAR) == TPM2_SUCCESS
    assert swtpm_tpm2.last_locality == 3  # SET_LOCALITY(3) went to swtpm first
    assert device.active_locality is None  # relinquished after the command


def test_tis_tpm12_startup_extend_and_selftest_done(swtpm_tpm12: SwtpmBackend) -> None:
    device = TisDevice(swtpm_tpm12)
    driver = TisDriver(device)
    assert device.mmio_read(0xFED40014, 4) == 0x20000697
    assert driver.transmit(TPM12_STARTUP_CLEAR) == TPM12_SUCCESS
    digest = hashlib.sha1(b"test").digest()
    extend = bytes.fromhex("00c1 00000022 00000014 0000000a".replace(" ", "")) + digest  # TPM_Extend(10)
    expected_pcr = hashlib.sha1(bytes(20) + digest).digest()
    assert driver.transmit(extend) == bytes.fromhex("00c4 0000001e 00000000".replace(" ", "")) + expected_pcr
    assert device.mmio_read(0xFED40018, 4) & 0x04 == 0  # selfTestDone not yet
    assert driver.transmit(TPM12_CONTINUE_SELF_TEST) == TPM12_SUCCESS
    assert device.mmio_read(0xFED40018, 4) & 0x0C000004 == 0x00000004  # selfTestDone, family 1.2


def test_tpm_client_runs_over_the_tis_driver(swtpm_tpm2: SwtpmBackend) -> None:
    client = Tpm2Client(TisDriver(TisDevice(swtpm_tpm2)).transmit)
    client.startup()
    assert len(client.get_random(16)) == 16


def test_killed_swtpm_gives_fatal_error_then_restart_recovers(swtpm_tpm2: SwtpmBackend) -> None:
    tis = TisDevice(swtpm_tpm2)
    driver = TisDriver(tis, timeout=5)
    assert driver.transmit(TPM2_STARTUP_CLEAR) == TPM2_SUCCESS
    assert driver.transmit(TPM2_PCR_EXTEND_10_TEST) == TPM2_PCR_EXTEND_REPLY
    os.kill(swtpm_tpm2.pid, signal.SIGKILL)
    assert driver.transmit(TPM2_PCR_READ_10) == FATAL_ERROR_RESPONSE  # what QEMU's guest reads
    assert isinstance(tis.last_backend_error, BackendError)
    swtpm_tpm2.restart()
    tis.reset()  # machine reset: STOP, SET_BUFFERSIZE, INIT on the new process
    tpm2_pcr_sequence(driver.transmit)  # permanent state survived, PCRs were reset


def test_killed_swtpm_behind_crb_raises_driver_error(swtpm_tpm2: SwtpmBackend) -> None:
    crb = CrbDevice(swtpm_tpm2)
    driver = CrbDriver(crb, timeout=5)
    assert driver.transmit(TPM2_STARTUP_CLEAR) == TPM2_SUCCESS
    os.kill(swtpm_tpm2.pid, signal.SIGKILL)
    with pytest.raises(DriverError, match=r"CTRL_STS.tpmSts = 1"):
        driver.transmit(TPM2_PCR_READ_10)
    assert crb.mmio_read(0xFED40044, 4) & 1 == 1
