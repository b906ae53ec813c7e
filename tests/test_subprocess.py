"""ManagedProcess clean-up: stopping never raises, whatever state the child left its pipes in."""

from __future__ import annotations

import os
import signal
import subprocess

from ppikit._subprocess import ManagedProcess


def test_stop_after_the_child_died_with_unread_bytes_in_its_stdin_buffer() -> None:
    # what a killed acpiexec leaves behind: a request written into the buffer of its stdin pipe,
    # the flush failing with EPIPE -- stop() flushes again on close and must not raise
    process = ManagedProcess(["sleep", "30"], stdin=subprocess.PIPE).start()
    assert process.proc is not None and process.proc.stdin is not None
    os.killpg(process.proc.pid, signal.SIGKILL)
    process.proc.wait(timeout=5)
    process.proc.stdin.write(b"load t002.aml\n")  # buffered: nothing reaches the dead pipe yet
    process.stop(grace=0.5)
    assert process.proc.stdin.closed
    assert not process.alive()
