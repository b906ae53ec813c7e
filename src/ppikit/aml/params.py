"""What an SSDT for a TPM looks like, as one validated, immutable value.

Why a separate module: the same parameters drive the ASL templates, the TPM2/TCPA tables, the golden
corpus and the CLI. Validating them here, before anything is rendered, means a bad name or an address
that does not fit a 32-bit (revision 1) table fails with a :class:`UsageError` naming the parameter,
not with an iasl message about line 37 of generated text.

Defaults are QEMU's (``include/hw/acpi/tpm.h``): TIS/CRB MMIO at 0xFED40000 (0x5000 / 0x1000 bytes),
PPI page at 0xFED45000, TIS node under ``\\_SB.PCI0.ISA`` (QEMU 7.1 source; 7.2 names the bridge
``SF8``/``S08``), CRB node under ``\\_SB``, header ids ``"BOCHS "`` / ``"BXPC    "`` revision 1.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any

from ppikit.errors import UsageError
from ppikit.ppi.page import TPM_PPI_ADDR_BASE, TPM_PPI_ADDR_SIZE
from ppikit.tpm.version import TpmVersion

TPM_TIS_ADDR_BASE = 0xFED40000  #: QEMU TPM_TIS_ADDR_BASE
TPM_TIS_ADDR_SIZE = 0x5000  #: QEMU TPM_TIS_ADDR_SIZE: 5 localities x 4 KiB
TPM_CRB_ADDR_BASE = 0xFED40000  #: QEMU TPM_CRB_ADDR_BASE
TPM_CRB_ADDR_SIZE = 0x1000  #: QEMU TPM_CRB_ADDR_SIZE: 1 locality

PPI_DSM_UUID = "3dddfaa6-361b-4eb4-a424-8d10089d1653"  #: TCG PPI _DSM (Linux tpm_ppi_guid)
MOR_DSM_UUID = "376054ed-cc13-4675-901c-4756d7f2d45d"  #: TCG Platform Reset Attack Mitigation _DSM

#: x86 DSDT/SSDT revision 1: AML integers are 32 bits wide, as in QEMU's x86 DSDT.
ACPI_TABLE_REVISION_32BIT = 1
_UINT32_LIMIT = 1 << 32
_PAGE_4K = 0x1000

_NAMESEG = re.compile(r"^[A-Z_][A-Z0-9_]{0,3}$")
_OEM_CHARS = re.compile(r"^[\x20-\x7E]*$")


class Interface(str, Enum):
    """How the OS talks to the TPM (decides _HID/_CRS defaults and the TPM2 start method)."""

    TIS = "tis"
    CRB = "crb"


class Profile(str, Enum):
    """Which ``_DSM`` behaviour to emit: QEMU 7.2's exactly, or PPI 1.3 where QEMU cuts corners."""

    QEMU = "qemu"
    STRICT = "strict"


def _default_scope(interface: Interface) -> str:
    return "\\_SB.PCI0.ISA" if interface is Interface.TIS else "\\_SB"


def _default_mmio_size(interface: Interface) -> int:
    return TPM_TIS_ADDR_SIZE if interface is Interface.TIS else TPM_CRB_ADDR_SIZE


