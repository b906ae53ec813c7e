"""Read the tables a user hands to ``ppikit check``/``diff``: binary AML files or ``acpidump`` text.

Why both: firmware authors have ``.aml`` files from their build; anyone debugging a real machine or
another VMM has ``acpidump`` output (a hex dump per table, ``SIG @ 0xADDRESS`` then ``OFFS: XX ...``
lines). The text is split by ACPICA's own ``acpixtract`` (the tool that defines the format) rather
than by a parser of ours, so whatever acpidump version wrote it, the bytes are ACPICA's reading.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ppikit._files import read_input_file
from ppikit._subprocess import run_tool
from ppikit.aml.tables import ACPI_HEADER_SIZE, checksum_ok
from ppikit.errors import LayoutError, UsageError

ACPIXTRACT_TIMEOUT = 30.0
#: The line acpidump writes before each table's hex dump.
_TABLE_LINE = re.compile(r"^\s*[A-Za-z0-9_!]{4} @ 0x[0-9A-Fa-f]+\s*$", re.M)
_SIGNATURE = re.compile(rb"^[A-Z0-9_!]{4}$")
_DAT_ORDER = re.compile(r"^([a-z0-9_!]+?)(\d*)\.dat$")


@dataclass(frozen=True)
class AcpiTable:
    """One ACPI table's bytes and where they came from (``file`` or ``file:SSDT#2``)."""

    label: str
    data: bytes

    @property
    def signature(self) -> str:
        return self.data[:4].decode("latin-1")

    @property
    def revision(self) -> int:
        return self.data[8]

    @property
    def checksum_ok(self) -> bool:
        return checksum_ok(self.data)

    @property
    def is_aml(self) -> bool:
        return self.signature in ("DSDT", "SSDT")


def read_tables(paths: list[str | Path]) -> list[AcpiTable]:
    """Every table of every file, in order; an acpidump text file yields all the tables it holds."""
    if not paths:
        raise UsageError("no table given")
    tables: list[AcpiTable] = []
    for path in paths:
        try:
            data = read_input_file(path)
        except OSError as exc:
            raise UsageError(f"cannot read table {str(path)!r}: {exc.strerror or exc}") from None
        if is_acpidump_text(data):
            tables.extend(split_acpidump(data, str(path)))
        else:
            tables.append(parse_table(data, str(path)))
    return tables


def is_acpidump_text(data: bytes) -> bool:
    """True for acpidump's text format (a ``SIG @ 0x...`` line); binary tables never decode as such."""
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return False
    return _TABLE_LINE.search(text) is not None


def parse_table(data: bytes, label: str) -> AcpiTable:
    """Check that ``data`` is one whole ACPI table (signature, header length = file size)."""
    if len(data) < ACPI_HEADER_SIZE:
        raise LayoutError(f"{label}: {len(data)} bytes is shorter than the {ACPI_HEADER_SIZE}-byte ACPI header "
                          "(and not acpidump text)", field="header", offset=len(data))
    if not _SIGNATURE.match(data[:4]):
        raise LayoutError(f"{label}: {data[:4]!r} is not an ACPI table signature (and not acpidump text)",
                          field="signature", offset=0)
    declared = int.from_bytes(data[4:8], "little")
    if declared != len(data):
        raise LayoutError(f"{label}: header length {declared} but the file has {len(data)} bytes",
                          field="length", offset=4)
    return AcpiTable(label, data)


def split_acpidump(text: bytes, label: str) -> list[AcpiTable]:
    """The tables of an acpidump text dump, via ``acpixtract -a`` (DSDT first, then in dump order)."""
    with tempfile.TemporaryDirectory(prefix="ppikit-acpixtract-") as tmp:
        dump = Path(tmp) / "acpidump.txt"
        dump.write_bytes(text)
        run_tool(["acpixtract", "-a", dump.name], cwd=tmp, timeout=ACPIXTRACT_TIMEOUT)
        files = sorted(Path(tmp).glob("*.dat"), key=_dat_key)
        if not files:
            raise UsageError(f"{label}: acpidump text without any table acpixtract could extract")
        counts: dict[str, int] = {}
        tables = []
        for file in files:
            data = file.read_bytes()
            signature = data[:4].decode("latin-1")
            counts[signature] = counts.get(signature, 0) + 1
            tables.append(parse_table(data, f"{label}:{signature}#{counts[signature]}"))
    return tables


def _dat_key(path: Path) -> tuple[int, str, int]:
    """acpixtract names files ``dsdt.dat``, ``ssdt1.dat``, ``ssdt2.dat``...: DSDT first, then by number."""
    m = _DAT_ORDER.match(path.name)
    stem, number = (m.group(1), int(m.group(2) or 0)) if m else (path.name, 0)
    return (0 if stem == "dsdt" else 1, stem, number)
