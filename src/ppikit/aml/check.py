"""``ppikit check``: does a platform's TPM ACPI description behave as PPI 1.3, QEMU 7.2 and Linux expect?

Why run it instead of reading it: a ``_DSM`` is a program. Disassembly shows its shape, not what it
returns for revision 3 or what it writes to the PPI page when ``func[op]`` is 5. So the check loads the
tables into real ACPICA (:class:`~ppikit.aml.runtime.AcpiRuntime`), finds every TPM device (``_HID``
or ``_CID`` MSFT0101/PNP0C31), sweeps its ``_DSM`` (:mod:`ppikit.aml.sweep`) and compares each
answer -- return value and page writes -- with the models of :mod:`ppikit.aml.expectations`. The
TPM2/TCPA tables are checked as Linux's tpm_tis/tpm_crb read them.

Finding categories (``--against`` picks which make the exit status 1):

* ``spec``   -- deviates from TCG PPI 1.3 / Platform Reset Attack Mitigation 1.00 / ACPI ``_DSM``;
* ``qemu``   -- behaves differently from QEMU 7.2 (informational unless asked for);
* ``linux``  -- breaks something Linux ``tpm_ppi``, tpm_tis or tpm_crb relies on;
* ``table``  -- a malformed or contradictory TPM2/TCPA/AML table header or field;
* ``linker`` -- a field QEMU leaves for the firmware's linker/loader: checksum byte 0 with a wrong
  sum, LASA 0. Every raw table from QEMU's fw_cfg has them; an ``acpidump`` of a booted machine
  never does. Reported always, failing only with ``--against linker``.

Default ``--against spec,linux,table``: "conforms" means follows the specifications, works with
Linux and has sound tables. QEMU 7.2's own DSDT therefore exits 1 (it deviates from PPI 1.3 by
design); ``--against qemu,linux,table`` is the check a QEMU-compatible implementation passes.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator

import construct as cs

from ppikit.aml.acpidump import AcpiTable
from ppikit.aml.expectations import (
    DsmInput,
    Expectation,
    Fault,
    Outcome,
    PageSetup,
    describe_value,
    linux_failures,
    qemu_expectation,
    spec_expectation,
)
from ppikit.aml.params import MOR_DSM_UUID, PPI_DSM_UUID
from ppikit.aml.runtime import TPM_HIDS, AcpiRuntime, Call, with_stand_in_dsdt
from ppikit.aml.sweep import InputSpace, base_page, input_space, run_sweep, single_call, state_checker
from ppikit.aml.tables import ACPI_CHECKSUM_OFFSET, TCPA_TABLE, TPM2_TABLE, acpi_checksum
from ppikit.aml.values import eisa_id_to_str
from ppikit.errors import UsageError
from ppikit.ppi.page import PpiPage

CATEGORIES: tuple[str, ...] = ("spec", "qemu", "linux", "table", "linker")
DEFAULT_AGAINST: tuple[str, ...] = ("spec", "linux", "table")
EXAMPLES_IN_TEXT = 3  #: deviations shown per finding in the text report (JSON has all)

TPM2_HID = "MSFT0101"
TPM12_HID = "PNP0C31"


# -- report --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Deviation:
    """One input whose observed outcome is not the expected one."""

    input: DsmInput
    setup: PageSetup
    observed: Outcome
    expected: str
    expected_outcome: Outcome | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {"input": self.input.to_dict(), "input_text": self.input.describe(self.setup),
               "observed": self.observed.to_dict(), "expected": self.expected}
        if self.expected_outcome is not None:
            out["expected_outcome"] = self.expected_outcome.to_dict()
        return out


@dataclass
class Finding:
    """One problem: a rule or need that some inputs break, or a table field that is wrong."""

    category: str
    key: str
    title: str
    reason: str
    device: str | None = None
    table: str | None = None
    observed: str = ""
    expected: str = ""
    deviations: list[Deviation] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"category": self.category, "key": self.key, "title": self.title, "reason": self.reason,
                "device": self.device, "table": self.table, "observed": self.observed, "expected": self.expected,
                "count": len(self.deviations), "deviations": [d.to_dict() for d in self.deviations]}

    def render(self) -> list[str]:
        where = self.device or self.table or ""
        head = f"[{self.category}] {self.key}: {self.title}" + (f" ({where})" if where else "")
        lines = [head, f"    why: {self.reason}"]
        if self.deviations:
            lines.append(f"    {len(self.deviations)} input(s); e.g.")
            for dev in self.deviations[:EXAMPLES_IN_TEXT]:
                lines.append(f"      input:    {dev.input.describe(dev.setup)} on page '{dev.setup.name}'")
                lines.append(f"      observed: {dev.observed.describe()}")
                lines.append(f"      expected: {dev.expected}")
        else:
            lines.append(f"    observed: {self.observed}")
            lines.append(f"    expected: {self.expected}")
        return lines


@dataclass
class OpStatus:
    """What the OS sees for a group of operations on the base page: fn 8 and fn 7 (rev 1)."""

    ops: list[int]
    fn8: str
    fn7: str

    def to_dict(self) -> dict[str, Any]:
        return {"ops": self.ops, "fn8": self.fn8, "fn7": self.fn7}


@dataclass
class DeviceReport:
    """One TPM device: identity, what its _DSM offers, and every finding about it."""

    path: str
    hid: str | None
    cids: list[str]
    window: tuple[int, int] | None  #: first Memory32Fixed of _CRS (base, length)
    has_dsm: bool = False
    ppi_version: str | None = None
    ppi_functions: list[int] = field(default_factory=list)
    mor_functions: list[int] = field(default_factory=list)
    op_status: list[OpStatus] = field(default_factory=list)
    inputs: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ids(self) -> set[str]:
        return {i for i in [self.hid, *self.cids] if i}

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "hid": self.hid, "cids": self.cids,
                "window": None if self.window is None else {"base": self.window[0], "length": self.window[1]},
                "has_dsm": self.has_dsm, "ppi_version": self.ppi_version, "ppi_functions": self.ppi_functions,
                "mor_functions": self.mor_functions, "inputs": self.inputs,
                "op_status": [s.to_dict() for s in self.op_status]}


@dataclass
class CheckReport:
    tables: list[AcpiTable]
    devices: list[DeviceReport]
    findings: list[Finding]  #: table findings (not tied to one device's _DSM)
    notes: list[str]

    def all_findings(self) -> list[Finding]:
        return self.findings + [f for d in self.devices for f in d.findings]

    def failing(self, against: Sequence[str] = DEFAULT_AGAINST) -> list[Finding]:
        return [f for f in self.all_findings() if f.category in against]

    def exit_status(self, against: Sequence[str] = DEFAULT_AGAINST) -> int:
        """0: conforms for the ``against`` categories; 1: at least one finding in them."""
        return 1 if self.failing(against) else 0

    def counts(self) -> dict[str, int]:
        return {c: sum(1 for f in self.all_findings() if f.category == c) for c in CATEGORIES}

    def to_dict(self, against: Sequence[str] = DEFAULT_AGAINST) -> dict[str, Any]:
        return {
            "tables": [{"label": t.label, "signature": t.signature, "length": len(t.data),
                        "revision": t.revision, "checksum_ok": t.checksum_ok} for t in self.tables],
            "devices": [d.to_dict() for d in self.devices],
            "findings": [f.to_dict() for f in self.all_findings()],
            "counts": self.counts(), "notes": self.notes, "against": list(against),
            "conforms": self.exit_status(against) == 0,
        }

    def render(self, against: Sequence[str] = DEFAULT_AGAINST) -> str:
        lines = ["tables: " + ", ".join(f"{t.label} ({t.signature} rev {t.revision}, {len(t.data)} bytes)"
                                        for t in self.tables)]
        for dev in self.devices:
            ids = ", ".join(sorted(dev.ids))
            lines.append(f"device {dev.path} ({ids})")
            if not dev.has_dsm:
                lines.append("  no _DSM: PPI and MOR not offered")
                continue
            lines.append(f"  PPI version: {dev.ppi_version if dev.ppi_version is not None else 'none'}")
            lines.append(f"  PPI functions (fn 0, rev 1): {_ranges(dev.ppi_functions) or 'none'}")
            lines.append(f"  MOR functions (fn 0, rev 1): {_ranges(dev.mor_functions) or 'none'}")
            if dev.op_status:
                lines.append(f"  per-op status on the base page ({dev.inputs} inputs swept):")
            for status in dev.op_status:
                lines.append(f"    ops {_ranges(status.ops)}: fn 8 -> {status.fn8}; fn 7 rev 1 -> {status.fn7}")
        lines.extend(f"note: {n}" for n in self.notes)
        counts = self.counts()
        lines.append("findings: " + ", ".join(f"{c} {counts[c]}" for c in CATEGORIES))
        for finding in self.all_findings():
            lines.extend(finding.render())
        verdict = "conforms" if self.exit_status(against) == 0 else "does not conform"
        lines.append(f"result: {verdict} (against {','.join(against)})")
        return "\n".join(lines)


def _ranges(numbers: Sequence[int]) -> str:
    """``[0, 1, 2, 5]`` -> ``0-2, 5``."""
    parts: list[str] = []
    run: list[int] = []
    for n in sorted(numbers):
        if run and n == run[-1] + 1:
            run.append(n)
            continue
        if run:
            parts.append(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}")
        run = [n]
    if run:
        parts.append(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}")
    return ", ".join(parts)


# -- loading -------------------------------------------------------------------------------------
@contextmanager
def open_runtime(tables: Sequence[AcpiTable], notes: list[str], space: InputSpace) -> Iterator[AcpiRuntime]:
    """An acpiexec session over the AML tables of ``tables`` (checksums fixed: QEMU leaves them 0),
    plus the sweep's :func:`~ppikit.aml.sweep.state_checker` for ``space``.

    SSDT-only input gets a stand-in DSDT (:func:`~ppikit.aml.runtime.stand_in_dsdt`) of the SSDTs'
    revision, so integers have the width the platform's DSDT would give them and ``External``
    scopes such as ``\\_SB.PCI0.ISA`` exist; ``notes`` says so.
    """
    aml = [t.data for t in tables if t.is_aml]
    if not aml:
        raise UsageError("no DSDT or SSDT among the tables: nothing declares a TPM device")
    if not any(t.signature == "DSDT" for t in tables):
        aml = with_stand_in_dsdt(aml)
        notes.append(f"no DSDT given: loaded with a stand-in DSDT of revision {aml[0][8]} that defines the "
                     "SSDTs' External scopes")
    with AcpiRuntime([*aml, state_checker(space.setups["base"].state)], fix_checksums=True) as runtime:
        yield runtime


# -- devices -------------------------------------------------------------------------------------
def _identity(runtime: AcpiRuntime, path: str) -> DeviceReport:
    hid, cid, crs = runtime.run([Call(f"{path}._HID"), Call(f"{path}._CID"), Call(f"{path}._CRS")])
    cids = cid if isinstance(cid, list) else [cid]
    return DeviceReport(path, _id_text(hid), [t for t in map(_id_text, cids) if t], _memory_window(crs))


def _id_text(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return eisa_id_to_str(value)
    return None


#: ACPI 6.4 §6.4.3.4 "32-Bit Fixed Memory Range Descriptor" (large resource item 0x86, 9 data bytes).
MEMORY32_FIXED_DESCRIPTOR = cs.Struct(
    "tag" / cs.Const(b"\x86"),
    "length" / cs.Const(9, cs.Int16ul),
    "information" / cs.Int8ul,  # bit 0: read/write
    "base" / cs.Int32ul,
    "range_length" / cs.Int32ul,
)
LARGE_ITEM = 0x80  #: resource tag bit 7: large item (tag, u16 length, data)
SMALL_ITEM_LENGTH_MASK = 0x07
SMALL_ITEM_END_TAG = 0x0F  #: small item type of the End Tag (byte 0x79)


def _memory_window(crs: object) -> tuple[int, int] | None:
    """(base, length) of the first Memory32Fixed descriptor of a _CRS buffer (None if there is none)."""
    if not isinstance(crs, bytes):
        return None
    i = 0
    while i < len(crs):
        tag = crs[i]
        if tag & LARGE_ITEM:
            try:
                descriptor = MEMORY32_FIXED_DESCRIPTOR.parse(crs[i:])
                return descriptor.base, descriptor.range_length
            except cs.ConstructError:
                i += 3 + int.from_bytes(crs[i + 1:i + 3], "little")
        elif tag >> 3 == SMALL_ITEM_END_TAG:
            return None
        else:
            i += 1 + (tag & SMALL_ITEM_LENGTH_MASK)
    return None


def check_tables(tables: Sequence[AcpiTable], *, page: PpiPage | None = None) -> CheckReport:
    """Check every TPM device of ``tables`` and their TPM2/TCPA tables."""
    notes: list[str] = []
    findings = [f for t in tables if t.is_aml for f in _header_findings(t)]
    space = input_space(base_page(page))
    devices: list[DeviceReport] = []
    with open_runtime(tables, notes, space) as runtime:
        for path in runtime.find_devices(TPM_HIDS):
            device = _identity(runtime, path)
            _check_dsm(runtime, device, space)
            devices.append(device)
    if not devices:
        notes.append("no TPM device (_HID or _CID MSFT0101 / PNP0C31) in the tables")
    findings += check_tpm_tables(tables, devices, notes)
    return CheckReport(list(tables), devices, findings, notes)


def _check_dsm(runtime: AcpiRuntime, device: DeviceReport, space: InputSpace) -> None:
    try:
        results = sweep_device(runtime, device.path, space)
    except DsmArityError as exc:
        device.has_dsm = True
        device.findings = [Finding("linux", "dsm-arity", "_DSM cannot be called with 4 arguments",
                                   "ACPI 6.4 §9.1.1 defines _DSM (UUID, revision, function, package); Linux's "
                                   "acpi_evaluate_dsm passes 4 arguments and gets an error", device=device.path,
                                   observed=str(exc), expected="Method (_DSM, 4, ...)")]
        return
    if results is None:
        return
    device.has_dsm = True
    device.inputs = len(results)
    _summarise(device, results, space)
    device.findings = dsm_findings(device.path, results, space)


class DsmArityError(UsageError):
    """The device's ``_DSM`` is not a 4-argument method, so no input of the sweep can be passed."""


