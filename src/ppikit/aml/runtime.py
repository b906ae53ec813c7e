"""A warm ACPICA session (``acpiexec``) that evaluates AML against simulated guest memory.

Why acpiexec: it is the same interpreter that runs inside Linux, so what it returns is what an OS
gets. Why this design (measured with acpiexec 20200925, see ``benchmarks/bench_acpiexec.py``):

* ``acpiexec -b`` costs a process start per call and the debugger's ``Evaluate`` sleeps ~10 ms
  (ACPICA lets handler threads finish), but one AML method runs ~8,000-10,000 ``_DSM`` calls per
  second. So every request -- one evaluation or thousands, memory reads and writes included --
  becomes one generated *driver table* (:mod:`ppikit.aml.bytecode`, no iasl subprocess): a method
  that performs the steps in order and stores each result. The session loads it (``Load``) and runs
  it. By default it runs it without ``Evaluate`` (:mod:`ppikit.aml.fastpath`: a tiny trigger table
  whose module-level code calls the driver runs during its own ``Load``, and the results are read
  with ``Dump``, ~3 ms a batch); the ``Evaluate`` path below stays as the reference and the
  fallback (``fast_path = False``).
* The debugger cannot pass an empty Package argument, so even single evaluations go through a
  driver: arguments are exact AML literals, and the semantics are those of AML calling AML (no
  predefined-name repair: ``_STR`` comes back as the String QEMU wrote, not a repaired Buffer).
* Results are stored in 64-element block packages: ACPICA walks a whole package to update reference
  counts whenever it is referenced, so one big result package made every store O(n). The debugger
  returns a result through a 16 KiB buffer, so blocks are read back in runs that fit (the run length
  adapts when ACPICA reports the size it needed; a single oversized result is read on its own).
* ACPICA has no exception handling inside AML: a failing step aborts the driver method. Each step
  therefore stores its index in a progress integer first; after an abort the session reads it (one
  more command), records the error, and re-runs the same driver from the next step (the method
  skips steps below its ``Arg0``). Nothing is printed per step: acpiexec writes its output unbuffered.
* A method that returns nothing makes the driver's ``Store`` fail with ``AE_AML_NO_RETURN_VALUE``
  raised in the driver itself; that is reported as ``None`` ("no return value"), as the debugger's
  own ``Evaluate`` does.

Memory: acpiexec backs SystemMemory regions with heap buffers; a region that overlaps an existing
buffer is merged into it (the buffer grows and keeps its bytes), so QEMU's ``TPP2``/``TPP3`` and the
per-call ``TPP1`` regions share one memory -- *if* the first buffer covers them. A region that bridges
two disjoint existing buffers is merged into one of them only. The session therefore touches every
``memory_windows`` range (default: the 0x400-byte PPI page) right after loading, before any caller
AML runs, and every later region inside a window aliases it. Memory starts zero-filled.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from ppikit._subprocess import ManagedProcess
from ppikit.aml import bytecode as bc
from ppikit.aml.params import MOR_DSM_UUID, PPI_DSM_UUID
from ppikit.aml.tables import ACPI_HEADER_SIZE, checksum_ok, fix_checksum
from ppikit.aml.values import AmlValue, DumpParseError, eisa_id_to_str, parse_object_dump
from ppikit.errors import ToolError, UsageError
from ppikit.ppi.page import TPM_PPI_ADDR_BASE, TPM_PPI_ADDR_SIZE

#: Named ``_DSM`` UUIDs accepted wherever a UUID is (``"ppi"``, ``"mor"``).
DSM_UUIDS: dict[str, uuid.UUID] = {"ppi": uuid.UUID(PPI_DSM_UUID), "mor": uuid.UUID(MOR_DSM_UUID)}
#: Device IDs of a TPM node: TPM 2.0 (``MSFT0101``) and TPM 1.2 (``PNP0C31``).
TPM_HIDS: tuple[str, ...] = ("MSFT0101", "PNP0C31")
#: Memory ranges pre-allocated as one buffer each at session start (see module docstring).
DEFAULT_MEMORY_WINDOWS: tuple[tuple[int, int], ...] = ((TPM_PPI_ADDR_BASE, TPM_PPI_ADDR_SIZE),)
#: Extra time granted to a batch per step, on top of the session timeout.
SECONDS_PER_STEP = 0.005
#: acpiexec returns evaluation results through a 16 KiB buffer; result slices aim below this size.
DEBUGGER_BUFFER_BUDGET = 0x3E00
#: Results per block package (see :class:`_Driver`).
RESULT_BLOCK = 64
#: Initial estimate of a result block's size in the debugger buffer (64 Integers), refined on overflow.
BYTES_PER_BLOCK_GUESS = 1600
#: Largest single ReadMemory step (its Buffer must fit the debugger's result buffer).
MAX_READ_STEP = 0x2000

PROMPT = "\n- "  #: what acpiexec prints when it waits for the next debugger command
HELPER_SCOPE = "\\PKIT"  #: Device that holds the driver methods and result packages
_NAME_DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"

_RETURNED = re.compile(r"^Evaluation of (\S+) returned object")
_FAILED = re.compile(r"^Evaluation of (\S+) failed with status (AE_\w+)")
_ABORTING = re.compile(r"Aborting method (\S+) due to previous error \((AE_\w+)\)")
_OVERFLOW = re.compile(r"Possible buffer overflow within AML Debugger buffer \(size 0x[0-9A-Fa-f]+ needed 0x([0-9A-Fa-f]+)\)")
_METHOD_LINE = re.compile(r"^\s*(\\\S*)\s+Method\s+\S+\s+\S+\s+Args (\d+)")
_FIND_LINE = re.compile(r"^\s*(\\\S+)\s+\w+\s+0x[0-9a-fA-F]+")
_PATHS_LINE = re.compile(r"^\s*\d+\s+\w+\s+(\S+)$")


class AmlEvalError(ToolError):
    """An AML evaluation failed in ACPICA: ``path`` is what was evaluated, ``status`` the AE_ code."""

    def __init__(self, message: str, *, path: str, status: str, argv: Sequence[str] = (), log: str = "") -> None:
        self.path = path
        self.status = status
        super().__init__(message, argv=argv, log=log)

    def __str__(self) -> str:  # path and status say it all; the acpiexec output stays in ``log``
        return self.args[0]

    def __eq__(self, other: object) -> bool:  # results of batch and sequential runs compare equal
        return isinstance(other, AmlEvalError) and (self.path, self.status) == (other.path, other.status)

    def __hash__(self) -> int:
        return hash((self.path, self.status))


class AmlLoadError(ToolError):
    """acpiexec refused a table (bad header or checksum, AML errors while loading)."""


class AcpiexecError(ToolError):
    """acpiexec crashed, hung or answered nonsense; the session restarts on the next request."""


# -- steps of a batch ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Call:
    """Evaluate ``path`` (a method with ``args``, or a named object without)."""

    path: str
    args: tuple = ()


@dataclass(frozen=True)
class ReadMemory:
    """Read ``length`` bytes of SystemMemory at ``address``; the result is ``bytes``."""

    address: int
    length: int


@dataclass(frozen=True)
class WriteMemory:
    """Write ``data`` to SystemMemory at ``address``; the result is ``None``."""

    address: int
    data: bytes


@dataclass
class Mirror:
    """A memory range kept in step with a caller's copy (see :meth:`AcpiRuntime.mirror`).

    ``data`` is the latest known content: the caller's bytes until a batch has run, then what the
    last batch read back. ``batches`` counts the batches that read it back.
    """

    address: int
    data: bytes
    dirty: bool = True  #: must be written into acpiexec before the next batch
    batches: int = 0
    session: int = -1  #: AcpiRuntime.restarts when it was last written (a new session has zeroed memory)


Step = Call | ReadMemory | WriteMemory


@dataclass
class _Table:
    name: str
    data: bytes


@dataclass
class _Namespace:
    """What the loaded tables declare: method arities and every object path (for argument checks)."""

    methods: dict[str, int] = field(default_factory=dict)
    paths: set[str] = field(default_factory=set)


class AcpiRuntime:
    """A warm acpiexec session over ``tables`` (DSDT/SSDT bytes or paths), used as a context manager.

    ``timeout`` bounds every wait for acpiexec (plus :data:`SECONDS_PER_STEP` per batch step); on a
    timeout or crash the process group is killed, the caller gets :class:`AcpiexecError`, and the
    next request starts a fresh session (tables reloaded, memory zeroed). ``fix_checksums`` patches
    byte 9 of tables whose checksum is wrong (QEMU's raw tables carry 0); otherwise such a table is
    refused with :class:`AmlLoadError` (acpiexec itself would crash on it). ``slack`` runs ACPICA in
    slack mode (``-es``: a method without ``Return`` yields Integer 0), as some OSes configure it.
    """

    def __init__(
        self,
        tables: Sequence[bytes | str | os.PathLike[str]],
        *,
        timeout: float = 10.0,
        memory_windows: Sequence[tuple[int, int]] = DEFAULT_MEMORY_WINDOWS,
        fix_checksums: bool = False,
        slack: bool = False,
    ) -> None:
        if not tables:
            raise UsageError("AcpiRuntime needs at least one AML table (DSDT or SSDT)")
        self.timeout = timeout
        self.slack = slack
        self._tables = [_load_table(t, i, fix_checksums) for i, t in enumerate(tables)]
        self.integer_width = _integer_width(self._tables)
        self.memory_windows = tuple((int(a), int(n)) for a, n in memory_windows)
        for address, length in self.memory_windows:
            _check_range(address, length, self.integer_width)
        self._process: ManagedProcess | None = None
        self._workdir: Path | None = None
        self._buf = ""
        self._batches = 0
        self._bytes_per_block = BYTES_PER_BLOCK_GUESS
        self._namespace = _Namespace()
        self._mirror: Mirror | None = None
        self.restarts = -1  #: how many times the session was (re)started after the first start

    # -- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> AcpiRuntime:
        try:
            self.start()
        except BaseException:
            self.close()  # __exit__ does not run when __enter__ fails
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def start(self) -> None:
        """Start acpiexec, load the tables, allocate the memory windows (idempotent)."""
        if self._process is not None and self._process.alive():
            return
        self._stop_process()
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="ppikit-acpiexec-"))
        files = []
        for table in self._tables:
            (self._workdir / table.name).write_bytes(table.data)
            files.append(table.name)
        argv = ["stdbuf", "-o0", "acpiexec", "-dt", *(["-es"] if self.slack else []), *files]
        self._buf = ""
        self._batches = 0
        process = ManagedProcess(argv, workdir=self._workdir, keep_workdir=True, stdin=subprocess.PIPE,
                                 stdout_pipe=True, ready=None)
        process.start()
        self._process = process
        self.restarts += 1
        try:
            startup = self._read_until_prompt(self.timeout, what="loading the tables")
        except AcpiexecError as exc:
            raise AmlLoadError(f"acpiexec could not load the tables: {exc.args[0]}", argv=argv,
                               log=exc.log) from None
        problems = [line for line in startup.splitlines() if line.startswith(("ACPI Error", "ACPI Exception"))]
        if problems:
            self._stop_process()
            raise AmlLoadError("acpiexec could not load the tables: " + " | ".join(problems[:4]),
                               argv=argv, log=startup)
        self._namespace = self._read_namespace()
        self._load_aml(bc.definition_block(bc.device(HELPER_SCOPE), oem_table_id="PPIKITHL"), "helper.aml")
        if self.memory_windows:  # before any mirror write: windows must be the first regions created
            self._run_steps([ReadMemory(a, n) for a, n in self.memory_windows])

    def close(self) -> None:
        """Stop acpiexec and remove the session's files."""
        self._stop_process()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def restart(self) -> None:
        """Kill acpiexec and start a fresh session (tables reloaded, memory zeroed)."""
        self._stop_process()
        self.start()

    def _stop_process(self) -> None:
        if self._process is not None:
            self._process.stop(grace=0.5)
            self._process = None

    @property
    def pid(self) -> int | None:
        """Process id of the running acpiexec (for diagnostics and tests)."""
        return self._process.proc.pid if self._process is not None and self._process.proc else None

    # -- public API ------------------------------------------------------------------------------
    def evaluate(self, path: str, *args: bc.AmlArg) -> AmlValue:
        """Evaluate ``path`` with ``args``; raise :class:`AmlEvalError` naming path and AE_ status."""
        result = self.run([Call(path, tuple(args))])[0]
        if isinstance(result, AmlEvalError):
            raise result
        return result

    def evaluate_many(self, calls: Iterable[Step | tuple[str, Sequence[bc.AmlArg]]]) -> list[AmlValue | AmlEvalError]:
        """Evaluate many calls in one round trip; each failure is returned (not raised) in its slot.

        ``calls`` holds ``(path, args)`` tuples or :class:`Call` / :class:`ReadMemory` /
        :class:`WriteMemory` steps, performed strictly in order (at most 46656 memory steps per
        batch). Results: int, str, bytes, nested lists, ``None`` for "no return value" and for
        writes, or an :class:`AmlEvalError` in the slot of a step that failed in ACPICA.
        """
        return self.run([c if isinstance(c, (Call, ReadMemory, WriteMemory)) else Call(c[0], tuple(c[1]))
                         for c in calls])

    def write_memory(self, address: int, data: bytes) -> None:
        """Write ``data`` to SystemMemory at ``address`` (seen by every overlapping OperationRegion)."""
        result = self.run([WriteMemory(address, bytes(data))])[0]
        if isinstance(result, AmlEvalError):
            raise result

    def read_memory(self, address: int, length: int) -> bytes:
        """Read ``length`` bytes of SystemMemory at ``address`` (one round trip, any length)."""
        _check_range(address, length, self.integer_width)
        parts = self.run([ReadMemory(a, min(MAX_READ_STEP, address + length - a))
                          for a in range(address, address + length, MAX_READ_STEP)])
        for part in parts:
            if isinstance(part, AmlEvalError):
                raise part
        return b"".join(parts)  # type: ignore[arg-type]

    def dsm(self, device: str, dsm_uuid: uuid.UUID | str, revision: int, function: int,
            args: Sequence[bc.AmlArg] = ()) -> AmlValue:
        """``device._DSM(ToUUID(dsm_uuid), revision, function, Package(args))``, as Linux calls it.

        ``dsm_uuid`` may be a :class:`uuid.UUID`, its text, or a name from :data:`DSM_UUIDS`.
        """
        return self.evaluate(f"{bc.normalize_path(device)}._DSM", resolve_uuid(dsm_uuid), revision, function,
                             list(args))

    def find_devices(self, hids: Iterable[str] = TPM_HIDS) -> list[str]:
        """Paths of the devices whose ``_HID`` or ``_CID`` (string or EISA ID) is one of ``hids``."""
        wanted = {h.upper() for h in hids}
        id_paths = self._find("_HID") + self._find("_CID")
        values = self.run([Call(p) for p in id_paths])
        found = []
        for path, value in zip(id_paths, values):
            ids = value if isinstance(value, list) else [value]
            names = {eisa_id_to_str(v) if isinstance(v, int) else v for v in ids if isinstance(v, (int, str))}
            device = path.rsplit(".", 1)[0]
            if names & wanted and device not in found:
                found.append(device)
        return found

    # -- batches ---------------------------------------------------------------------------------
    def run(self, steps: Sequence[Step]) -> list[AmlValue | AmlEvalError]:
        """Perform ``steps`` in order in one driver table; see :meth:`evaluate_many`."""
        steps = list(steps)
        if not steps:
            return []
        if self._process is not None and not self._process.alive():
            status = self._process.proc.returncode if self._process.proc else None
            self._crashed(f"acpiexec exited unexpectedly (status {status})", self._buf)
        self.start()
        mirror = self._mirror
        if mirror is None:
            return self._run_steps(steps)
        if mirror.session != self.restarts:
            mirror.dirty = True
        prefix = [WriteMemory(mirror.address, mirror.data)] if mirror.dirty else []
        try:
            results = self._run_steps([*prefix, *steps, ReadMemory(mirror.address, len(mirror.data))])
        except BaseException:
            mirror.dirty = True  # the batch may not have run; a crashed session restarts with zeroed memory
            raise
        for result in (*results[:len(prefix)], results[-1]):
            if isinstance(result, AmlEvalError):
                raise result
        mirror.data, mirror.dirty, mirror.session = bytes(results[-1]), False, self.restarts
        mirror.batches += 1
        return results[len(prefix):-1]

    @contextlib.contextmanager
    def mirror(self, address: int, data: bytes) -> Iterator[Mirror]:
        """Keep ``[address, address + len(data))`` in step with the caller, at no extra round trip.

        ``data`` is written into acpiexec's memory as the first step of the next batch, and every
        batch inside the ``with`` block ends by reading the range back into ``Mirror.data``. This
        is how a platform lends its PPI page to the OS for a session without two extra debugger
        commands per session. Mirrors do not nest.
        """
        if self._mirror is not None:
            raise UsageError("AcpiRuntime.mirror() does not nest")
        _check_range(address, len(data), self.integer_width)
        if len(data) > MAX_READ_STEP:
            raise UsageError(f"a mirrored range is at most {MAX_READ_STEP:#x} bytes")
        self._mirror = Mirror(address, bytes(data))
        try:
            yield self._mirror
        finally:
            self._mirror = None

    def _run_steps(self, steps: list[Step]) -> list[AmlValue | AmlEvalError]:
        checked = [self._check_step(s) for s in steps]
        driver = _Driver(f"{HELPER_SCOPE}.T{self._next_tag()}", len(checked), self.integer_width, self._batches)
        self._load_aml(driver.table([self._step_aml(k, s, aml, driver) for k, (s, aml) in enumerate(checked)]),
                       driver.filename)
        # -- fast path hook (ppikit.aml.fastpath): the driver runs while a trigger table loads;
        # imported here, not at the top, because fastpath imports this module --
        from ppikit.aml import fastpath
        perform = fastpath.perform if fastpath.applies(self) else type(self)._perform
        results = perform(self, driver, [s for s, _ in checked])
        # -- end of fast path hook --
        self._unload(driver)  # after a failure above the driver stays loaded: harmless, and rare
        return results

    def _perform(self, driver: _Driver, steps: list[Step]) -> list[AmlValue | AmlEvalError]:
        """Run the loaded driver to the end, re-running it after each failing step; read the results."""
        outcomes: dict[int, AmlValue | AmlEvalError] = {}
        budget = self.timeout + SECONDS_PER_STEP * len(steps)
        self._bytes_per_block = BYTES_PER_BLOCK_GUESS
        start = 0
        values: list[AmlValue] | None = None
        while start < len(steps):
            outcome = _Outcome.of(self._command(f"evaluate {driver.method} {start:#x}", budget), driver.method)
            if isinstance(outcome.value, list) or outcome.needed:  # all steps ran; DRVR returns block 0
                values = outcome.value if isinstance(outcome.value, list) else None
                break
            failed = self._progress(driver.progress, budget)
            if not start <= failed < len(steps):
                raise AcpiexecError(f"{driver.method} failed outside its steps ({outcome.status})",
                                    log="\n".join(outcome.lines[-20:]))
            outcomes[failed] = self._step_error(steps[failed], outcome, driver.method)
            start = failed + 1
        if values is None or len(driver.blocks) > 1:
            values = self._read_results(driver, budget, values)
        return [outcomes[k] if k in outcomes else _step_result(s, values[k]) for k, s in enumerate(steps)]

    def _read_results(self, driver: _Driver, budget: float, block0: list[AmlValue] | None) -> list[AmlValue]:
        """Read the result blocks (after ``block0``, if known) in runs that fit acpiexec's 16 KiB buffer."""
        values: list[AmlValue] = list(block0 or [])
        blocks = len(driver.blocks)
        first = 1 if block0 is not None else 0
        while first < blocks:
            size = min(blocks - first, max(1, DEBUGGER_BUFFER_BUDGET // self._bytes_per_block))
            command = f"evaluate {driver.slicer} {first:#x} {size:#x}"
            outcome = _Outcome.of(self._command(command, budget), driver.slicer)
            if isinstance(outcome.value, list):
                for block in outcome.value:
                    values += block if isinstance(block, list) else [block]
                first += size
            elif outcome.needed:
                self._bytes_per_block = max(self._bytes_per_block + 1, -(-outcome.needed // size))
                if size == 1:
                    values += [self._read_element(driver, first, i, budget)
                               for i in range(min(driver.block_size, driver.count - first * driver.block_size))]
                    first += 1
            else:
                raise AcpiexecError(f"reading results of {driver.method} failed ({outcome.status})",
                                    log="\n".join(outcome.lines[-20:]))
        return values[:driver.count]

    def _read_element(self, driver: _Driver, block: int, index: int, budget: float) -> AmlValue:
        outcome = _Outcome.of(self._command(f"evaluate {driver.element} {block:#x} {index:#x}", budget),
                              driver.element)
        if outcome.status:
            raise AcpiexecError(f"result {block * driver.block_size + index} does not fit acpiexec's 16 KiB "
                                f"debugger buffer ({outcome.status})", log="\n".join(outcome.lines[-20:]))
        return outcome.value

    def _step_aml(self, k: int, step: Step, call_aml: bytes, driver: _Driver) -> bytes:
        width = self.integer_width
        marker = bc.store(bc.integer(k, width=width), bc.name_string(driver.progress))
        target = driver.result_target(k)
        if isinstance(step, Call):
            return marker + bc.store(call_aml, target)
        region, unit = f"Q{_tag(k)}", f"F{_tag(k)}"
        length = step.length if isinstance(step, ReadMemory) else len(step.data)
        decl = (bc.operation_region(region, step.address, length, width=width)
                + bc.field(region, unit, 8 * length))
        if isinstance(step, ReadMemory):
            return marker + decl + bc.store(bc.name_string(unit), target)
        return marker + decl + bc.store(bc.buffer(step.data), bc.name_string(unit)) + bc.store(bc.integer(0), target)

    def _check_step(self, step: Step) -> tuple[Step, bytes]:
        """Normalise and validate a step before any AML runs; encode a call's invocation.

        A call's arguments must match the method's arity: in AML the callee's ``ArgCount`` decides
        how many terms after the name are arguments, so a mismatch would silently mis-parse.
        An unknown path is emitted without arguments so that ACPICA itself reports AE_NOT_FOUND.
        """
        if isinstance(step, Call):
            path = bc.normalize_path(step.path)
            args = tuple(step.args)
            arity = self._namespace.methods.get(path)
            if arity is not None and arity != len(args):
                raise UsageError(f"{path} takes {arity} argument(s), got {len(args)}")
            if arity is None and args and path in self._namespace.paths:
                raise UsageError(f"{path} is not a method; it takes no arguments (got {len(args)})")
            invocation = bc.invocation(path, args, width=self.integer_width)  # rejects bad values
            if arity is None:
                invocation = bc.name_string(path)
            return Call(path, args), invocation
        if isinstance(step, ReadMemory):
            _check_range(step.address, step.length, self.integer_width)
            if step.length > MAX_READ_STEP:
                raise UsageError(f"one ReadMemory step reads at most {MAX_READ_STEP:#x} bytes "
                                 f"(read_memory() splits larger reads)")
            return step, b""
        if isinstance(step, WriteMemory):
            _check_range(step.address, len(step.data), self.integer_width)
            return WriteMemory(step.address, bytes(step.data)), b""
        raise UsageError(f"not a runtime step: {step!r}")

    def _step_error(self, step: Step, outcome: _Outcome, driver: str) -> AmlValue | AmlEvalError:
        aborts = [m for m in map(_ABORTING.search, outcome.lines) if m]
        innermost = aborts[0].group(1) if aborts else driver
        status = aborts[0].group(2) if aborts else outcome.status
        if isinstance(step, Call) and innermost == driver and status == "AE_AML_NO_RETURN_VALUE":
            return None  # the callee returned nothing; only the driver's Store noticed
        path = step.path if isinstance(step, Call) else f"SystemMemory {step.address:#x}"
        detail = [_strip_source_ref(line) for line in outcome.lines
                  if line.startswith("ACPI Error") and "Aborting method" not in line and driver not in line]
        where = f" (in {innermost})" if innermost not in (driver, path) else ""
        message = f"{path}: {status}{where}" + (f": {detail[0]}" if detail else "")
        return AmlEvalError(message, path=path, status=status, log="\n".join(outcome.lines[-20:]))

    def _unload(self, driver: _Driver) -> None:
        """Unload a driver table: loaded tables slow every later Load and name lookup (measured)."""
        if self._process is None or not self._process.alive():
            return
        output = self._command(f"unload {driver.scope}")
        if "unloaded" not in output:
            raise AcpiexecError(f"acpiexec did not unload {driver.scope}", log=output)

    def _progress(self, progress: str, budget: float) -> int:
        outcome = _Outcome.of(self._command(f"evaluate {progress}", budget), progress)
        if not isinstance(outcome.value, int):
            raise AcpiexecError(f"cannot read the driver progress {progress} ({outcome.status})",
                                log="\n".join(outcome.lines[-20:]))
        return outcome.value

    def _next_tag(self) -> str:
        """A driver name; names are reused after 46656 batches (each driver is unloaded after use)."""
        self._batches += 1
        return _tag((self._batches - 1) % len(_NAME_DIGITS) ** 3)

    # -- namespace -------------------------------------------------------------------------------
    def _read_namespace(self) -> _Namespace:
        methods = {m.group(1): int(m.group(2)) for m in map(_METHOD_LINE.match, self._command("methods").splitlines())
                   if m}
        paths = {"\\" + m.group(1) for m in map(_PATHS_LINE.match, self._command("paths").splitlines()) if m}
        return _Namespace(methods, paths | set(methods))

    def _find(self, name_seg: str) -> list[str]:
        return [m.group(1) for m in map(_FIND_LINE.match, self._command(f"find {name_seg}").splitlines()) if m]

    # -- debugger protocol -----------------------------------------------------------------------
    def _load_aml(self, table: bytes, filename: str) -> None:
        assert self._workdir is not None
        (self._workdir / filename).write_bytes(table)
        output = self._command(f"load {filename}")
        if "successfully installed and loaded" not in output:
            raise AcpiexecError(f"acpiexec did not load the generated table {filename}", log=output)

    def _command(self, command: str, timeout: float | None = None, *, outcome: re.Pattern[str] | None = None) -> str:
        """Send one debugger command and return its output (up to the next prompt after ``outcome``)."""
        process = self._process
        if process is None or not process.alive() or process.proc is None or process.proc.stdin is None:
            self._stop_process()
            raise AcpiexecError("acpiexec is not running (it exited or was killed); "
                                "the next request starts a fresh session")
        try:
            process.proc.stdin.write(command.encode() + b"\n")
            process.proc.stdin.flush()
        except OSError as exc:
            self._crashed(f"acpiexec stopped accepting commands ({exc})")
        verb, _, rest = command.partition(" ")
        # AML run by ``evaluate`` may print anything to Debug, even a fake prompt: for those commands
        # the prompt only counts after ACPICA's own outcome line for the evaluated path.
        if verb == "evaluate":
            outcome = re.compile(r"[Ee]valuation of " + re.escape(rest.split(" ")[0]) + r"\b")
        return self._read_until_prompt(timeout or self.timeout, what=command, outcome=outcome)

    def _read_until_prompt(self, timeout: float, *, what: str, outcome: re.Pattern[str] | None = None) -> str:
        assert self._process is not None and self._process.proc is not None
        stdout = self._process.proc.stdout
        assert stdout is not None
        deadline = time.monotonic() + timeout
        output = self._buf
        outcome_seen = outcome is None
        search_from = 0  # the prompt search resumes here (output only grows)
        while True:
            if not outcome_seen:
                found = outcome.search(output)  # type: ignore[union-attr]
                outcome_seen, search_from = (True, found.end()) if found else (False, 0)
            if outcome_seen:
                end = output.find(PROMPT, search_from)
                if end >= 0:
                    break
                search_from = max(search_from, len(output) - len(PROMPT) + 1)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._crashed(f"acpiexec did not finish {what!r} within {timeout:g} s; killed it", output)
            ready, _, _ = select.select([stdout], [], [], min(remaining, 0.5))
            if not ready:
                continue
            data = os.read(stdout.fileno(), 1 << 20)
            if not data:
                self._crashed(f"acpiexec exited during {what!r}", output)
            output += data.decode("latin-1")
        self._buf = output[end + len(PROMPT):]
        return output[:end + 1]

    def _crashed(self, message: str, output: str = "") -> None:
        argv = list(self._process.argv) if self._process else []
        self._stop_process()
        raise AcpiexecError(message + "; the next request starts a fresh session (memory reset)",
                            argv=argv, log=output)


# -- helpers ---------------------------------------------------------------------------------------
#: Scopes ACPICA creates itself; a stand-in DSDT must not declare them again.
PREDEFINED_SCOPES: frozenset[str] = frozenset({"\\_GPE", "\\_PR", "\\_SB", "\\_SI", "\\_TZ"})


def stand_in_dsdt(ssdts: Sequence[bytes], *, revision: int = 1) -> bytes:
    """A DSDT that declares every Device scope the ``ssdts`` reference with ``External (..., DeviceObj)``.

    Why: an SSDT such as ppikit's TIS node lives in ``\\_SB.PCI0.ISA``, which only a platform DSDT
    defines; acpiexec's built-in DSDT is empty. Revision 1 (32-bit integers) is what QEMU's x86
    DSDT uses, so the SSDT's AML runs with the integer width it meets in a QEMU guest.
    """
    paths: list[str] = []
    for table in ssdts:
        for path in bc.external_devices(table):
            segs = bc.normalize_path(path)[1:].split(".")
            for depth in range(1, len(segs) + 1):
                prefix = "\\" + ".".join(segs[:depth])
                if prefix not in PREDEFINED_SCOPES and prefix not in paths:
                    paths.append(prefix)
    body = b"".join(bc.device(p) for p in paths)
    return bc.definition_block(body, signature="DSDT", revision=revision, oem_table_id="PPIKITSD")


def with_stand_in_dsdt(tables: Sequence[bytes]) -> list[bytes]:
    """``tables``, preceded by a :func:`stand_in_dsdt` when none of them is a DSDT.

    The stand-in takes the lowest revision among the tables, so integers get the width the
    platform's DSDT would give them (an SSDT's own revision does not decide it; the DSDT's does).
    """
    tables = list(tables)
    if any(t[:4] == b"DSDT" for t in tables):
        return tables
    revision = min((t[8] for t in tables if len(t) > 8), default=1)
    return [stand_in_dsdt(tables, revision=revision), *tables]


def resolve_uuid(value: uuid.UUID | str) -> uuid.UUID:
    """A :class:`uuid.UUID` from a UUID, its text, or a :data:`DSM_UUIDS` name (``ppi``, ``mor``)."""
    if isinstance(value, uuid.UUID):
        return value
    named = DSM_UUIDS.get(str(value).lower())
    if named is not None:
        return named
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise UsageError(f"not a UUID or one of {', '.join(DSM_UUIDS)}: {value!r}") from None


def _tag(number: int) -> str:
    digits = ""
    for _ in range(3):
        number, digit = divmod(number, len(_NAME_DIGITS))
        digits = _NAME_DIGITS[digit] + digits
    if number:
        raise UsageError("a batch holds at most 46656 steps")
    return digits


def _load_table(table: bytes | str | os.PathLike[str], index: int, fix: bool) -> _Table:
    if isinstance(table, (bytes, bytearray, memoryview)):
        data, label = bytes(table), f"table #{index}"
    else:
        data, label = Path(table).read_bytes(), str(table)
    if len(data) < ACPI_HEADER_SIZE:
        raise AmlLoadError(f"{label}: {len(data)} bytes is shorter than an ACPI table header")
    signature = data[:4].decode("latin-1")
    if signature not in ("DSDT", "SSDT"):
        raise AmlLoadError(f"{label}: signature {signature!r} is not an AML table (DSDT or SSDT)")
    declared = int.from_bytes(data[4:8], "little")
    if declared != len(data):
        raise AmlLoadError(f"{label}: header length {declared} but the file has {len(data)} bytes")
    if not checksum_ok(data):
        if not fix:
            raise AmlLoadError(f"{label}: bad checksum (byte 9 = {data[9]:#04x}, should be "
                               f"{fix_checksum(data)[9]:#04x}); QEMU's raw tables need fix_checksums=True")
        data = fix_checksum(data)
    return _Table(f"t{index}-{signature.lower()}.aml", data)


def _integer_width(tables: list[_Table]) -> int:
    """ACPICA's integer width: 32 bits if the DSDT has revision < 2, else 64 (acpiexec's own DSDT is rev 2)."""
    dsdts = [t for t in tables if t.data[:4] == b"DSDT"]
    if len(dsdts) > 1:
        raise AmlLoadError("more than one DSDT given; pass one DSDT and any number of SSDTs")
    return 32 if dsdts and dsdts[0].data[8] < 2 else 64


def _check_range(address: int, length: int, width: int) -> None:
    if not isinstance(address, int) or not isinstance(length, int) or address < 0 or length <= 0:
        raise UsageError(f"bad memory range: address {address!r}, length {length!r}")
    if address + length > 1 << width:
        raise UsageError(f"memory range {address:#x}+{length:#x} exceeds the {width}-bit AML address space")


@dataclass
class _Driver:
    """Names and layout of one generated driver table (everything lives in Device ``scope``).

    Results go to packages of :data:`RESULT_BLOCK` elements (see :func:`bc.blocks_slice_method`);
    ``PROG`` holds the index of the step being performed; ``DRVR(first_step)`` runs the steps and
    returns the first block; ``SLCE(first_block, blocks)`` and ``ELEM(block, index)`` read results.
    """

    scope: str
    count: int
    width: int
    serial: int  #: session-wide batch number, makes every table's bytes unique (ACPICA refuses reloads)
    block_size: int = 0

    def __post_init__(self) -> None:
        self.block_size = min(RESULT_BLOCK, self.count)
        self.blocks = [f"{self.scope}.B{_tag(b)}" for b in range(-(-self.count // self.block_size))]
        self.method, self.progress = f"{self.scope}.DRVR", f"{self.scope}.PROG"
        self.slicer, self.element = f"{self.scope}.SLCE", f"{self.scope}.ELEM"
        self.filename = self.scope.rsplit(".", 1)[1].lower() + ".aml"

    def result_target(self, k: int) -> bytes:
        block, index = divmod(k, self.block_size)
        return bc.index_of(self.blocks[block], index, width=self.width)

    def table(self, steps: list[bytes]) -> bytes:
        width = self.width
        body = b"".join(bc.if_arg0_at_most(k, step, width=width) for k, step in enumerate(steps))
        sizes = [min(self.block_size, self.count - b * self.block_size) for b in range(len(self.blocks))]
        aml = (bc.device(self.scope) + bc.name(self.progress, bc.integer(0))
               + b"".join(bc.name(path, bc.package([0] * size, width=width)) for path, size in zip(self.blocks, sizes))
               + bc.method(self.method, 1, body + bc.return_(bc.name_string(self.blocks[0])), serialized=True)
               + bc.blocks_slice_method(self.slicer, self.blocks, width=width)
               + bc.blocks_element_method(self.element, self.blocks, width=width))
        return bc.definition_block(aml, oem_table_id="PPIKITDR", oem_revision=self.serial & 0xFFFFFFFF)


@dataclass
class _Outcome:
    """What one debugger ``evaluate`` printed: the returned package, or the failure status."""

    value: AmlValue
    status: str
    lines: list[str]
    needed: int = 0  #: bytes the result needed when it overflowed the debugger buffer

    @classmethod
    def of(cls, output: str, path: str) -> _Outcome:
        lines = output.splitlines()
        for i, line in enumerate(lines):
            if (m := _RETURNED.match(line)) and m.group(1) == path:
                try:
                    value = parse_object_dump(lines[i + 1:])
                except DumpParseError as exc:
                    raise AcpiexecError(f"cannot read the result of {path}: {exc}", log=output) from None
                return cls(value, "", lines)
            if (m := _FAILED.match(line)) and m.group(1) == path:
                overflow = [o for o in map(_OVERFLOW.search, lines) if o]
                return cls(None, m.group(2), lines, int(overflow[0].group(1), 16) if overflow else 0)
        raise AcpiexecError(f"acpiexec printed no outcome for {path}", log=output)


def _step_result(step: Step, value: AmlValue) -> AmlValue:
    if isinstance(step, WriteMemory):
        return None
    if isinstance(step, ReadMemory):  # a field up to the integer width reads as an Integer
        if isinstance(value, int):
            return value.to_bytes(step.length, "little")
        if not isinstance(value, bytes) or len(value) != step.length:
            raise AcpiexecError(f"memory read at {step.address:#x} returned {value!r}")
    return value


def _strip_source_ref(line: str) -> str:
    """``ACPI Error: X (20200925/dsutils-696)`` -> ``X``."""
    return re.sub(r"\s*\(\d{8}/[\w.-]+\)\s*$", "", line.removeprefix("ACPI Error: "))
