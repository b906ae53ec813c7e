"""Suite-wide settings and fixtures: a CI hypothesis profile that never uses deadlines
(subprocess-bound tests would be flaky with them) and prints reproduction blobs; one real swtpm per
test that asks for one."""

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from ppikit.device.backends.swtpm import SwtpmBackend
from ppikit.tpm.version import TpmVersion

# tests/ on sys.path for the suite's helper modules (process_support); pytest puts a test's own
# folder there only for that folder's modules.
sys.path.insert(0, str(Path(__file__).parent))

settings.register_profile(
    "ppikit",
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("ppikit")


@pytest.fixture
def swtpm_tpm2() -> Iterator[SwtpmBackend]:
    """A real TPM 2.0 swtpm (started, not yet initialised: a device reset does that)."""
    with SwtpmBackend(TpmVersion.TPM_2_0) as backend:
        yield backend


@pytest.fixture
def swtpm_tpm12() -> Iterator[SwtpmBackend]:
    """A real TPM 1.2 swtpm (started, not yet initialised)."""
    with SwtpmBackend(TpmVersion.TPM_1_2) as backend:
        yield backend