def sweep_device(runtime: AcpiRuntime, path: str, space: InputSpace) -> dict[DsmInput, Outcome] | None:
    """:func:`run_sweep` on ``path``; None when the device has no ``_DSM`` (probed with one call first).

    A ``_DSM`` that does not take 4 arguments raises :class:`DsmArityError`.
    """
    try:
        probe = single_call(runtime, path, DsmInput(PPI_DSM_UUID, 1, 0, (), "base"), space.setups["base"])
    except UsageError as exc:  # the runtime checks arity against the namespace before running AML
        raise DsmArityError(f"{path}._DSM: {exc}") from None
    if isinstance(probe.value, Fault) and probe.value.status == "AE_NOT_FOUND":
        return None
    return run_sweep(runtime, path, space)


def _summarise(device: DeviceReport, results: dict[DsmInput, Outcome], space: InputSpace) -> None:
    def value(uuid: str, fn: int, args: tuple[int, ...] = ()) -> object:
        return results[DsmInput(uuid, 1, fn, args, "base")].value

    version = value(PPI_DSM_UUID, 1)
    device.ppi_version = version if isinstance(version, str) else describe_value(version)  # type: ignore[arg-type]
    device.ppi_functions = _bits(value(PPI_DSM_UUID, 0))
    device.mor_functions = _bits(value(MOR_DSM_UUID, 0))
    groups: dict[tuple[str, str], list[int]] = {}
    for op in range(256):
        fn8 = results[DsmInput(PPI_DSM_UUID, 1, 8, (op,), "base")]
        fn7 = results[DsmInput(PPI_DSM_UUID, 1, 7, (op,), "base")]
        groups.setdefault((fn8.describe(), fn7.describe(op)), []).append(op)
    device.op_status = [OpStatus(ops, fn8, fn7) for (fn8, fn7), ops in groups.items()]


