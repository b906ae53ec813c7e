"""The TPM2 and TCPA ACPI tables as construct schemas that both build and parse.

Why construct and not iasl's data-table compiler: these are fixed binary records (76 and 50 bytes);
one declarative schema gives the builder, the parser and the field names for error messages, and the
bytes are the same on every iasl version (no compiler stamp in the header).

The ACPI checksum rule (all bytes sum to 0 mod 256) does not fit construct's ``Checksum``, so tables
are built with checksum 0 and byte 9 is patched afterwards, as QEMU's firmware linker does; parsing
verifies it. QEMU hands its tables to firmware with checksum 0 and LASA 0 (the firmware fixes both),
so :func:`decode_table` can report a bad checksum instead of failing, and :func:`fix_checksum` repairs
one before a strict loader (acpiexec) sees it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import construct as cs

from ppikit.aml.params import Interface, SsdtParams
from ppikit.errors import LayoutError, check_uint_field
from ppikit.tpm.version import TpmVersion

ACPI_HEADER_SIZE = 36
ACPI_CHECKSUM_OFFSET = 9  #: header byte that makes the whole table sum to 0
TPM2_TABLE_REVISION = 4  #: QEMU build_tpm2 (TCG ACPI: revision 4 = 76 bytes with LAML/LASA)
TPM2_TABLE_LENGTH = 76
TCPA_TABLE_REVISION = 2  #: QEMU build_tpm_tcpa, client layout
TCPA_TABLE_LENGTH = 50
TPM2_ACPI_CLASS_CLIENT = 0
TPM_TCPA_ACPI_CLASS_CLIENT = 0
TPM2_START_METHOD_MMIO = 6  #: memory-mapped FIFO (TIS); Linux tpm_tis binds MSFT0101 only with this
TPM2_START_METHOD_CRB = 7  #: command response buffer
A_CRB_CTRL_REQ = 0x40  #: CRB control area offset: TPM2 "address of control area" = base + 0x40
TPM_LOG_AREA_MINIMUM_SIZE = 0x10000  #: QEMU TPM_LOG_AREA_MINIMUM_SIZE (LAML)
QEMU_CREATOR_ID = "BXPC"
QEMU_CREATOR_REVISION = 1

ACPI_TABLE_HEADER = cs.Struct(
    "signature" / cs.Bytes(4),
    "length" / cs.Int32ul,
    "revision" / cs.Int8ul,
    "checksum" / cs.Int8ul,  # built as 0, then patched by fix_checksum
    "oem_id" / cs.Bytes(6),
    "oem_table_id" / cs.Bytes(8),
    "oem_revision" / cs.Int32ul,
    "creator_id" / cs.Bytes(4),
    "creator_revision" / cs.Int32ul,
)

TPM2_TABLE = cs.Struct(
    "header" / ACPI_TABLE_HEADER,
    "platform_class" / cs.Int16ul,
    "reserved" / cs.Int16ul,
    "control_area_address" / cs.Int64ul,  # 0 for TIS; CRB base + 0x40
    "start_method" / cs.Int32ul,
    "start_method_params" / cs.Bytes(12),  # zero for start methods 6 and 7
    "laml" / cs.Int32ul,  # log area minimum length
    "lasa" / cs.Int64ul,  # log area start address (QEMU: patched by firmware)
)

TCPA_TABLE = cs.Struct(
    "header" / ACPI_TABLE_HEADER,
    "platform_class" / cs.Int16ul,
    "laml" / cs.Int32ul,
    "lasa" / cs.Int64ul,
)

#: signature -> (schema, revision, length): the tables ppikit builds and parses.
TABLE_LAYOUTS: dict[bytes, tuple[cs.Struct, int, int]] = {
    b"TPM2": (TPM2_TABLE, TPM2_TABLE_REVISION, TPM2_TABLE_LENGTH),
    b"TCPA": (TCPA_TABLE, TCPA_TABLE_REVISION, TCPA_TABLE_LENGTH),
}


def acpi_checksum(data: bytes) -> int:
    """The byte 9 value that makes ``data`` sum to 0 mod 256 (ignoring the current byte 9)."""
    rest = sum(data) - data[ACPI_CHECKSUM_OFFSET]
    return -rest & 0xFF


def fix_checksum(data: bytes) -> bytes:
    """``data`` with byte 9 set so the table sums to 0 (QEMU's raw tables carry 0 there)."""
    if len(data) < ACPI_HEADER_SIZE:
        raise LayoutError(f"an ACPI table has at least {ACPI_HEADER_SIZE} bytes, got {len(data)}",
                          field="header", offset=len(data))
    out = bytearray(data)
    out[ACPI_CHECKSUM_OFFSET] = acpi_checksum(data)
    return bytes(out)


def checksum_ok(data: bytes) -> bool:
    return sum(data) & 0xFF == 0


def _header(signature: bytes, params: SsdtParams, revision: int, length: int) -> dict[str, Any]:
    return {
        "signature": signature,
        "length": length,
        "revision": revision,
        "checksum": 0,
        "oem_id": params.oem_id.encode("ascii").ljust(6, b"\0"),
        "oem_table_id": params.oem_table_id.encode("ascii").ljust(8, b"\0"),
        "oem_revision": params.oem_revision,
        "creator_id": QEMU_CREATOR_ID.encode("ascii"),
        "creator_revision": QEMU_CREATOR_REVISION,
    }


def _build_table(schema: cs.Struct, values: dict[str, Any]) -> bytes:
    """Build a table whose top-level integer fields are range-checked first (a LASA past 64 bits
    is a :class:`LayoutError` naming field and offset), then patch its checksum."""
    offset = 0
    for field in schema.subcons:
        if isinstance(values.get(field.name), int):
            check_uint_field(field.name, offset, values[field.name], field.sizeof())
        offset += field.sizeof()
    return fix_checksum(schema.build(values))


def build_tpm2(params: SsdtParams, *, lasa: int = 0, laml: int = TPM_LOG_AREA_MINIMUM_SIZE) -> bytes:
    """TPM2 table (rev 4, 76 bytes) for a TPM 2.0 device; checksum patched."""
    params.validate()
    if params.tpm is not TpmVersion.TPM_2_0:
        raise LayoutError("a TPM2 table describes a TPM 2.0 device (TPM 1.2 gets TCPA)", field="tpm")
    crb = params.interface is Interface.CRB
    return _build_table(TPM2_TABLE, {
        "header": _header(b"TPM2", params, TPM2_TABLE_REVISION, TPM2_TABLE_LENGTH),
        "platform_class": TPM2_ACPI_CLASS_CLIENT,
        "reserved": 0,
        "control_area_address": params.mmio_base + A_CRB_CTRL_REQ if crb else 0,
        "start_method": TPM2_START_METHOD_CRB if crb else TPM2_START_METHOD_MMIO,
        "start_method_params": bytes(12),
        "laml": laml,
        "lasa": lasa,
    })


def build_tcpa(params: SsdtParams, *, lasa: int = 0, laml: int = TPM_LOG_AREA_MINIMUM_SIZE) -> bytes:
    """TCPA table (rev 2, client, 50 bytes) for a TPM 1.2 device; checksum patched."""
    params.validate()
    if params.tpm is not TpmVersion.TPM_1_2:
        raise LayoutError("a TCPA table describes a TPM 1.2 device (TPM 2.0 gets TPM2)", field="tpm")
    return _build_table(TCPA_TABLE, {
        "header": _header(b"TCPA", params, TCPA_TABLE_REVISION, TCPA_TABLE_LENGTH),
        "platform_class": TPM_TCPA_ACPI_CLASS_CLIENT,
        "laml": laml,
        "lasa": lasa,
    })


def build_tpm_table(params: SsdtParams, *, lasa: int = 0) -> tuple[str, bytes]:
    """``("TPM2", bytes)`` for TPM 2.0 or ``("TCPA", bytes)`` for TPM 1.2, as QEMU emits them."""
    if params.tpm is TpmVersion.TPM_2_0:
        return "TPM2", build_tpm2(params, lasa=lasa)
    return "TCPA", build_tcpa(params, lasa=lasa)


@dataclass(frozen=True)
class DecodedTable:
    """A parsed TPM2/TCPA table; ``checksum_ok`` is False only when decoding with ``verify=False``."""

    signature: str
    fields: dict[str, Any]
    checksum_ok: bool
    expected_checksum: int

    def to_dict(self) -> dict[str, Any]:
        return {"signature": self.signature, "checksum_ok": self.checksum_ok,
                "expected_checksum": self.expected_checksum, **self.fields}


def decode_table(data: bytes, *, verify: bool = True) -> DecodedTable:
    """Parse a TPM2 or TCPA table. Malformed bytes raise :class:`LayoutError` naming field and offset;
    a bad checksum raises too unless ``verify=False``, which reports it in ``checksum_ok`` instead."""
    data = bytes(data)
    if len(data) < ACPI_HEADER_SIZE:
        raise LayoutError(f"an ACPI table has at least {ACPI_HEADER_SIZE} bytes, got {len(data)}",
                          field="header", offset=len(data))
    signature = data[:4]
    if signature not in TABLE_LAYOUTS:
        raise LayoutError(f"signature {signature!r} is not one of {[s.decode() for s in TABLE_LAYOUTS]}",
                          field="signature", offset=0)
    schema, revision, length = TABLE_LAYOUTS[signature]
    header = ACPI_TABLE_HEADER.parse(data)
    if header.length != len(data):
        raise LayoutError(f"header length {header.length} but {len(data)} bytes given", field="length", offset=4)
    if header.revision != revision or header.length != length:
        raise LayoutError(f"{signature.decode()} revision {header.revision} / {header.length} bytes not supported "
                          f"(expected revision {revision}, {length} bytes)", field="revision", offset=8)
    expected = acpi_checksum(data)
    ok = checksum_ok(data)
    if verify and not ok:
        raise LayoutError(f"checksum 0x{data[ACPI_CHECKSUM_OFFSET]:02X}, bytes sum to 0x{sum(data) & 0xFF:02X} "
                          f"(expected 0x{expected:02X}; use fix_checksum)", field="checksum",
                          offset=ACPI_CHECKSUM_OFFSET)
    parsed = schema.parse(data)
    fields: dict[str, Any] = {}
    for key, value in parsed.items():
        if key.startswith("_"):
            continue
        if key == "header":
            fields.update({k: _plain(v) for k, v in value.items() if not k.startswith("_")})
        else:
            fields[key] = _plain(value)
    return DecodedTable(signature.decode(), fields, ok, expected)


def _plain(value: Any) -> Any:
    """JSON-friendly value: ASCII ids as text, other bytes as hex."""
    if isinstance(value, bytes):
        if value and all(0x20 <= b < 0x7F or b == 0 for b in value) and any(value):
            return value.decode("ascii")
        return value.hex()
    return value
