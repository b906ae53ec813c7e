"""The OS side of PPI as Linux does it: ``drivers/char/tpm/tpm_ppi.c`` and ``/sys/class/tpm/tpm0/ppi/``.

Why a faithful copy of one client rather than a generic ``_DSM`` caller: firmware and AML authors
are judged by what a real kernel prints, and Linux is picky in ways a generic caller is not. It calls
each function with one particular revision and argument shape (an empty Package when it passes no
argument, a 4-byte Buffer for PPI < 1.2, ``Package{op, param}`` only for "1.3" with two numbers), it
throws away any answer of the wrong ACPI object type (``acpi_evaluate_dsm_typed``), and it maps each
odd answer to one errno. :class:`LinuxPpiSysfs` reproduces that, file by file, including the two
formats of ``tcg_operations``/``vs_operations`` (the classic loop and the 2025 cached one).

The client talks to the AML only through a :class:`DsmEvaluator` (evaluate one ``_DSM`` call, or
several in one round trip), so it works against any AML: QEMU's DSDT, ppikit's SSDT or a table
dumped from a machine. :class:`RuntimeDsm` is that evaluator on top of
:class:`ppikit.aml.runtime.AcpiRuntime`, and :func:`attach` finds the TPM device by ``_HID``/``_CID``
and probes it as the kernel does at chip registration.

ACPI objects are plain Python values: Integer = ``int``, String = ``str``, Buffer = ``bytes``,
Package = ``tuple`` (or ``list``); anything else (a reference, an uninitialised package element) is
an :class:`OtherObject`. ``None`` is "no object", which is what Linux gets when the evaluation fails
or the method returns nothing.
"""

from __future__ import annotations

import errno
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol, Union

from ppikit.aml.bytecode import AmlArg
from ppikit.aml.runtime import AcpiRuntime, AmlEvalError
from ppikit.aml.values import AmlValue
from ppikit.errors import PpikitError, UsageError

TPM_PPI_GUID = uuid.UUID("3DDDFAA6-361B-4EB4-A424-8D10089D1653")  #: Linux ``tpm_ppi_guid``

TPM_PPI_REVISION_ID_1 = 1
TPM_PPI_REVISION_ID_2 = 2
TPM_PPI_FN_VERSION = 1
TPM_PPI_FN_SUBREQ = 2
TPM_PPI_FN_GETREQ = 3
TPM_PPI_FN_GETACT = 4
TPM_PPI_FN_GETRSP = 5
TPM_PPI_FN_SUBREQ2 = 7
TPM_PPI_FN_GETOPR = 8
PPI_TPM_REQ_MAX = 101  #: "PPI 1.3 for TPM 2" (22 before the 2018 series)
PPI_VS_REQ_START = 128
PPI_VS_REQ_END = 255
TPM_PPI_VERSION_LEN = 3  #: ``chip->ppi_version`` holds at most 3 characters ("1.30" -> "1.3")

#: The one request that carries a parameter (``tpm_ppi_req_has_parameter``): SetPCRBanks.
PPI_REQ_WITH_PARAMETER = 23

#: The files of the ``ppi`` attribute group, in the kernel's ``ppi_attrs`` order.
SYSFS_FILES: tuple[str, ...] = (
    "version", "request", "transition_action", "response", "tcg_operations", "vs_operations",
)

#: ACPI IDs whose device gets ``chip->acpi_dev_handle``: ``MSFT0101`` (tpm_tis ACPI table and
#: tpm_crb) and tpm_tis's PNP table (``tpm_pnp_tbl``), matched against ``_HID`` and ``_CID``.
TPM_DEVICE_IDS: tuple[str, ...] = (
    "MSFT0101", "PNP0C31", "ATM1200", "IFX0102", "BCM0101", "BCM0102", "NSC1200", "ICO0102",
)

ACPI_STA_DEVICE_PRESENT = 0x01  #: _STA bit 0
ACPI_STA_DEVICE_FUNCTIONING = 0x08  #: _STA bit 3

