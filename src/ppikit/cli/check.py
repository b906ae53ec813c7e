"""``ppikit check`` and ``ppikit diff``: conformance of any TPM ACPI table, and behavioural differences.

Thin wrappers over :mod:`ppikit.aml.check` and :mod:`ppikit.aml.diff`. Exit status: 0 conforms /
identical, 1 deviations / differences found, 2 bad input (the group prints one line).
"""

from __future__ import annotations

import click

from ppikit.aml.acpidump import read_tables
from ppikit.aml.check import CATEGORIES, DEFAULT_AGAINST, check_tables
from ppikit.aml.diff import diff_tables
from ppikit.cli._common import echo_json, read_input
from ppikit.errors import UsageError
from ppikit.ppi.page import PpiPage


def _page(path: str | None) -> PpiPage | None:
    return None if path is None else PpiPage.parse(read_input(path, "PPI page"))


def _against(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in CATEGORIES]
    if unknown or not names:
        raise UsageError(f"--against {text!r}: choose from {','.join(CATEGORIES)}")
    return names


PAGE_HELP = ("0x400-byte PPI page whose func[] and fields are the base page "
             "[default: OVMF's TPM 2.0 func[] with a pending request]")


@click.command("check")
@click.argument("tables", nargs=-1, required=True, metavar="TABLE...")
@click.option("--page", metavar="FILE", help=PAGE_HELP)
@click.option("--against", default=",".join(DEFAULT_AGAINST), show_default=True,
              help=f"finding categories that fail the check ({','.join(CATEGORIES)})")
@click.option("--json", "as_json", is_flag=True, help="machine-readable report")
@click.pass_context
def check(ctx: click.Context, tables: tuple[str, ...], page: str | None, against: str, as_json: bool) -> None:
    """Sweep every TPM device's PPI and MOR _DSM in acpiexec and check TPM2/TCPA tables.

    TABLE is a binary ACPI table (DSDT, SSDT, TPM2, TCPA...) or acpidump text output. Exit 0 when no
    finding falls in the --against categories, 1 otherwise, 2 on bad input.
    """
    categories = _against(against)
    report = check_tables(read_tables(list(tables)), page=_page(page))
    if as_json:
        echo_json(report.to_dict(categories))
    else:
        click.echo(report.render(categories))
    ctx.exit(report.exit_status(categories))


@click.command("diff")
@click.argument("a", metavar="A")
@click.argument("b", metavar="B")
@click.option("--page", metavar="FILE", help=PAGE_HELP)
@click.option("--json", "as_json", is_flag=True, help="machine-readable report")
@click.pass_context
def diff(ctx: click.Context, a: str, b: str, page: str | None, as_json: bool) -> None:
    """Behavioural difference of two tables' TPM _DSM (return values and PPI page writes), input by input.

    A and B are each an AML table (DSDT or SSDT) or acpidump text. Exit 0 when they behave the same on
    every input, 1 when they differ, 2 on bad input.
    """
    report = diff_tables(read_tables([a]), read_tables([b]), page=_page(page), a_label=a, b_label=b)
    if as_json:
        echo_json(report.to_dict())
    else:
        click.echo(report.render())
    ctx.exit(report.exit_status())


COMMANDS = [check, diff]
