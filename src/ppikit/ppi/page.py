"""The 0x400-byte PPI page shared by the ACPI ``_DSM`` and firmware (QEMU ``hw/tpm/tpm_ppi.c``).

Declared once, here, as a construct schema; everything else in ppikit (AML templates, firmware
models, the OS client, snapshots) reads fields by name through it. The layout is the one QEMU,
OVMF (``QEMU_TPM_PPI``) and coreboot agree on: packed, little-endian, ``func[256]`` first, ``movv``
last, and the rest of the 0x400 bytes reserved -- preserved byte for byte so a page read from a
guest and written back is unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import construct as cs

from ppikit.errors import LayoutError, check_uint_field

TPM_PPI_ADDR_BASE = 0xFED45000  #: QEMU TPM_PPI_ADDR_BASE, right after the 0x5000 TIS window
TPM_PPI_ADDR_SIZE = 0x400  #: QEMU TPM_PPI_ADDR_SIZE
TPM_PPI_FUNC_MASK = 0x07  #: QEMU TPM_PPI_FUNC_MASK: func[] bits that carry the flag
PPI_FUNC_COUNT = 0x100  #: func[] has one byte per operation 0..255


class PpiFunc(IntEnum):
    """``func[op] & TPM_PPI_FUNC_MASK`` -- also the value ``_DSM`` function 8 returns."""

    NOT_IMPLEMENTED = 0  #: TPM_PPI_FUNC_NOT_IMPLEMENTED
    BIOS_ONLY = 1  #: TPM_PPI_FUNC_BIOS_ONLY: only accessible through firmware
    BLOCKED = 2  #: TPM_PPI_FUNC_BLOCKED: blocked for OS by firmware configuration
    ALLOWED_USR_REQ = 3  #: TPM_PPI_FUNC_ALLOWED_USR_REQ: allowed, physically present user required
    ALLOWED_USR_NOT_REQ = 4  #: TPM_PPI_FUNC_ALLOWED_USR_NOT_REQ: allowed, no user required

    @property
    def description(self) -> str:
        return _FUNC_TEXT[self]


_FUNC_TEXT = {
    PpiFunc.NOT_IMPLEMENTED: "not implemented",
    PpiFunc.BIOS_ONLY: "firmware only",
    PpiFunc.BLOCKED: "blocked for OS",
    PpiFunc.ALLOWED_USR_REQ: "allowed, user required",
    PpiFunc.ALLOWED_USR_NOT_REQ: "allowed, no user required",
}


#: The page, field by field. Offsets are implied by packing; :data:`FIELD_OFFSETS` states them and
#: the tests assert each one.
PPI_PAGE = cs.Struct(
    "func" / cs.Array(PPI_FUNC_COUNT, cs.Int8ul),  # per-operation flags, written by firmware
    "ppin" / cs.Int8ul,  # OVMF: "initialised" flag (0 -> firmware initialises the page)
    "ppip" / cs.Int32ul,  # SMI function index; unused by QEMU
    "pprp" / cs.Int32ul,  # response of the last executed operation (fn 5)
    "pprq" / cs.Int32ul,  # pending operation request, written by fn 2/7
    "pprm" / cs.Int32ul,  # parameter of the pending request (fn 7 rev 2; op 23 bank bitmap)
    "lppr" / cs.Int32ul,  # last executed operation (fn 5)
    "fret" / cs.Int32ul,  # SMM return value; unused
    "res1" / cs.Bytes(0x40),  # reserved
    "next_step" / cs.Int8ul,  # firmware-private: operation to run after the reboot
    "movv" / cs.Int8ul,  # memory-overwrite request (MOR _DSM fn 1); bit 0 -> clear RAM on reset
    "reserved" / cs.Bytes(TPM_PPI_ADDR_SIZE - 0x15B),  # the rest of the page, preserved verbatim
)

#: Byte offset and size of every field of :data:`PPI_PAGE` (PPI page layout table).
FIELD_OFFSETS: dict[str, tuple[int, int]] = {
    "func": (0x000, 0x100),
    "ppin": (0x100, 1),
    "ppip": (0x101, 4),
    "pprp": (0x105, 4),
    "pprq": (0x109, 4),
    "pprm": (0x10D, 4),
    "lppr": (0x111, 4),
    "fret": (0x115, 4),
    "res1": (0x119, 0x40),
    "next_step": (0x159, 1),
    "movv": (0x15A, 1),
    "reserved": (0x15B, TPM_PPI_ADDR_SIZE - 0x15B),
}

#: Integer fields a user may set by name (``ppikit region encode --set FIELD=VALUE``).
SCALAR_FIELDS: tuple[str, ...] = ("ppin", "ppip", "pprp", "pprq", "pprm", "lppr", "fret", "next_step", "movv")


def field_offset(name: str) -> int:
    """Byte offset of ``name`` inside the page (raises :class:`LayoutError` for unknown names)."""
    try:
        return FIELD_OFFSETS[name][0]
    except KeyError:
        raise LayoutError(f"unknown PPI page field (known: {', '.join(FIELD_OFFSETS)})", field=name) from None


@dataclass
class PpiPage:
    """A PPI page as Python values. ``func`` holds the raw bytes (upper bits preserved)."""

    func: list[int]
    ppin: int = 0
    ppip: int = 0
    pprp: int = 0
    pprq: int = 0
    pprm: int = 0
    lppr: int = 0
    fret: int = 0
    res1: bytes = bytes(0x40)
    next_step: int = 0
    movv: int = 0
    reserved: bytes = bytes(TPM_PPI_ADDR_SIZE - 0x15B)

    @classmethod
    def blank(cls) -> PpiPage:
        """An all-zero page: what QEMU's fresh allocation holds before firmware initialises it."""
        return cls(func=[0] * PPI_FUNC_COUNT)

    # -- bytes <-> object ------------------------------------------------------------------
    @classmethod
    def parse(cls, data: bytes) -> PpiPage:
        """Parse exactly :data:`TPM_PPI_ADDR_SIZE` bytes."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise LayoutError(f"expected bytes, got {type(data).__name__}", field="page")
        if len(data) != TPM_PPI_ADDR_SIZE:
            raise LayoutError(
                f"PPI page must be exactly 0x{TPM_PPI_ADDR_SIZE:X} bytes, got 0x{len(data):X} ({len(data)})",
                field="page",
                offset=min(len(data), TPM_PPI_ADDR_SIZE),
            )
        c = PPI_PAGE.parse(bytes(data))
        return cls(**{name: (list(c[name]) if name == "func" else c[name]) for name in FIELD_OFFSETS})

    def build(self) -> bytes:
        """Serialise, validating every field; errors name the field and its offset."""
        self.validate()
        return PPI_PAGE.build({name: getattr(self, name) for name in FIELD_OFFSETS})

    def validate(self) -> None:
        """Check every field's type and range without building."""
        if len(self.func) != PPI_FUNC_COUNT:
            raise LayoutError(f"func must have {PPI_FUNC_COUNT} entries, got {len(self.func)}",
                              field="func", offset=0)
        for op, value in enumerate(self.func):
            check_uint_field(f"func[{op}]", op, value, 1)
        for name in SCALAR_FIELDS:
            offset, size = FIELD_OFFSETS[name]
            check_uint_field(name, offset, getattr(self, name), size)
        for name in ("res1", "reserved"):
            offset, size = FIELD_OFFSETS[name]
            value = getattr(self, name)
            if not isinstance(value, (bytes, bytearray)) or len(value) != size:
                raise LayoutError(f"must be {size} bytes", field=name, offset=offset)

    # -- convenience -----------------------------------------------------------------------
    def flag(self, op: int) -> PpiFunc | int:
        """``func[op] & 7`` as :class:`PpiFunc` (the raw int for the unused codes 5..7)."""
        if not 0 <= op < PPI_FUNC_COUNT:
            raise LayoutError(f"operation {op} outside func[0..255]", field="func")
        value = self.func[op] & TPM_PPI_FUNC_MASK
        try:
            return PpiFunc(value)
        except ValueError:
            return value

    def set_flag(self, op: int, flag: int) -> None:
        """Set bits 0..2 of ``func[op]`` to ``flag``, preserving the upper bits."""
        if not 0 <= op < PPI_FUNC_COUNT:
            raise LayoutError(f"operation {op} outside func[0..255]", field="func")
        if not 0 <= int(flag) <= TPM_PPI_FUNC_MASK:
            raise LayoutError(f"flag {flag} outside 0..7", field=f"func[{op}]", offset=op)
        self.func[op] = (self.func[op] & ~TPM_PPI_FUNC_MASK & 0xFF) | int(flag)

    def to_dict(self) -> dict[str, Any]:
        """Stable machine form (used by ``--json``)."""
        out: dict[str, Any] = {name: getattr(self, name) for name in SCALAR_FIELDS}
        out["func"] = list(self.func)
        out["res1"] = bytes(self.res1).hex()
        out["reserved"] = bytes(self.reserved).hex()
        return out


