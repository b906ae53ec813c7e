"""``ppikit linux-ppi``: what ``/sys/class/tpm/tpm0/ppi/`` shows on Linux for these tables and page.

The command holds no logic: it starts an acpiexec session over the tables, puts the page into
guest memory, lets :mod:`ppikit.ppi.os_linux` do what the kernel does, and prints the result as a
shell transcript (``echo ... > request`` then ``cat`` of every file), errors as ``cat`` shows them.
"""

from __future__ import annotations

from typing import Any

import click

from ppikit.aml.runtime import AcpiRuntime, with_stand_in_dsdt
from ppikit.cli import EXIT_PROBLEM
from ppikit.cli._common import echo_json, read_input, write_output
from ppikit.ppi.os_linux import (
    AcpiValue,
    DsmCall,
    LinuxPpiSysfs,
    NoPpiDirectory,
    OperationsFormat,
    OtherObject,
    SysfsError,
    aml_text,
    attach,
)
from ppikit.ppi.page import TPM_PPI_ADDR_BASE, TPM_PPI_ADDR_SIZE, PpiPage


@click.command("linux-ppi")
@click.argument("tables", nargs=-1, required=True, metavar="TABLE.aml...")
@click.option("--page", metavar="FILE", help="0x400-byte PPI page loaded at 0xFED45000 first (default: all zero)")
@click.option("--save-page", metavar="FILE", help="write the page back to FILE at the end")
@click.option("--write-request", "request", metavar='"OP [PARAM]"',
              help='do `echo "OP [PARAM]" > request` before reading the files')
@click.option("--format", "fmt", type=click.Choice([f.value for f in OperationsFormat]), default="classic",
              show_default=True, help="tcg_operations/vs_operations: Linux <= 2025 or the 2025 cached format")
@click.option("--device", metavar="PATH", help="ACPI path of the TPM device (default: found by _HID/_CID)")
@click.option("--calls", "show_calls", is_flag=True, help="also list every _DSM call Linux made")
@click.option("--json", "as_json", is_flag=True, help="stable machine output")
def linux_ppi(tables: tuple[str, ...], page: str | None, save_page: str | None, request: str | None, fmt: str,
              device: str | None, show_calls: bool, as_json: bool) -> int:
    """Print every PPI sysfs file as Linux (drivers/char/tpm/tpm_ppi.c) would for these tables.

    Exit 0 when every file reads, 1 when a read fails or there is no ppi directory at all (the
    write's own result, e.g. EPERM for a blocked operation, does not count), 2 for bad input.
    """
    table_bytes = with_stand_in_dsdt([read_input(path, "ACPI table") for path in tables])
    # Linux loads a table whose checksum is wrong (with a warning); QEMU's raw tables carry 0.
    page_bytes = PpiPage.parse(read_input(page, "PPI page")).build() if page else None
    with AcpiRuntime(table_bytes, fix_checksums=True) as runtime:
        if page_bytes is not None:
            runtime.write_memory(TPM_PPI_ADDR_BASE, page_bytes)
        try:
            sysfs = attach(runtime, device=device, operations_format=OperationsFormat(fmt))
        except NoPpiDirectory as exc:
            _save(runtime, save_page)
            if as_json:
                echo_json({"ppi_directory": False, "reason": str(exc)})
            else:
                click.echo(f"no /sys/class/tpm/tpm0/ppi directory: {exc}")
            return EXIT_PROBLEM
        write = _write(sysfs, request) if request is not None else None
        reads = sysfs.read_all()
        _save(runtime, save_page)
    device_path = getattr(sysfs.dsm, "device", "")
    if as_json:
        echo_json({
            "ppi_directory": True,
            "device": device_path,
            "format": fmt,
            "write": write,
            "files": {read.file: read.to_dict() for read in reads},
            "calls": [_call_json(call) for call in sysfs.calls],
        })
    else:
        click.echo(f"# /sys/class/tpm/tpm0/ppi for {device_path}")
        if write is not None:
            click.echo(f"$ echo \"{request}\" > request")
            if write["errno"] is not None:
                click.echo(f"bash: echo: write error: {write['strerror']} [{write['errno']}]")
        for read in reads:
            click.echo(f"$ cat {read.file}")
            click.echo(read.cat(), nl=False)
        if show_calls:
            click.echo("# _DSM calls (revision, function, Arg3 -> result):")
            for call in sysfs.calls:
                click.echo(f"#   rev {call.revision} fn {call.function} {aml_text(call.argument)} -> "
                           f"{'(none)' if call.result is None else aml_text(call.result)}")
    return EXIT_PROBLEM if any(read.error is not None for read in reads) else 0


def _write(sysfs: LinuxPpiSysfs, request: str) -> dict[str, Any]:
    """``echo REQUEST > request`` (echo adds the newline)."""
    text = f"{request}\n"
    try:
        count = sysfs.write_request(text)
    except SysfsError as exc:
        return {"input": text, "bytes": None, "errno": exc.errno_name, "strerror": exc.strerror,
                "reason": exc.reason or None}
    return {"input": text, "bytes": count, "errno": None, "strerror": None, "reason": None}


def _save(runtime: AcpiRuntime, path: str | None) -> None:
    if path is not None:
        write_output(path, runtime.read_memory(TPM_PPI_ADDR_BASE, TPM_PPI_ADDR_SIZE), "PPI page")


def _json_value(value: AcpiValue | None) -> Any:
    if isinstance(value, OtherObject):
        return {"other": value.kind}
    if isinstance(value, (bytes, bytearray)):
        return {"buffer": bytes(value).hex()}
    if isinstance(value, (tuple, list)):
        return {"package": [_json_value(element) for element in value]}
    return value


def _call_json(call: DsmCall) -> dict[str, Any]:
    return {"revision": call.revision, "function": call.function, "argument": _json_value(call.argument),
            "result": _json_value(call.result)}


COMMANDS = [linux_ppi]
