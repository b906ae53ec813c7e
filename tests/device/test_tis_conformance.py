"""TIS conformance checklist items 1-29 (tis-crb-swtpm.md section 8), one test per item.

Assumptions as in the checklist: TPM 2 backend unless stated, 4096-byte buffer, fresh reset,
established flag 0, TIS at 0xFED40000. The backend is the qtest emulator (conftest), which
answers every command with 80 01 00 00 00 0A 00 00 01 01 (TPM_RC_FAILURE).
"""

from __future__ import annotations

import threading

import pytest

from ppikit.device.backends.base import FATAL_ERROR_RESPONSE, BackendError
from ppikit.device.tis import TisDevice
from ppikit.tpm.version import TpmVersion

from device_model_support import TPM2_ERROR_REPLY, TPM2_STARTUP_CLEAR, QtestEmulator, TisHarness

ACCESS, INT_ENABLE, INT_VECTOR, INT_STATUS, INTF_CAP, STS, FIFO, IFACE_ID = (
    0x00, 0x08, 0x0C, 0x10, 0x14, 0x18, 0x24, 0x30)
DID_VID, RID, DEBUG = 0xF00, 0xF04, 0xF90
REQUEST_USE, ACTIVE, BEEN_SEIZED, SEIZE = 0x02, 0x20, 0x10, 0x08
COMMAND_READY, TPM_GO, RESPONSE_RETRY = 0x40, 0x20, 0x02


def ready(h: TisHarness, locty: int = 0) -> None:
    """Request the locality and put it in READY."""
    h.write(locty, ACCESS, REQUEST_USE)
    h.write(locty, STS, COMMAND_READY)


def completed(h: TisHarness, command: bytes = TPM2_STARTUP_CLEAR) -> None:
    """Run ``command`` through locality 0 up to COMPLETION."""
    ready(h)
    h.send_bytes(command)
    h.write(0, STS, TPM_GO)
    h.device.finish_pending()


def test_01_access_after_reset_is_0x81_in_every_locality(tis2: TisHarness) -> None:
    # 0x81 = tpmRegValidSts | tpmEstablishment (no DRTM has happened)
    assert [tis2.access(l) for l in range(5)] == [0x81] * 5


@pytest.mark.parametrize("fixture, expected", [("tis2", 0x30000697), ("tis12", 0x20000697)])
def test_02_intf_capability(fixture: str, expected: int, request: pytest.FixtureRequest) -> None:
    h = request.getfixturevalue(fixture)
    assert [h.read(l, INTF_CAP) for l in range(5)] == [expected] * 5


def test_03_interface_id_and_intfsellock(tis2: TisHarness, tis12: TisHarness) -> None:
    assert tis2.read(0, IFACE_ID) == 0x00002100  # CapLocality | CAP_TIS_SUPPORTED
    assert tis12.read(0, IFACE_ID) == 0xFFFFFFFF
    tis2.write(2, IFACE_ID, 0x00080000, size=4)  # IntfSelLock (bit 19), from any locality
    assert [tis2.read(l, IFACE_ID) for l in range(5)] == [0x00082100] * 5


def test_04_constant_registers_and_unmapped_offsets(tis2: TisHarness) -> None:
    assert tis2.read(0, DID_VID) == 0x00011014  # DID 0x0001, VID 0x1014 (IBM)
    assert tis2.read(0, RID, 1) == 0x01
    assert tis2.read(0, INT_ENABLE) == 0x00000008  # typePolarity = low level
    assert tis2.read(0, INT_STATUS) == 0
    assert tis2.read(0, INT_VECTOR) == 5  # ISA irq default
    assert tis2.read(0, 0x04) == 0xFFFFFFFF
    assert tis2.read(0, DEBUG) == 0xFFFFFFFF
    assert tis2.read(3, 0x7FC) == 0xFFFFFFFF


def test_05_sts_and_fifo_all_ones_without_active_locality(tis2: TisHarness) -> None:
    assert [tis2.read(l, STS) for l in range(5)] == [0xFFFFFFFF] * 5
    assert [tis2.read(l, FIFO) for l in range(5)] == [0xFFFFFFFF] * 5
    assert tis2.read(0, 0x80) == 0xFFFFFFFF  # XDATA_FIFO alike