#: ``tpm_show_ppi_transition_action`` ``info[]``; the last entry covers every value >= 4.
TRANSITION_ACTION_TEXT: tuple[str, ...] = ("None", "Shutdown", "Reboot", "OS Vendor-specific", "Error")


class OperationsFormat(Enum):
    """How ``tcg_operations``/``vs_operations`` are produced."""

    #: Linux up to 2025: fn 8 per op at every read; values 1..4 printed.
    CLASSIC = "classic"
    #: "tpm: Prevent local DOS via tpm/tpm0/ppi/*operations" (v5, Sept 2025): fn 8 for ops
    #: 0..255 once, cached; values 0..4 printed; text 2 renamed.
    CACHED = "cached"


#: ``show_ppi_operations`` ``info[]`` per format (index = fn 8 answer).
OPERATION_TEXT: dict[OperationsFormat, tuple[str, ...]] = {
    OperationsFormat.CLASSIC: (
        "Not implemented", "BIOS only", "Blocked for OS by BIOS", "User required", "User not required",
    ),
    OperationsFormat.CACHED: (
        "Not implemented", "BIOS only", "Blocked for OS by system firmware", "User required",
        "User not required",
    ),
}
#: Smallest fn 8 answer each format prints (the classic loop skips 0 = "Not implemented").
_FIRST_PRINTED: dict[OperationsFormat, int] = {OperationsFormat.CLASSIC: 1, OperationsFormat.CACHED: 0}


# -- ACPI objects ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OtherObject:
    """An ACPI object that is not an Integer, String, Buffer or Package (``kind`` names it)."""

    kind: str


AcpiValue = Union[int, str, bytes, Sequence["AcpiValue"], OtherObject]


class AcpiType(Enum):
    """The ``ACPI_TYPE_*`` a typed evaluation asks for."""

    INTEGER = "Integer"
    STRING = "String"
    BUFFER = "Buffer"
    PACKAGE = "Package"
    OTHER = "Other"


def acpi_type(value: AcpiValue) -> AcpiType:
    """The ACPI object type of a Python value in this module's convention."""
    if isinstance(value, bool):
        return AcpiType.OTHER
    if isinstance(value, int):
        return AcpiType.INTEGER
    if isinstance(value, str):
        return AcpiType.STRING
    if isinstance(value, (bytes, bytearray)):
        return AcpiType.BUFFER
    if isinstance(value, (tuple, list)):
        return AcpiType.PACKAGE
    return AcpiType.OTHER


DsmRequest = tuple[int, int, "AcpiValue"]  #: (revision, function, Arg3) of one ``_DSM`` evaluation


class DsmEvaluator(Protocol):
    """The TPM device's PPI ``_DSM`` (Arg0 = :data:`TPM_PPI_GUID`), as the client sees it.

    Each result is the object the method returned, or ``None`` when the evaluation failed or
    returned nothing -- the two cases in which ``acpi_evaluate_dsm`` hands Linux a NULL.
    ``evaluate_many`` performs several evaluations in order (one round trip to acpiexec).
    """

    def evaluate(self, revision: int, function: int, argument: AcpiValue) -> AcpiValue | None: ...

    def evaluate_many(self, requests: Sequence[DsmRequest]) -> list[AcpiValue | None]: ...


@dataclass
class CallableDsm:
    """A :class:`DsmEvaluator` from a plain function ``(revision, function, argument) -> value``."""

    function: Callable[[int, int, AcpiValue], AcpiValue | None]

    def evaluate(self, revision: int, function: int, argument: AcpiValue) -> AcpiValue | None:
        return self.function(revision, function, argument)

    def evaluate_many(self, requests: Sequence[DsmRequest]) -> list[AcpiValue | None]:
        return [self.function(*request) for request in requests]


@dataclass(frozen=True)
class DsmCall:
    """One ``_DSM`` evaluation the client made, and what came back (before type filtering)."""

    revision: int
    function: int
    argument: AcpiValue
    result: AcpiValue | None


# -- errors ----------------------------------------------------------------------------------------


