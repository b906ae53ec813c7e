"""``ppikit region decode|encode``: the 0x400-byte PPI page as a file."""

from __future__ import annotations

import click

from ppikit.cli._common import echo_json, parse_assignment, parse_int, read_input, table, tpm_option, write_output
from ppikit.errors import LayoutError, UsageError
from ppikit.ppi.operations import lookup, response_text
from ppikit.ppi.page import FIELD_OFFSETS, SCALAR_FIELDS, TPM_PPI_FUNC_MASK, PpiFunc, PpiPage
from ppikit.tpm.version import TpmVersion

_OP_FIELDS = ("pprq", "lppr", "next_step")


def _number(value: int) -> str:
    return f"0x{value:08X}" if value > 0xFFFF else str(value)


def _scalar_text(name: str, value: int, tpm: TpmVersion) -> str:
    if name == "pprp":
        return f"{_number(value)} ({response_text(value)})"
    if name in _OP_FIELDS and value <= 0xFF:
        return f"{value} ({lookup(tpm, value).name})"
    if name == "movv" and value & 1:
        return f"{value} (clear memory on reset)"
    return _number(value)


def describe_page(page: PpiPage, tpm: TpmVersion) -> list[tuple[str, ...]]:
    """Rows ``(name, "=", value, offset)`` of the human table; func[] lists non-zero entries only."""
    rows: list[tuple[str, ...]] = []
    for name in SCALAR_FIELDS:
        rows.append((name, "=", _scalar_text(name, getattr(page, name), tpm), f"@0x{FIELD_OFFSETS[name][0]:03X}"))
    for name in ("res1", "reserved"):
        raw = bytes(getattr(page, name))
        if any(raw):
            rows.append((name, "=", f"{sum(map(bool, raw))} non-zero bytes", f"@0x{FIELD_OFFSETS[name][0]:03X}"))
    for op, raw in enumerate(page.func):
        if raw:
            flag = raw & TPM_PPI_FUNC_MASK
            meaning = PpiFunc(flag).description if flag <= PpiFunc.ALLOWED_USR_NOT_REQ else "undefined flag"
            extra = f" [raw 0x{raw:02X}]" if raw & ~TPM_PPI_FUNC_MASK else ""
            rows.append((f"func[{op}]", "=", f"{flag} {meaning} ({lookup(tpm, op).name}){extra}", f"@0x{op:03X}"))
    zero = page.func.count(0)
    rows.append(("func[*]", "=", f"0 not implemented for the other {zero} operations", ""))
    return rows


@click.group()
def region() -> None:
    """The PPI page (0x400 bytes at 0xFED45000) as a file."""


@region.command()
@click.argument("file")
@tpm_option(help="TPM family used to name operations")
@click.option("--json", "as_json", is_flag=True, help="stable machine output")
def decode(file: str, tpm: TpmVersion, as_json: bool) -> None:
    """Decode a PPI page file."""
    page = PpiPage.parse(read_input(file, "PPI page"))
    if as_json:
        echo_json(page.to_dict())
    else:
        click.echo(table(describe_page(page, tpm)))


@region.command()
@click.option("--from", "base", metavar="FILE", help="start from this page instead of an all-zero one")
@click.option("--set", "sets", multiple=True, metavar="FIELD=VALUE", help=f"set a field ({', '.join(SCALAR_FIELDS)})")
@click.option("--func", "funcs", multiple=True, metavar="OP=VALUE", help="set func[OP] (raw byte 0..255)")
@click.option("-o", "--output", required=True, metavar="FILE", help="where to write the 0x400-byte page")
def encode(base: str | None, sets: tuple[str, ...], funcs: tuple[str, ...], output: str) -> None:
    """Build a PPI page from field assignments."""
    page = PpiPage.parse(read_input(base, "PPI page")) if base else PpiPage.blank()
    for item in sets:
        name, value = parse_assignment(item, "--set")
        if name not in SCALAR_FIELDS:
            raise LayoutError(f"--set {item!r}: not a settable field (settable: {', '.join(SCALAR_FIELDS)})",
                              field=name)
        setattr(page, name, parse_int(value, f"--set {name}"))
    for item in funcs:
        op_text, value = parse_assignment(item, "--func")
        op = parse_int(op_text, "--func OP")
        if not 0 <= op <= 0xFF:
            raise UsageError(f"--func {item!r}: operation {op} outside 0..255")
        page.func[op] = parse_int(value, f"--func {op}")
    write_output(output, page.build(), "PPI page")


COMMANDS = [region]
