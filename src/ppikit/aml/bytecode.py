"""A small AML byte-code writer for the tables ppikit generates at run time (driver tables).

Why not iasl here: the acpiexec runtime turns every batch of evaluations into a tiny SSDT whose one
method performs the calls. That table is plain data plumbing (literal arguments, ``Store`` into a
result package, a dynamic ``OperationRegion`` for memory access), and writing its bytes directly is
exact (no ASL escaping, no ``External`` arity guesses, integers of the width we choose) and avoids an
iasl subprocess per batch. Anything a firmware author reads -- the TPM SSDT -- still comes from iasl;
the tests compile equivalent ASL with the real iasl and compare bytes.

Encodings follow the ACPI 6.4 specification, section 20.2 (AML grammar). Opcode names are the
spec's.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from functools import lru_cache

from ppikit.aml.tables import ACPI_HEADER_SIZE, fix_checksum
from ppikit.errors import UsageError

# -- opcodes (ACPI 6.4, 20.3 "AML Byte Stream Byte Values") -------------------------------------
ZERO_OP = 0x00
ONE_OP = 0x01
NAME_OP = 0x08
BYTE_PREFIX = 0x0A
WORD_PREFIX = 0x0B
DWORD_PREFIX = 0x0C
STRING_PREFIX = 0x0D
QWORD_PREFIX = 0x0E
BUFFER_OP = 0x11
PACKAGE_OP = 0x12
VAR_PACKAGE_OP = 0x13
METHOD_OP = 0x14
DUAL_NAME_PREFIX = 0x2E
MULTI_NAME_PREFIX = 0x2F
EXT_OP_PREFIX = 0x5B
ROOT_CHAR = 0x5C
LOCAL0_OP = 0x60
LOCAL1_OP = 0x61
LOCAL2_OP = 0x62
ARG0_OP = 0x68
ARG1_OP = 0x69
STORE_OP = 0x70
ADD_OP = 0x72
INCREMENT_OP = 0x75
DEREF_OF_OP = 0x83
INDEX_OP = 0x88
LNOT_OP = 0x92
LEQUAL_OP = 0x93
LGREATER_OP = 0x94
LLESS_OP = 0x95
IF_OP = 0xA0
WHILE_OP = 0xA2
RETURN_OP = 0xA4
NULL_NAME = 0x00
EXT_OP_REGION_OP = 0x80  #: after EXT_OP_PREFIX
EXT_FIELD_OP = 0x81  #: after EXT_OP_PREFIX
EXT_DEVICE_OP = 0x82  #: after EXT_OP_PREFIX
EXTERNAL_OP = 0x15
PARENT_PREFIX = 0x5E
OBJECT_TYPE_DEVICE = 0x06  #: ObjectType byte of ``External (..., DeviceObj)``

REGION_SPACE_SYSTEM_MEMORY = 0x00  #: RegionSpace byte of OperationRegion
FIELD_FLAGS_BYTE_ACC_PRESERVE = 0x01  #: AccessType ByteAcc, NoLock, Preserve
METHOD_FLAGS_SERIALIZED = 0x08  #: MethodFlags bit 3


_NAMESEG = re.compile(r"^[A-Z_][A-Z0-9_]{0,3}$")

#: Python values the writer accepts as AML data objects: int, str (ASCII), bytes, list/tuple
#: (Package), uuid.UUID (the 16-byte buffer ``ToUUID`` produces).
AmlArg = int | str | bytes | bytearray | list | tuple | uuid.UUID


def pkg_length_raw(value: int) -> bytes:
    """PkgLength encoding of ``value`` itself (a field unit's bit count; see :func:`pkg_length`)."""
    if value < 0x40:
        return bytes([value])
    for extra in (1, 2, 3):
        if value < 1 << (4 + 8 * extra):
            return bytes([(extra << 6) | (value & 0x0F)]) + (value >> 4).to_bytes(extra, "little")
    raise UsageError(f"length {value} exceeds the PkgLength limit")


def pkg_length(body_length: int) -> bytes:
    """PkgLength for a body of ``body_length`` bytes; the encoded length counts its own bytes."""
    for size in (1, 2, 3, 4):
        encoded = pkg_length_raw(body_length + size)
        if len(encoded) == size:
            return encoded
    raise UsageError(f"AML object of {body_length} bytes exceeds the PkgLength limit")


def name_segments(path: str) -> list[str]:
    """Split an ACPI path (with or without the leading ``\\``) into padded 4-character NameSegs.

    ``\\_SB.PCI0.SF8.TPM`` -> ``["_SB_", "PCI0", "SF8_", "TPM_"]``. Parent prefixes (``^``) are
    refused: every path ppikit generates is absolute.
    """
    if not isinstance(path, str) or not path:
        raise UsageError(f"ACPI path must be a non-empty string, got {path!r}")
    text = path[1:] if path.startswith("\\") else path
    if not text:
        return []
    segs = []
    for seg in text.split("."):
        seg = seg.upper() if seg.isascii() else seg
        if not _NAMESEG.match(seg):
            raise UsageError(f"invalid NameSeg {seg!r} in ACPI path {path!r}")
        segs.append(seg.ljust(4, "_"))
    return segs


@lru_cache(maxsize=4096)
def normalize_path(path: str) -> str:
    """The canonical absolute spelling ACPICA prints: ``\\_SB.PCI0.SF8.TPM`` (trailing ``_`` cut)."""
    return "\\" + ".".join(seg.rstrip("_") or "_" for seg in name_segments(path))


@lru_cache(maxsize=4096)
def name_string(path: str) -> bytes:
    """NameString: ``\\A.B.C`` is absolute (root char); ``ABCD`` is relative (a method-local name).

    The name path is a single NameSeg, a DualNamePath or a MultiNamePath by segment count.
    """
    segs = [seg.encode("ascii") for seg in name_segments(path)]
    out = bytes([ROOT_CHAR]) if path.startswith("\\") else b""
    if not segs:
        return out + bytes([NULL_NAME])
    if len(segs) == 1:
        return out + segs[0]
    if len(segs) == 2:
        return out + bytes([DUAL_NAME_PREFIX]) + b"".join(segs)
    if len(segs) > 255:
        raise UsageError(f"ACPI path {path!r} is too deep")
    return out + bytes([MULTI_NAME_PREFIX, len(segs)]) + b"".join(segs)


def parse_name_string(data: bytes, offset: int) -> tuple[str, int]:
    """Decode the NameString at ``data[offset:]``; return its text (``\\_SB.PCI0``) and end offset."""
    prefix = ""
    while data[offset] in (ROOT_CHAR, PARENT_PREFIX):
        prefix += chr(data[offset])
        offset += 1
    lead = data[offset]
    if lead == NULL_NAME:
        return prefix, offset + 1
    if lead == DUAL_NAME_PREFIX:
        count, offset = 2, offset + 1
    elif lead == MULTI_NAME_PREFIX:
        count, offset = data[offset + 1], offset + 2
    else:
        count = 1
    segs = [data[offset + 4 * i:offset + 4 * i + 4].decode("ascii").rstrip("_") or "_" for i in range(count)]
    return prefix + ".".join(segs), offset + 4 * count


def decode_pkg_length(data: bytes, offset: int) -> tuple[int, int]:
    """Decode the PkgLength at ``data[offset:]``: (encoded length, offset after the encoding)."""
    lead = data[offset]
    extra = lead >> 6
    if not extra:
        return lead & 0x3F, offset + 1
    value = lead & 0x0F
    for i in range(extra):
        value |= data[offset + 1 + i] << (4 + 8 * i)
    return value, offset + 1 + extra


def external_devices(table: bytes) -> list[str]:
    """Paths declared ``External (path, DeviceObj)`` at the start of an iasl-built table.

    iasl 20200925 emits the Externals first, wrapped in ``If (Zero) { ... }``; the scan stops at
    the first other opcode.
    """
    found: list[str] = []
    offset, end = ACPI_HEADER_SIZE, len(table)
    while offset < end:
        if table[offset] == IF_OP:
            length, body = decode_pkg_length(table, offset + 1)
            if table[body] != ZERO_OP:
                break
            found += external_devices(table[:ACPI_HEADER_SIZE] + table[body + 1:offset + 1 + length])
            offset += 1 + length
        elif table[offset] == EXTERNAL_OP:
            path, offset = parse_name_string(table, offset + 1)
            if table[offset] == OBJECT_TYPE_DEVICE:
                found.append(path)
            offset += 2  # ObjectType, ArgumentCount
        else:
            break
    return found


def integer(value: int, *, width: int = 64) -> bytes:
    """Smallest ComputationalData encoding of ``value``; refuses values that do not fit ``width`` bits."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(f"AML integer expected, got {value!r}")
    if value < 0 or value >= 1 << width:
        raise UsageError(
            f"integer {value:#x} does not fit the {width}-bit AML integers of the loaded tables"
            if value >= 0 else f"AML integers are unsigned, got {value}")
    if value == 0:
        return bytes([ZERO_OP])
    if value == 1:
        return bytes([ONE_OP])
    for prefix, size in ((BYTE_PREFIX, 1), (WORD_PREFIX, 2), (DWORD_PREFIX, 4), (QWORD_PREFIX, 8)):
        if value < 1 << (8 * size):
            return bytes([prefix]) + value.to_bytes(size, "little")
    raise AssertionError("unreachable: width check above bounds the value")


def string(value: str) -> bytes:
    """String data object; AML strings are ASCII 0x01-0x7F, NUL-terminated."""
    raw = value.encode("ascii", errors="strict") if value.isascii() else None
    if raw is None or 0 in raw:
        raise UsageError(f"AML strings hold ASCII 0x01-0x7F only, got {value!r}")
    return bytes([STRING_PREFIX]) + raw + b"\x00"


def buffer(value: bytes) -> bytes:
    """Buffer data object of exactly ``len(value)`` bytes."""
    body = integer(len(value)) + bytes(value)
    return bytes([BUFFER_OP]) + pkg_length(len(body)) + body


def package(elements: Sequence[AmlArg], *, width: int = 64) -> bytes:
    """Package (up to 255 elements) or VarPackage (more) of data objects."""
    items = b"".join(data_object(e, width=width) for e in elements)
    if len(elements) <= 255:
        body = bytes([len(elements)]) + items
        return bytes([PACKAGE_OP]) + pkg_length(len(body)) + body
    body = integer(len(elements), width=width) + items
    return bytes([VAR_PACKAGE_OP]) + pkg_length(len(body)) + body


def data_object(value: AmlArg, *, width: int = 64) -> bytes:
    """Encode a Python value as an AML data object (see :data:`AmlArg`)."""
    if isinstance(value, uuid.UUID):
        return _uuid_buffer(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return buffer(bytes(value))
    if isinstance(value, str):
        return string(value)
    if isinstance(value, (list, tuple)):
        return package(value, width=width)
    if isinstance(value, int) and not isinstance(value, bool):
        return integer(value, width=width)
    raise UsageError(f"cannot pass {type(value).__name__} {value!r} to AML "
                     "(use int, str, bytes, list/tuple or uuid.UUID)")


@lru_cache(maxsize=64)
def _uuid_buffer(value: uuid.UUID) -> bytes:
    return buffer(value.bytes_le)  # ToUUID byte order: first three groups little-endian


def method(path: str, arg_count: int, body: bytes, *, serialized: bool = False) -> bytes:
    """``Method (path, arg_count[, Serialized]) { body }``."""
    flags = arg_count | (METHOD_FLAGS_SERIALIZED if serialized else 0)
    inner = name_string(path) + bytes([flags]) + body
    return bytes([METHOD_OP]) + pkg_length(len(inner)) + inner


def name(path: str, value: bytes) -> bytes:
    """``Name (path, <encoded data object>)``."""
    return bytes([NAME_OP]) + name_string(path) + value


def device(path: str, body: bytes = b"") -> bytes:
    """``Device (path) { body }``."""
    inner = name_string(path) + body
    return bytes([EXT_OP_PREFIX, EXT_DEVICE_OP]) + pkg_length(len(inner)) + inner


def if_arg0_at_most(limit: int, body: bytes, *, width: int) -> bytes:
    """``If (Arg0 <= limit) { body }`` (encoded as ``LNot (LGreater (Arg0, limit))``)."""
    inner = bytes([LNOT_OP, LGREATER_OP, ARG0_OP]) + integer(limit, width=width) + body
    return bytes([IF_OP]) + pkg_length(len(inner)) + inner


def store(source: bytes, target: bytes) -> bytes:
    """``Store (source, target)`` of two already encoded terms."""
    return bytes([STORE_OP]) + source + target


def index_of(path: str, position: int, *, width: int) -> bytes:
    """``Index (path, position)`` as a store target (no Index result target)."""
    return bytes([INDEX_OP]) + name_string(path) + integer(position, width=width) + bytes([NULL_NAME])


def _block(opcode: int, predicate: bytes, body: bytes) -> bytes:
    inner = predicate + body
    return bytes([opcode]) + pkg_length(len(inner)) + inner


def blocks_slice_method(path: str, blocks: Sequence[str], *, width: int) -> bytes:
    """A method returning ``Package (Arg1) {blocks[Arg0], blocks[Arg0 + 1], ...}`` (copies of the packages).

    Why blocks: ACPICA walks every element of a package (recursively) to update reference counts each
    time the package is referenced, so one large result package makes each store O(n). Results live
    in small block packages; this method hands a run of them to the debugger in one evaluation. ASL::

        Method (path, 2, Serialized) {
            Local0 = Package (Arg1) {}
            Local1 = Zero
            While (Local1 < Arg1) {
                Local2 = Arg0 + Local1
                If (Local2 == 0) { Local0 [Local1] = blocks[0] }  ...  (one If per block)
                Local1++
            }
            Return (Local0)
        }
    """
    new_package = bytes([VAR_PACKAGE_OP]) + pkg_length(1) + bytes([ARG1_OP])
    selects = b"".join(_block(IF_OP, bytes([LEQUAL_OP, LOCAL2_OP]) + integer(i, width=width),
                              store(name_string(block), bytes([INDEX_OP, LOCAL0_OP, LOCAL1_OP, NULL_NAME])))
                       for i, block in enumerate(blocks))
    per_block = bytes([ADD_OP, ARG0_OP, LOCAL1_OP, LOCAL2_OP]) + selects + bytes([INCREMENT_OP, LOCAL1_OP])
    body = (store(new_package, bytes([LOCAL0_OP])) + store(bytes([ZERO_OP]), bytes([LOCAL1_OP]))
            + _block(WHILE_OP, bytes([LLESS_OP, LOCAL1_OP, ARG1_OP]), per_block)
            + return_(bytes([LOCAL0_OP])))
    return method(path, 2, body, serialized=True)


def blocks_element_method(path: str, blocks: Sequence[str], *, width: int) -> bytes:
    """A method returning element ``Arg1`` of ``blocks[Arg0]`` (for results too big to return in bulk).

    ASL: ``Method (path, 2, Serialized) { If (Arg0 == 0) { Local0 = blocks[0] } ...
    Return (DerefOf (Local0 [Arg1])) }``
    """
    body = (b"".join(_block(IF_OP, bytes([LEQUAL_OP, ARG0_OP]) + integer(i, width=width),
                            store(name_string(block), bytes([LOCAL0_OP])))
                     for i, block in enumerate(blocks))
            + return_(bytes([DEREF_OF_OP, INDEX_OP, LOCAL0_OP, ARG1_OP, NULL_NAME])))
    return method(path, 2, body, serialized=True)


def return_(term: bytes) -> bytes:
    """``Return (term)``."""
    return bytes([RETURN_OP]) + term


def invocation(path: str, args: Iterable[AmlArg], *, width: int) -> bytes:
    """MethodInvocation (or plain name reference when ``args`` is empty): NameString + TermArgs."""
    return name_string(path) + b"".join(data_object(a, width=width) for a in args)


def operation_region(path: str, address: int, length: int, *, width: int) -> bytes:
    """``OperationRegion (path, SystemMemory, address, length)``."""
    return (bytes([EXT_OP_PREFIX, EXT_OP_REGION_OP]) + name_string(path) + bytes([REGION_SPACE_SYSTEM_MEMORY])
            + integer(address, width=width) + integer(length, width=width))


def field(region: str, unit: str, bits: int) -> bytes:
    """``Field (region, ByteAcc, NoLock, Preserve) { unit, bits }`` -- one unit from offset 0."""
    seg = name_segments(unit)
    if len(seg) != 1:
        raise UsageError(f"field unit name must be one NameSeg, got {unit!r}")
    inner = name_string(region) + bytes([FIELD_FLAGS_BYTE_ACC_PRESERVE]) + seg[0].encode() + pkg_length_raw(bits)
    return bytes([EXT_OP_PREFIX, EXT_FIELD_OP]) + pkg_length(len(inner)) + inner


def definition_block(body: bytes, *, oem_table_id: str, revision: int = 2, signature: str = "SSDT",
                     oem_id: str = "PPIKIT", oem_revision: int = 1) -> bytes:
    """A complete ACPI table (36-byte header + AML) with a correct checksum."""
    length = ACPI_HEADER_SIZE + len(body)  # 36-byte header, ACPI 6.4 table 5.4
    header = (signature.encode("ascii") + length.to_bytes(4, "little") + bytes([revision, 0])
              + oem_id.encode("ascii").ljust(6)[:6] + oem_table_id.encode("ascii").ljust(8)[:8]
              + oem_revision.to_bytes(4, "little") + b"PPIK" + (1).to_bytes(4, "little"))
    return fix_checksum(header + body)
