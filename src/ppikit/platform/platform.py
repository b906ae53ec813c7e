"""``Platform``: one simulated machine with a TPM, wired the way QEMU 7.2 wires it.

Why one object: the point of ppikit is to follow a PPI request across component boundaries -- OS
``_DSM`` call, PPI page, reboot, firmware, TIS/CRB MMIO, TPM -- and each boundary is where real
platforms go wrong. ``Platform`` owns exactly one of each part:

* guest memory with the PPI page at the address fw_cfg announces,
* the fw_cfg device with ``etc/tpm/config`` (only when PPI is on, as QEMU) and ``etc/tpm/log``,
* a TIS or CRB device with its backend (swtpm by default; its state survives reboots),
* the generated SSDT loaded into a warm acpiexec session -- the OS's view of ACPI,
* a firmware model and its non-volatile variables.

``reboot()`` does what QEMU's machine reset does for the TPM (MOR memory clear if ``movv`` bit 0 is
set, then the device reset, which restarts the backend with QEMU's STOP/SET_BUFFERSIZE/INIT) and
then boots the firmware, again and again while the firmware asks for a reset.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ppikit.aml.params import Interface, Profile, SsdtParams
from ppikit.aml.render import build_scope_dsdt, build_ssdt
from ppikit.aml.runtime import AcpiRuntime
from ppikit.device.backends.base import Backend
from ppikit.device.backends.swtpm import SwtpmBackend
from ppikit.device.crb import CrbDevice
from ppikit.device.drivers import CrbDriver, TisDriver
from ppikit.device.tis import TisDevice
from ppikit.errors import PpikitError, UsageError
from ppikit.fwcfg.device import FwCfgDevice
from ppikit.fwcfg.tpm_config import TPM_CONFIG_FILE, TPM_LOG_FILE, TpmConfig
from ppikit.platform.memory import GuestMemory
from ppikit.ppi.firmware import FIRMWARE_MODELS
from ppikit.ppi.firmware.base import BootContext, BootOutcome, ConfirmPolicy, Firmware, Timeline, accept
from ppikit.ppi.page import TPM_PPI_ADDR_BASE, PpiPage
from ppikit.tpm.version import TpmVersion

if TYPE_CHECKING:
    from ppikit.platform.snapshot_format import Snapshot

#: QEMU's TPM log blob: 64 KiB of zeros (TPM_LOG_AREA_MINIMUM_SIZE).
TPM_LOG_AREA_MINIMUM_SIZE = 0x10000
#: A firmware that keeps asking for resets is a bug; stop after this many in one reboot().
MAX_RESETS_PER_REBOOT = 4
#: Default firmware model per TPM family.
DEFAULT_FIRMWARE = {TpmVersion.TPM_2_0: "ovmf", TpmVersion.TPM_1_2: "edk2-tpm12"}


class PlatformError(PpikitError):
    """The simulated platform cannot do what was asked (e.g. a firmware reset loop)."""


@dataclass(frozen=True)
class PlatformConfig:
    """What machine to simulate. Defaults: QEMU's TIS + TPM 2.0 + PPI, OVMF, qemu-profile AML."""

    interface: Interface = Interface.TIS
    tpm: TpmVersion = TpmVersion.TPM_2_0
    firmware: str | None = None  #: None: ``ovmf`` for TPM 2.0, ``edk2-tpm12`` for TPM 1.2
    profile: Profile = Profile.QEMU
    ppi: bool = True
    ppi_address: int = TPM_PPI_ADDR_BASE
    ram_size: int = 0x10000  #: guest RAM ppikit models (what a MOR reset clears)
    state_dir: Path | None = None  #: swtpm state directory to persist; None: temporary
    swtpm_args: tuple[str, ...] = ()  #: extra swtpm arguments (e.g. a migration key)

    @classmethod
    def create(cls, *, interface: str | Interface = "tis", tpm: str | TpmVersion = TpmVersion.TPM_2_0,
               firmware: str | None = None, profile: str | Profile = "qemu", **kwargs: Any) -> PlatformConfig:
        """Build from user spellings ("tis", "2.0", "ovmf", "qemu"), validating everything."""
        try:
            iface = Interface(interface)
        except ValueError:
            raise UsageError(f"unknown interface {interface!r} (expected tis or crb)") from None
        try:
            prof = Profile(profile)
        except ValueError:
            raise UsageError(f"unknown profile {profile!r} (expected qemu or strict)") from None
        version = tpm if isinstance(tpm, TpmVersion) else TpmVersion.from_label(str(tpm))
        config = cls(iface, version, firmware, prof, **kwargs)
        config.validate()
        return config

    @property
    def firmware_name(self) -> str:
        return self.firmware or DEFAULT_FIRMWARE[self.tpm]

    def ssdt_params(self) -> SsdtParams:
        return SsdtParams.create(interface=self.interface, tpm=self.tpm, ppi=self.ppi, profile=self.profile,
                                 ppi_address=self.ppi_address)

    def validate(self) -> None:
        if self.tpm not in DEFAULT_FIRMWARE:
            raise UsageError("the platform needs a TPM 1.2 or 2.0")
        if self.interface is Interface.CRB and self.tpm != TpmVersion.TPM_2_0:
            raise UsageError("CRB is a TPM 2.0 interface (QEMU's tpm-crb has no TPM 1.2 mode)")
        if self.firmware_name not in FIRMWARE_MODELS:
            raise UsageError(f"unknown firmware {self.firmware_name!r} (known: {', '.join(FIRMWARE_MODELS)})")
        self.ssdt_params()


