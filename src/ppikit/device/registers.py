"""TIS and CRB register maps of QEMU 7.2, as data.

Why a table and not code: the register map is what a firmware author compares against the spec
and against QEMU's ``include/hw/acpi/tpm.h``; keeping it as one table per interface (name,
offset, width, read and write behaviour) makes that comparison a read-through, and lets the
device models build their dispatch tables from it instead of growing if-chains. Constants keep
the names QEMU gives them (``TPM_TIS_STS_DATA_AVAILABLE``, ``CRB_CTRL_REQ_CMD_READY``, ...), so a
grep for a QEMU name lands here.

``read`` / ``write`` name a behaviour the device model implements (``"const"`` returns
``Register.value``; ``"ignore"`` drops the write; ``"stored"`` returns the stored 32-bit word);
the comment column says what QEMU does.
"""

from __future__ import annotations

from dataclasses import dataclass

# -- TIS address map (hw/acpi/tpm.h, hw/tpm/tpm_tis.h) -----------------------------------------
TPM_TIS_ADDR_BASE = 0xFED40000
TPM_TIS_NUM_LOCALITIES = 5
TPM_TIS_LOCALITY_SHIFT = 12
TPM_TIS_ADDR_SIZE = TPM_TIS_NUM_LOCALITIES << TPM_TIS_LOCALITY_SHIFT  # 0x5000
TPM_TIS_NO_LOCALITY = 0xFF  #: "no locality" marker of active/next/aborting locality
TPM_TIS_BUFFER_MAX = 4096
TPM_TIS_NO_DATA_BYTE = 0xFF  #: a FIFO byte read with no response data
TPM_TIS_IRQ = 5  #: ISA ``irq`` property default, read back from INT_VECTOR

TPM_TIS_REG_ACCESS = 0x000
TPM_TIS_REG_INT_ENABLE = 0x008
TPM_TIS_REG_INT_VECTOR = 0x00C
TPM_TIS_REG_INT_STATUS = 0x010
TPM_TIS_REG_INTF_CAPABILITY = 0x014
TPM_TIS_REG_STS = 0x018
TPM_TIS_REG_DATA_FIFO = 0x024
TPM_TIS_REG_INTERFACE_ID = 0x030
TPM_TIS_REG_DATA_XFIFO = 0x080
TPM_TIS_REG_DATA_XFIFO_END = 0x0BC
TPM_TIS_REG_DID_VID = 0xF00
TPM_TIS_REG_RID = 0xF04
TPM_TIS_REG_DEBUG = 0xF90

# ACCESS (8 bit)
TPM_TIS_ACCESS_TPM_REG_VALID_STS = 0x80
TPM_TIS_ACCESS_ACTIVE_LOCALITY = 0x20
TPM_TIS_ACCESS_BEEN_SEIZED = 0x10
TPM_TIS_ACCESS_SEIZE = 0x08
TPM_TIS_ACCESS_PENDING_REQUEST = 0x04
TPM_TIS_ACCESS_REQUEST_USE = 0x02
TPM_TIS_ACCESS_TPM_ESTABLISHMENT = 0x01

# STS (32 bit)
TPM_TIS_STS_TPM_FAMILY_MASK = 0x0C000000
TPM_TIS_STS_TPM_FAMILY1_2 = 0x00000000
TPM_TIS_STS_TPM_FAMILY2_0 = 0x04000000
TPM_TIS_STS_RESET_ESTABLISHMENT_BIT = 0x02000000
TPM_TIS_STS_COMMAND_CANCEL = 0x01000000
TPM_TIS_BURST_COUNT_SHIFT = 8
TPM_TIS_STS_VALID = 0x80
TPM_TIS_STS_COMMAND_READY = 0x40
TPM_TIS_STS_TPM_GO = 0x20
TPM_TIS_STS_DATA_AVAILABLE = 0x10
TPM_TIS_STS_EXPECT = 0x08
TPM_TIS_STS_SELFTEST_DONE = 0x04
TPM_TIS_STS_RESPONSE_RETRY = 0x02

