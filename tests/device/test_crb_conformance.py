"""CRB conformance checklist items 30-38 (tis-crb-swtpm.md section 8), one test per item, plus
the data-buffer and access-size behaviour around them. Backend: QEMU's qtest fake swtpm."""

from __future__ import annotations

import threading

from device_model_support import TPM2_ERROR_REPLY, TPM2_STARTUP_CLEAR, CrbHarness, QtestEmulator

from ppikit.device.backends.base import FATAL_ERROR_RESPONSE, BackendError
from ppikit.device.crb import CrbDevice

LOC_STATE, LOC_CTRL, LOC_STS, INTF_ID, INTF_ID2 = 0x00, 0x08, 0x0C, 0x30, 0x34
CTRL_REQ, CTRL_STS, CTRL_CANCEL, CTRL_START = 0x40, 0x44, 0x48, 0x4C
CMD_SIZE, CMD_LADDR, CMD_HADDR, RSP_SIZE, RSP_ADDR = 0x58, 0x5C, 0x60, 0x64, 0x68
BUFFER = 0x80


def put_command(h: CrbHarness, command: bytes) -> None:
    for index, byte in enumerate(command):
        h.write(BUFFER + index, byte, size=1)


def get_bytes(h: CrbHarness, count: int) -> bytes:
    return bytes(h.read(BUFFER + index, 1) for index in range(count))


def test_30_reset_values(crb: CrbHarness) -> None:
    assert crb.read(LOC_STATE, 1) == 0x81  # tpmRegValidSts | tpmEstablished
    assert [crb.read(reg) for reg in (LOC_CTRL, LOC_STS, CTRL_STS, CTRL_START)] == [0, 0, 0x00000002, 0]
    assert crb.read(INTF_ID) == 0x00025811  # CRB active, version 1, 64-byte transfers, CapCRB
    assert crb.read(INTF_ID2) == 0x00001014  # VID IBM


def test_31_buffer_address_and_size_registers_are_read_only(crb: CrbHarness) -> None:
    expected = [0xF80, 0xFED40080, 0, 0xF80, 0xFED40080, 0]
    registers = (CMD_SIZE, CMD_LADDR, CMD_HADDR, RSP_SIZE, RSP_ADDR, RSP_ADDR + 4)
    assert [crb.read(reg) for reg in registers] == expected
    assert crb.read(CMD_LADDR, 8) == 0xFED40080  # QEMU's qtest reads these 64-bit
    assert crb.read(RSP_ADDR, 8) == 0xFED40080
    for reg in registers:
        crb.write(reg, 0x12345678)
    assert [crb.read(reg) for reg in registers] == expected


def test_32_request_locality(crb: CrbHarness) -> None:
    crb.write(LOC_CTRL, 1, size=1)
    assert crb.read(LOC_STS) == 0x00000001  # Granted
    assert crb.read(LOC_STATE, 1) == 0x83  # + locAssigned
    assert crb.read(LOC_CTRL) == 0


def test_33_start_without_locality_is_ignored(crb: CrbHarness) -> None:
    put_command(crb, TPM2_STARTUP_CLEAR)
    crb.write(CTRL_START, 1)
    assert crb.read(CTRL_START) == 0
    assert crb.backend.commands == []


def test_34_cmd_ready_and_go_idle_toggle_tpm_idle(crb: CrbHarness) -> None:
    crb.write(CTRL_REQ, 1)
    assert (crb.read(CTRL_STS), crb.read(CTRL_REQ)) == (0, 0)
    crb.write(CTRL_REQ, 2)
    assert crb.read(CTRL_STS) == 2
    crb.write(CTRL_REQ, 3)  # not an action code
    assert crb.read(CTRL_STS) == 2


def test_35_start_reads_1_until_the_response_is_in() -> None:
    backend = QtestEmulator(hold=threading.Event())
    h = CrbHarness(CrbDevice(backend, asynchronous=True), backend)
    h.write(LOC_CTRL, 1)
    h.write(CTRL_REQ, 1)
    put_command(h, TPM2_STARTUP_CLEAR)
    h.write(CTRL_START, 1)
    assert h.read(CTRL_START) == 1
    assert get_bytes(h, 12) == TPM2_STARTUP_CLEAR  # the response is not there yet
    backend.hold.set()
    assert h.device.finish_pending(10)
    assert h.read(CTRL_START) == 0
    assert h.read(CTRL_STS) == 0  # tpmSts 0, tpmIdle 0
    assert get_bytes(h, 10) == TPM2_ERROR_REPLY
    assert backend.commands == [(TPM2_STARTUP_CLEAR, 0)]


