"""Run a loaded driver table without the debugger's ``evaluate`` (the batch fast path).

Why: acpiexec's ``evaluate`` always sleeps 10 ms (``AcpiOsSleep (10)`` in the debugger's execute path,
"allow handlers in other threads to complete"), which made it ~85% of a batch. Two other debugger
commands do the same work without the sleep (measured with acpiexec 20200925, see
``benchmarks/bench_acpiexec.py``):

* ``load`` of a *trigger table* whose only module-level statement is ``DRVR (start)``: ACPICA runs a
  table's top-level code while it loads the table, so the driver's steps run during ``load``.
* ``dump <block>`` prints a result block package ("Package Contents:") in well under a millisecond.

How it stays equivalent to :meth:`AcpiRuntime._perform` (the evaluate path): the driver table is the
same one, loaded the same way; only *who calls* ``DRVR`` changes. When a step fails, ACPICA aborts
``DRVR`` and refuses the trigger table ("Could not install table, AE_x") -- the driver table and its
``PROG`` counter survive, so the failure is recorded exactly like the evaluate path does (from the
lines up to the abort of ``DRVR``; the lines ACPICA adds while unwinding the table load are not the
step's) and the next trigger starts at the following step. Results are parsed strictly; a block
whose dump is not fully understood (a String of 255+ characters, which ``dump`` truncates, or an
object type values.py does not know) makes the whole batch read its results through the evaluate
path instead -- the steps never run twice. Any other trigger outcome is an :class:`AcpiexecError`.
"""

from __future__ import annotations

import re
import secrets
from array import array
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ppikit.aml import bytecode as bc
from ppikit.aml.runtime import (
    BYTES_PER_BLOCK_GUESS,
    SECONDS_PER_STEP,
    AcpiexecError,
    AmlEvalError,
    Step,
    _Driver,
    _Outcome,
    _step_result,
)
from ppikit.aml.values import AmlValue, DumpParseError, unescape

if TYPE_CHECKING:
    from ppikit.aml.runtime import AcpiRuntime

#: What ``load`` prints last: the table is in (all steps ran) or it was refused (a step failed).
_LOADED = "Acpi table [SSDT] successfully installed and loaded"
_REFUSED = re.compile(r"^Could not install table, (AE_\w+)$")
#: ACPICA unwinding the table load itself, after the driver aborted: not part of the step's error.
_UNWIND = re.compile(r"Aborting method \\ due to previous error")

# ``dump`` of a Package node: AcpiExDumpPackageObj output (ACPICA exdump.c), one element per line.
_ADDRESS = r"(?:0x[0-9a-f]+|\(nil\))"
_ELEMENT = re.compile(r"^(?P<indent>(?:  )*)(?:\[(?P<index>\d+)\] )?" + _ADDRESS + r" (?P<body>.*)$")
_INTEGER = re.compile(r"^\[Integer\] = ([0-9A-F]{16})$")
_STRING = re.compile(r'^\[String\]  Value: "(.*)"$')
_BUFFER = re.compile(r"^\[Buffer\] Length ([0-9A-F]{2,}) = (.*)$")
_PACKAGE = re.compile(r"^\[Package\] Contains (\d+) Elements:$")
_NULL = "[Null Object]"
_HEX_LINE = re.compile(r"^ *([0-9A-F]{4,8}): (.*)$")
_BYTE_TOKENS = re.compile(r"(?:[0-9A-F]{2} )+ *")
_DWORD_TOKENS = re.compile(r"(?:[0-9A-F]{8} )+ *")
assert array("I").itemsize == 4, "DWORD decoding needs 4-byte array items"
#: The character column of a buffer line: printable ASCII as is, anything else as ".".
_SHOWN = bytes(b if 0x20 <= b < 0x7F else 0x2E for b in range(256))
#: ``dump`` of an Integer node: the attached object's value.
_INTEGER_VALUE = re.compile(r"^\s+Value : ([0-9A-F]{16})$", re.MULTILINE)


def applies(runtime: AcpiRuntime) -> bool:
    """Whether ``runtime`` runs its batches here; ``runtime.fast_path = False`` keeps the evaluate path
    (the tests' reference)."""
    return bool(getattr(runtime, "fast_path", True))


