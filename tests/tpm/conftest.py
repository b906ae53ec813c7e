"""A powered-on TPM per test: swtpm, QEMU's reset sequence, then TPM2_Startup / TPM_Startup."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ppikit.device.backends.swtpm import SwtpmBackend
from ppikit.tpm.client import Tpm2Client, Tpm12Client, backend_transport, client_for
from ppikit.tpm.version import TpmVersion


def _powered_on(version: TpmVersion) -> Iterator[tuple[SwtpmBackend, Tpm2Client | Tpm12Client]]:
    with SwtpmBackend(version) as backend:
        backend.startup(backend.get_buffer_size())
        client = client_for(backend_transport(backend), backend.version)
        client.startup()
        yield backend, client


@pytest.fixture
def tpm2() -> Iterator[tuple[SwtpmBackend, Tpm2Client]]:
    yield from _powered_on(TpmVersion.TPM_2_0)  # type: ignore[misc]


@pytest.fixture
def tpm12() -> Iterator[tuple[SwtpmBackend, Tpm12Client]]:
    yield from _powered_on(TpmVersion.TPM_1_2)  # type: ignore[misc]