def test_06_request_locality_0(tis2: TisHarness) -> None:
    tis2.write(0, ACCESS, REQUEST_USE)
    assert tis2.access(0) == 0xA1  # + activeLocality
    assert tis2.sts(0) == 0x04100000  # family 2.0, burstCount 0x1000, IDLE


def test_07_byte_reads_of_burst_count_clamp_to_0xff(tis2: TisHarness) -> None:
    tis2.write(0, ACCESS, REQUEST_USE)
    assert tis2.read(0, 0x19, 1) == 0xFF
    assert tis2.read(0, 0x1A, 1) == 0x00
    assert tis2.read(0, 0x19, 2) == 0x00FF  # QEMU's memory core: two byte reads
    assert (tis2.read(0, STS, 4) >> 8) & 0xFFFF == 0x1000


def test_08_command_ready(tis2: TisHarness) -> None:
    ready(tis2)
    assert tis2.sts(0) == 0x04100040


def test_09_two_action_bits_in_one_write_do_nothing(tis2: TisHarness) -> None:
    tis2.write(0, ACCESS, REQUEST_USE)
    tis2.write(0, STS, COMMAND_READY | TPM_GO)
    assert tis2.sts(0) == 0x04100000  # still IDLE
    tis2.write(0, STS, COMMAND_READY | 0x80)  # extra bits (stsValid) are masked off
    assert tis2.sts(0) == 0x04100040


def test_10_fifo_write_in_idle_is_dropped(tis2: TisHarness) -> None:
    tis2.write(0, ACCESS, REQUEST_USE)
    tis2.write(0, FIFO, 0x80)
    assert tis2.sts(0) == 0x04100000


def test_11_bytewise_command_sts_and_burst(tis2: TisHarness) -> None:
    ready(tis2)
    seen = []
    for byte in TPM2_STARTUP_CLEAR:
        tis2.write(0, FIFO, byte)
        sts = tis2.sts(0)
        seen.append((sts & 0xFF, (sts >> 8) & 0xFFFF))
    assert seen == [(0x88, 0x1000 - n) for n in range(1, 12)] + [(0x80, 0x0FF4)]


def test_12_tpm_go_while_expect_is_ignored(tis2: TisHarness) -> None:
    ready(tis2)
    tis2.send_bytes(TPM2_STARTUP_CLEAR[:11])
    tis2.write(0, STS, TPM_GO)
    assert tis2.sts(0) & 0xFF == 0x88  # still RECEPTION with Expect
    assert tis2.backend.commands == []


def test_13_response_read_bytewise(tis2: TisHarness) -> None:
    completed(tis2)
    assert tis2.backend.commands == [(TPM2_STARTUP_CLEAR, 0)]
    sts = tis2.sts(0)
    assert (sts & 0xFF, (sts >> 8) & 0xFFFF) == (0x90, 10)
    data = []
    bursts = []
    for _ in range(10):
        data.append(tis2.read(0, FIFO, 1))
        bursts.append((tis2.sts(0) >> 8) & 0xFFFF)
    assert bytes(data) == TPM2_ERROR_REPLY
    assert bursts[:9] == list(range(9, 0, -1))
    assert tis2.sts(0) & 0xFF == 0x80  # dataAvail cleared after the last byte
    assert tis2.read(0, FIFO, 1) == 0xFF
    assert tis2.read(0, FIFO, 4) == 0xFFFFFFFF


def test_14_multi_byte_fifo_reads(tis2: TisHarness) -> None:
    completed(tis2)
    assert tis2.read(0, FIFO, 4) == 0x00000180  # 80 01 00 00, little-endian
    assert tis2.read(0, 0x26, 2) == 0x0A00  # 00 0A: 2 bytes, clipped to the register
    assert tis2.read(0, 0x84, 4) == 0x01010000  # XDATA_FIFO: 00 00 01 01


def test_15_response_retry_replays(tis2: TisHarness) -> None:
    completed(tis2)
    tis2.read(0, FIFO, 4)
    tis2.write(0, STS, RESPONSE_RETRY)
    sts = tis2.sts(0)
    assert (sts & 0xFF, (sts >> 8) & 0xFFFF) == (0x90, 10)
    assert tis2.read(0, FIFO, 4) == 0x00000180


