"""Shared fixtures for tests/ppi (append-only: add yours below, do not change others').

Firmware-model tests (helper E): a minimal machine -- fw_cfg with ``etc/tpm/config``, guest memory
with the PPI page, a real swtpm reached through the firmware transport, firmware NV variables --
and the same boot loop the platform runs: machine reset (swtpm STOP/SET_BUFFERSIZE/INIT), then
``firmware.boot(ctx)``, again while the firmware asks for a reset.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ppikit.device.backends.swtpm import SwtpmBackend
from ppikit.device.crb import CrbDevice
from ppikit.device.drivers import CrbDriver, TisDriver
from ppikit.device.tis import TisDevice
from ppikit.fwcfg.device import FwCfgDevice
from ppikit.fwcfg.tpm_config import TPM_CONFIG_FILE, TpmConfig
from ppikit.platform.memory import GuestMemory
from ppikit.ppi.firmware.base import BootContext, BootOutcome, ConfirmPolicy, Firmware, Timeline, accept
from ppikit.ppi.page import TPM_PPI_ADDR_BASE, TPM_PPI_ADDR_SIZE, PpiPage
from ppikit.tpm.client import Tpm2Client, Tpm12Client, backend_transport


@dataclass
class FirmwareMachine:
    """Just enough machine to boot a firmware model against a real swtpm.

    The firmware reaches the TPM the way OVMF does: a TIS (or CRB) driver doing MMIO on QEMU's
    TIS/CRB register model in front of the swtpm. The test's own inspection commands
    (:attr:`tpm2`, :attr:`tpm12`) go straight to the backend, between boots.
    """

    backend: SwtpmBackend
    interface: str = "tis"
    fwcfg: FwCfgDevice = field(default_factory=FwCfgDevice)
    memory: GuestMemory = field(default_factory=lambda: GuestMemory.with_ppi(TPM_PPI_ADDR_BASE))
    ppi_address: int = TPM_PPI_ADDR_BASE
    nv: dict[str, Any] = field(default_factory=dict)
    timeline: Timeline = field(default_factory=Timeline)
    boots: int = 0

    def __post_init__(self) -> None:
        self.fwcfg.add_file(TPM_CONFIG_FILE, TpmConfig(self.ppi_address, self.backend.version).build())
        self.device: TisDevice | CrbDevice = (TisDevice if self.interface == "tis" else CrbDevice)(self.backend)
        self.driver: TisDriver | CrbDriver = (TisDriver if self.interface == "tis" else CrbDriver)(self.device)

    # -- the TPM as firmware and as the test see it --------------------------------------------
    def transmit(self, command: bytes) -> bytes:
        """The firmware's transport: the TIS/CRB driver, MMIO only."""
        return self.driver.transmit(command)

    @property
    def tpm2(self) -> Tpm2Client:
        return Tpm2Client(backend_transport(self.backend))

    @property
    def tpm12(self) -> Tpm12Client:
        return Tpm12Client(backend_transport(self.backend))

    # -- the page ---------------------------------------------------------------------------------
    @property
    def page(self) -> PpiPage:
        return PpiPage.parse(self.memory.read(self.ppi_address, TPM_PPI_ADDR_SIZE))

    def raw_page(self) -> bytes:
        return self.memory.read(self.ppi_address, TPM_PPI_ADDR_SIZE)

    def request(self, op: int, param: int = 0) -> None:
        """What the ``_DSM`` fn 7 does: store pprq (and pprm) -- into a page an earlier boot
        initialised (ppin 1), as in the observed OVMF runs; a blank page gets ppin 1 too, which
        saves a boot (write the page directly to test a request in an uninitialised page)."""
        page = self.page
        page.ppin, page.pprq, page.pprm = 1, op, param
        self.memory.write(self.ppi_address, page.build())

    # -- booting ---------------------------------------------------------------------------------
    def boot(self, firmware: Firmware, confirm: ConfirmPolicy = accept) -> BootOutcome:
        """Machine reset (QEMU's TIS/CRB reset: STOP, SET_BUFFERSIZE, INIT), then one firmware boot.

        The device's construction was the power-on reset, so the first boot skips it."""
        if self.boots:
            self.device.reset()
        self.boots += 1
        ctx = BootContext(self.fwcfg, self.memory, self.transmit, self.nv, confirm, self.timeline, self.boots)
        return firmware.boot(ctx)

    def run(self, firmware: Firmware, confirm: ConfirmPolicy = accept, max_boots: int = 4) -> list[BootOutcome]:
        """Boot until the firmware hands over to the OS; every outcome, in order."""
        outcomes = [self.boot(firmware, confirm)]
        while outcomes[-1].reset_requested:
            assert len(outcomes) < max_boots, f"firmware kept resetting: {outcomes}"
            outcomes.append(self.boot(firmware, confirm))
        return outcomes


@pytest.fixture
def machine2(swtpm_tpm2: SwtpmBackend) -> FirmwareMachine:
    """A TPM 2.0 machine, PPI page at QEMU's address, nothing booted yet."""
    return FirmwareMachine(swtpm_tpm2)


@pytest.fixture
def machine12(swtpm_tpm12: SwtpmBackend) -> FirmwareMachine:
    """A TPM 1.2 machine, PPI page at QEMU's address, nothing booted yet."""
    return FirmwareMachine(swtpm_tpm12)


@pytest.fixture
def make_machine() -> type[FirmwareMachine]:
    """The machine class, for tests that need their own fw_cfg, memory map or PPI address."""
    return FirmwareMachine


@pytest.fixture(params=["tis", "crb"])
def machine2_iface(request: pytest.FixtureRequest, swtpm_tpm2: SwtpmBackend) -> FirmwareMachine:
    """A TPM 2.0 machine behind TIS and, as a second case, behind CRB."""
    return FirmwareMachine(swtpm_tpm2, interface=request.param)


# tests/ppi on sys.path for this folder's helper modules (ovmf_observed_support), as tests/device does.
sys.path.insert(0, str(Path(__file__).parent))
