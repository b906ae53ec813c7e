"""Small helpers shared by the CLI modules: argument parsing and output formatting."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ppikit._files import read_input_file
from ppikit.errors import UsageError
from ppikit.tpm.version import TpmVersion


def parse_int(text: str, what: str) -> int:
    """An integer in any Python base notation (``5``, ``0x5``, ``0b101``), or a UsageError."""
    try:
        return int(text.strip().replace("_", ""), 0)
    except ValueError:
        raise UsageError(f"{what}: {text!r} is not an integer") from None


def parse_assignment(text: str, option: str) -> tuple[str, str]:
    """Split ``NAME=VALUE``."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise UsageError(f"{option} {text!r}: expected NAME=VALUE")
    return name.strip(), value.strip()


def read_input(path: str, what: str) -> bytes:
    """Read a file the user named; errors say which file and why."""
    try:
        return read_input_file(path)
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path!r}: {exc.strerror or exc}") from None


def write_output(path: str, data: bytes, what: str) -> None:
    try:
        Path(path).write_bytes(data)
    except OSError as exc:
        raise UsageError(f"cannot write {what} {path!r}: {exc.strerror or exc}") from None


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True))


def table(rows: list[tuple[str, ...]]) -> str:
    """Left-aligned columns, two spaces apart."""
    if not rows:
        return ""
    widths = [max(len(row[i]) for row in rows if i < len(row)) for i in range(max(map(len, rows)))]
    return "\n".join("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows)


TPM_CHOICE = click.Choice(["1.2", "2.0"])


def tpm_option(default: str | None = "2.0", help: str = "TPM family") -> Any:
    return click.option("--tpm", "tpm", type=TPM_CHOICE, default=default, show_default=default is not None,
                        callback=lambda ctx, p, v: None if v is None else TpmVersion.from_label(v), help=help)
