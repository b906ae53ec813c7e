"""``ppikit ops``: the PPI operation catalogue."""

from __future__ import annotations

import click

from ppikit.cli._common import echo_json, table, tpm_option
from ppikit.ppi.operations import listed
from ppikit.tpm.version import TpmVersion


def _yes(value: bool | None) -> str:
    return "-" if value is None else "yes" if value else "no"


@click.command()
@tpm_option()
@click.option("--all", "include_all", is_flag=True, help="also list reserved and vendor numbers")
@click.option("--json", "as_json", is_flag=True, help="stable machine output")
def ops(tpm: TpmVersion, include_all: bool, as_json: bool) -> None:
    """List PPI operations: name, parameter, default user confirmation, reboot."""
    entries = listed(tpm, include_all=include_all)
    if as_json:
        echo_json([{"number": op.number, "name": op.name, "kind": op.kind.value, "takes_parameter": op.takes_parameter,
                    "pp_required": op.pp_required, "reboot": op.reboot, "boots": op.boots} for op in entries])
        return
    rows = [("op", "name", "param", "user confirms", "reboot")]
    rows += [(str(op.number), op.name, _yes(op.takes_parameter), _yes(op.pp_required),
              _yes(op.reboot) + (f" ({op.boots} boots)" if op.boots > 1 else "")) for op in entries]
    if not include_all:
        rows.append(("128-255", "Vendor specific", "-", "-", "-"))
    click.echo(table(rows))


COMMANDS = [ops]
