"""How firmware finds QEMU's PPI page: ``QemuTpmInitPPI`` discovery and page access.

Firmware has no fixed address for the page: it asks fw_cfg for ``etc/tpm/config`` through the
fw_cfg protocol (``QemuFwCfgFindFile``), checks the record the way OVMF does (exactly 6 bytes, a
non-zero address, the 0x15A-byte ``QEMU_TPM_PPI`` structure inside one 4 KiB page, the address not
ordinary RAM in the GCD map) and only then reads and writes the page at that address. A platform
whose fw_cfg record is wrong therefore gets what real OVMF gives it: no PPI at all.

Writes cover only OVMF's structure (``func[]`` .. ``next_step``), never ``movv`` at 0x15A: that
byte belongs to the MOR ``_DSM`` and QEMU's reset handler.
"""

from __future__ import annotations

from dataclasses import dataclass

from ppikit.fwcfg.device import FwCfgDevice
from ppikit.fwcfg.tpm_config import FW_CFG_TPM_CONFIG, TPM_CONFIG_FILE, TPM_CONFIG_SIZE
from ppikit.platform.memory import GuestMemory
from ppikit.ppi.page import FIELD_OFFSETS, TPM_PPI_ADDR_SIZE, PpiPage

#: sizeof(QEMU_TPM_PPI) in OVMF's QemuTpm.h: the structure ends with ``next_step`` (0x159).
QEMU_TPM_PPI_SIZE = FIELD_OFFSETS["next_step"][0] + 1
EFI_PAGE_SIZE = 0x1000


@dataclass(frozen=True)
class PpiLocation:
    """The page as one boot's firmware found it, plus the fw_cfg record that pointed to it."""

    memory: GuestMemory
    address: int
    tpm_version: int  #: raw ``tpm_version`` byte (OVMF compares it, never validates it)
    ppi_version: int  #: raw ``tpmppi_version`` byte (OVMF does not check it)

    def read(self) -> PpiPage:
        return PpiPage.parse(self.memory.read(self.address, TPM_PPI_ADDR_SIZE))

    def write(self, page: PpiPage) -> None:
        """Store ``func[]`` .. ``next_step`` (OVMF's structure), leaving ``movv`` and beyond alone."""
        self.memory.write(self.address, page.build()[:QEMU_TPM_PPI_SIZE])


@dataclass(frozen=True)
class PpiDiscovery:
    """Result of ``QemuTpmInitPPI``'s checks: a location, or why firmware has no PPI."""

    location: PpiLocation | None
    problem: str = ""


def discover_ppi(fwcfg: FwCfgDevice, memory: GuestMemory) -> PpiDiscovery:
    """Find the PPI page through fw_cfg and apply OVMF's checks (firmware-and-os.md §2.2 steps 1-5)."""
    raw = fwcfg.read_file_via_ports(TPM_CONFIG_FILE)
    if raw is None:
        return PpiDiscovery(None, f"fw_cfg has no {TPM_CONFIG_FILE}")
    if len(raw) != TPM_CONFIG_SIZE:
        return PpiDiscovery(None, f"{TPM_CONFIG_FILE} is {len(raw)} bytes, not {TPM_CONFIG_SIZE} (EFI_PROTOCOL_ERROR)")
    config = FW_CFG_TPM_CONFIG.parse(raw)
    address = config.tpmppi_address
    if address == 0:
        return PpiDiscovery(None, "PpiAddress is 0 (EFI_PROTOCOL_ERROR)")
    if address // EFI_PAGE_SIZE != (address + QEMU_TPM_PPI_SIZE - 1) // EFI_PAGE_SIZE:
        return PpiDiscovery(None, f"PPI structure at 0x{address:X} crosses a 4 KiB page boundary")
    kind = _gcd_type(memory, address)
    if kind == "SystemMemory":
        return PpiDiscovery(None, f"PPI address 0x{address:X} is ordinary RAM, not MMIO (EFI_PROTOCOL_ERROR)")
    return PpiDiscovery(PpiLocation(memory, address, config.tpm_version, config.tpmppi_version))


def _gcd_type(memory: GuestMemory, address: int) -> str:
    """The GCD memory-space type OVMF would see: QEMU's ram_device page is MMIO, RAM is SystemMemory."""
    for region in memory.regions:
        if region.base <= address < region.end:
            return "SystemMemory" if region.clear_on_mor else "MemoryMappedIo"
    return "NonExistent"
