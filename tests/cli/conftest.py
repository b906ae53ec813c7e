"""Run the installed ``ppikit`` CLI as a user would: a real process, real exit status, real stderr."""

import re
import subprocess
import sys

import pytest


class CliResult:
    def __init__(self, proc):
        self.code = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    def assert_one_line_error(self, pattern):
        """The CLI contract for bad input: exit 2, one line on stderr, no traceback."""
        assert self.code == 2, (self.code, self.out, self.err)
        lines = self.err.splitlines()
        assert len(lines) == 1, self.err
        assert "Traceback" not in self.err
        assert re.search(pattern, lines[0]), lines[0]


@pytest.fixture
def ppikit(tmp_path):
    def run(*args, timeout=120):
        proc = subprocess.run([sys.executable, "-m", "ppikit", *map(str, args)], cwd=tmp_path,
                              capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        return CliResult(proc)

    return run