def _bits(value: object) -> list[int]:
    if isinstance(value, bytes):
        mask = int.from_bytes(value[:8], "little")
    elif isinstance(value, int):
        mask = value
    else:
        return []
    return [bit for bit in range(64) if mask >> bit & 1]


def dsm_findings(device: str, results: dict[DsmInput, Outcome], space: InputSpace) -> list[Finding]:
    """Every deviation of ``results`` from the spec, QEMU and Linux models, one finding per rule."""
    by_key: dict[tuple[str, str], Finding] = {}
    for inp, observed in results.items():
        setup = space.setups[inp.setup]
        for category, expectation in (("spec", spec_expectation(inp, setup)), ("qemu", qemu_expectation(inp, setup))):
            if not expectation.accepts(observed):
                _add(by_key, category, expectation, device, Deviation(inp, setup, observed, expectation.describe(),
                                                                      expectation.outcome))
        for need in linux_failures(inp, setup, observed):
            finding = by_key.setdefault(("linux", need.key), Finding(
                "linux", need.key, f"PPI fn {need.function} rev {need.revision}: Linux needs {need.needs}",
                f"otherwise {need.breaks}", device=device))
            finding.deviations.append(Deviation(inp, setup, observed, need.needs))
    order = {c: i for i, c in enumerate(CATEGORIES)}
    return sorted(by_key.values(), key=lambda f: (order[f.category], f.key))


