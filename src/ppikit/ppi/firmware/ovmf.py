"""``ovmf``: OVMF's Tcg2PhysicalPresenceLibQemu, the PPI firmware QEMU guests really get (TPM 2.0).

What makes it OVMF and not the generic library: no persistent flags at all. ``func[]`` is a fixed
set (3 = "allowed, user required" for ten ops, only when fw_cfg says TPM 2.0), validity is a fixed
table, every valid op except 0 and 33 prompts, and 96/97 are accepted at the prompt but have no
implementation, so they end in BIOS_FAILURE -- and a reboot, like every op of the reboot set even
when it failed. Checked against OVMF 2022.11 on QEMU 7.2 (firmware-and-os.md, "Observed").
"""

from __future__ import annotations

from typing import ClassVar

from ppikit.ppi.firmware.pp_flow import Boot
from ppikit.ppi.firmware.tcg2 import Tcg2Firmware
from ppikit.ppi.operations import TCG2_PHYSICAL_PRESENCE_NO_ACTION_MAX
from ppikit.ppi.page import PPI_FUNC_COUNT, PpiFunc
from ppikit.tpm.version import TpmVersion

#: QemuTpmInitPPI: func[op] = TPM_PPI_FLAGS (3) for these ops when TpmVersion == 2; all others 0.
OVMF_FUNC_OPS = frozenset({0, 5, 14, 21, 22, 23, 24, 33, 96, 97})
OVMF_FUNC_VALUE = PpiFunc.ALLOWED_USR_REQ

#: Tcg2HaveValidTpmRequest: valid op -> confirmed without a prompt. Every other op is invalid.
OVMF_VALID_OPS: dict[int, bool] = {
    0: True, 33: True,
    5: False, 14: False, 21: False, 22: False, 23: False, 24: False, 96: False, 97: False,
}


class OvmfFirmware(Tcg2Firmware):
    """OVMF 2022.11's TPM 2.0 PPI at boot (``platform_lock``: PcdRandomizePlatformHierarchy TRUE/FALSE)."""

    name: ClassVar[str] = "ovmf"

    def fill_func(self, boot: Boot) -> None:
        tpm2 = boot.location.tpm_version == TpmVersion.TPM_2_0
        boot.page.func = [int(OVMF_FUNC_VALUE) if tpm2 and op in OVMF_FUNC_OPS else 0
                          for op in range(PPI_FUNC_COUNT)]

    def validate(self, boot: Boot, op: int) -> bool | None:
        """Ops up to NO_ACTION_MAX need EFI_TCG2_PROTOCOL (a started TPM 2.0), then the fixed table."""
        if op <= TCG2_PHYSICAL_PRESENCE_NO_ACTION_MAX and not boot.tpm_ready:
            return None
        return OVMF_VALID_OPS.get(op)