# INT_ENABLE / INT_STATUS
TPM_TIS_INT_ENABLED = 0x80000000
TPM_TIS_INT_COMMAND_READY = 0x80
TPM_TIS_INT_POLARITY_MASK = 0x18
TPM_TIS_INT_POLARITY_LOW_LEVEL = 0x08
TPM_TIS_INT_LOCALITY_CHANGED = 0x04
TPM_TIS_INT_STS_VALID = 0x02
TPM_TIS_INT_DATA_AVAILABLE = 0x01
TPM_TIS_INTERRUPTS_SUPPORTED = 0x87

# INTF_CAPABILITY and INTERFACE_ID by backend family
TPM_TIS_CAPABILITIES_SUPPORTED1_3 = 0x20000697  #: TIS 1.3, TPM 1.2 backend
TPM_TIS_CAPABILITIES_SUPPORTED2_0 = 0x30000697  #: TIS 1.3 for TPM 2.0
TPM_TIS_IFACE_ID_SUPPORTED_FLAGS1_3 = 0xFFFFFFFF
TPM_TIS_IFACE_ID_SUPPORTED_FLAGS2_0 = 0x00002100  #: CapLocality bit 8 | CAP_TIS_SUPPORTED bit 13
TPM_TIS_IFACE_ID_INT_SEL_LOCK = 1 << 19

TPM_TIS_TPM_DID = 0x0001
TPM_TIS_TPM_VID = 0x1014  #: PCI_VENDOR_ID_IBM
TPM_TIS_TPM_RID = 0x01

# TPMTISState
TPM_TIS_STATE_IDLE = 0
TPM_TIS_STATE_READY = 1
TPM_TIS_STATE_COMPLETION = 2
TPM_TIS_STATE_EXECUTION = 3
TPM_TIS_STATE_RECEPTION = 4

#: TPM 1.2 TPM_ORD_ContinueSelfTest: the only ordinal QEMU recognises for STS.selfTestDone.
TPM_ORD_CONTINUE_SELF_TEST = 0x53

# -- CRB (hw/acpi/tpm.h "CRB" REG32/FIELD definitions) -----------------------------------------
TPM_CRB_ADDR_BASE = 0xFED40000
TPM_CRB_ADDR_SIZE = 0x1000
A_CRB_LOC_STATE = 0x00
A_CRB_LOC_CTRL = 0x08
A_CRB_LOC_STS = 0x0C
A_CRB_INTF_ID = 0x30
A_CRB_INTF_ID2 = 0x34
A_CRB_CTRL_EXT = 0x38
A_CRB_CTRL_REQ = 0x40
A_CRB_CTRL_STS = 0x44
A_CRB_CTRL_CANCEL = 0x48
A_CRB_CTRL_START = 0x4C
A_CRB_INT_ENABLED = 0x50
A_CRB_INT_STS = 0x54
A_CRB_CTRL_CMD_SIZE = 0x58
A_CRB_CTRL_CMD_LADDR = 0x5C
A_CRB_CTRL_CMD_HADDR = 0x60
A_CRB_CTRL_RSP_SIZE = 0x64
A_CRB_CTRL_RSP_ADDR = 0x68
A_CRB_DATA_BUFFER = 0x80
TPM_CRB_R_MAX = A_CRB_DATA_BUFFER // 4  #: number of 32-bit registers before the data buffer
CRB_CTRL_CMD_SIZE = TPM_CRB_ADDR_SIZE - A_CRB_DATA_BUFFER  # 0xF80

