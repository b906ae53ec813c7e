"""The one exception hierarchy of ppikit.

Library code raises these and never prints or exits; the CLI turns them into one line on stderr and
exit status 2 (bad input) or 1 (checked and found a problem). Each class carries what a user needs to
act: the field and offset of a bad byte, the template and line of an ASL error, the AML path and AE_
status of a failed evaluation, the command line and log tail of a failed subprocess.
"""

from __future__ import annotations

from collections.abc import Sequence


class PpikitError(Exception):
    """Root of every error ppikit raises on purpose."""


class LayoutError(PpikitError, ValueError):
    """A binary record (PPI page, fw_cfg entry, ACPI table, TPM message) is malformed.

    ``field`` and ``offset`` name where: the message always starts with them so a one-line CLI
    error says exactly which byte is wrong.
    """

    def __init__(self, message: str, *, field: str | None = None, offset: int | None = None) -> None:
        self.field = field
        self.offset = offset
        where = []
        if field is not None:
            where.append(field)
        if offset is not None:
            where.append(f"@0x{offset:03X}")
        prefix = " ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)


def check_uint_field(name: str, offset: int, value: object, size: int) -> None:
    """Raise :class:`LayoutError` unless ``value`` fits the ``size``-byte unsigned field ``name`` at
    ``offset`` (checked before construct builds, whose own error names neither)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise LayoutError(f"must be an integer, got {type(value).__name__}", field=name, offset=offset)
    limit = 1 << (8 * size)
    if not 0 <= value < limit:
        raise LayoutError(f"value {value} outside 0..0x{limit - 1:X} ({8 * size}-bit field)",
                          field=name, offset=offset)


class UsageError(PpikitError, ValueError):
    """A caller passed a value ppikit cannot accept (bad name, out-of-range parameter)."""


class ToolError(PpikitError):
    """An external tool (iasl, acpiexec, swtpm) failed, timed out, or is not installed.

    Carries the command line and the tail of its output so the failure can be reproduced by hand.
    """

    def __init__(self, message: str, *, argv: Sequence[str] = (), log: str = "") -> None:
        self.argv = list(argv)
        self.log = log
        super().__init__(message)

    def __str__(self) -> str:
        text = self.args[0]
        if self.argv:
            text += f" [command: {' '.join(self.argv)}]"
        tail = self.log.strip().splitlines()[-8:]
        if tail:
            text += " [log: " + " | ".join(tail) + "]"
        return text


class ToolMissingError(ToolError):
    """A required external program is not on PATH; the message names the Debian package."""
