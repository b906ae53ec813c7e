"""SwtpmBackend against a scripted peer: what a real swtpm 0.7.1 never does but the protocol allows
(chunked continuation replies) and what a broken one does (short, garbage, silent replies)."""

from __future__ import annotations

import array
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ppikit.device.backends import BackendError, SwtpmBackend
from ppikit.device.backends.ctrl import PtmBlobType, PtmInfoFlag

H = bytes.fromhex
CAPS_0_7_1 = H("000000000000ffff")
OK = H("00000000")
UNINITIALISED_TPM2 = H("80010000000a00000101")  # the family probe's answer


class ScriptedSwtpm:
    """Accepts one control connection and answers each expected request with a canned reply.

    The data channel handed over by SET_DATAFD answers every command with ``data_replies`` in
    order (the first goes to the family probe).
    """

    def __init__(self, path: Path, script: list[tuple[bytes, bytes]], data_replies: list[bytes],
                 hang_up: bool) -> None:
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(str(path))
        self.server.listen(1)
        self.script = [(H("00000001"), CAPS_0_7_1), (H("00000010"), OK), *script]
        self.data_replies = data_replies
        self.hang_up = hang_up  # close the control connection after the script
        self.received: list[bytes] = []
        self.data: socket.socket | None = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.server.accept()
        with conn:
            for request, reply in self.script:
                if request == H("00000010"):
                    msg, ancdata, _, _ = conn.recvmsg(4, socket.CMSG_SPACE(4))
                    fds = array.array("i", ancdata[0][2][:4])
                    self.data = socket.socket(fileno=fds[0])
                    threading.Thread(target=self._serve_data, daemon=True).start()
                else:
                    msg = self._recv(conn, len(request))
                self.received.append(msg)
                conn.sendall(reply)
            if not self.hang_up:
                conn.recv(1)  # hold the connection until the backend closes it

    def _serve_data(self) -> None:
        assert self.data is not None
        for reply in self.data_replies:
            if not self.data.recv(4096):
                return
            self.data.sendall(reply)
        self.data.recv(1)

    @staticmethod
    def _recv(conn: socket.socket, count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = conn.recv(count - len(data))
            if not chunk:
                break
            data += chunk
        return data


@pytest.fixture
def scripted(tmp_path: Path) -> Iterator[object]:
    peers: list[ScriptedSwtpm] = []

    def make(script: list[tuple[bytes, bytes]], data_replies: list[bytes] = (), timeout: float = 2.0,
             hang_up: bool = False) -> tuple[SwtpmBackend, ScriptedSwtpm]:
        peer = ScriptedSwtpm(tmp_path / f"ctrl{len(peers)}", script, [UNINITIALISED_TPM2, *data_replies], hang_up)
        peers.append(peer)
        return SwtpmBackend.attach(peer.server.getsockname(), timeout=timeout).start(), peer

    yield make
    for peer in peers:
        peer.server.close()
        if peer.data is not None:
            peer.data.close()


def test_get_info_reads_on_at_the_offset(scripted) -> None:
    text = b'{"TPMSpecification":{"family":"2.0"}}\0'  # 38 bytes, delivered as 12 + 26
    backend, peer = scripted([
        (H("00000012 0000000000000001 00000000 00000000".replace(" ", "")),
         H("00000000 00000026 0000000c".replace(" ", "")) + text[:12]),
        (H("00000012 0000000000000001 0000000c 00000000".replace(" ", "")),  # offset 12
         H("00000000 00000026 0000001a".replace(" ", "")) + text[12:]),
    ])
    assert backend.cmd_get_info(PtmInfoFlag.TPMSPECIFICATION) == {"TPMSpecification": {"family": "2.0"}}


def test_get_stateblob_reads_on_and_retry_means_absent(scripted) -> None:
    blob = bytes(range(200)) * 2
    backend, _ = scripted([
        (H("0000000c 00000001 00000001 00000000".replace(" ", "")),
         H("00000000 00000000 00000190 00000100".replace(" ", "")) + blob[:256]),  # 400 in total, 256 now
        (H("0000000c 00000001 00000001 00000100".replace(" ", "")),
         H("00000000 00000000 00000090 00000090".replace(" ", "")) + blob[256:]),  # socket style: the rest
        (H("0000000c 00000001 00000003 00000000".replace(" ", "")),
         H("00000800 00000000 00000000 00000000".replace(" ", ""))),  # TPM_RETRY comes with its header
    ])
    assert backend.cmd_get_stateblob(PtmBlobType.PERMANENT) == blob
    assert backend.cmd_get_stateblob(PtmBlobType.SAVESTATE) is None


def test_set_stateblob_is_written_in_chunks(scripted) -> None:
    blob = bytes(range(10))
    backend, peer = scripted([
        (H("0000000d 00000000 00000002 0000000a".replace(" ", "")) + blob, OK),
    ])
    backend.cmd_set_stateblob(PtmBlobType.VOLATILE, blob, chunk_size=3)
    assert peer.received[-1] == H("0000000d 00000000 00000002 0000000a".replace(" ", "")) + blob


def test_truncated_control_reply(scripted) -> None:
    backend, _ = scripted([(H("0000000e"), H("0000"))], hang_up=True)  # 2 of 4 result bytes, then hang up
    with pytest.raises(BackendError, match=r"^swtpm control channel, CMD_STOP: peer closed the connection$"):
        backend.cmd_stop()
    with pytest.raises(BackendError, match=r"failed earlier \(swtpm control channel, CMD_STOP"):
        backend.transmit(H("80010000000c0000017b0008"), 0)


def test_silent_control_channel(scripted) -> None:
    backend, _ = scripted([(H("0000000e"), b"")], timeout=0.2)
    with pytest.raises(BackendError, match=r"^swtpm control channel, CMD_STOP: timed out$"):
        backend.cmd_stop()


@pytest.mark.parametrize(("reply", "message"), [
    (H("80010000000800000000"), "malformed TPM response: header size 8 but 10 bytes arrived"),
    (H("8001000000"), "timed out"),  # half a header and silence
])
def test_bad_data_channel_replies(scripted, reply: bytes, message: str) -> None:
    backend, _ = scripted([(H("0000000500000000"), OK)], data_replies=[reply], timeout=0.2)
    with pytest.raises(BackendError, match=f"^swtpm data channel: {message}$"):
        backend.transmit(H("80010000000c0000017b0008"), 0)
