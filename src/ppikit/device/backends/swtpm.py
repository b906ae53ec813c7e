"""The swtpm ("emulator") backend: QEMU's ``backends/tpm/tpm_emulator.c`` behaviour in Python.

Why it is shaped like QEMU's and not like a convenient swtpm client: firmware authors use ppikit to
predict what their code sees on QEMU 7.2, so the control-channel traffic must be QEMU's -- the data
channel handed over with CMD_SET_DATAFD (never ``--server``, swtpm issue #165), STOP /
SET_BUFFERSIZE / INIT at every machine reset, SET_LOCALITY only when the locality changes (cache
starting at 0xFF, kept across resets), the tpmEstablished flag cached until reset-established, and
replies read as a 4-byte result first (QEMU >= 9.2; swtpm answers errors with 4 bytes only).

Everything that can block has a deadline; every failure (process died, timeout, short or malformed
reply) raises :class:`BackendError` with the reason and swtpm's log tail, and leaves the backend
marked failed until :meth:`SwtpmBackend.restart` brings swtpm back on the same state directory.
"""

from __future__ import annotations

import array
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import construct as cs

from ppikit._subprocess import ManagedProcess
from ppikit.device.backends.base import BackendError
from ppikit.device.backends.ctrl import (
    CTRL_COMMANDS,
    GET_CAPABILITY_REPLY,
    PTM_INIT_FLAG_DELETE_VOLATILE,
    PTM_RESULT,
    PTM_STATE_FLAG_DECRYPTED,
    PTM_STATE_FLAG_ENCRYPTED,
    REQUIRED_CAPS_TPM2,
    REQUIRED_CAPS_TPM12,
    SET_STATEBLOB_HEADER,
    TPM_BAD_ORDINAL,
    TPM_RETRY,
    PtmBlobType,
    PtmCap,
    PtmCmd,
    PtmGetConfigFlag,
    PtmInfoFlag,
    build_request,
    ptm_result_name,
)
from ppikit.device.backends.probe import check_response_frame, probe_version
from ppikit.errors import UsageError
from ppikit.tpm.header import TPM_HEADER_SIZE, TPM_HEADER_STRUCT
from ppikit.tpm.version import TpmVersion

#: QEMU's cached-locality sentinel (``cur_locty_number = ~0``): forces SET_LOCALITY on first use.
NO_LOCALITY = 0xFF
_RECV_CHUNK = 65536
#: Larger header sizes are garbage, not something to wait for (swtpm's maximum is 4096).
MAX_RESPONSE_SIZE = 1 << 20


class ControlCommandError(BackendError):
    """swtpm answered a control command with a non-zero result (e.g. TPM_BAD_ORDINAL)."""

    def __init__(self, command: PtmCmd, result: int, *, log: str = "") -> None:
        self.command = command
        self.result = result
        super().__init__(f"swtpm CMD_{command.name} failed: {ptm_result_name(result)}", log=log)


@dataclass(frozen=True)
class BufferSizes:
    """CMD_SET_BUFFERSIZE reply: the size in use and the range swtpm accepts."""

    size: int
    minimum: int
    maximum: int


@dataclass(frozen=True)
class CtrlReply:
    """One control reply: the result word, the parsed tail (None unless present), trailing bytes."""

    result: int
    fields: cs.Container | None = None
    payload: bytes = b""


def _recv_exact(sock: socket.socket, count: int, deadline: float) -> bytes:
    """Read exactly ``count`` bytes before ``deadline`` or raise ``TimeoutError`` / ``EOFError``."""
    parts = []
    original = sock.gettimeout()
    try:
        while count > 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("timed out")
            sock.settimeout(remaining)
            chunk = sock.recv(min(count, _RECV_CHUNK))
            if not chunk:
                raise EOFError("peer closed the connection")
            parts.append(chunk)
            count -= len(chunk)
    finally:
        sock.settimeout(original)
    return b"".join(parts)