class SysfsError(PpikitError):
    """A sysfs read or write failed the way the kernel fails it: an errno.

    ``errno_name`` is the symbolic name ("ENXIO"), ``errno`` its number, ``strerror`` the text
    ``cat``/``echo`` print ("No such device or address").
    """

    def __init__(self, errno_name: str, file: str = "", reason: str = "") -> None:
        self.errno_name = errno_name
        self.errno = getattr(errno, errno_name)
        self.strerror = os.strerror(self.errno)
        self.file = file
        self.reason = reason
        where = f"{file}: " if file else ""
        why = f" ({reason})" if reason else ""
        super().__init__(f"{where}{self.strerror} [{errno_name}]{why}")


class NoPpiDirectory(PpikitError):
    """``tpm_add_ppi`` would create no ``ppi`` directory (no TPM device, or the fn 0 probe failed)."""


# -- sscanf as the kernel does it ------------------------------------------------------------------

_KERNEL_SPACE = frozenset(b" \t\n\v\f\r\xa0")  #: lib/ctype.c _S characters


def _scan_integer(data: bytes, pos: int, signed: bool) -> tuple[int, int] | None:
    """One ``%llu`` (or ``%d`` when ``signed``) conversion of the kernel's ``vsscanf``.

    Leading white space is skipped; the first character must be a digit (or '-' then a digit for
    ``%d``); digits accumulate modulo 2**64 (``simple_strntoull``). Returns (value, next position).
    """
    while pos < len(data) and data[pos] in _KERNEL_SPACE:
        pos += 1
    negative = signed and data[pos:pos + 1] == b"-"
    start = pos + 1 if negative else pos
    end = start
    while end < len(data) and 0x30 <= data[end] <= 0x39:
        end += 1
    if end == start:
        return None
    value = int(data[start:end]) % (1 << 64)
    return (-value if negative else value), end


def kernel_sscanf(data: bytes, count: int, *, signed: bool = False) -> list[int]:
    """Up to ``count`` numbers separated by (optional) white space: ``"%llu %llu"`` / ``"%d"``.

    Returns the numbers converted (the length is sscanf's return value). Input ends at the first NUL,
    as the kernel's C string does.
    """
    data = data.split(b"\0", 1)[0]
    values: list[int] = []
    pos = 0
    while len(values) < count:
        scanned = _scan_integer(data, pos, signed)
        if scanned is None:
            break
        value, pos = scanned
        values.append(value)
    return values


# -- the sysfs directory ---------------------------------------------------------------------------


def acpi_check_dsm(mask_object: AcpiValue | None, funcs: int) -> bool:
    """``acpi_check_dsm`` given fn 0's answer: Integer, or Buffer read as <= 8 bytes little-endian.

    True iff bit 0 ("any function besides 0") and every bit of ``funcs`` are set.
    """
    if funcs == 0 or mask_object is None:
        return False
    kind = acpi_type(mask_object)
    if kind is AcpiType.INTEGER:
        mask = int(mask_object)  # type: ignore[arg-type]
    elif kind is AcpiType.BUFFER:
        mask = int.from_bytes(bytes(mask_object[:8]), "little")  # type: ignore[index]
    else:
        mask = 0
    return bool(mask & 1) and mask & funcs == funcs


