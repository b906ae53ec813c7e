"""``ppikit ssdt``, ``ppikit tpm2-table``, ``ppikit tcpa-table``, ``ppikit table decode``,
``ppikit golden check|update``.

Thin wrappers over :mod:`ppikit.aml`: build the TPM SSDT and its TPM2/TCPA table for a platform,
decode such a table, and keep the shipped golden corpus honest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ppikit.aml import golden
from ppikit.aml.iasl import disassemble
from ppikit.aml.params import Interface, Profile, SsdtParams
from ppikit.aml.render import build_scope_dsdt, build_ssdt, render_ssdt
from ppikit.aml.tables import TPM_LOG_AREA_MINIMUM_SIZE, build_tcpa, build_tpm2, decode_table
from ppikit.cli._common import TPM_CHOICE, echo_json, parse_int, read_input, table, write_output

EXIT_DRIFT = 1


_INTERFACE = click.option("--interface", type=click.Choice([i.value for i in Interface]), required=True,
                          help="TIS (FIFO) or CRB")
_OEM_OPTIONS = (
    click.option("--oem-id", default="BOCHS ", show_default=True, help="header OEM ID (1-6 chars)"),
    click.option("--oem-table-id", default="BXPC    ", show_default=True, help="header OEM table ID (1-8 chars)"),
)
_MMIO_BASE = click.option("--mmio-base", default="0xFED40000", show_default=True, help="TPM register window base")
_LOG_AREA_OPTIONS = (
    click.option("--lasa", default="0", show_default=True,
                 help="log area start address (QEMU leaves 0 for the firmware to patch)"),
    click.option("--laml", default=f"0x{TPM_LOG_AREA_MINIMUM_SIZE:X}", show_default=True,
                 help="log area minimum length"),
)


def _options(*options: Any) -> Any:
    """Apply click options in the order given (first = first in --help)."""
    def apply(func: Any) -> Any:
        for option in reversed(options):
            func = option(func)
        return func
    return apply


def _params(**kw: Any) -> SsdtParams:
    for key in ("mmio_base", "mmio_size", "ppi_address"):
        if kw.get(key) is not None:
            kw[key] = parse_int(kw[key], "--" + key.replace("_", "-"))
    return SsdtParams.create(**{k: v for k, v in kw.items() if v is not None})


@click.command()
@_options(_INTERFACE, click.option("--tpm", type=TPM_CHOICE, required=True, help="TPM family (1.2 only with TIS)"),
          *_OEM_OPTIONS, _MMIO_BASE,
          click.option("--mmio-size", default=None, help="window size [default: 0x5000 TIS, 0x1000 CRB]"))
@click.option("--ppi/--no-ppi", default=True, show_default=True, help="emit the PPI page fields and _DSM")
@click.option("--profile", type=click.Choice([p.value for p in Profile]), default="qemu", show_default=True,
              help="_DSM behaviour: QEMU 7.2 exactly, or PPI 1.3 strict (docs/qemu-vs-strict.md)")
@click.option("--ppi-address", default="0xFED45000", show_default=True, help="PPI page base address")
@click.option("--scope", default=None, help="ACPI scope of the device [default: \\_SB.PCI0.ISA TIS, \\_SB CRB]")
@click.option("--device-name", default="TPM", show_default=True, help="device NameSeg")
@click.option("-o", "--output", required=True, metavar="FILE", help="where to write the SSDT (AML)")
@click.option("--asl", "asl_out", metavar="FILE", help="also write the rendered ASL source")
@click.option("--dsl", "dsl_out", metavar="FILE", help="also write iasl's disassembly of the SSDT (normalised)")
@click.option("--scope-dsdt", metavar="FILE", help="also write a stand-in DSDT defining the scope (for acpiexec)")
def ssdt(output: str, asl_out: str | None, dsl_out: str | None, scope_dsdt: str | None, **kw: Any) -> None:
    """Build the TPM SSDT (device node, PPI page fields, PPI and MOR _DSM) with iasl."""
    params = _params(**kw)
    aml = build_ssdt(params)
    write_output(output, aml, "SSDT")
    if asl_out:
        write_output(asl_out, render_ssdt(params).encode(), "ASL")
    if dsl_out:
        write_output(dsl_out, golden.normalise_dsl(disassemble(aml)).encode(), "disassembly")
    if scope_dsdt:
        write_output(scope_dsdt, build_scope_dsdt(params), "stand-in DSDT")
    click.echo(f"{output}: SSDT {len(aml)} bytes, {params.device_path} ({params.config_name})")


def _write_table(output: str, signature: str, data: bytes) -> None:
    write_output(output, data, f"{signature} table")
    click.echo(f"{output}: {signature} {len(data)} bytes")


@click.command("tpm2-table")
@_options(_INTERFACE, *_OEM_OPTIONS, _MMIO_BASE, *_LOG_AREA_OPTIONS)
@click.option("-o", "--output", required=True, metavar="FILE", help="where to write the TPM2 table")
def tpm2_table(output: str, lasa: str, laml: str, **kw: Any) -> None:
    """Build the TPM2 table of a TPM 2.0 as QEMU 7.2 emits it (start method 6 TIS, 7 CRB), checksum set."""
    data = build_tpm2(_params(tpm="2.0", **kw), lasa=parse_int(lasa, "--lasa"), laml=parse_int(laml, "--laml"))
    _write_table(output, "TPM2", data)


@click.command("tcpa-table")
@_options(*_OEM_OPTIONS, *_LOG_AREA_OPTIONS)
@click.option("-o", "--output", required=True, metavar="FILE", help="where to write the TCPA table")
def tcpa_table(output: str, lasa: str, laml: str, **kw: Any) -> None:
    """Build the TCPA table of a TPM 1.2 (TIS) as QEMU 7.2 emits it (client, revision 2), checksum set."""
    data = build_tcpa(_params(interface="tis", tpm="1.2", **kw), lasa=parse_int(lasa, "--lasa"),
                      laml=parse_int(laml, "--laml"))
    _write_table(output, "TCPA", data)


@click.group("table")
def table_group() -> None:
    """ACPI TPM2/TCPA tables as files."""


@table_group.command()
@click.argument("file")
@click.option("--json", "as_json", is_flag=True, help="stable machine output")
@click.option("--no-verify", is_flag=True, help="report a bad checksum instead of failing (QEMU's raw tables)")
def decode(file: str, as_json: bool, no_verify: bool) -> None:
    """Decode a TPM2 or TCPA table."""
    decoded = decode_table(read_input(file, "ACPI table"), verify=not no_verify)
    if as_json:
        echo_json(decoded.to_dict())
        return
    rows = [(key, "=", _text(value)) for key, value in decoded.fields.items()]
    rows.append(("checksum_ok", "=", "yes" if decoded.checksum_ok else
                 f"no (should be 0x{decoded.expected_checksum:02X})"))
    click.echo(table(rows))


def _text(value: Any) -> str:
    if isinstance(value, int):
        return f"0x{value:X}" if value > 9 else str(value)
    return repr(value)


@click.group("golden")
def golden_group() -> None:
    """The golden SSDT/TPM2/TCPA corpus shipped with ppikit."""


@golden_group.command()
@click.option("--json", "as_json", is_flag=True, help="stable machine output")
@click.option("--root", type=click.Path(file_okay=False, exists=True), default=None, help="corpus directory [default: packaged]")
@click.pass_context
def check(ctx: click.Context, as_json: bool, root: str | None) -> None:
    """Regenerate and compare; exit 0 if every configuration matches, 1 on drift."""
    report = golden.check(Path(root) if root else None)
    if as_json:
        echo_json(report.to_dict())
    else:
        for result in report.results:
            verdict = "ok" if result.ok else "DRIFT"
            click.echo(f"{result.config}: {verdict} (compared by {result.mode}, iasl {report.iasl_version})")
            for problem in result.problems:
                click.echo(f"  {problem}")
    if not report.ok:
        ctx.exit(EXIT_DRIFT)


@golden_group.command()
@click.option("--root", type=click.Path(file_okay=False), default=None, help="corpus directory [default: packaged]")
def update(root: str | None) -> None:
    """Regenerate the corpus with the installed iasl (review the diff before committing).

    The default root is the installed package's copy; in a source checkout pass
    ``--root src/ppikit/golden`` so the regenerated files land where git sees them."""
    for folder in golden.update(Path(root) if root else None):
        click.echo(f"wrote {folder}")


COMMANDS = [ssdt, tpm2_table, tcpa_table, table_group, golden_group]
