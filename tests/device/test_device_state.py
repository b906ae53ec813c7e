"""get_state / set_state: register state, including a half-sent command or a half-read response,
survives a JSON round trip into a fresh device; bad state dicts are refused by field."""

from __future__ import annotations

import json
import threading

import pytest
from device_model_support import TPM2_ERROR_REPLY, TPM2_STARTUP_CLEAR, CrbHarness, QtestEmulator, TisHarness

from ppikit.device.crb import CrbDevice
from ppikit.device.tis import TisDevice
from ppikit.errors import LayoutError

STS, FIFO = 0x18, 0x24


def json_round_trip(state: dict) -> dict:
    return json.loads(json.dumps(state))


def test_tis_half_sent_command_continues_on_the_restored_device(tis2: TisHarness) -> None:
    tis2.write(0, 0x00, 0x02)
    tis2.write(0, STS, 0x40)
    tis2.send_bytes(TPM2_STARTUP_CLEAR[:7])
    state = json_round_trip(tis2.device.get_state())
    assert (state["state"][0], state["rw_offset"], state["active_locality"]) == (4, 7, 0)  # RECEPTION
    restored = TisHarness(TisDevice(QtestEmulator()), None)
    restored.device.set_state(state)
    assert restored.sts(0) == tis2.sts(0) == 0x040FF988
    restored.send_bytes(TPM2_STARTUP_CLEAR[7:])
    restored.write(0, STS, 0x20)
    assert restored.device.backend.commands == [(TPM2_STARTUP_CLEAR, 0)]


def test_tis_half_read_response_continues_on_the_restored_device(tis2: TisHarness) -> None:
    tis2.write(0, 0x00, 0x02)
    tis2.write(0, STS, 0x40)
    tis2.send_bytes(TPM2_STARTUP_CLEAR)
    tis2.write(0, STS, 0x20)
    first = tis2.read(0, FIFO, 4)
    restored = TisHarness(TisDevice(QtestEmulator()), None)
    restored.device.set_state(json_round_trip(tis2.device.get_state()))
    rest = [restored.read(0, FIFO, 1) for _ in range(6)]
    assert first.to_bytes(4, "little") + bytes(rest) == TPM2_ERROR_REPLY
    assert restored.sts(0) & 0xFF == 0x80


def test_tis_get_state_finishes_the_command_in_flight() -> None:
    backend = QtestEmulator(hold=threading.Event())
    h = TisHarness(TisDevice(backend, asynchronous=True), backend)
    h.write(0, 0x00, 0x02)
    h.write(0, STS, 0x40)
    h.send_bytes(TPM2_STARTUP_CLEAR)
    h.write(0, STS, 0x20)
    threading.Timer(0.05, backend.hold.set).start()
    state = h.device.get_state()  # QEMU's pre-save finish_sync
    assert state["state"][0] == 2  # COMPLETION
    assert bytes.fromhex(state["buffer"])[:10] == TPM2_ERROR_REPLY
    h.device.close()


def test_crb_state_round_trip(crb: CrbHarness) -> None:
    crb.write(0x08, 1)
    for index, byte in enumerate(TPM2_STARTUP_CLEAR):
        crb.write(0x80 + index, byte, size=1)
    crb.write(0x4C, 1)
    restored = CrbHarness(CrbDevice(QtestEmulator()), None)
    restored.device.set_state(json_round_trip(crb.device.get_state()))
    assert (restored.read(0x0C), restored.read(0x00, 1)) == (1, 0x83)
    assert restored.read(0x80, 8) == int.from_bytes(TPM2_ERROR_REPLY[:8], "little")
    assert restored.device.get_state() == crb.device.get_state()


@pytest.mark.parametrize("change, field", [
    ({"interface": "crb"}, "interface"),
    ({"state": [3, 0, 0, 0, 0]}, "state"),  # EXECUTION never appears in a snapshot
    ({"buffer": "zz"}, "buffer"),
    ({"rw_offset": 4097}, "rw_offset"),
    ({"access": [0x80] * 4}, "access"),
])
def test_tis_bad_state_is_refused_by_field(tis2: TisHarness, change: dict, field: str) -> None:
    state = {**tis2.device.get_state(), **change}
    with pytest.raises(LayoutError) as caught:
        tis2.device.set_state(state)
    assert caught.value.field == field


def test_crb_bad_state_is_refused(crb: CrbHarness) -> None:
    state = crb.device.get_state()
    del state["regs"]
    with pytest.raises(LayoutError, match="^regs: missing$"):
        crb.device.set_state(state)
