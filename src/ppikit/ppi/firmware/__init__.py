"""Firmware models that process PPI requests at boot: ``ovmf``, ``edk2-tpm12`` and ``flags``.

:data:`FIRMWARE_MODELS` maps each model's name to its class; ``FIRMWARE_MODELS[name]()`` builds
one with the defaults of the firmware it models.
"""

from __future__ import annotations

from ppikit.ppi.firmware.base import Firmware
from ppikit.ppi.firmware.ovmf import OvmfFirmware

FIRMWARE_MODELS: dict[str, type[Firmware]] = {
    OvmfFirmware.name: OvmfFirmware,
}

__all__ = ["FIRMWARE_MODELS", "OvmfFirmware"]
