"""The 6-byte fw_cfg file ``etc/tpm/config`` that tells firmware where the PPI page is.

QEMU builds it in ``acpi_setup`` (``struct FwCfgTPMConfig``, packed, little-endian) only when a TPM
with ``ppi=on`` exists; OVMF (``QemuTpmReadConfig``) insists on exactly 6 bytes. Declared once here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import construct as cs

from ppikit.errors import LayoutError
from ppikit.ppi.page import TPM_PPI_ADDR_BASE
from ppikit.tpm.version import TpmVersion

TPM_CONFIG_FILE = "etc/tpm/config"  #: fw_cfg file name (QEMU docs/specs/tpm.rst)
TPM_LOG_FILE = "etc/tpm/log"  #: fw_cfg file for the TPM event log (64 KiB of zeros on QEMU)
TPM_CONFIG_SIZE = 6


class PpiVersion(IntEnum):
    NONE = 0  #: TPM_PPI_VERSION_NONE (defined, never written by QEMU)
    V1_30 = 1  #: TPM_PPI_VERSION_1_30

    @property
    def label(self) -> str:
        return {0: "none", 1: "1.30"}[self.value]

    @classmethod
    def from_label(cls, text: str) -> PpiVersion:
        table = {"none": cls.NONE, "0": cls.NONE, "1.30": cls.V1_30, "1.3": cls.V1_30, "1": cls.V1_30}
        try:
            return table[text.strip().lower()]
        except KeyError:
            raise LayoutError(f"unknown PPI version {text!r} (expected none or 1.30)", field="tpmppi_version",
                              offset=5) from None


#: struct FwCfgTPMConfig
FW_CFG_TPM_CONFIG = cs.Struct(
    "tpmppi_address" / cs.Int32ul,
    "tpm_version" / cs.Int8ul,
    "tpmppi_version" / cs.Int8ul,
)

_OFFSETS = {"tpmppi_address": 0, "tpm_version": 4, "tpmppi_version": 5}


@dataclass(frozen=True)
class TpmConfig:
    """Decoded ``etc/tpm/config``."""

    tpmppi_address: int = TPM_PPI_ADDR_BASE
    tpm_version: TpmVersion = TpmVersion.TPM_2_0
    tpmppi_version: PpiVersion = PpiVersion.V1_30

    @classmethod
    def parse(cls, data: bytes) -> TpmConfig:
        if len(data) != TPM_CONFIG_SIZE:
            raise LayoutError(f"{TPM_CONFIG_FILE} must be exactly {TPM_CONFIG_SIZE} bytes, got {len(data)}",
                              field="etc/tpm/config", offset=min(len(data), TPM_CONFIG_SIZE))
        raw = FW_CFG_TPM_CONFIG.parse(bytes(data))
        return cls(raw.tpmppi_address, _enum(TpmVersion, raw.tpm_version, "tpm_version"),
                   _enum(PpiVersion, raw.tpmppi_version, "tpmppi_version"))

    def build(self) -> bytes:
        if isinstance(self.tpmppi_address, bool) or not isinstance(self.tpmppi_address, int) \
                or not 0 <= self.tpmppi_address <= 0xFFFFFFFF:
            raise LayoutError(f"address {self.tpmppi_address!r} outside 0..0xFFFFFFFF", field="tpmppi_address",
                              offset=0)
        return FW_CFG_TPM_CONFIG.build({
            "tpmppi_address": self.tpmppi_address,
            "tpm_version": _enum(TpmVersion, self.tpm_version, "tpm_version"),
            "tpmppi_version": _enum(PpiVersion, self.tpmppi_version, "tpmppi_version"),
        })

    def to_dict(self) -> dict[str, Any]:
        return {
            "tpmppi_address": self.tpmppi_address,
            "tpm_version": int(self.tpm_version),
            "tpm_version_label": self.tpm_version.label,
            "tpmppi_version": int(self.tpmppi_version),
            "tpmppi_version_label": self.tpmppi_version.label,
        }


def _enum(kind: type[IntEnum], value: object, field: str) -> Any:
    try:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError
        return kind(value)
    except ValueError:
        known = ", ".join(f"{m.value}={m.name}" for m in kind)
        raise LayoutError(f"unknown value {value!r} (known: {known})", field=field, offset=_OFFSETS[field]) from None
