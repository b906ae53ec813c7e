"""``ppikit snapshot save|restore|inspect``: a PPI request pending across a save and a restore."""

from __future__ import annotations

from pathlib import Path

import click

from ppikit.cli._common import echo_json, read_input, table
from ppikit.cli.region import describe_page
from ppikit.cli.simulate import render_timeline
from ppikit.errors import UsageError
from ppikit.platform.platform import PlatformConfig
from ppikit.platform.simulate import Request
from ppikit.platform.snapshot import describe
from ppikit.platform.snapshot_format import Snapshot, read_header
from ppikit.platform.snapshot_scenario import resume, save_pending
from ppikit.ppi.firmware.base import confirm_policy
from ppikit.ppi.operations import lookup

_KEY_HELP = "hex key file for swtpm --migration-key (the TPM state travels encrypted with it)"


def migration_key_args(path: str | None) -> tuple[str, ...]:
    """swtpm arguments for ``--migration-key FILE`` (format hex, swtpm's default)."""
    if path is None:
        return ()
    key = Path(path)
    if not key.is_file():
        raise UsageError(f"cannot read migration key {path!r}: no such file")
    return ("--migration-key", f"file={key.resolve()},format=hex")


@click.group()
def snapshot() -> None:
    """Save a platform with a pending PPI request, restore it into a fresh swtpm, inspect a file."""


@snapshot.command()
@click.option("--request", "request_text", required=True, metavar="OP[:PARAM]",
              help="PPI operation the OS queues before the save, e.g. 5 (Clear)")
@click.option("--interface", type=click.Choice(["tis", "crb"]), default="tis", show_default=True)
@click.option("--tpm", type=click.Choice(["1.2", "2.0"]), default="2.0", show_default=True)
@click.option("--firmware", type=click.Choice(["ovmf", "edk2-tpm12", "flags"]), default=None,
              help="firmware model [default: ovmf for TPM 2.0, edk2-tpm12 for TPM 1.2]")
@click.option("--profile", type=click.Choice(["qemu", "strict"]), default="qemu", show_default=True)
@click.option("--migration-key", "key", metavar="FILE", default=None, help=_KEY_HELP)
@click.option("-o", "--output", required=True, metavar="FILE", help="snapshot file to write")
@click.option("--json", "as_json", is_flag=True, help="stable machine output")
def save(request_text: str, interface: str, tpm: str, firmware: str | None, profile: str, key: str | None,
         output: str, as_json: bool) -> None:
    """Boot a fresh platform, let the OS queue a PPI request, and save it right before the reboot."""
    request = Request.parse(request_text)
    config = PlatformConfig.create(interface=interface, tpm=tpm, firmware=firmware, profile=profile,
                                   swtpm_args=migration_key_args(key))
    taken = save_pending(config, request, output)
    summary = describe(taken)
    if as_json:
        echo_json({"file": output, "size": Path(output).stat().st_size, "request": request.sysfs_text,
                   "config": summary["config"], "blobs": summary["blobs"]})
        return
    name = lookup(config.tpm, request.op).name if request.op <= 0xFF else "out of range"
    click.echo(f"saved {output}: {interface.upper()} + TPM {config.tpm.label}, firmware {config.firmware_name}, "
               f"request {request.sysfs_text} ({name}) pending, {Path(output).stat().st_size} bytes")
    click.echo("swtpm state: " + ", ".join(f"{n} {b['size']} bytes" + (" (encrypted)" if b["migration_key_encrypted"]
                                                                     else "") for n, b in summary["blobs"].items()))


@snapshot.command()
@click.argument("file")
@click.option("--confirm", type=click.Choice(["accept", "reject", "timeout"]), default="accept",
              show_default=True, help="what the physically present user does at the firmware prompt")
@click.option("--interface", type=click.Choice(["tis", "crb"]), default=None,
              help="destination interface [default: the snapshot's]")
@click.option("--tpm", type=click.Choice(["1.2", "2.0"]), default=None,
              help="destination TPM family [default: the snapshot's]")
@click.option("--migration-key", "key", metavar="FILE", default=None, help=_KEY_HELP)
@click.option("--json", "as_json", is_flag=True, help="stable machine output")
def restore(file: str, confirm: str, interface: str | None, tpm: str | None, key: str | None,
            as_json: bool) -> None:
    """Restore FILE into a fresh swtpm, reboot, and print what the OS reads."""
    taken = Snapshot.read(file)
    config = taken.config
    if interface is not None or tpm is not None:
        config = PlatformConfig.create(interface=interface or config.interface, tpm=tpm or config.tpm,
                                       firmware=None if tpm else config.firmware, profile=config.profile,
                                       ppi=config.ppi, ppi_address=config.ppi_address, ram_size=config.ram_size)
    result = resume(taken, config=config, confirm=confirm_policy(confirm),
                    swtpm_args=migration_key_args(key))
    if as_json:
        echo_json(result.to_dict())
        return
    click.echo(render_timeline(result.timeline))
    for line in (result.before.changes(result.after) if result.before and result.after else []) or ["no change"]:
        click.echo(f"TPM: {line}")
    click.echo(f"OS reads /sys/class/tpm/tpm0/ppi/response: {result.response}")


@snapshot.command()
@click.argument("file")
@click.option("--json", "as_json", is_flag=True, help="stable machine output")
def inspect(file: str, as_json: bool) -> None:
    """Verify FILE (header, checksum, sections) and show what it holds."""
    data = read_input(file, "snapshot")
    header = read_header(data, file)
    taken = Snapshot.from_bytes(data, source=file)
    summary = {"format_version": header.format_version, "body_size": header.body_size,
               "body_sha256": header.body_sha256.hex(), **describe(taken),
               "page": {k: v for k, v in taken.page.to_dict().items() if k not in ("func", "res1", "reserved")}}
    if as_json:
        echo_json(summary)
        return
    c = summary["config"]
    rows = [("format", f"ppikit snapshot v{header.format_version}, written by ppikit {summary['ppikit']}"),
            ("body", f"{header.body_size} bytes, SHA-256 {summary['body_sha256']} (verified)"),
            ("platform", f"{c['interface'].upper()} + TPM {c['tpm']}, firmware {c['firmware']}, {c['profile']}-profile "
                         f"SSDT, PPI {'at 0x%X' % c['ppi_address'] if c['ppi'] else 'off'}"),
            ("boot_count", str(summary["boot_count"])),
            ("firmware NV", ", ".join(f"{k}={v}" for k, v in sorted(summary["nv"].items())) or "empty"),
            ("memory", ", ".join(f"{r['name']} 0x{r['base']:X}+0x{r['size']:X}" for r in summary["memory"])),
            ("fw_cfg", ", ".join(f"{f['name']} ({f['size']} bytes)" for f in summary["fwcfg"])),
            ("device", f"{summary['device']['interface'].upper()} registers, "
                       f"{summary['device_buffer_bytes']} buffer bytes in use"),
            ("swtpm", f"TPM {summary['swtpm']['version']}, migration key "
                      f"{'yes' if summary['swtpm']['migration_key'] else 'no'}")]
    rows += [(f"blob {n}", f"{b['size']} bytes" + (", encrypted with the migration key"
                                                   if b["migration_key_encrypted"] else ""))
             for n, b in summary["blobs"].items()]
    click.echo(table(rows))
    click.echo("PPI page:")
    click.echo(table(describe_page(taken.page, taken.config.tpm)))


COMMANDS = [snapshot]
