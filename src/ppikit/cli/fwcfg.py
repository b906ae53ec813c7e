"""``ppikit fwcfg decode|encode``: the 6-byte ``etc/tpm/config`` fw_cfg record."""

from __future__ import annotations

import click

from ppikit.cli._common import echo_json, parse_int, read_input, table, write_output
from ppikit.fwcfg.tpm_config import PpiVersion, TpmConfig
from ppikit.tpm.version import TpmVersion


@click.group()
def fwcfg() -> None:
    """The fw_cfg file etc/tpm/config (where firmware finds the PPI page)."""


@fwcfg.command()
@click.argument("file")
@click.option("--json", "as_json", is_flag=True, help="stable machine output")
def decode(file: str, as_json: bool) -> None:
    """Decode an etc/tpm/config file (6 bytes)."""
    config = TpmConfig.parse(read_input(file, "etc/tpm/config file"))
    if as_json:
        echo_json(config.to_dict())
        return
    click.echo(table([
        ("tpmppi_address", "=", f"0x{config.tpmppi_address:08X}", "@0"),
        ("tpm_version", "=", f"{int(config.tpm_version)} (TPM {config.tpm_version.label})", "@4"),
        ("tpmppi_version", "=", f"{int(config.tpmppi_version)} (PPI {config.tpmppi_version.label})", "@5"),
    ]))


@fwcfg.command()
@click.option("--ppi-address", required=True, metavar="ADDR", help="guest-physical address of the PPI page")
@click.option("--tpm", required=True, type=click.Choice(["1.2", "2.0"]), help="TPM family")
@click.option("--ppi-version", type=click.Choice(["none", "1.30"]), default="1.30", show_default=True)
@click.option("-o", "--output", required=True, metavar="FILE")
def encode(ppi_address: str, tpm: str, ppi_version: str, output: str) -> None:
    """Build an etc/tpm/config file."""
    config = TpmConfig(parse_int(ppi_address, "--ppi-address"), TpmVersion.from_label(tpm),
                       PpiVersion.from_label(ppi_version))
    write_output(output, config.build(), "etc/tpm/config file")


COMMANDS = [fwcfg]
