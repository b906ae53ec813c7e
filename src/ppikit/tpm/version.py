"""TPM family numbering shared by fw_cfg, the device models and the backends.

The values are QEMU's ``TPMVersion`` enum (``include/sysemu/tpm.h``), which is also what fw_cfg
``etc/tpm/config`` carries in its ``tpm_version`` byte.
"""

from __future__ import annotations

from enum import IntEnum


class TpmVersion(IntEnum):
    UNSPEC = 0  #: TPM_VERSION_UNSPEC: unknown (QEMU writes it only if the backend failed)
    TPM_1_2 = 1  #: TPM_VERSION_1_2
    TPM_2_0 = 2  #: TPM_VERSION_2_0

    @property
    def label(self) -> str:
        return {0: "unspecified", 1: "1.2", 2: "2.0"}[self.value]

    @classmethod
    def from_label(cls, text: str) -> TpmVersion:
        """Parse the user spelling ("1.2", "2.0", "2", "tpm2", ...)."""
        key = text.strip().lower().removeprefix("tpm").strip()
        table = {"1.2": cls.TPM_1_2, "12": cls.TPM_1_2, "1": cls.TPM_1_2,
                 "2.0": cls.TPM_2_0, "2": cls.TPM_2_0, "20": cls.TPM_2_0}
        try:
            return table[key]
        except KeyError:
            from ppikit.errors import UsageError

            raise UsageError(f"unknown TPM version {text!r} (expected 1.2 or 2.0)") from None
