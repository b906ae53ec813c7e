"""PassthroughBackend: a real TPM (swtpm chardev on a socketpair) and misbehaving peers."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ppikit.device.backends import Backend, BackendError, PassthroughBackend, swtpm_chardev
from ppikit.errors import UsageError
from ppikit.tpm.client import Tpm2Client, Tpm12Client, backend_transport
from ppikit.tpm.tpm2 import TPM_ALG
from ppikit.tpm.version import TpmVersion

H = bytes.fromhex
TPM2_STARTUP_CLEAR = H("80010000000c000001440000")
TPM2_GETRANDOM_8 = H("80010000000c0000017b0008")


def test_tpm2_through_chardev_swtpm() -> None:
    with swtpm_chardev() as backend:  # --flags startup-clear: the "host" TPM is already started
        assert isinstance(backend, Backend)
        assert backend.version == TpmVersion.TPM_2_0
        assert backend.get_buffer_size() == 4096  # max(TPM_PT_MAX_COMMAND_SIZE, _RESPONSE_SIZE)
        assert backend.transmit(TPM2_STARTUP_CLEAR, 0) == H("80010000000a00000100")  # TPM_RC_INITIALIZE
        client = Tpm2Client(backend_transport(backend, locality=3))
        client.pcr_extend(10, {TPM_ALG.SHA256: b"test".ljust(32, b"\0")})
        assert client.pcr_read({TPM_ALG.SHA256: [10]}).values[TPM_ALG.SHA256][10] == H(
            "f68598e5868de68b97299960f2717d176789a42f9aaea8c7b7aa79a86256c1de")
        assert backend.get_established() is False
        backend.reset_established(3)  # no-op
        backend.startup(4096)
        with pytest.raises(BackendError, match="requested buffer size of 3968 is smaller than the host TPM's "
                                               "fixed buffer size of 4096"):
            backend.startup(3968)


def test_tpm2_not_need_init_answers_startup() -> None:
    with swtpm_chardev(flags=("not-need-init",)) as backend:
        assert backend.get_buffer_size() == 4096  # GetCapability fails before Startup: QEMU's fallback
        assert backend.transmit(TPM2_STARTUP_CLEAR, 0) == H("80010000000a00000000")


def test_tpm12_through_chardev_swtpm() -> None:
    with swtpm_chardev(TpmVersion.TPM_1_2) as backend:
        assert backend.version == TpmVersion.TPM_1_2
        assert backend.get_buffer_size() == 4096  # TPM_CAP_PROP_INPUT_BUFFER
        assert Tpm12Client(backend_transport(backend)).get_permanent_flags()["disable"] is False


@pytest.fixture
def peer() -> Iterator[tuple[PassthroughBackend, socket.socket]]:
    """A backend on one end of a socketpair; the test plays the TPM on the other end."""
    ours, theirs = socket.socketpair()
    backend = PassthroughBackend(fd=ours.fileno(), timeout=0.3)
    theirs.sendall(H("80010000000a00000101"))  # answer the family probe as an uninitialised TPM 2
    backend.start()
    assert theirs.recv(64) == H("80010000000a00000181")  # TPM2_ReadClock, QEMU's probe
    assert backend.version == TpmVersion.TPM_2_0
    yield backend, theirs
    ours.close()
    theirs.close()


@pytest.mark.parametrize(("reply", "message"), [
    (H("8001000000"), r"short TPM response: 5 bytes \(8001000000\)"),
    (H("80010000000c00000000"), "malformed TPM response: header size 12 but 10 bytes arrived"),
    (H("80010000000a0000000000"), "malformed TPM response: header size 10 but 11 bytes arrived"),
])
def test_bad_responses_are_backend_errors(peer: tuple[PassthroughBackend, socket.socket], reply: bytes,
                                          message: str) -> None:
    backend, tpm = peer
    tpm.sendall(reply)  # already waiting when the command goes out: read in one piece
    with pytest.raises(BackendError, match=message):
        backend.transmit(TPM2_GETRANDOM_8, 0)


def test_silent_tpm_times_out(peer: tuple[PassthroughBackend, socket.socket]) -> None:
    backend, _ = peer
    with pytest.raises(BackendError, match=r"no response within 0.3 s"):
        backend.transmit(TPM2_GETRANDOM_8, 0)


def test_cancel_writes_dash_only_while_executing(tmp_path: Path) -> None:
    cancel = tmp_path / "cancel"
    ours, tpm = socket.socketpair()
    with ours, tpm:
        backend = PassthroughBackend(fd=ours.fileno(), cancel_path=cancel, timeout=5.0)
        backend.cancel()  # idle: nothing written, so another user's command is never cancelled
        assert not cancel.exists()
        result: list[bytes] = []
        worker = threading.Thread(target=lambda: result.append(backend.transmit(TPM2_GETRANDOM_8, 0)))
        worker.start()
        assert tpm.recv(64) == TPM2_GETRANDOM_8  # the command is now executing
        backend.cancel()
        assert cancel.read_text() == "-"
        tpm.sendall(H("80010000000a00000909"))  # TPM_RC_CANCELED
        worker.join(timeout=5)
        assert result == [H("80010000000a00000909")]


def test_missing_device_and_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match=r"cannot open TPM device .*/tpm9: No such file or directory"):
        PassthroughBackend(tmp_path / "tpm9").start()
    with pytest.raises(UsageError, match="exactly one of a device path or an fd"):
        PassthroughBackend()