@dataclass
class LinuxPpiSysfs:
    """``/sys/class/tpm/tpm0/ppi/`` of one booted Linux, backed by a :class:`DsmEvaluator`.

    Create it with :meth:`probe` (which does what ``tpm_add_ppi`` does at chip registration).
    Reading a file (:meth:`read`, or the per-file methods) makes exactly the ``_DSM`` calls Linux
    makes and returns the text Linux returns, or raises :class:`SysfsError` with Linux's errno.
    Every evaluation is appended to :attr:`calls`.

    The cached operations format keeps its cache for the lifetime of this object: one object is one
    kernel boot (the kernel's cache is global and never invalidated).
    """

    dsm: DsmEvaluator
    version: str
    operations_format: OperationsFormat = OperationsFormat.CLASSIC
    calls: list[DsmCall] = field(default_factory=list)
    _operations_cache: list[int] | None = field(default=None, repr=False)

    # -- registration ----------------------------------------------------------------------------
    @classmethod
    def probe(cls, dsm: DsmEvaluator, *,
              operations_format: OperationsFormat = OperationsFormat.CLASSIC) -> LinuxPpiSysfs:
        """``tpm_add_ppi``: fn 0 rev 1 must advertise fn 1, then fn 1 rev 1 (String) is cached.

        Raises :class:`NoPpiDirectory` when the probe fails. A fn 1 answer that is not a String
        leaves the version empty but the directory is still created, as in the kernel.
        """
        sysfs = cls(dsm, "", operations_format)
        if not sysfs._check_dsm(1 << TPM_PPI_FN_VERSION):
            answer = sysfs.calls[-1].result
            raise NoPpiDirectory("_DSM fn 0 rev 1 does not advertise functions 0 and 1 (acpi_check_dsm); "
                                 f"it answered {'nothing' if answer is None else aml_text(answer)}")
        version = sysfs._evaluate(TPM_PPI_REVISION_ID_1, TPM_PPI_FN_VERSION, AcpiType.STRING)
        if version is not None:
            sysfs.version = str(version)[:TPM_PPI_VERSION_LEN]  # strscpy into char[4]
        return sysfs

    # -- generic file access ---------------------------------------------------------------------
    def read(self, name: str) -> str:
        """The text ``cat <name>`` prints; raises :class:`SysfsError` as the read would fail."""
        readers = {
            "version": self.read_version,
            "request": self.read_request,
            "transition_action": self.read_transition_action,
            "response": self.read_response,
            "tcg_operations": self.read_tcg_operations,
            "vs_operations": self.read_vs_operations,
        }
        try:
            reader = readers[name]
        except KeyError:
            raise SysfsError("ENOENT", name, f"no such file; files: {', '.join(SYSFS_FILES)}") from None
        return reader()

    def read_all(self) -> list[SysfsRead]:
        """Every file in :data:`SYSFS_FILES` order, each as its text or its errno."""
        out = []
        for name in SYSFS_FILES:
            try:
                out.append(SysfsRead(name, self.read(name), None))
            except SysfsError as exc:
                out.append(SysfsRead(name, None, exc))
        return out

    # -- files ----------------------------------------------------------------------------------
    def read_version(self) -> str:
        """``tpm_show_ppi_version``: the string cached at registration; no ACPI call."""
        return f"{self.version}\n"

    def read_request(self) -> str:
        """``tpm_show_ppi_request``: fn 3, rev 2 (rev 1 below "1.2"), empty Package, a Package back."""
        rev = TPM_PPI_REVISION_ID_1 if self._older_than("1.2") else TPM_PPI_REVISION_ID_2
        obj = self._evaluate(rev, TPM_PPI_FN_GETREQ, AcpiType.PACKAGE)
        if obj is None:
            raise SysfsError("ENXIO", "request", f"fn 3 rev {rev} returned no Package")
        if len(obj) == 3 and _all_integers(obj):
            if obj[0]:
                raise SysfsError("EFAULT", "request", f"fn 3 return code {obj[0]}")
            if obj[1] == PPI_REQ_WITH_PARAMETER:
                return f"{obj[1]} {obj[2]}\n"
            return f"{obj[1]}\n"
        if len(obj) == 2 and _all_integers(obj):
            if obj[0]:
                raise SysfsError("EFAULT", "request", f"fn 3 return code {obj[0]}")
            return f"{obj[1]}\n"
        raise SysfsError("EINVAL", "request", "fn 3 Package is neither 3 nor 2 Integers")

    def write_request(self, text: str | bytes) -> int:
        """``tpm_store_ppi_request`` (``echo TEXT > request``): returns the byte count written.

        fn 7 if fn 0 rev 1 advertises it, else fn 2. PPI "1.3" with two numbers: rev 2,
        ``Package{op, param}``; below "1.2": rev 1, 4-byte Buffer (``%d``); otherwise rev 1,
        ``Package{op}``. Answer 0 = accepted, 1 = EPERM, other = EFAULT, none = ENXIO.
        """
        data = text.encode() if isinstance(text, str) else bytes(text)
        if not data:
            return 0  # sysfs_kf_write: an empty write never reaches the store function
        func = TPM_PPI_FN_SUBREQ2 if self._check_dsm(1 << TPM_PPI_FN_SUBREQ2) else TPM_PPI_FN_SUBREQ
        rev = TPM_PPI_REVISION_ID_1
        argument: AcpiValue
        pair = kernel_sscanf(data, 2) if self.version == "1.3" else []
        if len(pair) == 2:
            rev = TPM_PPI_REVISION_ID_2
            argument = (pair[0], pair[1])
        elif self.version != "1.3" and self._older_than("1.2"):
            number = kernel_sscanf(data, 1, signed=True)
            if not number:
                raise SysfsError("EINVAL", "request", "not a number (%d)")
            argument = (number[0] & 0xFFFFFFFF).to_bytes(4, "little")  # int stored in a u32
        else:
            number = kernel_sscanf(data, 1)
            if not number:
                raise SysfsError("EINVAL", "request", "not a number (%llu)")
            argument = (number[0],)
        obj = self._evaluate(rev, func, AcpiType.INTEGER, argument)
        if obj is None:
            raise SysfsError("ENXIO", "request", f"fn {func} rev {rev} returned no Integer")
        if obj == 0:
            return len(data)
        if obj == 1:
            raise SysfsError("EPERM", "request", f"fn {func} returned 1 (operation not supported)")
        raise SysfsError("EFAULT", "request", f"fn {func} returned {obj}")

    def read_transition_action(self) -> str:
        """``tpm_show_ppi_transition_action``: fn 4 rev 1; empty Package, or empty Buffer below "1.2"."""
        argument: AcpiValue = b"" if self._older_than("1.2") else ()
        obj = self._evaluate(TPM_PPI_REVISION_ID_1, TPM_PPI_FN_GETACT, AcpiType.INTEGER, argument)
        if obj is None:
            raise SysfsError("ENXIO", "transition_action", "fn 4 rev 1 returned no Integer")
        ret = obj & 0xFFFFFFFF  # u32 ret
        text = TRANSITION_ACTION_TEXT[min(ret, len(TRANSITION_ACTION_TEXT) - 1)]
        return f"{_as_c_int(ret)}: {text}\n"

    def read_response(self) -> str:
        """``tpm_show_ppi_response``: fn 5 rev 1, empty Package; a Package of >= 3 Integers back."""
        obj = self._evaluate(TPM_PPI_REVISION_ID_1, TPM_PPI_FN_GETRSP, AcpiType.PACKAGE)
        if obj is None:
            raise SysfsError("ENXIO", "response", "fn 5 rev 1 returned no Package")
        if len(obj) < 3 or not _all_integers(obj[:3]):
            raise SysfsError("EINVAL", "response", "fn 5 Package does not start with 3 Integers")
        if obj[0]:
            raise SysfsError("EFAULT", "response", f"fn 5 return code {obj[0]}")
        req, res = obj[1], obj[2]
        if not req:
            return f"{req}: No Recent Request\n"
        if res == 0:
            return f"{req} 0: Success\n"
        if res == 0xFFFFFFF0:
            return f"{req} 0xFFFFFFF0: User Abort\n"
        if res == 0xFFFFFFF1:
            return f"{req} 0xFFFFFFF1: BIOS Failure\n"
        if 1 <= res <= 0xFFF:
            return f"{req} {res}: Corresponding TPM error\n"
        return f"{req} {res}: Error\n"

    def read_tcg_operations(self) -> str:
        """Operations 0..:data:`PPI_TPM_REQ_MAX` (fn 8 each)."""
        return self._operations(0, PPI_TPM_REQ_MAX, "tcg_operations")

    def read_vs_operations(self) -> str:
        """Vendor operations :data:`PPI_VS_REQ_START`..:data:`PPI_VS_REQ_END` (fn 8 each)."""
        return self._operations(PPI_VS_REQ_START, PPI_VS_REQ_END, "vs_operations")

    # -- internals -------------------------------------------------------------------------------
    def _operations(self, start: int, end: int, file: str) -> str:
        """``show_ppi_operations`` (classic) or the cached variant: "<op> <value>: <text>" lines."""
        if self.operations_format is OperationsFormat.CACHED:
            if self._operations_cache is None:
                self._operations_cache = self._fetch_operations(0, PPI_VS_REQ_END, file)
            values = self._operations_cache[start:end + 1]
        else:
            values = self._fetch_operations(start, end, file)
        texts = OPERATION_TEXT[self.operations_format]
        first = _FIRST_PRINTED[self.operations_format]
        return "".join(f"{op} {value}: {texts[value]}\n"
                       for op, value in enumerate(values, start) if first <= value < len(texts))

    def _fetch_operations(self, start: int, end: int, file: str) -> list[int]:
        """fn 8 rev 1 with ``Package{op}`` for each op; fn 0 must advertise fn 8 (else EPERM).

        The evaluations go to the AML in one batch; :attr:`calls` then lists the ones Linux makes,
        up to and including the first that yields no Integer (where Linux stops with ENOMEM).
        """
        if not self._check_dsm(1 << TPM_PPI_FN_GETOPR):
            raise SysfsError("EPERM", file, "_DSM fn 0 rev 1 does not advertise function 8")
        requests = [(TPM_PPI_REVISION_ID_1, TPM_PPI_FN_GETOPR, (op,)) for op in range(start, end + 1)]
        values = []
        for (rev, fn, argument), result in zip(requests, self.dsm.evaluate_many(requests)):
            self.calls.append(DsmCall(rev, fn, argument, result))
            if result is None or acpi_type(result) is not AcpiType.INTEGER:
                raise SysfsError("ENOMEM", file, f"fn 8 for operation {argument[0]} returned no Integer")
            values.append(result & 0xFFFFFFFF)  # type: ignore[operator]  # u32 ret
        return values

    def _check_dsm(self, funcs: int) -> bool:
        """``acpi_check_dsm(handle, guid, rev 1, funcs)``: fn 0 with an empty Package."""
        return acpi_check_dsm(self._call(TPM_PPI_REVISION_ID_1, 0, ()), funcs)

    def _evaluate(self, revision: int, function: int, expected: AcpiType, argument: AcpiValue = ()) -> Any:
        """``acpi_evaluate_dsm_typed``: the result, or ``None`` if absent or of another type.

        ``argument`` defaults to the empty Package Linux sends for a NULL ``argv4``.
        """
        obj = self._call(revision, function, argument)
        if obj is None or acpi_type(obj) is not expected:
            return None
        return obj

    def _call(self, revision: int, function: int, argument: AcpiValue) -> AcpiValue | None:
        result = self.dsm.evaluate(revision, function, argument)
        self.calls.append(DsmCall(revision, function, argument, result))
        return result

    def _older_than(self, version: str) -> bool:
        """``strcmp(chip->ppi_version, version) < 0`` (byte order, as C compares)."""
        return self.version.encode("latin-1", "replace") < version.encode()


