"""Firmware models that process PPI requests at boot: ``ovmf``, ``edk2-tpm12`` and ``flags``."""
