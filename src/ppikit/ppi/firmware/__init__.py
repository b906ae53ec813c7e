"""Firmware models that process PPI requests at boot: ``ovmf``, ``edk2-tpm12`` and ``flags``.

:data:`FIRMWARE_MODELS` maps each model's name to its class; ``FIRMWARE_MODELS[name]()`` builds
one with the defaults of the firmware it models.
"""

from __future__ import annotations

from ppikit.ppi.firmware.base import Firmware
from ppikit.ppi.firmware.edk2_tpm12 import Edk2Tpm12Firmware
from ppikit.ppi.firmware.flags import FlagsFirmware
from ppikit.ppi.firmware.ovmf import OvmfFirmware

FIRMWARE_MODELS: dict[str, type[Firmware]] = {
    OvmfFirmware.name: OvmfFirmware,
    Edk2Tpm12Firmware.name: Edk2Tpm12Firmware,
    FlagsFirmware.name: FlagsFirmware,
}

__all__ = ["FIRMWARE_MODELS", "Edk2Tpm12Firmware", "FlagsFirmware", "OvmfFirmware"]
