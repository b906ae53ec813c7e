"""The passthrough backend: a host TPM character device, QEMU ``tpm_passthrough.c`` semantics.

Why QEMU's semantics and not a robust client: one ``write()`` of the command and one ``read()`` of
the response, accepted only if it is at least 10 bytes and exactly the header's size -- that is
what a guest behind ``-tpmdev passthrough`` gets, including on kernels or devices that split
responses. Established flag always false, no reset-established, cancel by writing ``-`` to the
sysfs ``cancel`` file only while a command runs (so a shared host TPM never cancels someone
else's command), buffer size from the TPM's own properties.

Without a host TPM, :func:`swtpm_chardev` runs ``swtpm chardev --fd N`` on one end of a
socketpair and hands the other end to a :class:`PassthroughBackend` -- the same code path.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType

import construct as cs

from ppikit._subprocess import ManagedProcess
from ppikit.device.backends.base import BackendError
from ppikit.device.backends.probe import check_response_frame, probe_version
from ppikit.errors import UsageError
from ppikit.tpm import tpm2, tpm12
from ppikit.tpm.command import build_command
from ppikit.tpm.header import TPM_HEADER
from ppikit.tpm.version import TpmVersion

#: QEMU's fallback when the TPM does not report its buffer size (``tpm_util_get_buffer_size``).
DEFAULT_BUFFER_SIZE = 4096
_READ_SIZE = 65536


def sysfs_cancel_path(device: str | os.PathLike[str]) -> Path | None:
    """QEMU's lookup: /sys/class/tpm/<dev>/device/cancel, then /sys/class/misc/<dev>/device/cancel."""
    name = Path(device).name
    for base in ("/sys/class/tpm", "/sys/class/misc"):
        candidate = Path(base) / name / "device" / "cancel"
        if candidate.exists():
            return candidate
    return None


class PassthroughBackend:
    """A host TPM (``/dev/tpm0``) or any open file descriptor that speaks raw TPM commands.

    :param device: character device path, opened read/write (None when ``fd`` is given).
    :param fd: an already open descriptor; ppikit closes it on :meth:`close` only if ``own_fd``.
    :param cancel_path: file to write ``-`` to for cancel; default: the sysfs file of ``device``.
        Without one, :meth:`cancel` does nothing (QEMU refuses to start instead).
    :param timeout: seconds to wait for a response (QEMU blocks forever on a real device).
    """

    def __init__(self, device: str | os.PathLike[str] | None = None, *, fd: int | None = None,
                 own_fd: bool = False, cancel_path: str | os.PathLike[str] | None = None,
                 timeout: float = 10.0) -> None:
        if (device is None) == (fd is None):
            raise UsageError("PassthroughBackend needs exactly one of a device path or an fd")
        self.device = Path(device) if device is not None else None
        self._fd = fd
        self._own_fd = own_fd or device is not None
        if cancel_path is not None:
            self.cancel_path: Path | None = Path(cancel_path)
        else:
            self.cancel_path = sysfs_cancel_path(device) if device is not None else None
        self.timeout = timeout
        self._version: TpmVersion | None = None
        self._tpm_buffer_size: int | None = None
        self._executing = threading.Event()

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> PassthroughBackend:
        """Open the device and probe the family (TPM2_ReadClock, then TPM_GetTicks)."""
        if self.device is not None and self._fd is None:
            try:
                self._fd = os.open(self.device, os.O_RDWR)
            except OSError as exc:
                raise BackendError(f"cannot open TPM device {self.device}: {exc.strerror}") from None
        self._version = probe_version(self._transact)
        return self

    def close(self) -> None:
        if self._fd is not None and self._own_fd:
            os.close(self._fd)
        self._fd = None

    def __enter__(self) -> PassthroughBackend:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- I/O ---------------------------------------------------------------------------------
    def _transact(self, command: bytes) -> bytes:
        """One write, poll with timeout, one read: QEMU's ``tpm_passthrough_unix_tx_bufs``."""
        if self._fd is None:
            raise UsageError("PassthroughBackend is not started")
        where = self.device or f"fd {self._fd}"
        self._executing.set()
        try:
            written = os.write(self._fd, command)
            if written != len(command):
                raise BackendError(f"{where}: short write ({written} of {len(command)} bytes)")
            readable, _, _ = select.select([self._fd], [], [], self.timeout)
            if not readable:
                raise BackendError(f"{where}: no response within {self.timeout:g} s")
            response = os.read(self._fd, _READ_SIZE)
        except OSError as exc:
            raise BackendError(f"{where}: {exc.strerror or exc}") from None
        finally:
            self._executing.clear()
        return check_response_frame(response)

    # -- Backend protocol --------------------------------------------------------------------
    @property
    def version(self) -> TpmVersion:
        return self._version if self._version is not None else TpmVersion.UNSPEC

    def get_buffer_size(self) -> int:
        """``tpm_util_get_buffer_size``: max(TPM_PT_MAX_COMMAND_SIZE, _RESPONSE_SIZE) for TPM 2,
        TPM_CAP_PROP_INPUT_BUFFER for TPM 1.2; 4096 if the TPM does not answer in that exact shape
        (e.g. before TPM2_Startup)."""
        if self._tpm_buffer_size is None:
            self._tpm_buffer_size = self._query_buffer_size()
        return self._tpm_buffer_size

    def _query_buffer_size(self) -> int:
        if self.version == TpmVersion.TPM_2_0:
            command = build_command(tpm2.GET_CAPABILITY, capability=tpm2.TPM_CAP.TPM_PROPERTIES,
                                    property=tpm2.TPM_PT.MAX_COMMAND_SIZE, propertyCount=2)
            reply = _BUFFER_SIZE_REPLY_TPM2
        else:
            command = build_command(tpm12.GET_CAPABILITY, capArea=tpm12.TPM_CAP_PROPERTY,
                                    subCap=cs.Int32ub.build(tpm12.TPM_CAP_PROP_INPUT_BUFFER))
            reply = _BUFFER_SIZE_REPLY_TPM12
        response = self._transact(command)
        try:
            fields = reply.parse(response) if len(response) == reply.sizeof() else None
        except cs.ConstructError:
            fields = None
        if fields is None or fields.header.code != 0:
            return DEFAULT_BUFFER_SIZE
        return max(p.value for p in fields.props) if "props" in fields else fields.value

    def startup(self, buffer_size: int) -> None:
        """QEMU: fail if the interface's buffer is smaller than the host TPM's; nothing is sent."""
        if buffer_size and buffer_size < self.get_buffer_size():
            raise BackendError(f"requested buffer size of {buffer_size} is smaller than the host TPM's "
                               f"fixed buffer size of {self.get_buffer_size()}")

    def transmit(self, command: bytes, locality: int) -> bytes:
        """Send ``command``; the locality cannot be conveyed to a host TPM and is ignored (QEMU)."""
        return self._transact(command)

    def cancel(self) -> None:
        """Write ``-`` to the cancel file, only while a command is executing."""
        if self.cancel_path is None or not self._executing.is_set():
            return
        try:
            self.cancel_path.write_text("-")
        except OSError as exc:
            raise BackendError(f"cannot cancel via {self.cancel_path}: {exc.strerror}") from None

    def get_established(self) -> bool:
        """Always False: a host TPM's flag is not the guest's business (QEMU)."""
        return False

    def reset_established(self, locality: int) -> None:
        """A no-op for passthrough (QEMU)."""


