"""SwtpmBackend against a real swtpm 0.7.1: QEMU's control traffic, byte for byte as swtpm logged it."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ppikit._subprocess import ManagedProcess
from process_support import process_running
from ppikit.device.backends import Backend, BackendError, ControlCommandError, SwtpmBackend
from ppikit.device.backends.ctrl import PtmBlobType, PtmCap, PtmCmd, PtmInfoFlag
from ppikit.errors import UsageError
from ppikit.tpm.client import Tpm2Client, backend_transport
from ppikit.tpm.tpm2 import TPM_ALG, TPM_RH, TPMA_PERMANENT
from ppikit.tpm.version import TpmVersion

if TYPE_CHECKING:  # the fixtures' type, defined in this folder's conftest
    from conftest import WireTrace

H = bytes.fromhex
TPM2_STARTUP_CLEAR = H("80010000000c000001440000")
TPM2_SUCCESS = H("80010000000a00000000")
TPM12_STARTUP_CLEAR = H("00c10000000c000000990001")
TPM12_SUCCESS = H("00c40000000a00000000")
PCR10_AFTER_TEST = H("f68598e5868de68b97299960f2717d176789a42f9aaea8c7b7aa79a86256c1de")  # qtest §5 vector
TEST_DIGEST = b"test".ljust(32, b"\0")


def test_creation_passes_data_fd_and_probes_like_qemu(swtpm2: SwtpmBackend, trace2: "WireTrace") -> None:
    assert isinstance(swtpm2, Backend)
    assert swtpm2.version == TpmVersion.TPM_2_0
    assert swtpm2.capabilities == 0xFFFF
    assert swtpm2.data_socket is not None and swtpm2.data_socket.family == socket.AF_UNIX
    assert trace2.all() == [
        ("Ctrl Cmd", H("00000001")),  # GET_CAPABILITY (readiness)
        ("Ctrl Rsp", H("000000000000ffff")),  # checklist 40: 8 bytes on 0.7.1
        ("Ctrl Cmd", H("00000010")),  # SET_DATAFD (fd travels as SCM_RIGHTS)
        ("Ctrl Rsp", H("00000000")),
        ("SWTPM_IO_Read", H("80010000000a00000181")),  # TPM2_ReadClock probe before INIT ...
        ("SWTPM_IO_Write", H("80010000000a00000101")),  # ... answered TPM_RC_FAILURE: tag is enough
    ]


def test_reset_sequence_is_qemus(swtpm2: SwtpmBackend, trace2: "WireTrace") -> None:
    # checklist 39: STOP, SET_BUFFERSIZE(0), STOP, SET_BUFFERSIZE(size), INIT(0)
    assert swtpm2.get_buffer_size() == 4096
    swtpm2.startup(3968)
    assert swtpm2.buffer_size == 3968
    assert trace2.all()[6:] == [
        ("Ctrl Cmd", H("0000000e")), ("Ctrl Rsp", H("00000000")),
        ("Ctrl Cmd", H("00000011 00000000".replace(" ", ""))),
        ("Ctrl Rsp", H("00000000 00001000 00000af8 00001000".replace(" ", ""))),
        ("Ctrl Cmd", H("0000000e")), ("Ctrl Rsp", H("00000000")),
        ("Ctrl Cmd", H("00000011 00000f80".replace(" ", ""))),
        ("Ctrl Rsp", H("00000000 00000f80 00000af8 00001000".replace(" ", ""))),
        ("Ctrl Cmd", H("00000002 00000000".replace(" ", ""))), ("Ctrl Rsp", H("00000000")),
    ]
    assert swtpm2.transmit(TPM2_STARTUP_CLEAR, 0) == TPM2_SUCCESS
    # the TPM itself now reports the interface's size (S-LIVE)
    assert Tpm2Client(backend_transport(swtpm2)).get_tpm_property(0x11E) == 3968


def test_set_buffersize_while_running_answers_four_bytes(swtpm2: SwtpmBackend, trace2: "WireTrace") -> None:
    swtpm2.startup(4096)
    trace2.mark()
    assert swtpm2.exchange(PtmCmd.SET_BUFFERSIZE, buffersize=3968).result == 0x0A  # TPM_BAD_ORDINAL
    assert trace2.since_mark("Ctrl Rsp") == [H("0000000a")]  # checklist 40: only the result
    with pytest.raises(ControlCommandError, match=r"CMD_SET_BUFFERSIZE failed: TPM_BAD_ORDINAL \(0x0A\)"):
        swtpm2.cmd_set_buffersize(3968)
    swtpm2.cmd_stop()
    sizes = swtpm2.cmd_set_buffersize(3968)
    assert (sizes.size, sizes.minimum, sizes.maximum) == (0xF80, 0xAF8, 0x1000)


def test_set_locality_only_when_it_changes(swtpm2: SwtpmBackend, trace2: "WireTrace") -> None:
    swtpm2.startup(4096)
    assert swtpm2.last_locality == 0xFF  # QEMU's cache starts at ~0
    trace2.mark()
    swtpm2.transmit(TPM2_STARTUP_CLEAR, 0)
    swtpm2.transmit(TPM2_STARTUP_CLEAR, 0)
    swtpm2.transmit(TPM2_STARTUP_CLEAR, 3)
    swtpm2.startup(4096)  # a machine reset does not forget the cached locality
    swtpm2.transmit(TPM2_STARTUP_CLEAR, 3)
    locality_cmds = [c for c in trace2.since_mark("Ctrl Cmd") if c[:4] == H("00000005")]
    assert locality_cmds == [H("0000000500000000"), H("0000000503000000")]
    assert swtpm2.last_locality == 3


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.integers(0, 4), min_size=1, max_size=6))
def test_set_locality_exactly_on_changes(wire_trace: type["WireTrace"], localities: list[int]) -> None:
    with SwtpmBackend(log_level=20) as backend:  # a fresh swtpm per example
        backend.startup(4096)
        backend.transmit(TPM2_STARTUP_CLEAR, 0)
        trace = wire_trace(backend)
        trace.mark()
        for locality in localities:
            # TPM2_GetRandom(8) succeeds in every locality: 20-byte reply, rc 0
            assert backend.transmit(H("80010000000c0000017b0008"), locality)[:10] == H("80010000001400000000")
        changes = [loc for prev, loc in zip([0, *localities], localities) if loc != prev]
        sent = [c[4] for c in trace.since_mark("Ctrl Cmd") if c[:4] == H("00000005")]
        assert sent == changes


def test_established_flag_cached_until_reset(swtpm2: SwtpmBackend, trace2: "WireTrace") -> None:
    assert swtpm2.get_established() is False  # TPM not running: result 0x0A reads as False, not cached
    swtpm2.startup(4096)
    trace2.mark()
    assert swtpm2.get_established() is False
    assert swtpm2.get_established() is False
    swtpm2.transmit(TPM2_STARTUP_CLEAR, 3)
    swtpm2.reset_established(3)
    assert swtpm2.get_established() is False
    assert trace2.since_mark("Ctrl Cmd") == [
        H("00000004"),  # one GET_TPMESTABLISHED for two reads
        H("0000000503000000"),  # SET_LOCALITY before the command
        H("0000000b03000000"),  # RESET_TPMESTABLISHED as locality 3
        H("00000004"),  # cache invalidated
    ]


def test_cancel_and_info_and_config(swtpm2: SwtpmBackend, trace2: "WireTrace") -> None:
    swtpm2.startup(4096)
    trace2.mark()
    swtpm2.cancel()
    assert trace2.since_mark("Ctrl Cmd") == [H("00000009")]
    assert swtpm2.cmd_get_info(PtmInfoFlag.TPMSPECIFICATION) == {
        "TPMSpecification": {"family": "2.0", "level": 0, "revision": 164}}
    assert swtpm2.cmd_get_info(PtmInfoFlag.TPMATTRIBUTES) == {
        "TPMAttributes": {"manufacturer": "id:00001014", "version": "id:20191023", "model": "swtpm"}}
    assert swtpm2.cmd_get_config() == 0


def test_lock_storage_unknown_on_0_7_1(swtpm2: SwtpmBackend) -> None:
    assert swtpm2.exchange(PtmCmd.LOCK_STORAGE, retries=300).result == 0x0A


def test_get_stateblob_of_a_stopped_tpm_answers_at_once(swtpm2: SwtpmBackend) -> None:
    # swtpm 0.7.1 sends only the result word TPM_BAD_ORDINAL (0x0A) when the TPM is stopped,
    # not the 16-byte header it sends with errors while running: no 10 s wait for a tail.
    swtpm2.startup(swtpm2.get_buffer_size())
    swtpm2.cmd_stop()
    reply = swtpm2.exchange(PtmCmd.GET_STATEBLOB, state_flags=1, type=1, offset=0)
    assert (reply.result, reply.fields, reply.payload) == (0x0A, None, b"")
    assert swtpm2.failure is None


def test_state_blobs_move_a_tpm_to_another_swtpm() -> None:
    with SwtpmBackend() as source, SwtpmBackend() as target:
        source.startup(4096)
        client = Tpm2Client(backend_transport(source))
        client.startup()
        client.pcr_extend(10, {TPM_ALG.SHA256: TEST_DIGEST})
        client.hierarchy_change_auth(TPM_RH.OWNER, b"owner")
        blobs = source.get_state_blobs()
        # a fresh TPM 2 has no savestate blob: TPM_RETRY, left out (S-LIVE sizes 1321/8992 fresh)
        assert sorted(blobs) == [PtmBlobType.PERMANENT, PtmBlobType.VOLATILE]

        target.set_state_blobs(blobs)
        moved = Tpm2Client(backend_transport(target))
        assert moved.pcr_read({TPM_ALG.SHA256: [10]}).values == {TPM_ALG.SHA256: {10: PCR10_AFTER_TEST}}
        assert TPMA_PERMANENT.ownerAuthSet in moved.get_permanent()
        assert target.transmit(TPM2_STARTUP_CLEAR, 0) == H("80010000000a00000100")  # already started
        assert target.get_state_blobs()[PtmBlobType.PERMANENT] == blobs[PtmBlobType.PERMANENT]


def test_migration_key_mismatch_is_a_clear_error(tmp_path: Path) -> None:
    key1, key2 = tmp_path / "k1", tmp_path / "k2"
    key1.write_text("00112233445566778899aabbccddeeff")
    key2.write_text("ffeeddccbbaa99887766554433221100")
    with (SwtpmBackend(migration_key=key1) as source, SwtpmBackend(migration_key=key1) as same,
          SwtpmBackend(migration_key=key2) as other, SwtpmBackend() as keyless):
        source.startup(4096)
        assert source.cmd_get_config() == 2  # PTM_CONFIG_FLAG_MIGRATION_KEY
        blobs = source.get_state_blobs()
        same.set_state_blobs(blobs)
        with pytest.raises(ControlCommandError, match=r"CMD_SET_STATEBLOB failed: TPM_DECRYPT_ERROR \(0x21\)"
                                                      r".*Decrypting the permall blob with the migration key failed"):
            other.set_state_blobs(blobs)
        with pytest.raises(ControlCommandError, match=r"TPM_KEYNOTFOUND \(0x0D\).*Missing migration key"):
            keyless.set_state_blobs(blobs)


def test_killed_swtpm_raises_and_restart_keeps_state() -> None:
    with SwtpmBackend() as backend:
        backend.startup(4096)
        client = Tpm2Client(backend_transport(backend))
        client.startup()
        client.hierarchy_change_auth(TPM_RH.OWNER, b"owner")
        assert backend.pid is not None
        os.kill(backend.pid, signal.SIGKILL)
        with pytest.raises(BackendError, match=r"swtpm data channel: .*\(swtpm exited with status -9\)"):
            backend.transmit(TPM2_STARTUP_CLEAR, 0)
        with pytest.raises(BackendError, match=r"failed earlier .*; call restart\(\)"):
            backend.transmit(TPM2_STARTUP_CLEAR, 0)
        backend.restart()  # replays STOP/SET_BUFFERSIZE/INIT: the TPM waits for TPM2_Startup
        assert backend.failure is None
        assert backend.transmit(TPM2_STARTUP_CLEAR, 0) == TPM2_SUCCESS
        assert TPMA_PERMANENT.ownerAuthSet in client.get_permanent()


def test_response_timeout_marks_backend_failed() -> None:
    with SwtpmBackend(timeout=0.3) as backend:
        backend.startup(4096)
        backend.transmit(TPM2_STARTUP_CLEAR, 0)  # locality 0 is cached: next time only data goes out
        assert backend.pid is not None
        os.kill(backend.pid, signal.SIGSTOP)  # a hung swtpm: alive but silent
        try:
            with pytest.raises(BackendError, match=r"^swtpm data channel: timed out$"):
                backend.transmit(TPM2_STARTUP_CLEAR, 0)
        finally:
            os.kill(backend.pid, signal.SIGCONT)
        assert backend.failure == "swtpm data channel: timed out"
        backend.restart()
        assert backend.transmit(TPM2_STARTUP_CLEAR, 0) == TPM2_SUCCESS


def test_tpm12_swtpm(swtpm12: SwtpmBackend, trace12: "WireTrace") -> None:
    assert swtpm12.version == TpmVersion.TPM_1_2
    assert swtpm12.capabilities == 0x7FFF  # no SEND_COMMAND_HEADER for TPM 1.2
    swtpm12.startup(swtpm12.get_buffer_size())
    assert swtpm12.transmit(TPM12_STARTUP_CLEAR, 0) == TPM12_SUCCESS
    trace12.mark()
    swtpm12.reset_established(3)  # TPM 1.2: ignored, as in QEMU
    assert trace12.since_mark() == []


_KILLED_OWNER = """
import os, signal, sys
from ppikit.device.backends.swtpm import SwtpmBackend
from ppikit.tpm.version import TpmVersion
backend = SwtpmBackend(TpmVersion.TPM_2_0).start()
print(backend.pid, backend.state_dir, flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # no close(), no finally: as a CI timeout or the OOM killer
"""


def test_swtpm_does_not_outlive_a_killed_owner() -> None:
    """``--terminate``: the swtpm a SIGKILLed process launched exits once its data channel is gone."""
    owner = subprocess.run([sys.executable, "-c", _KILLED_OWNER], capture_output=True, text=True, timeout=60)
    assert owner.returncode == -signal.SIGKILL, owner.stderr
    pid_text, state_dir = owner.stdout.split()
    pid = int(pid_text)
    deadline = time.monotonic() + 10
    while process_running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        assert not process_running(pid), f"swtpm {pid} outlived its owner"
    finally:
        if process_running(pid):
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(Path(state_dir).parent, ignore_errors=True)  # a SIGKILL leaves the temp dir


def test_attach_to_running_swtpm_with_data_fd(tmp_path: Path) -> None:
    ctrl = tmp_path / "ctrl"
    argv = ["swtpm", "socket", "--tpm2", "--tpmstate", f"dir={tmp_path}", "--ctrl", f"type=unixio,path={ctrl}"]
    with ManagedProcess(argv, ready=lambda _: _connectable(ctrl)) as process:
        backend = SwtpmBackend.attach(ctrl).start()
        backend.startup(4096)
        assert backend.transmit(TPM2_STARTUP_CLEAR, 1) == H("80010000000a00000907")  # TPM_RC_LOCALITY
        assert backend.transmit(TPM2_STARTUP_CLEAR, 0) == TPM2_SUCCESS
        backend.close()  # CMD_SHUTDOWN ends swtpm, as QEMU's backend destruction does
        assert process.proc is not None and process.proc.wait(timeout=5) == 0
        with pytest.raises(UsageError, match="launched swtpm itself"):
            backend.restart()


def test_attach_with_server_data_socket(tmp_path: Path) -> None:
    ctrl, data = tmp_path / "ctrl", tmp_path / "data"
    argv = ["swtpm", "socket", "--tpm2", "--tpmstate", f"dir={tmp_path}", "--ctrl", f"type=unixio,path={ctrl}",
            "--server", f"type=unixio,path={data}"]
    with ManagedProcess(argv, ready=lambda _: _connectable(ctrl) and _connectable(data)):
        with SwtpmBackend.attach(ctrl, data) as backend:
            assert PtmCap.SET_DATAFD in backend.capabilities
            backend.startup(4096)
            assert backend.transmit(TPM2_STARTUP_CLEAR, 0) == TPM2_SUCCESS


def test_attach_to_missing_socket(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match=r"cannot connect to swtpm control socket .*/nope"):
        SwtpmBackend.attach(tmp_path / "nope").start()


def test_bad_arguments() -> None:
    with pytest.raises(UsageError, match="TPM 1.2 or 2.0"):
        SwtpmBackend(TpmVersion.UNSPEC)
    with pytest.raises(UsageError, match="not started"):
        SwtpmBackend().transmit(TPM2_STARTUP_CLEAR, 0)


def _connectable(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX) as probe:
        probe.connect(str(path))
    return True
