"""``ppikit simulate`` and ``ppikit demo``: a PPI request from the OS, through a reboot, to the TPM."""

from __future__ import annotations

import click

from ppikit.cli._common import echo_json
from ppikit.platform.platform import PlatformConfig
from ppikit.platform.simulate import Request, SimulationResult, simulate
from ppikit.ppi.firmware.base import Timeline, confirm_policy

EXIT_OK, EXIT_PROBLEM = 0, 1


def render_timeline(timeline: Timeline) -> str:
    width = max((len(e.actor) for e in timeline), default=0)
    return "\n".join(f"{i:3d}  {e.actor.ljust(width)}  {e.text}" for i, e in enumerate(timeline, 1))


def _print(result: SimulationResult, as_json: bool) -> None:
    if as_json:
        echo_json(result.to_dict())
        return
    c = result.config
    click.echo(f"platform: {c.interface.value.upper()} + TPM {c.tpm.label} (swtpm), firmware {c.firmware_name}, "
               f"{c.profile.value}-profile SSDT")
    click.echo(render_timeline(result.timeline))
    click.echo(f"OS reads /sys/class/tpm/tpm0/ppi/response: {result.response}")


@click.command()
@click.option("--interface", type=click.Choice(["tis", "crb"]), default="tis", show_default=True)
@click.option("--tpm", type=click.Choice(["1.2", "2.0"]), default="2.0", show_default=True)
@click.option("--firmware", type=click.Choice(["ovmf", "edk2-tpm12", "flags"]), default=None,
              help="firmware model [default: ovmf for TPM 2.0, edk2-tpm12 for TPM 1.2]")
@click.option("--profile", type=click.Choice(["qemu", "strict"]), default="qemu", show_default=True,
              help="_DSM behaviour of the generated SSDT")
@click.option("--request", "request_text", required=True, metavar="OP[:PARAM]",
              help="PPI operation the OS requests, e.g. 5 (Clear) or 23:3 (SetPCRBanks SHA1+SHA256)")
@click.option("--confirm", type=click.Choice(["accept", "reject", "timeout"]), default="accept",
              show_default=True, help="what the physically present user does at the firmware prompt")
@click.option("--json", "as_json", is_flag=True, help="stable machine output")
def simulate_command(interface: str, tpm: str, firmware: str | None, profile: str, request_text: str,
                     confirm: str, as_json: bool) -> None:
    """Simulate one PPI request end to end on a fresh platform."""
    config = PlatformConfig.create(interface=interface, tpm=tpm, firmware=firmware, profile=profile)
    result = simulate(config, Request.parse(request_text), confirm=confirm_policy(confirm))
    _print(result, as_json)


simulate_command.name = "simulate"


@click.command()
@click.option("--json", "as_json", is_flag=True, help="stable machine output")
def demo(as_json: bool) -> None:
    """The main job: on the default platform (TIS + TPM 2.0 + OVMF) the OS requests Clear, the
    platform reboots, the firmware confirms and clears the swtpm, and the OS reads the result."""
    result = simulate(PlatformConfig(), Request(5), confirm=confirm_policy("accept"))
    _print(result, as_json)
    cleared = result.before is not None and result.after is not None and result.before.owner_auth_set \
        and not result.after.owner_auth_set
    if not as_json:
        click.echo("owner authorization: " + ("set before, cleared after -- verified on the TPM" if cleared
                                              else "NOT cleared"))
    if result.response != "5 0: Success" or not cleared:
        click.get_current_context().exit(EXIT_PROBLEM)


COMMANDS = [simulate_command, demo]