class SwtpmBackend:
    """A swtpm behind a QEMU-style emulator backend; usable as a context manager.

    Launch mode: ``SwtpmBackend(TpmVersion.TPM_2_0)`` runs ``swtpm socket --tpm2 --tpmstate dir=D
    --ctrl type=unixio,path=S --terminate`` (D temporary and removed on close unless ``state_dir``
    is given), passes the data channel with CMD_SET_DATAFD and probes the family. Attach mode:
    :meth:`attach` connects to a swtpm someone else started.

    After :meth:`start` the TPM is *not* initialised (like QEMU before the first machine reset):
    call ``startup(get_buffer_size())`` -- or let a TIS/CRB front end's reset do it -- and then send
    TPM2_Startup / TPM_Startup. ``start()`` / ``restart()`` raise :class:`ToolError` (command line +
    log); everything else raises :class:`BackendError`.
    """

    def __init__(
        self,
        version: TpmVersion = TpmVersion.TPM_2_0,
        *,
        state_dir: str | os.PathLike[str] | None = None,
        migration_key: str | os.PathLike[str] | None = None,
        migration_key_format: str = "hex",
        flags: Sequence[str] = (),
        extra_args: Sequence[str] = (),
        log_level: int = 1,
        timeout: float = 10.0,
        start_timeout: float = 10.0,
    ) -> None:
        """
        :param version: TPM family swtpm emulates (``--tpm2`` for 2.0).
        :param state_dir: persistent ``--tpmstate dir``; None = a temporary one removed on close.
        :param migration_key: key file for ``--migration-key`` (state blobs leave swtpm encrypted).
        :param migration_key_format: ``"hex"`` (swtpm's default) or ``"binary"``.
        :param flags: values for ``--flags`` (e.g. ``["not-need-init"]``); QEMU passes none.
        :param extra_args: further swtpm arguments, appended verbatim.
        :param log_level: swtpm ``--log level`` (1 = errors; 20 dumps every command, slows swtpm).
        :param timeout: deadline in seconds for every control / data-channel operation.
        :param start_timeout: how long swtpm may take to answer GET_CAPABILITY after launch.
        """
        if version not in (TpmVersion.TPM_1_2, TpmVersion.TPM_2_0):
            raise UsageError(f"swtpm emulates TPM 1.2 or 2.0, not {version!r}")
        if migration_key_format not in ("hex", "binary"):
            raise UsageError(f"migration_key_format must be 'hex' or 'binary', not {migration_key_format!r}")
        self.requested_version = TpmVersion(version)
        self._state_dir_arg = Path(state_dir) if state_dir is not None else None
        self._migration_key = Path(migration_key) if migration_key is not None else None
        self._migration_key_format = migration_key_format
        self._flags = tuple(flags)
        self._extra_args = tuple(extra_args)
        self._log_level = log_level
        self.timeout = timeout
        self._start_timeout = start_timeout
        self._attach_ctrl: Path | None = None
        self._attach_data: Path | None = None
        self._init_state()

    @classmethod
    def attach(
        cls,
        ctrl_socket: str | os.PathLike[str],
        data_socket: str | os.PathLike[str] | None = None,
        *,
        timeout: float = 10.0,
    ) -> SwtpmBackend:
        """A backend for an already running ``swtpm socket --ctrl type=unixio,path=ctrl_socket``.

        Without ``data_socket`` the data channel is passed with CMD_SET_DATAFD (swtpm must not
        run with ``--server``); with it, ppikit connects to that ``--server type=unixio`` socket.
        The family is probed. :meth:`close` sends CMD_SHUTDOWN, as QEMU does, which ends swtpm.
        """
        backend = cls(timeout=timeout)
        backend._attach_ctrl = Path(ctrl_socket)
        backend._attach_data = Path(data_socket) if data_socket is not None else None
        return backend

    def _init_state(self) -> None:
        self._process: ManagedProcess | None = None
        self._workdir: Path | None = None
        self.state_dir: Path | None = None
        self.ctrl_socket_path: Path | None = None
        self._ctrl: socket.socket | None = None
        self._data: socket.socket | None = None
        self._ctrl_lock = threading.Lock()
        self._version: TpmVersion | None = None
        self.capabilities = PtmCap(0)
        self._last_locality = NO_LOCALITY
        self._established: bool | None = None
        self._startup_size: int | None = None
        self._failure: str | None = None
        self._closed = False

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> SwtpmBackend:
        """Launch (or connect to) swtpm and run QEMU's backend-creation steps."""
        if self._ctrl is not None:
            raise UsageError("SwtpmBackend already started")
        try:
            if self._attach_ctrl is not None:
                self._connect_attached()
            else:
                self._launch()
            self._create()
        except BaseException:
            self.close(shutdown=False)
            raise
        return self

    def _launch(self) -> None:
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="ppikit-swtpm-"))
            self.state_dir = self._state_dir_arg or self._workdir / "state"
            self.state_dir.mkdir(parents=True, exist_ok=True)
            self.ctrl_socket_path = self._workdir / "ctrl.sock"
        # swtpm 0.7.1 exits silently with "--log fd=2", so its log goes to the file that
        # ManagedProcess also appends stderr to. --terminate (as libvirt passes it): swtpm exits
        # when its data channel goes away, so a ppikit process that is killed (a CI timeout, an
        # OOM kill) leaves no swtpm behind; ppikit never re-opens the channel of a live swtpm.
        argv = ["swtpm", "socket", "--tpmstate", f"dir={self.state_dir}",
                "--ctrl", f"type=unixio,path={self.ctrl_socket_path}",
                "--log", f"file={self.log_path},level={self._log_level}", "--terminate"]
        if self.requested_version == TpmVersion.TPM_2_0:
            argv.append("--tpm2")
        if self._migration_key is not None:
            argv += ["--migration-key", f"file={self._migration_key},format={self._migration_key_format}"]
        if self._flags:
            argv += ["--flags", ",".join(self._flags)]
        argv += self._extra_args
        self._process = ManagedProcess(argv, ready=self._ready, ready_timeout=self._start_timeout,
                                       workdir=self._workdir)
        self._process.start()

    def _ready(self, _process: ManagedProcess) -> bool:
        """Readiness: the control socket accepts a connection and GET_CAPABILITY answers."""
        assert self.ctrl_socket_path is not None
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(str(self.ctrl_socket_path))
            self._ctrl = sock
            self._probe_capabilities()
        except (OSError, EOFError, BackendError):
            sock.close()
            self._ctrl = None
            self._failure = None  # not ready yet is not a failure
            return False
        return True

    def _connect_attached(self) -> None:
        assert self._attach_ctrl is not None
        self.ctrl_socket_path = self._attach_ctrl
        self._ctrl = self._connect_unix(self._attach_ctrl, "control")
        self._probe_capabilities()

    def _connect_unix(self, path: Path, what: str) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(str(path))
        except OSError as exc:
            sock.close()
            raise BackendError(f"cannot connect to swtpm {what} socket {path}: {exc}") from None
        return sock

    def _probe_capabilities(self) -> None:
        reply = self._exchange_raw(build_request(PtmCmd.GET_CAPABILITY), GET_CAPABILITY_REPLY.sizeof(),
                                   PtmCmd.GET_CAPABILITY)
        self.capabilities = PtmCap(GET_CAPABILITY_REPLY.parse(reply).caps)

    def _create(self) -> None:
        """QEMU's ``tpm_emulator_handle_device_opts`` order: data fd, family probe, capability check."""
        if self._attach_data is not None:
            self._data = self._connect_unix(self._attach_data, "data")
        else:
            self._pass_data_fd()
        self._version = probe_version(self._transact)
        required = REQUIRED_CAPS_TPM2 if self._version == TpmVersion.TPM_2_0 else REQUIRED_CAPS_TPM12
        if self._attach_data is not None:
            required &= ~PtmCap.SET_DATAFD
        missing = required & ~self.capabilities
        if missing:
            raise self._error(f"swtpm lacks control commands QEMU requires: {missing!r}")
        if self._attach_ctrl is None and self._version != self.requested_version:
            raise self._error(f"swtpm answers as TPM {self._version.label}, "
                              f"not the requested {self.requested_version.label}")

    def _pass_data_fd(self) -> None:
        """CMD_SET_DATAFD: one end of a socketpair travels as SCM_RIGHTS, ppikit keeps the other."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            fds = array.array("i", [theirs.fileno()])
            self.call(PtmCmd.SET_DATAFD, _fds=[(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        ours.settimeout(self.timeout)
        self._data = ours

    def restart(self) -> None:
        """Kill swtpm and launch it again on the same state directory.

        Redoes backend creation and, if :meth:`startup` ran before, replays it (STOP,
        SET_BUFFERSIZE, INIT), so the TPM is where a machine reset would leave it: it next expects
        TPM2_Startup / TPM_Startup. Permanent state (NV, hierarchy auth, seeds) survives; volatile
        state (PCRs, sessions) does not, exactly as a power cycle. Clears the failure mark and the
        locality / established caches (a new process knows neither).
        """
        if self._process is None:
            raise UsageError("restart() needs a SwtpmBackend that launched swtpm itself (not attach())")
        self._close_sockets()
        self._process.stop()
        startup_size = self._startup_size
        workdir, state_dir, ctrl_path = self._workdir, self.state_dir, self.ctrl_socket_path
        self._init_state()
        self._workdir, self.state_dir, self.ctrl_socket_path = workdir, state_dir, ctrl_path
        self._launch()
        self._create()
        if startup_size is not None:
            self.startup(startup_size)

    def close(self, *, shutdown: bool = True) -> None:
        """CMD_SHUTDOWN (QEMU's backend destruction), stop the process, remove temporary dirs."""
        if self._closed:
            return
        self._closed = True
        if shutdown and self._ctrl is not None and self._failure is None:
            try:
                self.cmd_shutdown()
            except BackendError:
                pass
        if self._process is not None:
            proc = self._process.proc
            if shutdown and proc is not None:
                try:
                    proc.wait(timeout=2.0)  # swtpm exits by itself after CMD_SHUTDOWN
                except Exception:  # noqa: BLE001 -- ManagedProcess.stop() below kills it anyway
                    pass
            self._process.stop()
        self._close_sockets()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)

    def _close_sockets(self) -> None:
        for sock in (self._ctrl, self._data):
            if sock is not None:
                sock.close()
        self._ctrl = self._data = None

    def __enter__(self) -> SwtpmBackend:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- diagnostics -------------------------------------------------------------------------
    def log_tail(self, lines: int = 20) -> str:
        """Last lines of swtpm's stderr/log (empty in attach mode)."""
        return self._process.log_tail(lines) if self._process is not None else ""

    @property
    def log_path(self) -> Path | None:
        """swtpm's log file in launch mode; at ``log_level=20`` it traces every control and data
        message swtpm receives and sends ("Ctrl Cmd", "SWTPM_IO_Read", ...)."""
        return self._workdir / "swtpm.log" if self._workdir is not None else None

    @property
    def failure(self) -> str | None:
        """Why the backend stopped working (None while healthy)."""
        return self._failure

    @property
    def pid(self) -> int | None:
        """swtpm's process id in launch mode (tests kill it to inject failures)."""
        proc = self._process.proc if self._process is not None else None
        return proc.pid if proc is not None else None

    def _error(self, reason: str, *, peer_gone: bool = False) -> BackendError:
        proc = self._process.proc if self._process is not None else None
        if proc is not None and peer_gone:
            try:  # a closed channel usually means swtpm is exiting: wait a moment for its status
                proc.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                pass
        if proc is not None and proc.poll() is not None:
            reason += f" (swtpm exited with status {proc.returncode})"
        return BackendError(reason, log=self.log_tail())

    def _fail(self, reason: str, exc: BaseException | None = None) -> BackendError:
        """Mark the backend failed: a half-read stream cannot be trusted for the next command."""
        error = self._error(reason, peer_gone=isinstance(exc, (EOFError, ConnectionError)))
        self._failure = error.reason
        return error

    def _check_usable(self) -> None:
        if self._failure is not None:
            raise BackendError(f"swtpm backend failed earlier ({self._failure}); call restart()",
                               log=self.log_tail())
        if self._ctrl is None or self._data is None:
            raise UsageError("SwtpmBackend is not started (use it as a context manager or call start())")

    # -- control channel ---------------------------------------------------------------------
    def _exchange_raw(self, request: bytes, reply_size: int, cmd: PtmCmd) -> bytes:
        """Send one request in one write and read a fixed-size reply (GET_CAPABILITY only)."""
        assert self._ctrl is not None
        deadline = time.monotonic() + self.timeout
        try:
            self._ctrl.settimeout(self.timeout)
            self._ctrl.sendall(request)
            return _recv_exact(self._ctrl, reply_size, deadline)
        except (OSError, EOFError) as exc:
            raise self._fail(f"swtpm control channel, CMD_{cmd.name}: {exc}", exc) from None

    def exchange(self, cmd: PtmCmd, *, _fds: Sequence[tuple[int, int, array.array]] = (),
                 **fields: int) -> CtrlReply:
        """Send one control command and read its reply QEMU-9.2 style; non-zero results returned.

        ``fields`` fill the command's request layout (:data:`CTRL_COMMANDS`). The 4-byte result
        is read first and the tail only if it is 0 (or always, for GET_STATEBLOB, which swtpm
        sends with its header once the TPM runs).
        """
        if self._failure is not None:
            self._check_usable()
        if self._ctrl is None:
            raise UsageError("SwtpmBackend is not started")
        if cmd not in CTRL_COMMANDS:
            raise UsageError(f"CMD_{cmd.name} has no result word; use cmd_get_capability()")
        spec = CTRL_COMMANDS[cmd]
        request = build_request(cmd, **fields)
        with self._ctrl_lock:
            deadline = time.monotonic() + self.timeout
            try:
                self._ctrl.settimeout(self.timeout)
                self._ctrl.sendmsg([request], list(_fds))
                result = PTM_RESULT.parse(_recv_exact(self._ctrl, 4, deadline))
                if spec.tail is None or (result != 0 and not spec.header_on_error):
                    return CtrlReply(result)
                if result == TPM_BAD_ORDINAL:  # a stopped TPM: swtpm answers with the result word only
                    return CtrlReply(result)
                tail = spec.tail.parse(_recv_exact(self._ctrl, spec.tail.sizeof(), deadline))
                length = tail[spec.payload_field] if spec.payload_field and result == 0 else 0
                return CtrlReply(result, tail, _recv_exact(self._ctrl, length, deadline))
            except (OSError, EOFError) as exc:
                raise self._fail(f"swtpm control channel, CMD_{cmd.name}: {exc}", exc) from None

    def call(self, cmd: PtmCmd, *, _fds: Sequence[tuple[int, int, array.array]] = (),
             **fields: int) -> CtrlReply:
        """:meth:`exchange`, raising :class:`ControlCommandError` unless the result is 0."""
        reply = self.exchange(cmd, _fds=_fds, **fields)
        if reply.result != 0:
            raise ControlCommandError(cmd, reply.result, log=self.log_tail())
        return reply

    def cmd_get_capability(self) -> PtmCap:
        """CMD_GET_CAPABILITY: the ``PTM_CAP_*`` mask (0.7.1 TPM 2: 0xFFFF)."""
        with self._ctrl_lock:
            self._probe_capabilities()
        return self.capabilities

    def cmd_init(self, flags: int = 0) -> None:
        """CMD_INIT: (re)start the TPM; ``PTM_INIT_FLAG_DELETE_VOLATILE`` drops the volatile file."""
        self.call(PtmCmd.INIT, init_flags=flags)

    def cmd_shutdown(self) -> None:
        """CMD_SHUTDOWN: swtpm stops the TPM and exits."""
        self.call(PtmCmd.SHUTDOWN)

    def cmd_stop(self) -> None:
        """CMD_STOP: halt the TPM without exiting (data commands then get a fatal-error reply)."""
        self.call(PtmCmd.STOP)

    def cmd_set_locality(self, locality: int) -> None:
        """CMD_SET_LOCALITY; updates the cached last locality like QEMU."""
        self.call(PtmCmd.SET_LOCALITY, loc=locality)
        self._last_locality = locality

    def cmd_cancel_tpm_cmd(self) -> None:
        """CMD_CANCEL_TPM_CMD (swtpm is single-threaded: it cannot really interrupt a command)."""
        self.call(PtmCmd.CANCEL_TPM_CMD)

    def cmd_store_volatile(self) -> None:
        """CMD_STORE_VOLATILE: write the volatile state to the state directory."""
        self.call(PtmCmd.STORE_VOLATILE)

    def cmd_get_tpmestablished(self) -> bool:
        """CMD_GET_TPMESTABLISHED (uncached); needs a running TPM."""
        return bool(self.call(PtmCmd.GET_TPMESTABLISHED).fields.bit)

    def cmd_reset_tpmestablished(self, locality: int) -> None:
        """CMD_RESET_TPMESTABLISHED, executed by swtpm as ``locality``."""
        self.call(PtmCmd.RESET_TPMESTABLISHED, loc=locality)

    def cmd_set_buffersize(self, size: int) -> BufferSizes:
        """CMD_SET_BUFFERSIZE: 0 queries; other sizes only while stopped (else TPM_BAD_ORDINAL)."""
        tail = self.call(PtmCmd.SET_BUFFERSIZE, buffersize=size).fields
        return BufferSizes(tail.buffersize, tail.minsize, tail.maxsize)

    def cmd_get_config(self) -> PtmGetConfigFlag:
        """CMD_GET_CONFIG: whether a state-file key and/or a migration key is configured."""
        return PtmGetConfigFlag(self.call(PtmCmd.GET_CONFIG).fields.flags)

    def cmd_get_info(self, flags: PtmInfoFlag) -> dict:
        """CMD_GET_INFO as parsed JSON, reading on at the returned offset until all has arrived."""
        text = self._read_continued(PtmCmd.GET_INFO, flags=int(flags)).rstrip(b"\0")
        try:
            return json.loads(text)
        except ValueError:
            raise self._error(f"swtpm CMD_GET_INFO returned no JSON: {text[:80]!r}") from None

    def _read_continued(self, cmd: PtmCmd, **fields: int) -> bytes:
        """Offset-based continuation reads (GET_INFO, GET_STATEBLOB).

        Over a socket swtpm sends everything from ``offset`` in one reply, so the first reply
        normally completes it; a peer that answers in chunks (the CUSE convention) is read until
        ``totlength`` bytes have arrived or a reply brings none.
        """
        data = b""
        total: int | None = None
        while total is None or len(data) < total:
            reply = self.call(cmd, offset=len(data), **fields)
            total = reply.fields.totlength if total is None else total
            data += reply.payload
            if not reply.payload:
                break
        return data

    def cmd_get_stateblob(self, blob_type: PtmBlobType, *, decrypted: bool = True) -> bytes | None:
        """CMD_GET_STATEBLOB; None when swtpm has no such blob (TPM_RETRY, e.g. no savestate).

        With a migration key the bytes are encrypted regardless of ``decrypted`` (that is the
        key's purpose); ``decrypted`` only removes the state-file key's encryption.
        """
        flags = PTM_STATE_FLAG_DECRYPTED if decrypted else 0
        try:
            return self._read_continued(PtmCmd.GET_STATEBLOB, state_flags=flags, type=int(blob_type))
        except ControlCommandError as exc:
            if exc.result & TPM_RETRY:
                return None
            raise

    def cmd_set_stateblob(self, blob_type: PtmBlobType, data: bytes, *, encrypted: bool = False,
                          chunk_size: int = 4096) -> None:
        """CMD_SET_STATEBLOB: header with the full length, then the blob; TPM must be stopped.

        swtpm reads ``length`` bytes however they arrive, so the blob is written in
        ``chunk_size`` pieces after the header and the single 4-byte result read at the end.
        """
        flags = PTM_STATE_FLAG_ENCRYPTED if encrypted else 0
        header = build_request(PtmCmd.SET_STATEBLOB, state_flags=flags, type=int(blob_type), length=len(data))
        assert len(header) == 4 + SET_STATEBLOB_HEADER.sizeof()
        if self._ctrl is None:
            raise UsageError("SwtpmBackend is not started")
        with self._ctrl_lock:
            deadline = time.monotonic() + self.timeout
            try:
                self._ctrl.settimeout(self.timeout)
                self._ctrl.sendall(header)
                for start in range(0, len(data), chunk_size):
                    self._ctrl.sendall(data[start:start + chunk_size])
                result = PTM_RESULT.parse(_recv_exact(self._ctrl, 4, deadline))
            except (OSError, EOFError) as exc:
                raise self._fail(f"swtpm control channel, CMD_SET_STATEBLOB: {exc}", exc) from None
        if result != 0:
            raise ControlCommandError(PtmCmd.SET_STATEBLOB, result, log=self.log_tail())

    # -- state blobs (migration / snapshots) ---------------------------------------------------
    def get_state_blobs(self) -> dict[PtmBlobType, bytes]:
        """QEMU's migration pre_save: PERMANENT, VOLATILE, SAVESTATE (absent blobs left out).

        swtpm 0.7.1 answers GET_STATEBLOB only while the TPM runs (after INIT, before STOP).
        """
        blobs = {}
        for blob_type in PtmBlobType:
            data = self.cmd_get_stateblob(blob_type)
            if data:
                blobs[blob_type] = data
        return blobs

    def set_state_blobs(self, blobs: Mapping[PtmBlobType, bytes]) -> None:
        """QEMU's migration post_load: STOP, SET_STATEBLOB per non-empty blob, INIT(DELETE_VOLATILE).

        The TPM then continues exactly where the source left it (no TPM2_Startup needed). Blobs
        are sent with state_flags 0, as QEMU does after reading them DECRYPTED; swtpm recognises
        migration-key encryption from the blob itself. A target without the source's migration
        key fails with TPM_KEYNOTFOUND, a different key with TPM_DECRYPT_ERROR
        (:class:`ControlCommandError`, swtpm's reason in the log tail).
        """
        self.cmd_stop()
        for blob_type in PtmBlobType:
            data = blobs.get(blob_type)
            if data:
                self.cmd_set_stateblob(blob_type, data)
        self.cmd_init(PTM_INIT_FLAG_DELETE_VOLATILE)
        self._established = None

    # -- Backend protocol --------------------------------------------------------------------
    @property
    def version(self) -> TpmVersion:
        """The probed family (TPM2_ReadClock, then TPM_GetTicks); UNSPEC until started."""
        return self._version if self._version is not None else TpmVersion.UNSPEC

    def get_buffer_size(self) -> int:
        """QEMU's ``tpm_emulator_get_buffer_size``: STOP, then SET_BUFFERSIZE(0). Stops the TPM!"""
        self._check_usable()
        self.cmd_stop()
        return self.cmd_set_buffersize(0).size

    def startup(self, buffer_size: int) -> None:
        """QEMU's reset-time ``tpm_emulator_startup_tpm``: STOP, SET_BUFFERSIZE(size), INIT(0).

        swtpm clamps the size into its [min, max] range; :attr:`buffer_size` holds what it uses.
        """
        self._check_usable()
        self.cmd_stop()
        self.buffer_size = self.cmd_set_buffersize(buffer_size).size
        self.cmd_init(0)
        self._startup_size = buffer_size

    def transmit(self, command: bytes, locality: int) -> bytes:
        """Send one TPM command on the data channel and return the whole response.

        CMD_SET_LOCALITY goes first only if ``locality`` differs from the last one sent.
        """
        if self._failure is not None or self._ctrl is None or self._data is None:  # _check_usable raises
            self._check_usable()
        if locality != self._last_locality:
            self.cmd_set_locality(locality)
        return self._transact(command)

    def _transact(self, command: bytes) -> bytes:
        """Raw data-channel round trip: one write, then read until the header's size arrived.

        The hot path of every TPM command: the socket keeps ``timeout`` as its per-operation
        timeout (set once) and the header is read with a precompiled struct; measured at ~1.1x
        a bare socket round trip.
        """
        sock = self._data
        assert sock is not None
        try:
            sock.sendall(command)
            response = sock.recv(_RECV_CHUNK)  # swtpm writes a response in one piece
            if len(response) < TPM_HEADER_SIZE:
                if not response:
                    raise EOFError("peer closed the connection")
                response += _recv_exact(sock, TPM_HEADER_SIZE - len(response), time.monotonic() + self.timeout)
            size = TPM_HEADER_STRUCT.unpack_from(response)[1]
            if len(response) < size <= MAX_RESPONSE_SIZE:
                response += _recv_exact(sock, size - len(response), time.monotonic() + self.timeout)
        except (OSError, EOFError) as exc:
            raise self._fail(f"swtpm data channel: {exc}", exc) from None
        if len(response) == size:  # well framed (the rule, and its error messages: check_response_frame)
            return response
        try:
            return check_response_frame(response)
        except BackendError as exc:
            raise self._fail(f"swtpm data channel: {exc.reason}") from None

    def cancel(self) -> None:
        """CMD_CANCEL_TPM_CMD if swtpm has PTM_CAP_CANCEL_TPM_CMD (else nothing, like QEMU).

        A non-zero result is only logged by QEMU, so it is ignored here; a dead channel raises.
        """
        if PtmCap.CANCEL_TPM_CMD in self.capabilities:
            self.exchange(PtmCmd.CANCEL_TPM_CMD)

    def get_established(self) -> bool:
        """tpmEstablished, queried once and cached until :meth:`reset_established` (QEMU).

        A non-zero result (TPM not running) reads as False and is not cached, as in QEMU.
        """
        if self._established is None:
            self._check_usable()
            reply = self.exchange(PtmCmd.GET_TPMESTABLISHED)
            if reply.result != 0:
                return False
            self._established = bool(reply.fields.bit)
        return self._established

    def reset_established(self, locality: int) -> None:
        """CMD_RESET_TPMESTABLISHED as ``locality`` (TPM 2 only; a TPM 1.2 backend ignores it)."""
        if self.version != TpmVersion.TPM_2_0:
            return
        self._check_usable()
        self.cmd_reset_tpmestablished(locality)
        self._established = None

    @property
    def data_socket(self) -> socket.socket | None:
        """The raw data channel, for benchmarks that compare against a bare socket round trip.

        Bypasses locality, failure tracking and framing checks: never interleave with
        :meth:`transmit` mid-command.
        """
        return self._data

    @property
    def last_locality(self) -> int:
        """The cached locality of the last CMD_SET_LOCALITY (0xFF before the first)."""
        return self._last_locality