# LOC_STATE fields
CRB_LOC_STATE_TPM_ESTABLISHED = 1 << 0
CRB_LOC_STATE_LOC_ASSIGNED = 1 << 1
CRB_LOC_STATE_ACTIVE_LOCALITY_MASK = 0x7 << 2
CRB_LOC_STATE_TPM_REG_VALID_STS = 1 << 7
# LOC_CTRL action codes (whole written value must match)
CRB_LOC_CTRL_REQUEST_ACCESS = 1
CRB_LOC_CTRL_RELINQUISH = 2
CRB_LOC_CTRL_SEIZE = 4
CRB_LOC_CTRL_RESET_ESTABLISHMENT_BIT = 8
# LOC_STS fields
CRB_LOC_STS_GRANTED = 1 << 0
CRB_LOC_STS_BEEN_SEIZED = 1 << 1
# CTRL_REQ / CTRL_STS / CTRL_CANCEL / CTRL_START
CRB_CTRL_REQ_CMD_READY = 1
CRB_CTRL_REQ_GO_IDLE = 2
CRB_CTRL_STS_TPM_STS = 1 << 0  #: fatal error, sticky until reset
CRB_CTRL_STS_TPM_IDLE = 1 << 1
CRB_CANCEL_INVOKE = 1
CRB_START_INVOKE = 1

# INTF_ID fields (classic 7.2 CRB: no CapCRBChunk)
CRB_INTF_TYPE_CRB_ACTIVE = 0x1
CRB_INTF_VERSION_CRB = 0x1
CRB_INTF_CAP_LOCALITY_0_ONLY = 0
CRB_INTF_CAP_IDLE_FAST = 0
CRB_INTF_CAP_XFER_SIZE_64 = 0x3
CRB_INTF_CAP_FIFO_NOT_SUPPORTED = 0
CRB_INTF_CAP_CRB_SUPPORTED = 1
CRB_INTF_IF_SELECTOR_CRB = 0x1
TPM_CRB_INTF_ID = (
    CRB_INTF_TYPE_CRB_ACTIVE
    | CRB_INTF_VERSION_CRB << 4
    | CRB_INTF_CAP_LOCALITY_0_ONLY << 8
    | CRB_INTF_CAP_IDLE_FAST << 9
    | CRB_INTF_CAP_XFER_SIZE_64 << 11
    | CRB_INTF_CAP_FIFO_NOT_SUPPORTED << 13
    | CRB_INTF_CAP_CRB_SUPPORTED << 14
    | CRB_INTF_IF_SELECTOR_CRB << 17
)  # 0x00025811
TPM_CRB_INTF_ID2 = 0x00001014  #: VID 0x1014 (IBM), DID 0
TPM_CRB_DATA_BUFFER_ADDR = TPM_CRB_ADDR_BASE + A_CRB_DATA_BUFFER


@dataclass(frozen=True)
class Register:
    """One register as QEMU decodes it.

    ``offset`` is inside one locality window (TIS) or the CRB window; ``end`` (inclusive, 4-byte
    aligned) makes the entry cover a range such as XDATA_FIFO. ``width`` is the width QEMU's
    handler uses for the value (bytes).
    """

    name: str
    offset: int
    width: int
    read: str
    write: str
    value: int = 0
    end: int | None = None

    def word_indexes(self) -> range:
        """Indexes of the 32-bit words (offset // 4) this entry decodes."""
        last = self.offset if self.end is None else self.end
        return range(self.offset >> 2, (last >> 2) + 1)