def test_36_cancel_only_while_start_is_set() -> None:
    backend = QtestEmulator(hold=threading.Event())
    h = CrbHarness(CrbDevice(backend, asynchronous=True), backend)
    h.write(LOC_CTRL, 1)
    h.write(CTRL_CANCEL, 1)
    assert backend.cancels == 0
    put_command(h, TPM2_STARTUP_CLEAR)
    h.write(CTRL_START, 1)
    h.write(CTRL_CANCEL, 2)  # not CRB_CANCEL_INVOKE
    h.write(CTRL_CANCEL, 1)
    assert backend.cancels == 1
    assert h.read(CTRL_CANCEL) == 0  # never latched
    backend.hold.set()
    assert h.device.finish_pending(10)


def test_37_backend_failure_sets_sticky_tpm_sts(crb: CrbHarness) -> None:
    crb.backend.fail = True
    crb.write(LOC_CTRL, 1)
    put_command(crb, TPM2_STARTUP_CLEAR)
    crb.write(CTRL_START, 1)
    assert crb.read(CTRL_STS) == 0x00000003  # tpmSts (fatal error) | tpmIdle
    assert get_bytes(crb, 10) == FATAL_ERROR_RESPONSE
    assert isinstance(crb.device.last_backend_error, BackendError)
    crb.backend.fail = False
    crb.write(CTRL_START, 1)
    assert get_bytes(crb, 10) == TPM2_ERROR_REPLY  # the backend answers again ...
    assert crb.read(CTRL_STS) & 1 == 1  # ... but tpmSts stays until reset
    crb.device.reset()
    assert crb.read(CTRL_STS) == 0x00000002


def test_38_relinquish_and_ignored_locality_actions(crb: CrbHarness) -> None:
    crb.write(LOC_CTRL, 1)
    crb.write(LOC_CTRL, 4)  # seize: ignored
    crb.write(LOC_CTRL, 8)  # reset establishment: ignored ("not loc 3 or 4")
    assert (crb.read(LOC_STS), crb.read(LOC_STATE, 1)) == (1, 0x83)
    crb.write(LOC_CTRL, 2)
    assert (crb.read(LOC_STS), crb.read(LOC_STATE, 1)) == (0, 0x81)
    crb.write(LOC_CTRL, 4)
    assert (crb.read(LOC_STS), crb.read(LOC_STATE, 1)) == (0, 0x81)


# -- around the checklist -------------------------------------------------------------------------

def test_register_writes_act_only_at_the_exact_offset_with_the_exact_value(crb: CrbHarness) -> None:
    crb.write(LOC_CTRL + 1, 1, size=1)  # byte lane 1: not the register's offset
    crb.write(LOC_CTRL, 0x101)  # not exactly REQUEST_ACCESS
    assert crb.read(LOC_STS) == 0
    crb.write(LOC_CTRL, 1, size=2)
    assert crb.read(LOC_STS) == 1


def test_reads_shift_by_the_byte_lane(crb: CrbHarness) -> None:
    assert crb.read(INTF_ID + 1, 1) == 0x58
    assert crb.read(INTF_ID + 2, 2) == 0x0002
    assert crb.read(CMD_LADDR + 2, 2) == 0xFED4
    assert crb.read(LOC_STATE, 4) == 0x00000081  # the established bit is added at offset 0 only
    assert crb.read(0x04) == 0  # an unlisted register reads its stored 0
    assert crb.read(0x7C) == 0


def test_start_uses_the_announced_size_capped_to_the_buffer(crb: CrbHarness) -> None:
    crb.write(LOC_CTRL, 1)
    put_command(crb, TPM2_STARTUP_CLEAR + b"\xEE\xEE")  # 2 stray bytes after the 12 announced
    crb.write(CTRL_START, 1)
    assert crb.backend.commands == [(TPM2_STARTUP_CLEAR, 0)]
    crb.write(BUFFER + 2, 0x00001000, size=4)  # announce 0x1000 bytes: more than 0xF80
    crb.write(CTRL_START, 1)
    assert len(crb.backend.commands[-1][0]) == 0xF80


def test_data_buffer_is_ram_for_any_access_size(crb: CrbHarness) -> None:
    crb.write(0x81, 0x1122334455667788, size=8)  # unaligned 8-byte store
    assert crb.read(0x81, 8) == 0x1122334455667788
    assert crb.read(0x83, 2) == 0x5566
    assert crb.read(0xFFE, 2) == 0  # last two bytes of the window
    crb.write(0xFFC, 0xAABBCCDD, size=8)  # runs past the window: upper half not decoded
    assert crb.read(0xFFC, 4) == 0xAABBCCDD
    assert crb.read(0xFFC, 8) == 0x00000000_AABBCCDD  # QEMU: unassigned memory reads 0
    assert crb.read(0x1000, 4) == 0  # no locality 1 window on CRB


def test_reset_keeps_the_buffer_and_caps_the_size(crb: CrbHarness) -> None:
    put_command(crb, TPM2_STARTUP_CLEAR)
    crb.backend.buffer_size = 4096
    crb.device.reset()
    assert crb.backend.startups == [0xF80, 0xF80]  # MIN(4096, 0xF80)
    assert get_bytes(crb, 12) == TPM2_STARTUP_CLEAR