@dataclass(frozen=True)
class SsdtParams:
    """Everything that decides the bytes of a TPM SSDT (and its TPM2/TCPA companion table).

    ``scope=None`` and ``mmio_size=None`` take the interface's QEMU default. ``profile`` only matters
    when ``ppi`` is on (without PPI there is no ``_DSM``). Construct through :meth:`create` (or call
    :meth:`validate`) to get every check; the dataclass itself stays a plain frozen value.
    """

    interface: Interface = Interface.TIS
    tpm: TpmVersion = TpmVersion.TPM_2_0
    ppi: bool = True
    profile: Profile = Profile.QEMU
    ppi_address: int = TPM_PPI_ADDR_BASE
    scope: str | None = None
    device_name: str = "TPM"
    mmio_base: int = TPM_TIS_ADDR_BASE
    mmio_size: int | None = None
    oem_id: str = "BOCHS "
    oem_table_id: str = "BXPC    "
    oem_revision: int = 1

    @classmethod
    def create(cls, **kwargs: Any) -> SsdtParams:
        """Coerce enum-valued strings ("tis", "2.0", "strict"), fill defaults, validate."""
        try:
            if "interface" in kwargs:
                kwargs["interface"] = Interface(kwargs["interface"])
            if "tpm" in kwargs and not isinstance(kwargs["tpm"], TpmVersion):
                kwargs["tpm"] = TpmVersion.from_label(str(kwargs["tpm"]))
            if "profile" in kwargs:
                kwargs["profile"] = Profile(kwargs["profile"])
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        unknown = set(kwargs) - set(cls.__dataclass_fields__)
        if unknown:
            raise UsageError(f"unknown SSDT parameter(s): {', '.join(sorted(unknown))}")
        params = cls(**kwargs)
        params.validate()
        return params

    # -- resolved values -------------------------------------------------------------------
    @property
    def resolved_scope(self) -> str:
        return self.scope if self.scope is not None else _default_scope(self.interface)

    @property
    def resolved_mmio_size(self) -> int:
        return self.mmio_size if self.mmio_size is not None else _default_mmio_size(self.interface)

    @property
    def device_path(self) -> str:
        """Absolute ACPI path of the TPM device node, e.g. ``\\_SB.PCI0.ISA.TPM``."""
        scope = self.resolved_scope
        return f"{scope}{self.device_name}" if scope == "\\" else f"{scope}.{self.device_name}"

    @property
    def config_name(self) -> str:
        """Golden-corpus folder name: ``tis-tpm2-ppi-qemu``, ``crb-tpm2-noppi`` (profile-free)."""
        tpm = "tpm12" if self.tpm is TpmVersion.TPM_1_2 else "tpm2"
        tail = f"ppi-{self.profile.value}" if self.ppi else "noppi"
        return f"{self.interface.value}-{tpm}-{tail}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with defaults resolved (what the golden manifest records)."""
        data = asdict(self)
        data.update(
            interface=self.interface.value,
            tpm=self.tpm.label,
            profile=self.profile.value if self.ppi else None,
            scope=self.resolved_scope,
            mmio_size=self.resolved_mmio_size,
        )
        return data

    # -- validation ------------------------------------------------------------------------
    def validate(self) -> None:
        """Raise :class:`UsageError` naming the first bad parameter."""
        if not isinstance(self.interface, Interface):
            raise UsageError(f"interface must be one of {[i.value for i in Interface]}, got {self.interface!r}")
        if not isinstance(self.tpm, TpmVersion) or self.tpm not in (TpmVersion.TPM_1_2, TpmVersion.TPM_2_0):
            raise UsageError(f"tpm must be 1.2 or 2.0, got {self.tpm!r}")
        if not isinstance(self.profile, Profile):
            raise UsageError(f"profile must be one of {[p.value for p in Profile]}, got {self.profile!r}")
        if self.tpm is TpmVersion.TPM_1_2 and self.interface is not Interface.TIS:
            raise UsageError("tpm 1.2 is only defined with the TIS interface (CRB is a TPM 2.0 interface)")
        if not isinstance(self.ppi, bool):
            raise UsageError(f"ppi must be a bool, got {self.ppi!r}")
        check_nameseg("device_name", self.device_name)
        check_scope("scope", self.resolved_scope)
        _check_uint32("mmio_base", self.mmio_base)
        size = self.resolved_mmio_size
        _check_uint32("mmio_size", size)
        if size == 0 or self.mmio_base + size > _UINT32_LIMIT:
            raise UsageError(
                f"mmio_size 0x{size:X} at mmio_base 0x{self.mmio_base:X} must be non-zero and end at or "
                "below 4 GiB (Memory32Fixed)"
            )
        if self.ppi:
            self._validate_ppi_address(size)
        _check_oem("oem_id", self.oem_id, 6)
        _check_oem("oem_table_id", self.oem_table_id, 8)
        _check_uint32("oem_revision", self.oem_revision)

    def _validate_ppi_address(self, mmio_size: int) -> None:
        addr = self.ppi_address
        _check_uint32("ppi_address", addr)
        if addr + TPM_PPI_ADDR_SIZE > _UINT32_LIMIT:
            raise UsageError(f"ppi_address 0x{addr:X}: the 0x{TPM_PPI_ADDR_SIZE:X}-byte page must end below 4 GiB "
                             "(revision 1 tables have 32-bit integers)")
        if (addr % _PAGE_4K) + TPM_PPI_ADDR_SIZE > _PAGE_4K:
            raise UsageError(f"ppi_address 0x{addr:X}: the PPI page must not cross a 4 KiB page "
                             "(OVMF QemuTpmInitPPI refuses it)")
        if addr < self.mmio_base + mmio_size and self.mmio_base < addr + TPM_PPI_ADDR_SIZE:
            raise UsageError(f"ppi_address 0x{addr:X} overlaps the TPM MMIO window "
                             f"0x{self.mmio_base:X}+0x{mmio_size:X}")


def check_nameseg(what: str, name: object) -> None:
    """ACPI NameSeg: 1-4 characters, first ``A-Z`` or ``_``, the rest ``A-Z``, ``0-9`` or ``_``."""
    if not isinstance(name, str) or not _NAMESEG.match(name):
        raise UsageError(f"{what} {name!r} is not an ACPI NameSeg (1-4 chars: A-Z or _ first, then A-Z, 0-9, _)")


def check_scope(what: str, path: object) -> None:
    """An absolute ACPI path: ``\\`` or ``\\SEG.SEG...`` with valid NameSegs."""
    if not isinstance(path, str) or not path.startswith("\\"):
        raise UsageError(f"{what} {path!r} must be an absolute ACPI path starting with a backslash, e.g. \\_SB")
    if path == "\\":
        return
    for seg in path[1:].split("."):
        check_nameseg(f"{what} segment", seg)


def _check_uint32(what: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < _UINT32_LIMIT:
        raise UsageError(f"{what} {value!r} must be an integer in 0..0xFFFFFFFF")


def _check_oem(what: str, value: object, size: int) -> None:
    if not isinstance(value, str) or not 1 <= len(value) <= size or not _OEM_CHARS.match(value) \
            or '"' in value or "\\" in value:
        raise UsageError(f"{what} {value!r} must be 1-{size} printable ASCII characters without quotes or backslash")
