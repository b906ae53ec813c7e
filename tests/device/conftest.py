"""Fixtures for the TIS/CRB register-model and driver tests: devices in front of QEMU's qtest fake
swtpm (``device_model_support.QtestEmulator``) for register tests, and a real swtpm per test
(``swtpm_tpm2`` / ``swtpm_tpm12`` from tests/conftest.py) for round trips."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# pytest imports this conftest before it puts this folder on sys.path for the test modules, so
# the shared support module is made importable here, for the conftest and the tests alike.
sys.path.insert(0, str(Path(__file__).parent))
from device_model_support import CrbHarness, QtestEmulator, TisHarness  # noqa: E402

from ppikit.device.crb import CrbDevice
from ppikit.device.tis import TisDevice
from ppikit.tpm.version import TpmVersion


@pytest.fixture
def tis2() -> TisHarness:
    """TIS in front of a TPM 2.0 qtest emulator, just reset."""
    backend = QtestEmulator()
    return TisHarness(TisDevice(backend), backend)


@pytest.fixture
def tis12() -> TisHarness:
    """TIS in front of a TPM 1.2 qtest emulator, just reset."""
    backend = QtestEmulator(version=TpmVersion.TPM_1_2)
    return TisHarness(TisDevice(backend), backend)


@pytest.fixture
def crb() -> CrbHarness:
    """CRB in front of a TPM 2.0 qtest emulator, just reset."""
    backend = QtestEmulator()
    return CrbHarness(CrbDevice(backend), backend)