def test_16_command_ready_in_completion(tis2: TisHarness) -> None:
    completed(tis2)
    tis2.write(0, STS, COMMAND_READY)
    assert tis2.sts(0) == 0x04100040
    assert tis2.read(0, FIFO, 1) == 0xFF


def test_17_command_ready_during_reception_aborts(tis2: TisHarness) -> None:
    ready(tis2)
    tis2.send_bytes(TPM2_STARTUP_CLEAR[:7])
    tis2.write(0, STS, COMMAND_READY)
    assert tis2.sts(0) == 0x04100040  # burst back to 0x1000: the partial command is gone
    tis2.send_bytes(TPM2_STARTUP_CLEAR)
    tis2.write(0, STS, TPM_GO)
    tis2.device.finish_pending()
    assert tis2.backend.commands == [(TPM2_STARTUP_CLEAR, 0)]


def test_18_bytes_after_the_announced_size_are_dropped(tis2: TisHarness) -> None:
    ready(tis2)
    command = bytes.fromhex("8001 0000000a 0000017b".replace(" ", "")) + b"\xAA\xBB"  # size 10, 12 bytes
    for index, byte in enumerate(command, 1):
        tis2.write(0, FIFO, byte)
        if index == 10:
            assert tis2.sts(0) & 0xFF == 0x80  # Expect cleared at byte 10
    assert (tis2.sts(0) >> 8) & 0xFFFF == 0x0FF6
    tis2.write(0, STS, TPM_GO)
    tis2.device.finish_pending()
    assert tis2.backend.commands == [(command[:10], 0)]


def test_18b_announced_size_is_kept_in_16_bits(tis2: TisHarness) -> None:
    # QEMU's tpm_tis_mmio_write keeps the size in a uint16_t: 0x00010000 wraps to 0 and the
    # command is complete at byte 8 (observed on QEMU 7.2: STS 0x040FF880 after two writel).
    ready(tis2)
    tis2.write(0, FIFO, 0x01000180, size=4)  # 80 01 00 01
    tis2.write(0, FIFO, 0x00000000, size=4)  # 00 00 00 00: size field 0x00010000
    assert tis2.sts(0) == 0x040FF880


def test_19_overlong_command_is_truncated_to_the_buffer(tis2: TisHarness) -> None:
    ready(tis2)
    command = bytes.fromhex("8001 00002000 0000017b".replace(" ", "")) + bytes(4096 - 10)  # announces 0x2000
    for index in range(0, 4096, 4):
        tis2.write(0, FIFO, int.from_bytes(command[index:index + 4], "little"), size=4)
    sts = tis2.sts(0)
    assert (sts & 0xFF, (sts >> 8) & 0xFFFF) == (0x88, 0)  # Expect still set, buffer full
    tis2.write(0, FIFO, 0x55)
    assert tis2.sts(0) & 0xFF == 0x80  # the 4097th byte clears Expect and is dropped
    tis2.write(0, STS, TPM_GO)
    tis2.device.finish_pending()
    assert tis2.backend.commands == [(command, 0)]


def test_20_request_while_other_locality_active_is_pending(tis2: TisHarness) -> None:
    tis2.write(1, ACCESS, REQUEST_USE)
    tis2.write(0, ACCESS, REQUEST_USE)
    assert (tis2.access(0), tis2.access(1)) == (0x83, 0xA5)  # 0xA5 = active + pendingRequest


def test_21_lower_locality_cannot_seize(tis2: TisHarness) -> None:
    tis2.write(1, ACCESS, REQUEST_USE)
    tis2.write(0, ACCESS, SEIZE)
    assert (tis2.access(0), tis2.access(1)) == (0x81, 0xA1)


def test_22_higher_locality_seizes(tis2: TisHarness) -> None:
    tis2.write(0, ACCESS, REQUEST_USE)
    tis2.write(1, ACCESS, SEIZE)
    assert (tis2.access(1), tis2.access(0)) == (0xA1, 0x91)  # locality 0: beenSeized
    tis2.write(0, ACCESS, BEEN_SEIZED)  # write 1 to clear
    assert tis2.access(0) == 0x81