#: TIS registers of one locality window (``tpm_tis_mmio_read`` / ``tpm_tis_mmio_write``). Any
#: offset not listed reads 0xFFFFFFFF (shifted by the byte lane) and ignores writes.
TIS_REGISTERS: tuple[Register, ...] = (
    Register("ACCESS", TPM_TIS_REG_ACCESS, 1, read="access", write="access"),  # 1.5 arbitration
    Register("INT_ENABLE", TPM_TIS_REG_INT_ENABLE, 4, read="int_enable", write="int_enable"),
    Register("INT_VECTOR", TPM_TIS_REG_INT_VECTOR, 4, read="const", write="ignore",
             value=TPM_TIS_IRQ),  # "hard wired"
    Register("INT_STATUS", TPM_TIS_REG_INT_STATUS, 4, read="int_status", write="int_status"),
    Register("INTF_CAPABILITY", TPM_TIS_REG_INTF_CAPABILITY, 4, read="intf_capability",
             write="ignore"),
    Register("STS", TPM_TIS_REG_STS, 4, read="sts", write="sts"),  # active locality only
    Register("DATA_FIFO", TPM_TIS_REG_DATA_FIFO, 4, read="fifo", write="fifo"),
    Register("INTERFACE_ID", TPM_TIS_REG_INTERFACE_ID, 4, read="interface_id", write="interface_id"),
    Register("XDATA_FIFO", TPM_TIS_REG_DATA_XFIFO, 4, read="fifo", write="fifo",
             end=TPM_TIS_REG_DATA_XFIFO_END),
    Register("DID_VID", TPM_TIS_REG_DID_VID, 4, read="const", write="ignore",
             value=TPM_TIS_TPM_DID << 16 | TPM_TIS_TPM_VID),  # 0x00011014
    Register("RID", TPM_TIS_REG_RID, 1, read="const", write="ignore", value=TPM_TIS_TPM_RID),
    # "vendor-specific" debug dump: QEMU prints state and returns all-ones, live in release builds.
    Register("DEBUG", TPM_TIS_REG_DEBUG, 4, read="const", write="ignore", value=0xFFFFFFFF),
)

#: CRB register block 0x00-0x7F (``tpm_crb_mmio_read`` / ``tpm_crb_mmio_write``). Reads return
#: the stored word shifted by the byte lane (registers not listed read their stored 0); only the
#: listed writes act, and only at the exact offset with the exact action value. ``value`` is the
#: word ``tpm_crb_reset`` stores (everything else resets to 0).
CRB_REGISTERS: tuple[Register, ...] = (
    Register("LOC_STATE", A_CRB_LOC_STATE, 4, read="loc_state", write="ignore",
             value=CRB_LOC_STATE_TPM_REG_VALID_STS),
    Register("LOC_CTRL", A_CRB_LOC_CTRL, 4, read="stored", write="loc_ctrl"),  # never latched
    Register("LOC_STS", A_CRB_LOC_STS, 4, read="stored", write="ignore"),
    Register("INTF_ID", A_CRB_INTF_ID, 4, read="stored", write="ignore", value=TPM_CRB_INTF_ID),
    Register("INTF_ID2", A_CRB_INTF_ID2, 4, read="stored", write="ignore", value=TPM_CRB_INTF_ID2),
    Register("CTRL_EXT", A_CRB_CTRL_EXT, 4, read="stored", write="ignore"),  # not implemented
    Register("CTRL_REQ", A_CRB_CTRL_REQ, 4, read="stored", write="ctrl_req"),  # never latched
    Register("CTRL_STS", A_CRB_CTRL_STS, 4, read="stored", write="ignore", value=CRB_CTRL_STS_TPM_IDLE),
    Register("CTRL_CANCEL", A_CRB_CTRL_CANCEL, 4, read="stored", write="ctrl_cancel"),
    Register("CTRL_START", A_CRB_CTRL_START, 4, read="ctrl_start", write="ctrl_start"),
    Register("INT_ENABLED", A_CRB_INT_ENABLED, 4, read="stored", write="ignore"),
    Register("INT_STS", A_CRB_INT_STS, 4, read="stored", write="ignore"),
    Register("CMD_SIZE", A_CRB_CTRL_CMD_SIZE, 4, read="stored", write="ignore", value=CRB_CTRL_CMD_SIZE),
    Register("CMD_LADDR", A_CRB_CTRL_CMD_LADDR, 4, read="stored", write="ignore",
             value=TPM_CRB_DATA_BUFFER_ADDR),
    Register("CMD_HADDR", A_CRB_CTRL_CMD_HADDR, 4, read="stored", write="ignore"),
    Register("RSP_SIZE", A_CRB_CTRL_RSP_SIZE, 4, read="stored", write="ignore", value=CRB_CTRL_CMD_SIZE),
    Register("RSP_ADDR", A_CRB_CTRL_RSP_ADDR, 4, read="stored", write="ignore",
             value=TPM_CRB_DATA_BUFFER_ADDR),  # low word; the high word at 0x6C stays 0
)