@dataclass(frozen=True)
class SysfsRead:
    """The outcome of reading one file: its text, or the :class:`SysfsError` ``cat`` reports."""

    file: str
    content: str | None
    error: SysfsError | None

    def cat(self) -> str:
        """What ``cat`` shows -- the text, or ``cat: FILE: <strerror>`` -- plus the errno name."""
        if self.error is None:
            return self.content or ""
        return f"cat: {self.file}: {self.error.strerror} [{self.error.errno_name}]\n"

    def to_dict(self) -> dict[str, str | None]:
        return {"file": self.file, "content": self.content,
                "errno": None if self.error is None else self.error.errno_name,
                "reason": None if self.error is None else self.error.reason or None}


def aml_text(value: AcpiValue) -> str:
    """ASL-like spelling of a value: ``0x2``, ``"1.3"``, ``Buffer{FF 01}``, ``Package{0x0, 0x5}``."""
    if isinstance(value, OtherObject):
        return f"<{value.kind}>"
    if isinstance(value, int):
        return hex(value)
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (bytes, bytearray)):
        return "Buffer{" + bytes(value).hex(" ").upper() + "}"
    return "Package{" + ", ".join(aml_text(element) for element in value) + "}"


def _all_integers(elements: Sequence[AcpiValue]) -> bool:
    return all(acpi_type(element) is AcpiType.INTEGER for element in elements)