def test_23_relinquish_hands_over_to_highest_requester(tis2: TisHarness) -> None:
    tis2.write(0, ACCESS, REQUEST_USE)
    tis2.write(1, ACCESS, REQUEST_USE)
    tis2.write(2, ACCESS, REQUEST_USE)
    tis2.write(0, ACCESS, ACTIVE)
    assert (tis2.access(2), tis2.access(1), tis2.access(0)) == (0xA5, 0x83, 0x85)


def test_24_relinquish_by_non_owner_cancels_its_request(tis2: TisHarness) -> None:
    tis2.write(0, ACCESS, REQUEST_USE)
    tis2.write(1, ACCESS, REQUEST_USE)
    tis2.write(1, ACCESS, ACTIVE)
    assert (tis2.access(1), tis2.access(0)) == (0x81, 0xA1)
    tis2.write(2, ACCESS, REQUEST_USE)
    tis2.write(1, ACCESS, REQUEST_USE)
    tis2.write(1, ACCESS, ACTIVE)
    assert tis2.access(1) == 0x85  # cancelled, but locality 2 is still pending


def test_25_locality_4_writes_are_dropped(tis2: TisHarness) -> None:
    tis2.write(4, ACCESS, REQUEST_USE)
    assert tis2.access(4) == 0x81
    assert tis2.device.active_locality is None


def test_26_interrupt_enable_and_status(tis2: TisHarness) -> None:
    tis2.write(0, ACCESS, REQUEST_USE)
    tis2.write(1, INT_ENABLE, 0xFFFFFFFF, size=4)
    assert tis2.read(1, INT_ENABLE) == 0x00000008  # QEMU 7.2: only the active locality writes
    tis2.write(0, INT_ENABLE, 0xFFFFFFFF, size=4)
    assert tis2.read(0, INT_ENABLE) == 0x8000009F  # global | typePolarity | 0x87
    tis2.write(0, STS, COMMAND_READY)
    assert tis2.read(0, INT_STATUS) == 0x80  # commandReady interrupt
    assert tis2.device.irq_level is True
    tis2.write(0, INT_STATUS, 0x00, size=4)
    assert tis2.read(0, INT_STATUS) == 0x80
    tis2.write(0, INT_STATUS, 0x80, size=4)
    assert tis2.read(0, INT_STATUS) == 0x00
    assert tis2.device.irq_level is False


def test_27_reset_establishment_only_from_locality_3_on_tpm2(tis2: TisHarness, tis12: TisHarness) -> None:
    tis2.write(0, ACCESS, REQUEST_USE)
    tis2.write(0, 0x1B, 0x02)  # STS byte 3 = resetEstablishmentBit
    assert tis2.backend.reset_established_calls == []
    tis2.write(0, ACCESS, ACTIVE)
    tis2.write(3, ACCESS, REQUEST_USE)
    tis2.write(3, 0x1B, 0x02)
    assert tis2.backend.reset_established_calls == [3]
    tis12.write(3, ACCESS, REQUEST_USE)
    tis12.write(3, 0x1B, 0x02)
    assert tis12.backend.reset_established_calls == []


def test_28_command_cancel_only_during_execution() -> None:
    backend = QtestEmulator(hold=threading.Event())
    h = TisHarness(TisDevice(backend, asynchronous=True), backend)
    ready(h)
    h.send_bytes(TPM2_STARTUP_CLEAR)
    h.write(0, 0x1B, 0x01)  # commandCancel in RECEPTION: nothing
    assert backend.cancels == 0
    h.write(0, STS, TPM_GO)
    assert h.sts(0) & 0xFF == 0x80  # EXECUTION: stsValid only
    h.write(0, 0x1B, 0x01)
    assert backend.cancels == 1
    backend.hold.set()
    assert h.device.finish_pending(10)
    assert h.sts(0) & 0xFF == 0x90


