"""``ppikit dsm``: evaluate one ``_DSM`` in real ACPICA and show what it did to the PPI page.

Why a command: it is the shortest way to ask "what does this table answer to Linux's call?" and to
see the page bytes the AML writes -- the two things a firmware author debugs -- without writing
Python. All logic lives in :class:`ppikit.aml.runtime.AcpiRuntime`.
"""

from __future__ import annotations

from typing import Any

import click

from ppikit.aml.runtime import TPM_HIDS, AcpiRuntime, resolve_uuid, with_stand_in_dsdt
from ppikit.aml.values import AmlValue
from ppikit.cli._common import echo_json, parse_int, read_input, write_output
from ppikit.errors import UsageError
from ppikit.ppi.page import TPM_PPI_ADDR_BASE, TPM_PPI_ADDR_SIZE, PpiPage


def parse_arg(text: str) -> int | str | bytes:
    """``5`` / ``0x5`` -> Integer, ``s:TEXT`` -> String, ``b:01ff`` -> Buffer."""
    if text.startswith("s:"):
        return text[2:]
    if text.startswith("b:"):
        try:
            return bytes.fromhex(text[2:])
        except ValueError:
            raise UsageError(f"--arg {text!r}: b: needs hex digits") from None
    return parse_int(text, "--arg")


def format_value(value: AmlValue) -> str:
    """One-line ASL-like text: ``5``, ``1.3``, ``Buffer {FF 01}``, ``Package {0, 5, 0}``."""
    if value is None:
        return "(no return value)"
    if isinstance(value, bytes):
        return "Buffer {" + " ".join(f"{b:02X}" for b in value) + "}"
    if isinstance(value, list):
        return "Package {" + ", ".join(format_value(v) for v in value) + "}"
    return str(value)


def json_value(value: AmlValue) -> Any:
    """JSON form: bytes as ``{"buffer": "ff01"}``, everything else as is."""
    if isinstance(value, bytes):
        return {"buffer": value.hex()}
    if isinstance(value, list):
        return [json_value(v) for v in value]
    return value


def page_changes(before: bytes, after: bytes) -> list[tuple[str, int | None, int | None]]:
    """(field, old, new) for every PPI page field that differs; func[] entries one by one;
    reserved byte ranges as (name, None, None)."""
    old, new = PpiPage.parse(before).to_dict(), PpiPage.parse(after).to_dict()
    changes: list[tuple[str, int | None, int | None]] = []
    for name, value in old.items():
        if name == "func":
            changes += [(f"func[{op}]", a, b) for op, (a, b) in enumerate(zip(value, new[name])) if a != b]
        elif value != new[name]:
            changes.append((name, value, new[name]) if isinstance(value, int) else (name, None, None))
    return changes


@click.command("dsm")
@click.argument("tables_and_function", nargs=-1, required=True, metavar="TABLE.aml... FUNCTION")
@click.option("--page", "page_file", metavar="FILE", help="0x400-byte PPI page to load first (default: all zero).")
@click.option("--write-page", "write_page", metavar="FILE", help="Save the page after the call to this file.")
@click.option("--device", metavar="PATH", help="TPM device path (default: the one device with _HID MSFT0101/PNP0C31).")
@click.option("--uuid", "dsm_uuid", metavar="UUID", default="ppi", show_default=True, help="ppi, mor, or a UUID.")
@click.option("--rev", "revision", metavar="N", default="1", show_default=True, help="_DSM revision (Arg1).")
@click.option("--arg", "args", metavar="VALUE", multiple=True, help="Element of the Arg3 package: 5, 0x5, s:TEXT, b:HEX.")
@click.option("--ppi-address", metavar="ADDR", default=hex(TPM_PPI_ADDR_BASE), show_default=True, help="PPI page address.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def dsm(tables_and_function: tuple[str, ...], page_file: str | None, write_page: str | None,
        device: str | None, dsm_uuid: str, revision: str, args: tuple[str, ...], ppi_address: str,
        as_json: bool) -> None:
    """Evaluate DEVICE._DSM(UUID, REV, FUNCTION, Package{ARG...}) in acpiexec and print the result
    and every PPI page field it changed.

    Tables with checksum 0 (QEMU's raw tables) are fixed. Without a DSDT, a stand-in DSDT declares
    the scopes the SSDTs name as External devices (revision 1: 32-bit integers, as QEMU's x86 DSDT).
    """
    if len(tables_and_function) < 2:
        raise UsageError("give at least one TABLE.aml and a FUNCTION number")
    *table_files, function_text = tables_and_function
    function = parse_int(function_text, "FUNCTION")
    tables = with_stand_in_dsdt([read_input(t, "table") for t in table_files])
    address = parse_int(ppi_address, "--ppi-address")
    page = read_input(page_file, "page") if page_file else PpiPage.blank().build()
    PpiPage.parse(page)  # validate size and layout before starting acpiexec
    arguments = [parse_arg(a) for a in args]
    with AcpiRuntime(tables, fix_checksums=True, memory_windows=[(address, TPM_PPI_ADDR_SIZE)]) as runtime:
        path = device or _only_tpm(runtime)
        runtime.write_memory(address, page)
        result = runtime.dsm(path, resolve_uuid(dsm_uuid), parse_int(revision, "--rev"), function, arguments)
        after = runtime.read_memory(address, TPM_PPI_ADDR_SIZE)
    if write_page:
        write_output(write_page, after, "page")
    changes = page_changes(page, after)
    if as_json:
        echo_json({"device": path, "result": json_value(result),
                   "page_changes": {name: [a, b] for name, a, b in changes}})
        return
    click.echo(format_value(result))
    for name, a, b in changes:
        click.echo(f"{name} {a} -> {b}" if a is not None else f"{name} changed")


def _only_tpm(runtime: AcpiRuntime) -> str:
    devices = runtime.find_devices(TPM_HIDS)
    if len(devices) != 1:
        found = ", ".join(devices) or "none"
        raise UsageError(f"expected exactly one TPM device (_HID {'/'.join(TPM_HIDS)}), found {found}; "
                         "use --device")
    return devices[0]


COMMANDS = [dsm]
