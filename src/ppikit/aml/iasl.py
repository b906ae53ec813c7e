"""The real ``iasl`` (ACPICA) as three Python calls: compile, disassemble, version.

Why wrap it: ppikit's AML must come from the same compiler firmware authors use, so it is never
emulated. iasl insists on files, so each call works in a private temporary directory, runs without a
shell and with a timeout (:func:`ppikit._subprocess.run_tool`), and turns iasl's error listing into an
:class:`AslCompileError` that names the template and line a user has to look at.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from ppikit._subprocess import run_tool
from ppikit.errors import ToolError

IASL_TIMEOUT = 60.0  #: seconds; a compile of a TPM SSDT takes well under one

#: ``// ppikit-template: NAME`` (or ``/* ppikit-template: NAME``) marks where a template's text starts
#: in rendered ASL, so a compiler line can be traced back to the template that produced it.
TEMPLATE_MARKER = re.compile(r"ppikit-template:\s*(\S+)")
_ERROR_LINE = re.compile(r"^(?P<file>\S+)\s+(?P<line>\d+):")
_ERROR_MSG = re.compile(r"^(Error|Warning|Remark)\s+\d+\s+-\s+")


class AslCompileError(ToolError):
    """iasl rejected rendered ASL; ``template`` and ``line`` say where to look."""

    def __init__(self, message: str, *, template: str, line: int, argv: Sequence[str] = (), log: str = "") -> None:
        self.template = template
        self.line = line
        super().__init__(message, argv=argv, log=log)


def compile_asl(source: str, *, name: str = "ssdt.asl") -> bytes:
    """Compile ASL text to AML bytes. ``name`` (the template or file name) appears in errors."""
    with tempfile.TemporaryDirectory(prefix="ppikit-iasl-") as tmp:
        asl = Path(tmp) / "input.asl"
        asl.write_text(source)
        argv = ["iasl", "-p", str(Path(tmp) / "out"), str(asl)]
        proc = run_tool(argv, timeout=IASL_TIMEOUT, check=False)
        log = (proc.stdout + proc.stderr).decode(errors="replace")
        aml = Path(tmp) / "out.aml"
        if proc.returncode != 0 or not aml.exists():
            raise _compile_error(source, log, name, proc.args)
        return aml.read_bytes()


def _compile_error(source: str, log: str, name: str, argv: Sequence[str]) -> AslCompileError:
    """Find the first ``Error`` in iasl's listing and map its line to the template that emitted it."""
    lines = log.splitlines()
    for index, text in enumerate(lines):
        if not text.startswith("Error"):
            continue
        message = _ERROR_MSG.sub("", text).lstrip(" ^").strip()
        line_no = 0
        for back in range(index - 1, max(index - 4, -1), -1):
            match = _ERROR_LINE.match(lines[back])
            if match:
                line_no = int(match.group("line"))
                break
        template = template_at(source, line_no) or name
        src_line = source.splitlines()[line_no - 1].strip() if 0 < line_no <= len(source.splitlines()) else ""
        return AslCompileError(
            f"iasl: {template}: rendered line {line_no}: {message}" + (f" (at: {src_line})" if src_line else ""),
            template=template, line=line_no, argv=argv, log=log,
        )
    return AslCompileError(f"iasl failed to compile {name}", template=name, line=0, argv=argv, log=log)


def template_at(source: str, line_no: int) -> str | None:
    """The template whose marker most closely precedes rendered line ``line_no`` (1-based)."""
    found = None
    for text in source.splitlines()[: max(line_no, 0)]:
        match = TEMPLATE_MARKER.search(text)
        if match:
            found = match.group(1)
    return found


def disassemble(aml: bytes, *, externals: Sequence[bytes] = ()) -> str:
    """Disassemble AML to ASL text (``iasl -d``); ``externals`` are other tables for ``-e``."""
    with tempfile.TemporaryDirectory(prefix="ppikit-iasl-") as tmp:
        table = Path(tmp) / "table.aml"
        table.write_bytes(aml)
        argv = ["iasl"]
        if externals:
            paths = []
            for index, data in enumerate(externals):
                path = Path(tmp) / f"external{index}.aml"
                path.write_bytes(data)
                paths.append(str(path))
            argv += ["-e", *paths]
        argv += ["-d", str(table)]
        proc = run_tool(argv, timeout=IASL_TIMEOUT, check=False)
        dsl = Path(tmp) / "table.dsl"
        if proc.returncode != 0 or not dsl.exists():
            raise ToolError("iasl could not disassemble the table", argv=proc.args,
                            log=(proc.stdout + proc.stderr).decode(errors="replace"))
        return dsl.read_text(errors="replace")


@lru_cache(maxsize=1)
def iasl_version() -> str:
    """The installed iasl's version string, e.g. ``"20200925"`` (recorded in golden manifests)."""
    proc = run_tool(["iasl", "-v"], timeout=IASL_TIMEOUT, check=False)
    text = (proc.stdout + proc.stderr).decode(errors="replace")
    match = re.search(r"version\s+(\d{8})", text)
    if not match:
        raise ToolError("cannot read the iasl version", argv=proc.args, log=text)
    return match.group(1)