def _add(by_key: dict[tuple[str, str], Finding], category: str, expectation: Expectation, device: str,
         deviation: Deviation) -> None:
    rule = expectation.rule
    title = rule.text if category == "spec" else f"differs from QEMU 7.2 for {rule.text}"
    finding = by_key.setdefault((category, rule.key), Finding(category, rule.key, title, rule.reason, device=device))
    finding.deviations.append(deviation)


# -- ACPI table headers and the TPM2/TCPA tables ---------------------------------------------------
def _header_findings(table: AcpiTable) -> list[Finding]:
    if table.checksum_ok:
        return []
    found = table.data[ACPI_CHECKSUM_OFFSET]
    expected = acpi_checksum(table.data)
    category = "linker" if found == 0 else "table"
    reason = ("QEMU's fw_cfg tables carry checksum 0; the firmware's linker/loader computes it"
              if found == 0 else "ACPI: all bytes of a table sum to 0 mod 256; Linux and acpiexec reject the table")
    return [Finding(category, "checksum", f"{table.signature} checksum is wrong", reason, table=table.label,
                    observed=f"byte 9 = 0x{found:02X}", expected=f"0x{expected:02X}")]


TPM2_MIN_LENGTH = 52  #: Linux reads the TPM2 table up to the end of Start Method
TPM2_LAYOUTS = {3: (52,), 4: (64, 76), 5: (68, 80)}  #: revision -> lengths without / with LAML+LASA
TPM2_START_TIS = 6
TPM2_START_CRB_FAMILY = frozenset({2, 7, 8, 11, 13, 15})  #: tpm_crb: ACPI start, CRB, +ACPI, SMC, Pluton, FF-A
TPM2_START_NEEDS_CONTROL_AREA = frozenset({7, 8, 11, 13, 15})
TCPA_CLIENT_LENGTH = 50
TCPA_REVISION = 2
LOG_AREA_MINIMUM = 0x10000  #: TCG PC Client: at least 64 KiB (QEMU TPM_LOG_AREA_MINIMUM_SIZE)
QEMU_TPM2 = {"revision": 4, "length": 76, "laml": LOG_AREA_MINIMUM}


