"""One shape for every external program ppikit runs (iasl, acpiexec, swtpm).

Why one shape: a firmware test suite runs thousands of these, and a single leaked swtpm or a hung
acpiexec turns a red test into a hung CI. So every program is started without a shell, in its own
process group, with its output captured to a log file, waited for with a deadline, and killed with its
whole group on exit -- also when the caller's test fails or is interrupted.

* :func:`require_tool` finds a program or raises :class:`ToolMissingError` naming the Debian package.
* :func:`run_tool` runs a one-shot program with a timeout.
* :class:`ManagedProcess` is the context manager for long-running ones: start, wait for readiness,
  raise with command line and log tail on failure, always clean up.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

from ppikit.errors import ToolError, ToolMissingError

#: Debian package that provides each external program ppikit uses.
TOOL_PACKAGES: dict[str, str] = {
    "iasl": "acpica-tools",
    "acpiexec": "acpica-tools",
    "acpixtract": "acpica-tools",
    "swtpm": "swtpm",
    "swtpm_setup": "swtpm-tools",
    "stdbuf": "coreutils",
}


def require_tool(name: str) -> str:
    """Return the absolute path of ``name`` or raise naming the package that provides it."""
    path = shutil.which(name)
    if path is None:
        package = TOOL_PACKAGES.get(name, name)
        raise ToolMissingError(
            f"{name} not found on PATH; install the Debian package '{package}' (apt-get install {package})",
            argv=[name],
        )
    return path


def run_tool(
    argv: Sequence[str],
    *,
    timeout: float,
    cwd: str | os.PathLike[str] | None = None,
    input: bytes | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    """Run a one-shot program without a shell; raise :class:`ToolError` on timeout or non-zero exit."""
    argv = [require_tool(argv[0]), *argv[1:]]
    try:
        proc = subprocess.run(
            argv,
            cwd=cwd,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            start_new_session=True,
        )
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"") + (exc.stderr or b"")
        raise ToolError(f"{Path(argv[0]).name} timed out after {timeout:g} s", argv=argv,
                        log=out.decode(errors="replace")) from None
    if check and proc.returncode != 0:
        raise ToolError(
            f"{Path(argv[0]).name} exited with status {proc.returncode}",
            argv=argv,
            log=(proc.stdout + proc.stderr).decode(errors="replace"),
        )
    return proc


class ManagedProcess:
    """A long-running program supervised for the length of a ``with`` block.

    ``ready`` is polled until it returns true or ``ready_timeout`` passes; it may raise. The process
    gets a private working directory (``workdir``) that is removed on exit unless ``keep_workdir``.
    Its stdout and stderr go to ``workdir/<name>.log``, available through :meth:`log_tail`.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        ready: Callable[[ManagedProcess], bool] | None = None,
        ready_timeout: float = 10.0,
        workdir: str | os.PathLike[str] | None = None,
        keep_workdir: bool = False,
        stdin: int | None = subprocess.DEVNULL,
        stdout_pipe: bool = False,
        pass_fds: Sequence[int] = (),
    ) -> None:
        self.name = Path(argv[0]).name
        self.argv = list(argv)
        self._ready = ready
        self._ready_timeout = ready_timeout
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir is not None else None
        self._keep_workdir = keep_workdir
        self._stdin = stdin
        self._stdout_pipe = stdout_pipe
        self._pass_fds = tuple(pass_fds)
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_file = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> ManagedProcess:
        """Start the program and wait until it is ready; on any failure clean up and raise."""
        self.argv[0] = require_tool(self.argv[0])
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix=f"ppikit-{self.name}-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / f"{self.name}.log"
        self._log_file = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=self._stdin,
                stdout=subprocess.PIPE if self._stdout_pipe else self._log_file,
                stderr=self._log_file,
                start_new_session=True,
                pass_fds=self._pass_fds,
                cwd=self.workdir,
            )
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        if self._ready is None:
            return
        deadline = time.monotonic() + self._ready_timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if not self.alive():
                raise self.error(f"{self.name} exited with status {self.proc.returncode} before it was ready")
            try:
                if self._ready(self):
                    return
            except (OSError, ToolError) as exc:  # not ready yet
                last_error = exc
            time.sleep(0.01)
        detail = f" ({last_error})" if last_error else ""
        raise self.error(f"{self.name} not ready after {self._ready_timeout:g} s{detail}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, grace: float = 2.0) -> None:
        """Terminate the process group, escalate to SIGKILL, close the log, remove the workdir."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    proc.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        if proc is not None:
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    try:
                        stream.close()
                    except BrokenPipeError:  # stdin still held bytes the dead process never read;
                        pass  # the close flushes them first, and closes the pipe even though that fails
            try:
                proc.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                pass
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self._own_workdir and not self._keep_workdir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # -- diagnostics -----------------------------------------------------------------------
    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except (AttributeError, OSError):
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def error(self, message: str) -> ToolError:
        """A :class:`ToolError` for this process carrying its command line and log tail."""
        return ToolError(message, argv=self.argv, log=self.log_tail())

    def __enter__(self) -> ManagedProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
