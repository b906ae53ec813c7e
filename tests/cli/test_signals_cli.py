"""SIGTERM / SIGHUP to the ``ppikit`` CLI: it unwinds, so its subprocesses and temp dirs go too.

A CI runner or ``timeout`` sends SIGTERM; Python's default action would exit on the spot and leave
acpiexec running and ppikit's temporary directories behind.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ppikit.aml.golden import default_root
from ppikit.aml.iasl import compile_asl
from process_support import children_named, process_running


@pytest.fixture(scope="module")
def sleeping_ssdt(tmp_path_factory) -> Path:
    """ppikit's qemu-profile SSDT whose PPI fn 1 sleeps 65 s before answering."""
    dsl = (default_root() / "tis-tpm2-ppi-qemu" / "ssdt.dsl").read_text()
    assert dsl.count('Return ("1.3")') == 1
    asl = dsl.replace('Return ("1.3")', 'Sleep (0xFFFF)\n Return ("1.3")')
    path = tmp_path_factory.mktemp("sleeping") / "sleeping.aml"
    path.write_bytes(compile_asl(asl, name="sleeping.asl"))
    return path


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_signal_stops_acpiexec_and_removes_temp_dirs(sleeping_ssdt, tmp_path, signum):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "ppikit", "dsm", str(sleeping_ssdt), "1"],
                            env={**os.environ, "TMPDIR": str(tmp)}, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not (acpiexec := children_named(proc.pid, "acpiexec")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert acpiexec, "acpiexec never started"
        assert any(tmp.iterdir())  # the session's files are there while it runs
        time.sleep(0.5)  # the _DSM call is in flight
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signum
    assert err == f"ppikit: terminated by {signal.Signals(signum).name}\n"
    assert out == ""
    assert [pid for pid in acpiexec if process_running(pid)] == []
    assert sorted(p.name for p in tmp.iterdir()) == []