def check_tpm_tables(tables: Sequence[AcpiTable], devices: Sequence[DeviceReport], notes: list[str]) -> list[Finding]:
    """TPM2/TCPA lengths, revisions, checksums, start method against the devices' IDs, log area."""
    findings: list[Finding] = []
    tpm2 = [t for t in tables if t.signature == "TPM2"]
    tcpa = [t for t in tables if t.signature == "TCPA"]
    tpm2_devices = [d for d in devices if TPM2_HID in d.ids]
    tpm12_devices = [d for d in devices if TPM12_HID in d.ids and TPM2_HID not in d.ids]
    for table in tpm2:
        findings += _header_findings(table) + _check_tpm2(table, tpm2_devices, tpm12_devices)
    for table in tcpa:
        findings += _header_findings(table) + _check_tcpa(table, tpm2_devices)
    if tpm2_devices and not tpm2:
        notes.append("no TPM2 table given: which Linux driver binds MSFT0101 was not checked")
    return findings


def _finding(category: str, key: str, title: str, reason: str, table: AcpiTable, observed: str,
             expected: str) -> Finding:
    return Finding(category, key, title, reason, table=table.label, observed=observed, expected=expected)


def _check_tpm2(table: AcpiTable, tpm2_devices: Sequence[DeviceReport],
                tpm12_devices: Sequence[DeviceReport]) -> list[Finding]:
    data, out = table.data, []
    if len(data) < TPM2_MIN_LENGTH:
        return [_finding("linux", "tpm2-length", "TPM2 table too short for Linux",
                         "tpm_tis/tpm_crb read the table up to the end of Start Method (52 bytes)", table,
                         f"{len(data)} bytes", f">= {TPM2_MIN_LENGTH} bytes")]
    fields = TPM2_TABLE.parse(data.ljust(TPM2_TABLE.sizeof(), b"\0"))
    lengths = TPM2_LAYOUTS.get(table.revision)
    if lengths is None or len(data) not in lengths:
        expected = ", ".join(f"rev {r}: {' or '.join(map(str, ls))} bytes" for r, ls in TPM2_LAYOUTS.items())
        out.append(_finding("table", "tpm2-layout", "TPM2 revision and length do not match a TCG layout",
                            "TCG ACPI: the revision decides the size of the start-method parameters", table,
                            f"rev {table.revision}, {len(data)} bytes", expected))
    if (table.revision, len(data)) != (QEMU_TPM2["revision"], QEMU_TPM2["length"]):
        out.append(_finding("qemu", "tpm2-layout", "TPM2 layout differs from QEMU 7.2's",
                            "QEMU build_tpm2 emits revision 4, 76 bytes (with LAML/LASA)", table,
                            f"rev {table.revision}, {len(data)} bytes", "rev 4, 76 bytes"))
    method = fields.start_method
    for device in tpm2_devices:
        out += _binding(table, device, method, fields.control_area_address)
    for device in tpm12_devices:
        out.append(_finding("table", "tpm2-for-tpm12-device", "TPM2 table next to a TPM 1.2 device",
                            f"{device.path} has _HID {device.hid} (TPM 1.2): a TPM 1.2 platform describes its "
                            "log in TCPA; a TPM2 table claims a TPM 2.0 interface the device does not have",
                            table, f"TPM2 start method {method}, device {TPM12_HID}",
                            f"TCPA table, or _HID {TPM2_HID}"))
    if method in (TPM2_START_TIS, 7) and any(fields.start_method_params):
        out.append(_finding("table", "tpm2-start-params", "start method parameters not zero",
                            "start methods 6 and 7 define no parameters", table,
                            fields.start_method_params.hex(), "12 zero bytes"))
    if len(data) >= TPM2_TABLE.sizeof():
        out += _log_area(table, fields.laml, fields.lasa)
    return out


