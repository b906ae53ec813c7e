"""Transfers in one call -- repeated accesses at one address (``mmio_read_rep`` /
``mmio_write_rep``, a FIFO drained or filled) and memcpy-style blocks (``mmio_read_block`` /
``mmio_write_block``, the CRB data buffer) -- must be indistinguishable from the same accesses made
one by one: same values read, same device state after, for any traffic, on TIS and CRB alike."""

from __future__ import annotations

import pytest
from device_model_support import TPM2_ERROR_REPLY, TPM2_STARTUP_CLEAR, QtestEmulator
from hypothesis import given, settings
from hypothesis import strategies as st

from ppikit.device.crb import CrbDevice
from ppikit.device.mmio import copy_from, copy_to
from ppikit.device.drivers import TisDriver
from ppikit.device.tis import TisDevice
from ppikit.errors import UsageError

BASE = 0xFED40000
FIFO, STS, ACCESS = BASE + 0x24, BASE + 0x18, BASE + 0x00
# STS values read with a 4-byte access (burst count in bits 8..23, TPM 2.0 family bit 26):
STS_EXPECT_12_LEFT = 0x040FF888  # valid | expect, burst 4096 - 8 = 0xFF8: 8 of 12 bytes written
STS_COMMAND_COMPLETE = 0x040FF480  # valid, expect clear, burst 0xFF4: the 12-byte command is all in
STS_RESPONSE_DONE = 0x040FF680  # valid, no data left; burst is 4096 - rw_offset (10) again, as in QEMU

_TIS_HOT = [0x00, 0x08, 0x10, 0x18, 0x19, 0x24, 0x25, 0x80, 0x84, 0xF00]  # 0x08/0x10: interrupts
_CRB_HOT = [0x08, 0x0C, 0x40, 0x44, 0x4C, 0x80, 0x84, 0x88]


#: A whole command sent the way a driver sends it, as one op: (TIS) requestUse, commandReady, the
#: command as FIFO data, tpmGo; (CRB) request access, cmdReady, the command into the buffer, Start.
#: With it the random traffic reaches responses to drain, not only registers.
_SEND = {
    0x5000: [("w", ACCESS, 1, 0x02), ("w", STS, 1, 0x40), ("wr", FIFO, 4, TPM2_STARTUP_CLEAR), ("w", STS, 1, 0x20)],
    0x1000: [("w", BASE + 0x08, 4, 1), ("w", BASE + 0x40, 4, 1),
             ("w", BASE + 0x80, 8, int.from_bytes(TPM2_STARTUP_CLEAR[:8], "little")),
             ("w", BASE + 0x88, 4, int.from_bytes(TPM2_STARTUP_CLEAR[8:], "little")), ("w", BASE + 0x4C, 4, 1)],
}


def _addresses(hot: list[int], window: int) -> st.SearchStrategy[int]:
    return st.one_of(st.builds(lambda locty, reg: BASE + (locty << 12) + reg, st.sampled_from([0, 0, 0, 1, 4]),
                               st.sampled_from(hot)),
                     st.integers(BASE - 8, BASE + window + 8))