def test_29_failed_backend_startup_reads_zero_and_ignores_writes(tis2: TisHarness) -> None:
    tis2.backend.fail_startup = True
    with pytest.raises(BackendError, match="CMD_INIT failed"):
        tis2.device.reset()
    assert isinstance(tis2.device.startup_error, BackendError)
    assert [tis2.read(0, reg) for reg in (ACCESS, STS, INTF_CAP, DID_VID, 0x04)] == [0] * 5
    tis2.write(0, ACCESS, REQUEST_USE)
    assert tis2.device.active_locality is None
    tis2.backend.fail_startup = False
    tis2.device.reset()
    assert tis2.access(0) == 0x81 and tis2.device.startup_error is None


# -- beyond the checklist: TPM 1.2 specifics and backend failures --------------------------------

def test_selftest_done_after_tpm12_continue_self_test(tis12: TisHarness) -> None:
    tis12.backend.reply = bytes.fromhex("00c4 0000000a 00000000".replace(" ", ""))  # TPM_SUCCESS
    tis12.write(0, ACCESS, REQUEST_USE)
    assert tis12.sts(0) == 0x00100000  # family 1.2 = 00
    tis12.write(0, STS, COMMAND_READY)
    tis12.send_bytes(bytes.fromhex("00c1 0000000a 00000053".replace(" ", "")))  # TPM_ContinueSelfTest
    tis12.write(0, STS, TPM_GO)
    assert tis12.sts(0) & 0xFF == 0x94  # stsValid | dataAvail | selfTestDone
    tis12.write(0, ACCESS, ACTIVE)
    tis12.write(2, ACCESS, REQUEST_USE)
    assert tis12.sts(2) & 0xFF == 0x04  # set in every locality, sticky


def test_tpm2_self_test_does_not_set_selftest_done(tis2: TisHarness) -> None:
    tis2.backend.reply = bytes.fromhex("8001 0000000a 00000000".replace(" ", ""))
    ready(tis2)
    tis2.send_bytes(bytes.fromhex("8001 0000000b 00000143 01".replace(" ", "")))  # TPM2_SelfTest(full)
    tis2.write(0, STS, TPM_GO)
    assert tis2.sts(0) & 0xFF == 0x90


def test_tpm12_ignores_command_cancel(tis12: TisHarness) -> None:
    ready(tis12)
    tis12.write(0, 0x1B, 0x01)
    assert tis12.backend.cancels == 0
    assert tis12.sts(0) == 0x00100040


def test_backend_failure_answers_fatal_error_response(tis2: TisHarness) -> None:
    tis2.backend.fail = True
    completed(tis2)
    assert b"".join(tis2.read(0, FIFO, 1).to_bytes(1, "little") for _ in range(10)) == FATAL_ERROR_RESPONSE
    assert isinstance(tis2.device.last_backend_error, BackendError)
    assert "peer closed" in str(tis2.device.last_backend_error)


def test_reset_reads_backend_version_and_buffer_size_again(tis2: TisHarness) -> None:
    assert tis2.backend.startups == [4096]
    tis2.backend.version = TpmVersion.TPM_1_2
    tis2.backend.buffer_size = 8192
    tis2.device.reset()
    assert tis2.backend.startups == [4096, 4096]  # MIN(8192, 4096)
    assert tis2.read(0, INTF_CAP) == 0x20000697
    tis2.backend.buffer_size = 3968
    tis2.device.reset()
    assert tis2.backend.startups[-1] == 3968
    tis2.write(0, ACCESS, REQUEST_USE)
    assert tis2.sts(0) == 0x000F8000  # burst 0xF80 = be_buffer_size


def test_execution_state_reads_like_qemu() -> None:
    # Observed on QEMU 7.2 via qtest right after tpmGo (the swtpm reply not yet in): STS
    # 0x040FF480 (stsValid, rw_offset still 12), FIFO reads 0xFFFFFFFF and consume nothing.
    backend = QtestEmulator(hold=threading.Event())
    h = TisHarness(TisDevice(backend, asynchronous=True, poll_wait=0.001), backend)
    ready(h)
    h.send_bytes(TPM2_STARTUP_CLEAR)
    h.write(0, STS, TPM_GO)
    assert h.sts(0) == 0x040FF480
    assert h.read(0, FIFO, 4) == 0xFFFFFFFF
    backend.hold.set()
    assert h.device.finish_pending(10)
    assert h.read(0, 0x26, 2) == 0x0180  # the first two response bytes, 80 01
    h.device.close()