def _as_c_int(value: int) -> int:
    """A u32 printed with ``%d``."""
    return value - (1 << 32) if value & 0x80000000 else value


# -- on top of the acpiexec runtime ----------------------------------------------------------------


@dataclass
class RuntimeDsm:
    """A :class:`DsmEvaluator` for ``device._DSM`` in an :class:`~ppikit.aml.runtime.AcpiRuntime`.

    Arguments go in as AML literals (a tuple becomes a Package, bytes a Buffer); an evaluation that
    fails in ACPICA (:class:`~ppikit.aml.runtime.AmlEvalError`) yields ``None``, as Linux's NULL.
    An integer wider than the tables' integers (a request number >= 2**32 written to a client on a
    revision-1 DSDT such as QEMU's) raises :class:`~ppikit.errors.UsageError`: Linux would hand the
    AML the full 64-bit value, which acpiexec cannot pass to a 32-bit table, so ppikit refuses
    rather than answer for a different number.
    """

    runtime: AcpiRuntime
    device: str
    guid: uuid.UUID = TPM_PPI_GUID

    def evaluate(self, revision: int, function: int, argument: AcpiValue) -> AcpiValue | None:
        return self.evaluate_many([(revision, function, argument)])[0]

    def evaluate_many(self, requests: Sequence[DsmRequest]) -> list[AcpiValue | None]:
        path = f"{self.device}._DSM"
        results = self.runtime.evaluate_many(
            [(path, (self.guid, revision, function, _to_aml(argument))) for revision, function, argument in requests])
        return [None if isinstance(result, AmlEvalError) else _from_aml(result) for result in results]