def _binding(table: AcpiTable, device: DeviceReport, method: int, control_area: int) -> list[Finding]:
    """Linux: tpm_tis binds MSFT0101 only with start method 6; tpm_crb refuses 6 and takes the CRB family."""
    if method == TPM2_START_TIS:
        return []
    if method not in TPM2_START_CRB_FAMILY:
        return [_finding("linux", "tpm2-start-method", f"no Linux driver binds {device.path}",
                         "tpm_tis binds MSFT0101 only with start method 6; tpm_crb only with 2, 7, 8, 11, 13, 15",
                         table, f"start method {method}", "6 (TIS/FIFO) or 7 (CRB)")]
    out = []
    if method in TPM2_START_NEEDS_CONTROL_AREA:
        inside = (device.window is not None
                  and device.window[0] <= control_area < device.window[0] + device.window[1])
        if not inside:
            window = ("none" if device.window is None
                      else f"0x{device.window[0]:X}+0x{device.window[1]:X}")
            out.append(_finding("linux", "tpm2-control-area", f"tpm_crb cannot map {device.path}'s control area",
                                f"start method {method} makes tpm_crb drive the device through the CRB control "
                                "area, which must lie in the device's _CRS memory window", table,
                                f"control area 0x{control_area:X}, _CRS window {window}",
                                "an address inside the _CRS window (QEMU: base + 0x40)"))
    return out


def _log_area(table: AcpiTable, laml: int, lasa: int) -> list[Finding]:
    out = []
    if laml == 0 and lasa == 0:
        return out
    if laml < LOG_AREA_MINIMUM:
        out.append(_finding("table", "log-area-length", f"{table.signature} LAML below the 64 KiB minimum",
                            "TCG PC Client platform: the event log area is at least 64 KiB (QEMU 0x10000)", table,
                            f"LAML 0x{laml:X}", f">= 0x{LOG_AREA_MINIMUM:X}"))
    if lasa == 0:
        out.append(_finding("linker", "log-area-address", f"{table.signature} LASA is 0",
                            "QEMU leaves LASA 0 in fw_cfg; the firmware's linker points it at etc/tpm/log", table,
                            "LASA 0", "the address of the event log"))
    return out


def _check_tcpa(table: AcpiTable, tpm2_devices: Sequence[DeviceReport]) -> list[Finding]:
    data, out = table.data, []
    if (table.revision, len(data)) != (TCPA_REVISION, TCPA_CLIENT_LENGTH):
        return [_finding("table", "tcpa-layout", "TCPA table is not the client layout (rev 2, 50 bytes)",
                         "QEMU and edk2 build the TCG client TCPA layout; the server layout is not checked", table,
                         f"rev {table.revision}, {len(data)} bytes", "rev 2, 50 bytes")]
    fields = TCPA_TABLE.parse(data)
    for device in tpm2_devices:
        out.append(_finding("qemu", "tcpa-for-tpm2-device", "TCPA table next to a TPM 2.0 device",
                            f"{device.path} is {TPM2_HID}: QEMU 7.2 emits TCPA only for TPM 1.2 and TPM2 otherwise",
                            table, "TCPA", "TPM2 table"))
    return out + _log_area(table, fields.laml, fields.lasa)

