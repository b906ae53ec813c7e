"""The ``ppikit`` command: one click group, one module per noun.

The CLI holds no logic of its own: each command parses its arguments, calls the library, and prints.
Exit status: 0 success, 1 "checked and found a problem" (golden drift, conformance deviation),
2 bad input or usage -- always one line on stderr, never a traceback; 70 for a ppikit bug (one line
too, unless ``PPIKIT_TRACEBACK`` is set); 128 + N after signal N.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
from types import FrameType

import click

from ppikit.errors import PpikitError

#: Modules under ``ppikit.cli`` that contribute commands; each exposes ``COMMANDS`` (a list of
#: click commands or groups). Kept as data so a new noun is one line here and one module.
COMMAND_MODULES: tuple[str, ...] = (
    "region",
    "fwcfg",
    "ops",
    "aml",
    "linux_ppi",
    "simulate",
    "dsm",
    "check",
    "snapshot",
)

EXIT_OK = 0
EXIT_PROBLEM = 1
EXIT_BAD_INPUT = 2
EXIT_INTERNAL_ERROR = 70  #: sysexits EX_SOFTWARE: a ppikit bug, not the user's input
#: Set (to anything) to see the traceback of an internal error instead of its one-line summary.
TRACEBACK_ENV = "PPIKIT_TRACEBACK"


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: unwind like an interrupt, so every context manager stops its
    subprocess and removes its temporary directory (Python's default action would exit at once)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise Terminated(signum)


class PpikitGroup(click.Group):
    """A click group that turns every ppikit error and usage error into one line and exit 2."""

    def main(self, *args, **kwargs):  # type: ignore[override]
        kwargs["standalone_mode"] = False
        try:
            rv = super().main(*args, **kwargs)
        except click.exceptions.Abort:
            click.echo("ppikit: aborted", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except click.exceptions.NoArgsIsHelpError as exc:
            click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
            sys.exit(EXIT_OK)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            ctx = getattr(exc, "ctx", None)
            where = f"{ctx.command_path}: " if ctx is not None else "ppikit: "
            click.echo(f"{where}{one_line(exc.format_message())}", err=True)
            sys.exit(EXIT_BAD_INPUT if exc.exit_code == 2 else exc.exit_code)
        except PpikitError as exc:
            click.echo(f"ppikit: error: {one_line(str(exc))}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except OSError as exc:
            click.echo(f"ppikit: error: {one_line(str(exc))}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except KeyboardInterrupt:
            click.echo("ppikit: interrupted", err=True)
            sys.exit(130)
        except Terminated as exc:
            click.echo(f"ppikit: terminated by {signal.Signals(exc.signum).name}", err=True)
            sys.exit(128 + exc.signum)
        except Exception as exc:  # noqa: BLE001 -- last resort: a bug still ends in one line
            if os.environ.get(TRACEBACK_ENV):
                raise
            click.echo(f"ppikit: internal error: {type(exc).__name__}: {one_line(str(exc))} "
                       f"(a ppikit bug; {TRACEBACK_ENV}=1 shows the traceback)", err=True)
            sys.exit(EXIT_INTERNAL_ERROR)
        sys.exit(rv if isinstance(rv, int) else EXIT_OK)


def one_line(text: str) -> str:
    """Collapse a message to one line (the CLI contract for errors)."""
    return " ".join(text.split())


@click.group(cls=PpikitGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ppikit")
def cli() -> None:
    """ppikit: TPM PPI, ACPI and TIS/CRB kit for firmware and VMM authors."""


for _name in COMMAND_MODULES:
    for _command in importlib.import_module(f"ppikit.cli.{_name}").COMMANDS:
        cli.add_command(_command)


def main() -> None:
    """Console-script entry point."""
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _terminate)
    cli.main(prog_name="ppikit")