def _ops(hot: list[int], window: int) -> st.SearchStrategy[list]:
    """Single reads/writes and repeated ones (with their data), mixed with whole commands sent,
    so that responses come back and get drained."""
    addresses = _addresses(hot, window)
    send = st.just(("send", 0, 0, _SEND[window]))
    # memcpy-style blocks, often around the CRB data buffer (RAM from 0x80) and its edges
    block_addresses = st.one_of(addresses, st.integers(BASE + 0x70, BASE + 0x90),
                                st.integers(BASE + 0xFD0, BASE + 0x1008))
    read_block = st.tuples(st.just("rb"), block_addresses, st.just(0), st.integers(0, 40))
    write_block = st.tuples(st.just("wb"), block_addresses, st.just(0),
                            st.one_of(st.just(TPM2_STARTUP_CLEAR), st.binary(max_size=40)))
    single = st.tuples(st.sampled_from(["r", "w"]), addresses, st.sampled_from([1, 2, 4, 8]),
                       st.sampled_from([0x02, 0x20, 0x40, 0x20, 0x01, 0x80000000, 0xFFFFFFFF]))
    read_rep = st.tuples(st.just("rr"), addresses, st.sampled_from([1, 2, 4, 8]), st.integers(0, 12))
    # commands whose announced size is short, exact, long, or wraps QEMU's 16-bit copy of it
    command = st.builds(lambda size, body: b"\x80\x01" + size.to_bytes(4, "big") + body,
                        st.one_of(st.integers(0, 40), st.integers(0x10000, 0x10028)), st.binary(max_size=40))
    write_rep = st.builds(lambda addr, size, data: ("wr", addr, size, data[:len(data) // size * size]),
                          addresses, st.sampled_from([1, 2, 4, 8]),
                          st.one_of(st.just(TPM2_STARTUP_CLEAR), command, st.binary(max_size=24)))
    return st.lists(st.one_of(single, read_rep, write_rep, send, read_block, write_block), max_size=40)


def _apply(device, ops: list, *, one_by_one: bool) -> list:
    """Run ``ops``; repeated ones as the device's rep calls, or expanded into single accesses."""
    seen = []
    for kind, addr, size, arg in ops:
        if kind == "send":
            seen += _apply(device, arg, one_by_one=one_by_one)
        elif kind == "r":
            seen.append(device.mmio_read(addr, size))
        elif kind == "w":
            device.mmio_write(addr, size, arg)
        elif kind == "rr" and one_by_one:
            seen.append(b"".join(device.mmio_read(addr, size).to_bytes(size, "little") for _ in range(arg)))
        elif kind == "rr":
            seen.append(device.mmio_read_rep(addr, size, arg))
        elif kind == "rb":
            seen.append(copy_from(device.mmio_read, addr, arg) if one_by_one else device.mmio_read_block(addr, arg))
        elif kind == "wb" and one_by_one:
            copy_to(device.mmio_write, addr, arg)
        elif kind == "wb":
            device.mmio_write_block(addr, arg)
        elif one_by_one:
            for index in range(0, len(arg), size):
                device.mmio_write(addr, size, int.from_bytes(arg[index:index + size], "little"))
        else:
            device.mmio_write_rep(addr, size, arg)
    return seen


@pytest.mark.parametrize("device_class, hot, window", [(TisDevice, _TIS_HOT, 0x5000), (CrbDevice, _CRB_HOT, 0x1000)])
@settings(max_examples=300)
@given(data=st.data(), buffer_size=st.sampled_from([4096, 4096, 16, 7]))  # small buffers overflow
def test_repeated_accesses_equal_the_same_accesses_one_by_one(device_class, hot: list[int], window: int,
                                                               data: st.DataObject, buffer_size: int) -> None:
    ops = data.draw(_ops(hot, window))
    repeated = device_class(QtestEmulator(buffer_size=buffer_size))
    single = device_class(QtestEmulator(buffer_size=buffer_size))
    assert _apply(repeated, ops, one_by_one=False) == _apply(single, ops, one_by_one=True)
    assert repeated.get_state() == single.get_state()
    assert repeated.backend.commands == single.backend.commands


def test_tis_fifo_filled_and_drained_by_repeated_accesses() -> None:
    device = TisDevice(QtestEmulator())
    device.mmio_write(ACCESS, 1, 0x02)  # requestUse: locality 0 becomes active
    device.mmio_write(STS, 1, 0x40)  # commandReady
    device.mmio_write_rep(FIFO, 4, TPM2_STARTUP_CLEAR[:8])
    assert device.mmio_read(STS, 4) == STS_EXPECT_12_LEFT
    device.mmio_write_rep(FIFO, 1, TPM2_STARTUP_CLEAR[8:])
    assert device.mmio_read(STS, 4) == STS_COMMAND_COMPLETE
    device.mmio_write(STS, 1, 0x20)  # tpmGo
    assert device.backend.commands == [(TPM2_STARTUP_CLEAR, 0)]
    # 10-byte reply 8001 0000000a 00000101: two 4-byte reads, then two bytes; then 0xFF (no data)
    assert device.mmio_read_rep(FIFO, 4, 2) == bytes.fromhex("8001 0000 000a 0000".replace(" ", ""))
    assert device.mmio_read_rep(FIFO, 1, 3) == bytes.fromhex("01 01 ff")
    assert device.mmio_read(STS, 4) == STS_RESPONSE_DONE


def test_driver_uses_the_device_repeated_accesses_and_gets_the_reply() -> None:
    device = TisDevice(QtestEmulator())
    calls = []
    original = device.mmio_read_rep
    device.mmio_read_rep = lambda addr, size, count: calls.append((addr, size, count)) or original(addr, size, count)
    assert TisDriver(device).transmit(TPM2_STARTUP_CLEAR) == TPM2_ERROR_REPLY
    assert calls == [(FIFO, 4, 2), (FIFO, 1, 2)]  # burst 10: two words, then the last two bytes


@pytest.mark.parametrize("reply_size, rw", [(0, 0), (3, 2), (10, 0), (10, 9), (10, 12), (10, 4095), (10, 4096)])
@pytest.mark.parametrize("size, count", [(1, 0), (1, 1), (4, 1), (4, 3), (2, 5)])
@pytest.mark.parametrize("int_enable", [0x00000008, 0x8000008F])  # interrupts off; all on (stsValid too)
def test_fifo_reads_from_loaded_states_equal_the_same_reads_one_by_one(reply_size: int, rw: int, size: int,
                                                                      count: int, int_enable: int) -> None:
    # a response being read whose size field is short, or that rw_offset has passed (snapshots)
    devices = TisDevice(QtestEmulator()), TisDevice(QtestEmulator())
    for device in devices:
        state = device.get_state()
        reply = bytes.fromhex("8001") + reply_size.to_bytes(4, "big") + bytes.fromhex("00000000 a1a2a3a4")
        state.update(active_locality=0, rw_offset=rw, buffer=reply.hex())
        state["state"][0], state["sts"][0] = 2, 0x04000090  # COMPLETION; Valid | dataAvail
        state["int_enable"][0] = int_enable
        device.set_state(state)
    assert devices[0].mmio_read_rep(FIFO, size, count) == b"".join(
        devices[1].mmio_read(FIFO, size).to_bytes(size, "little") for _ in range(count))
    assert devices[0].get_state() == devices[1].get_state()


def test_crb_data_buffer_as_one_block_and_across_its_edges() -> None:
    device = CrbDevice(QtestEmulator())
    device.mmio_write_block(BASE + 0x80, TPM2_STARTUP_CLEAR)
    assert device.mmio_read_block(BASE + 0x80, 12) == TPM2_STARTUP_CLEAR
    assert device.mmio_read(BASE + 0x88, 4) == 0x00004401  # 01 44 00 00, little-endian
    # from CTRL_RSP_ADDR (0x68: 0xFED40080, 64-bit, read as registers) over the reserved 0x70..0x7F
    # (0) into the buffer
    assert device.mmio_read_block(BASE + 0x68, 36) == (bytes.fromhex("8000d4fe00000000") + bytes(16)
                                                       + TPM2_STARTUP_CLEAR)
    # the last 8 bytes of the buffer, then 4 bytes past the window (undecoded: 0)
    device.mmio_write_block(BASE + 0xFF8, bytes(range(1, 13)))
    assert device.mmio_read_block(BASE + 0xFF8, 12) == bytes(range(1, 9)) + bytes(4)
    assert bytes.fromhex(device.get_state()["buffer"])[-9:] == bytes(range(0, 9))  # the buffer did not grow


def test_asynchronous_device_repeated_accesses_go_one_by_one() -> None:
    device = TisDevice(QtestEmulator(), asynchronous=True)
    device.mmio_write(ACCESS, 1, 0x02)
    device.mmio_write(STS, 1, 0x40)
    device.mmio_write_rep(FIFO, 4, TPM2_STARTUP_CLEAR)
    device.mmio_write(STS, 1, 0x20)
    assert device.finish_pending(5)
    assert device.mmio_read_rep(FIFO, 1, 10) == TPM2_ERROR_REPLY
    device.close()


@pytest.mark.parametrize("call, message", [
    (lambda d: d.mmio_read_rep(FIFO, 3, 1), "size of 1, 2, 4 or 8 and a count >= 0, not size 3, count 1"),
    (lambda d: d.mmio_read_rep(FIFO, 4, -1), "not size 4, count -1"),
    (lambda d: d.mmio_write_rep(FIFO, 4, b"\x01\x02\x03\x04\x05"), "5 bytes are not a whole number of 4-byte accesses"),
    (lambda d: d.mmio_write_rep(FIFO, 0, b""), "a size of 1, 2, 4 or 8, not size 0"),
    (lambda d: d.mmio_read_block(BASE + 0x80, -1), "block length must be an int >= 0, not -1"),
])
def test_impossible_repeated_accesses_are_usage_errors(call, message: str) -> None:
    device = TisDevice(QtestEmulator())
    state = device.get_state()
    with pytest.raises(UsageError, match=message):
        call(device)
    assert device.get_state() == state


def _write_rep_and_singles(rw: int, sts: int, buffer: bytes, size: int, data: bytes, buffer_size: int = 4096) -> None:
    """Load a receiving locality 0 (``rw``, ``sts``, ``buffer``) into two devices, write ``data``
    as one repeated access on one and piece by piece on the other, and compare their states."""
    devices = TisDevice(QtestEmulator(buffer_size=buffer_size)), TisDevice(QtestEmulator(buffer_size=buffer_size))
    for device in devices:
        state = device.get_state()
        state.update(active_locality=0, rw_offset=rw, buffer=buffer.hex())
        state["state"][0], state["sts"][0] = 4, sts  # 4: TPM_TIS_STATE_RECEPTION
        device.set_state(state)
    devices[0].mmio_write_rep(FIFO, size, data)
    for index in range(0, len(data), size):
        devices[1].mmio_write(FIFO, size, int.from_bytes(data[index:index + size], "little"))
    assert devices[0].get_state() == devices[1].get_state()


@pytest.mark.parametrize("rw", [0, 2, 4, 5, 6, 9])
@pytest.mark.parametrize("sts", [0x040000C8, 0x04000008, 0x04000088, 0x04000090])  # odd bits next to Expect/Valid
@pytest.mark.parametrize("size, data", [(1, bytes.fromhex("8001")), (1, bytes.fromhex("80010000")),
                                        (2, bytes.fromhex("80010000000c0000")), (4, TPM2_STARTUP_CLEAR),
                                        (4, TPM2_STARTUP_CLEAR + bytes(8))])
def test_fifo_writes_from_loaded_states_equal_the_same_writes_one_by_one(rw: int, sts: int, size: int,
                                                                        data: bytes) -> None:
    # states only a snapshot can hold (a receiving locality whose STS has more than Expect | Valid)
    _write_rep_and_singles(rw, sts, TPM2_STARTUP_CLEAR[:rw], size, data)


@pytest.mark.parametrize("size, data", [(4, TPM2_STARTUP_CLEAR[:4]), (1, TPM2_STARTUP_CLEAR[:5]),
                                        (2, TPM2_STARTUP_CLEAR[:6]), (4, TPM2_STARTUP_CLEAR),
                                        (4, TPM2_STARTUP_CLEAR + bytes(4))])
def test_fifo_write_that_starts_a_command_equals_the_same_writes_one_by_one(size: int, data: bytes) -> None:
    # from READY (commandReady set): the first piece starts the reception and clears commandReady
    devices = TisDevice(QtestEmulator()), TisDevice(QtestEmulator())
    for device in devices:
        device.mmio_write(ACCESS, 1, 0x02)
        device.mmio_write(STS, 1, 0x40)
    devices[0].mmio_write_rep(FIFO, size, data)
    for index in range(0, len(data), size):
        devices[1].mmio_write(FIFO, size, int.from_bytes(data[index:index + size], "little"))
    assert devices[0].get_state() == devices[1].get_state()


def test_fifo_write_reads_the_size_field_only_once_its_last_byte_is_in():
    # rw 5: byte 5 of the buffer still holds 0xFF from before; the write brings 0x0C (size 12), so
    # the 12th byte completes the command and the three after it are dropped
    _write_rep_and_singles(5, 0x04000088, bytes.fromhex("8001000000ff"), 1, bytes.fromhex("0c000001440000ffeeaa"))


def test_fifo_write_one_byte_past_a_small_buffer_overflows():
    # a 7-byte backend buffer and a command announcing 9 bytes: the 8th byte overflows
    _write_rep_and_singles(0, 0x04000088, b"", 1, bytes.fromhex("800100000009000001"), buffer_size=7)