def perform(runtime: AcpiRuntime, driver: _Driver, steps: list[Step]) -> list[AmlValue | AmlEvalError]:
    """Run the loaded ``driver`` through trigger tables; the same results as ``runtime._perform``."""
    budget = runtime.timeout + SECONDS_PER_STEP * len(steps)
    outcomes: dict[int, AmlValue | AmlEvalError] = {}
    start = 0
    while start < len(steps):
        failed, outcome = _trigger(runtime, driver, start, budget)
        if outcome is None:
            break
        if not start <= failed < len(steps):
            raise AcpiexecError(f"{driver.method} failed outside its steps ({outcome.status})",
                                log="\n".join(outcome.lines[-20:]))
        outcomes[failed] = runtime._step_error(steps[failed], outcome, driver.method)
        start = failed + 1
    values = _dump_results(runtime, driver, budget)
    if values is None:  # not fully understood: the evaluate path reads the same blocks
        runtime._bytes_per_block = BYTES_PER_BLOCK_GUESS
        values = runtime._read_results(driver, budget, None)
    return [outcomes[k] if k in outcomes else _step_result(s, values[k]) for k, s in enumerate(steps)]


def trigger_table(driver: _Driver, start: int) -> bytes:
    """``Device (\\PKIT.Uxxx) {}`` and the module-level statement ``\\PKIT.Txxx.DRVR (start)``.

    The Device gives ``unload`` a node owned by the trigger; ``start`` and ``driver.serial`` make the
    bytes unique (ACPICA refuses to load a table identical to a loaded one).
    """
    body = bc.device(trigger_scope(driver)) + bc.name_string(driver.method) + bc.integer(start, width=driver.width)
    return bc.definition_block(body, oem_table_id="PPIKITGO", oem_revision=driver.serial & 0xFFFFFFFF)


def trigger_scope(driver: _Driver) -> str:
    """``\\PKIT.Txxx`` -> ``\\PKIT.Uxxx``."""
    parent, _, seg = driver.scope.rpartition(".")
    return f"{parent}.U{seg[1:]}"


def _trigger(runtime: AcpiRuntime, driver: _Driver, start: int, budget: float) -> tuple[int, _Outcome | None]:
    """Load a trigger from ``start``: ``(0, None)`` if every step ran, else the failed step and its outcome."""
    assert runtime._workdir is not None
    filename = trigger_scope(driver).rsplit(".", 1)[1].lower() + ".aml"
    (runtime._workdir / filename).write_bytes(trigger_table(driver, start))
    lines = _load_lines(runtime, filename, budget)
    if lines[-1] == _LOADED:
        unloaded = runtime._command(f"unload {trigger_scope(driver)}")
        if "unloaded" not in unloaded:
            raise AcpiexecError(f"acpiexec did not unload {trigger_scope(driver)}", log=unloaded)
        return 0, None
    refused = _REFUSED.match(lines[-1])
    unwinds = [i for i, line in enumerate(lines) if _UNWIND.search(line)]
    aborted = f"Aborting method {driver.method} due to previous error"
    if refused is None or not unwinds or not any(aborted in line for line in lines[:unwinds[-1]]):
        raise AcpiexecError(f"acpiexec refused the trigger table for {driver.method} without a failing step",
                            log="\n".join(lines[-20:]))
    return _progress(runtime, driver, budget), _Outcome(None, refused.group(1), lines[:unwinds[-1]])


def _load_lines(runtime: AcpiRuntime, filename: str, budget: float) -> list[str]:
    """The output lines of ``load filename``, ending with ACPICA's outcome line.

    AML run by the trigger may print anything to Debug, even a fake outcome line and prompt. So an
    unknown command carrying a random nonce follows the ``load``: its echo (which AML cannot
    predict) marks where the load's output really ends, and the load's own outcome is the last line
    before it.
    """
    marker = f"pkit{secrets.token_hex(8)}"
    echo = f"{marker.upper()}: unknown command"
    output = runtime._command(f"load {filename}\n{marker}", budget, outcome=re.compile("^" + echo + "$", re.MULTILINE))
    loaded, sep, tail = output.rpartition(f"\n- {marker}\n")
    lines = loaded.rstrip("\n").split("\n")
    if not sep or tail.strip() != echo or not (lines[-1] == _LOADED or _REFUSED.match(lines[-1])):
        raise AcpiexecError(f"acpiexec printed no outcome for loading {filename}", log=output[-4000:])
    return lines


def _progress(runtime: AcpiRuntime, driver: _Driver, budget: float) -> int:
    """``PROG`` by ``dump``; the evaluate path's reader if the dump is not understood."""
    values = _INTEGER_VALUE.findall(runtime._command(f"dump {driver.progress}"))
    if len(values) == 1:
        return int(values[0], 16)
    return runtime._progress(driver.progress, budget)