#: tpm_util's accepted reply shapes: exactly 35 bytes with count 2 (TPM 2), 18 bytes (TPM 1.2).
_BUFFER_SIZE_REPLY_TPM2 = cs.Struct("header" / TPM_HEADER, "moreData" / cs.Int8ub, "capability" / cs.Int32ub,
                                    "count" / cs.Const(2, cs.Int32ub),
                                    "props" / cs.Array(2, tpm2.TPMS_TAGGED_PROPERTY))
_BUFFER_SIZE_REPLY_TPM12 = cs.Struct("header" / TPM_HEADER, "respSize" / cs.Const(4, cs.Int32ub),
                                     "value" / cs.Int32ub)


@contextlib.contextmanager
def swtpm_chardev(version: TpmVersion = TpmVersion.TPM_2_0, *, flags: Sequence[str] = ("startup-clear",),
                  state_dir: str | os.PathLike[str] | None = None, timeout: float = 10.0,
                  ) -> Iterator[PassthroughBackend]:
    """A started :class:`PassthroughBackend` talking to ``swtpm chardev --fd N`` over a socketpair.

    ``flags`` go to ``--flags`` (default ``startup-clear``: swtpm sends TPM2_Startup itself, as
    firmware would have on a host). The swtpm process and temporary state are removed on exit.
    """
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with tempfile.TemporaryDirectory(prefix="ppikit-swtpm-chardev-") as workdir:
        state = Path(state_dir) if state_dir is not None else Path(workdir) / "state"
        state.mkdir(parents=True, exist_ok=True)
        argv = ["swtpm", "chardev", "--fd", str(theirs.fileno()), "--tpmstate", f"dir={state}",
                "--log", f"file={Path(workdir) / 'swtpm.log'},level=1"]
        if version == TpmVersion.TPM_2_0:
            argv.append("--tpm2")
        if flags:
            argv += ["--flags", ",".join(flags)]
        process = ManagedProcess(argv, workdir=workdir, pass_fds=[theirs.fileno()])
        try:
            with process:
                theirs.close()
                backend = PassthroughBackend(fd=ours.fileno(), timeout=timeout)
                try:
                    yield backend.start()
                except BackendError as exc:
                    exc.log = process.log_tail()
                    raise
        finally:
            theirs.close()
            ours.close()
