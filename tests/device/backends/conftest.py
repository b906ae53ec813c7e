"""Fixtures for backend tests: one real swtpm per test, traced by swtpm itself.

At ``--log level=20`` swtpm logs every control message and data-channel message it receives and
sends, so tests can assert the exact bytes on the wire as swtpm saw them -- no proxy, no mock.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from ppikit.device.backends.swtpm import SwtpmBackend
from ppikit.tpm.version import TpmVersion

TRACE_BLOCK = re.compile(r"^ (Ctrl Cmd|Ctrl Rsp|SWTPM_IO_Read|SWTPM_IO_Write): length \d+\n((?:(?: [0-9A-F]{2})+ \n)*)",
                         re.MULTILINE)


class WireTrace:
    """Reads swtpm's log as a list of ``(kind, bytes)``; :meth:`since_mark` gives only new ones."""

    def __init__(self, backend: SwtpmBackend) -> None:
        self.backend = backend
        self._mark = 0

    def all(self) -> list[tuple[str, bytes]]:
        assert self.backend.log_path is not None
        text = self.backend.log_path.read_text()
        return [(m.group(1), bytes.fromhex(m.group(2).replace("\n", " "))) for m in TRACE_BLOCK.finditer(text)]

    def mark(self) -> None:
        self._mark = len(self.all())

    def since_mark(self, kind: str | None = None) -> list[bytes]:
        return [data for k, data in self.all()[self._mark:] if kind is None or k == kind]



@pytest.fixture
def swtpm2() -> Iterator[SwtpmBackend]:
    """A started (not yet initialised) TPM 2.0 swtpm with wire tracing on."""
    with SwtpmBackend(TpmVersion.TPM_2_0, log_level=20) as backend:
        yield backend


@pytest.fixture
def swtpm12() -> Iterator[SwtpmBackend]:
    """A started (not yet initialised) TPM 1.2 swtpm with wire tracing on."""
    with SwtpmBackend(TpmVersion.TPM_1_2, log_level=20) as backend:
        yield backend


@pytest.fixture
def trace2(swtpm2: SwtpmBackend) -> WireTrace:
    return WireTrace(swtpm2)


@pytest.fixture
def trace12(swtpm12: SwtpmBackend) -> WireTrace:
    return WireTrace(swtpm12)


@pytest.fixture
def wire_trace() -> type[WireTrace]:
    """The WireTrace class, for tests that start their own swtpm (e.g. one per hypothesis example)."""
    return WireTrace