def _dump_results(runtime: AcpiRuntime, driver: _Driver, budget: float) -> list[AmlValue] | None:
    """Every result, read block by block with ``dump``; None if any block's dump is not understood."""
    values: list[AmlValue] = []
    for number, block in enumerate(driver.blocks):
        size = min(driver.block_size, driver.count - number * driver.block_size)
        try:
            elements = parse_package_dump(runtime._command(f"dump {block}", budget))
        except DumpParseError:
            return None
        if len(elements) != size:
            return None
        values += elements
    return values


def parse_package_dump(output: str) -> list[AmlValue]:
    """The Package printed after "Package Contents:" by ``dump <package node>``, strictly.

    Raises :class:`DumpParseError` for anything not understood, including a String that ``dump``
    truncated (255+ characters, printed with a trailing ``...``).
    """
    lines = output.split("\n")
    marks = [i for i, line in enumerate(lines) if line == "Package Contents:"]
    if len(marks) != 1:
        raise DumpParseError(f"expected one 'Package Contents:' line, found {len(marks)}")
    stream = iter(lines[marks[0] + 1:])
    value = _parse_element(stream, 0, None)
    leftover = [line for line in stream if line.strip()]
    if leftover:
        raise DumpParseError(f"unexpected text after the package: {leftover[0]!r}")
    if not isinstance(value, list):
        raise DumpParseError("the dumped object is not a Package")
    return value


def _parse_element(stream: Iterator[str], level: int, index: int | None) -> AmlValue:
    line = next(stream, None)
    if line is None:
        raise DumpParseError("package dump ended early")
    m = _ELEMENT.match(line)
    if m is None or len(m.group("indent")) != 2 * level or (m.group("index") is None) != (index is None) \
            or (index is not None and int(m.group("index")) != index):
        raise DumpParseError(f"expected element {index} at depth {level}, got {line!r}")
    body = m.group("body")
    if m := _INTEGER.match(body):
        return int(m.group(1), 16)
    if m := _STRING.match(body):
        return unescape(m.group(1))
    if m := _BUFFER.match(body):
        return _parse_buffer(int(m.group(1), 16), m.group(2), stream)
    if m := _PACKAGE.match(body):
        return [_parse_element(stream, level + 1, i) for i in range(int(m.group(1)))]
    if body == _NULL:
        return None
    raise DumpParseError(f"unsupported object in a package dump: {body!r}")


def _parse_buffer(length: int, rest: str, stream: Iterator[str]) -> bytes:
    """A Buffer as ``AcpiUtDumpBuffer`` prints it: 16 bytes a line, hex then ``// `` and the characters.

    Buffers of 4+ even bytes print as little-endian DWORDs (the last one may show bytes past the
    end, which are dropped); the character column must agree with the decoded bytes.
    """
    if length == 0:
        if rest:
            raise DumpParseError(f"empty buffer followed by {rest!r}")
        return b""
    dwords = length >= 4 and length % 2 == 0
    data = bytearray()
    text: str | None = rest
    while len(data) < length:
        text = text if text is not None else next(stream, None)
        if text is None:
            raise DumpParseError(f"buffer dump ended after {len(data)} of {length} bytes")
        data += _buffer_line(text, len(data), min(16, length - len(data)), dwords)
        text = None
    return bytes(data)


def _buffer_line(text: str, offset: int, count: int, dwords: bool) -> bytes:
    m = _HEX_LINE.match(text)
    if m is None or int(m.group(1), 16) != offset:
        raise DumpParseError(f"expected the buffer line at offset {offset:#x}, got {text!r}")
    hex_part, sep, chars = m.group(2).partition(" // ")
    tokens = hex_part.split()
    if not sep or len(tokens) != (-(-count // 4) if dwords else count) \
            or not (_DWORD_TOKENS if dwords else _BYTE_TOKENS).fullmatch(hex_part):
        raise DumpParseError(f"unexpected buffer line {text!r}")
    data = bytes.fromhex(hex_part)
    if dwords:  # each DWORD token is printed most significant byte first
        words = array("I", data)
        words.byteswap()
        data = words.tobytes()[:count]
    if chars != data.translate(_SHOWN).decode("ascii"):
        raise DumpParseError(f"buffer characters disagree with its bytes: {text!r}")
    return data