def find_tpm_devices(runtime: AcpiRuntime) -> list[str]:
    """Paths of the devices Linux would bind a TPM driver to, in namespace order.

    A device qualifies with one of :data:`TPM_DEVICE_IDS` in ``_HID`` or ``_CID`` and an ``_STA``
    saying present or functional (bit 0 or 3) -- ACPI enumeration skips the others. No ``_STA``
    means present.
    """
    devices = runtime.find_devices(TPM_DEVICE_IDS)
    status = runtime.evaluate_many([(f"{device}._STA", ()) for device in devices])
    return [device for device, sta in zip(devices, status)
            if not isinstance(sta, int) or sta & (ACPI_STA_DEVICE_PRESENT | ACPI_STA_DEVICE_FUNCTIONING)]


def attach(runtime: AcpiRuntime, *, device: str | None = None,
           operations_format: OperationsFormat = OperationsFormat.CLASSIC) -> LinuxPpiSysfs:
    """Boot the Linux PPI client on ``runtime``: find the TPM device (or use ``device``), probe it.

    Raises :class:`NoPpiDirectory` when there is no TPM device or ``tpm_add_ppi`` creates no
    ``ppi`` directory for it.
    """
    if device is None:
        devices = find_tpm_devices(runtime)
        if not devices:
            raise NoPpiDirectory(f"no TPM device: no _HID/_CID in {', '.join(TPM_DEVICE_IDS)}")
        device = devices[0]
    try:
        return LinuxPpiSysfs.probe(RuntimeDsm(runtime, device), operations_format=operations_format)
    except NoPpiDirectory as exc:
        raise NoPpiDirectory(f"{device}: {exc}") from None


def _to_aml(value: AcpiValue) -> AmlArg:
    if isinstance(value, (tuple, list)):
        return [_to_aml(element) for element in value]
    if isinstance(value, (int, str, bytes, bytearray)):
        return value
    raise UsageError(f"cannot pass {value!r} to AML")


def _from_aml(value: AmlValue) -> AcpiValue | None:
    """The runtime's values in this module's convention (Package = tuple, empty element = Other)."""
    if isinstance(value, list):
        return tuple(OtherObject("Uninitialized") if e is None else _from_aml(e) for e in value)
    return value