@dataclass
class BootRecord:
    """One reboot() and the firmware boots it took."""

    reason: str
    outcomes: list[BootOutcome] = field(default_factory=list)


class Platform:
    """A simulated machine; a context manager that owns its swtpm and acpiexec processes."""

    def __init__(self, config: PlatformConfig | None = None, *, confirm: ConfirmPolicy = accept,
                 backend: Backend | None = None, timeline: Timeline | None = None) -> None:
        self.config = config or PlatformConfig()
        self.config.validate()
        self.confirm = confirm
        self.timeline = timeline if timeline is not None else Timeline()
        self.firmware: Firmware = FIRMWARE_MODELS[self.config.firmware_name]()
        self.nv: dict[str, Any] = {}
        self.boot_count = 0
        self.memory = GuestMemory.with_ppi(self.config.ppi_address, ram_size=self.config.ram_size)
        self.fwcfg = self._make_fwcfg()
        self._given_backend = backend
        self.backend: Backend | None = backend
        self.device: TisDevice | CrbDevice | None = None
        self.driver: TisDriver | CrbDriver | None = None
        self.acpi: AcpiRuntime | None = None
        self.tables: list[bytes] = []
        self._stack = contextlib.ExitStack()

    # -- construction ----------------------------------------------------------------------
    def _make_fwcfg(self) -> FwCfgDevice:
        fwcfg = FwCfgDevice()
        fwcfg.add_file(TPM_LOG_FILE, bytes(TPM_LOG_AREA_MINIMUM_SIZE))
        if self.config.ppi:
            fwcfg.add_file(TPM_CONFIG_FILE, TpmConfig(self.config.ppi_address, self.config.tpm).build())
        return fwcfg

    def start(self) -> Platform:
        """Start swtpm (unless a backend was given) and acpiexec, and build the device."""
        try:
            if self.backend is None:
                swtpm = SwtpmBackend(self.config.tpm, state_dir=self.config.state_dir,
                                     extra_args=self.config.swtpm_args)
                self.backend = self._stack.enter_context(swtpm)
            if self.config.interface is Interface.TIS:
                self.device = TisDevice(self.backend)
                self.driver = TisDriver(self.device)
            else:
                self.device = CrbDevice(self.backend)
                self.driver = CrbDriver(self.device)
            params = self.config.ssdt_params()
            self.tables = [build_scope_dsdt(params), build_ssdt(params)]
            self.acpi = self._stack.enter_context(AcpiRuntime(self.tables))
            self.timeline.add("platform", f"SSDT compiled by iasl ({len(self.tables[1])} bytes: {params.config_name}) "
                                          "and loaded into acpiexec as the OS's ACPI")
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Stop acpiexec and (if ppikit started it) swtpm. Safe to call twice."""
        self._stack.close()

    def __enter__(self) -> Platform:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- the PPI page ----------------------------------------------------------------------
    @property
    def page(self) -> PpiPage:
        """The PPI page as firmware and OS currently see it."""
        return self.memory.ppi_page()

    @page.setter
    def page(self, page: PpiPage) -> None:
        self.memory.store_ppi_page(page)

    @contextlib.contextmanager
    def os_session(self) -> Iterator[AcpiRuntime]:
        """The OS is running: acpiexec sees the page; whatever the AML writes comes back after."""
        acpi = self._require(self.acpi, "acpiexec")
        region = self.memory.ppi_region
        with acpi.mirror(self.config.ppi_address, bytes(region.data)) as mirror:
            try:
                yield acpi
            finally:
                if mirror.batches:  # the page travels with the OS's own _DSM batches
                    region.data[:] = mirror.data

    # -- power and reset -------------------------------------------------------------------
    def power_on(self) -> BootRecord:
        """Cold boot from power-off: device reset, then firmware until it hands over to the OS."""
        return self._boot("power on")

    def reboot(self) -> BootRecord:
        """A guest-initiated reset, as after Linux's ``transition_action`` "2: Reboot"."""
        return self._boot("reboot")

    def _machine_reset(self) -> None:
        """QEMU's machine reset as far as ppikit models it: fw_cfg selects its signature entry,
        tpm_ppi_reset (MOR), then the TPM device/backend reset."""
        self.fwcfg.reset()
        if self.config.ppi and self.page.movv & 1:
            cleared = self.memory.clear_for_memory_overwrite()
            self.timeline.add("platform", f"memory overwrite requested (movv bit 0): cleared {cleared} bytes "
                                          "of guest RAM, PPI page kept", cleared=cleared)
        device = self._require(self.device, "TPM device")
        device.reset()

    def _boot(self, reason: str) -> BootRecord:
        record = BootRecord(reason)
        self.timeline.add("platform", reason)
        for _ in range(MAX_RESETS_PER_REBOOT + 1):
            self._machine_reset()
            self.boot_count += 1
            ctx = BootContext(self.fwcfg, self.memory, self._require(self.driver, "driver").transmit, self.nv,
                              self.confirm, self.timeline, self.boot_count)
            outcome = self.firmware.boot(ctx)
            record.outcomes.append(outcome)
            if not outcome.reset_requested:
                self.timeline.add("firmware", "boot continues to the OS")
                return record
            self.timeline.add("platform", f"firmware requested a reset{': ' + outcome.reason if outcome.reason else ''}")
        raise PlatformError(f"firmware {self.firmware.name} requested {MAX_RESETS_PER_REBOOT + 1} resets in a row")

    def tpm_transmit(self, command: bytes) -> bytes:
        """Send a TPM command through the device as the OS's driver would (locality 0)."""
        return self._require(self.driver, "driver").transmit(command)

    # -- snapshots (ppikit.platform.snapshot) ---------------------------------------------------
    def save(self, path: str | os.PathLike[str] | None = None) -> Snapshot:
        """Snapshot the running platform (swtpm state blobs, registers, memory, fw_cfg, NV), QEMU
        pre_save style; also written to ``path`` if given. The platform keeps running."""
        from ppikit.platform import snapshot

        taken = snapshot.take(self)
        if path is not None:
            taken.write(path)
        return taken

    def restore(self, source: Snapshot | bytes | str | os.PathLike[str]) -> Snapshot:
        """Continue from a snapshot (object, bytes or file), QEMU post_load style; all-or-nothing
        (:class:`~ppikit.platform.snapshot_format.SnapshotError`, this platform unchanged)."""
        from ppikit.platform import snapshot

        loaded = snapshot.load(source)
        snapshot.restore_into(self, loaded)
        return loaded

    @staticmethod
    def _require(value: Any, what: str) -> Any:
        if value is None:
            raise PlatformError(f"the platform is not started ({what} missing): use it as a context manager")
        return value

