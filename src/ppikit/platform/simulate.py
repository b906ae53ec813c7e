"""One PPI request, end to end: the scenario behind ``ppikit simulate`` and ``ppikit demo``.

The OS (a Linux ``tpm_ppi`` client on the platform's real AML in acpiexec) writes the request into
``/sys/class/tpm/tpm0/ppi/request``, reads ``transition_action`` and reboots; the firmware model
processes the request through TIS/CRB into swtpm, asking the confirmation policy; the OS boots
again and reads ``response``. Around it the TPM's state is probed (owner auth, banks, EK, TPM 1.2
flags) so the result is *shown* on the TPM, not assumed from a response code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ppikit.errors import UsageError
from ppikit.platform import effects
from ppikit.platform.effects import TpmFacts
from ppikit.platform.platform import Platform, PlatformConfig
from ppikit.ppi.firmware.base import ConfirmPolicy, Timeline, accept
from ppikit.ppi.operations import lookup
from ppikit.ppi.os_linux import SysfsError, attach
from ppikit.ppi.page import PpiPage
from ppikit.tpm.rc import TpmResponseError
from ppikit.tpm.version import TpmVersion

#: The owner authorization the OS sets before the request, so a Clear has something to clear.
DEMO_OWNER_AUTH = b"ppikit-owner"

_REQUEST = re.compile(r"^\s*(0x[0-9a-fA-F]+|\d+)\s*(?:[: ]\s*(0x[0-9a-fA-F]+|\d+))?\s*$")


@dataclass(frozen=True)
class Request:
    """A PPI request as the user spells it: ``OP`` or ``OP:PARAM`` (``23:3``)."""

    op: int
    param: int | None = None

    @classmethod
    def parse(cls, text: str) -> Request:
        m = _REQUEST.match(text)
        if m is None:
            raise UsageError(f"request {text!r}: expected OP or OP:PARAM, e.g. 5 or 23:3")
        op = int(m.group(1), 0)
        param = int(m.group(2), 0) if m.group(2) is not None else None
        if op > 0xFFFFFFFF or (param is not None and param > 0xFFFFFFFF):
            raise UsageError(f"request {text!r}: values must fit in 32 bits")
        return cls(op, param)

    @property
    def sysfs_text(self) -> str:
        """The words ``echo`` is given for ``ppi/request`` (it adds a newline)."""
        return f"{self.op}" if self.param is None else f"{self.op} {self.param}"


@dataclass
class SimulationResult:
    config: PlatformConfig
    request: Request
    timeline: Timeline
    write: dict[str, Any] = field(default_factory=dict)  #: {"written": n} or {"errno": ..., "error": ...}
    sysfs: dict[str, str] = field(default_factory=dict)  #: final `cat` of every ppi file
    before: TpmFacts | None = None
    after: TpmFacts | None = None
    page: PpiPage | None = None
    boots: int = 0

    @property
    def response(self) -> str:
        return self.sysfs.get("response", "").rstrip("\n")

    def to_dict(self) -> dict[str, Any]:
        return {
            "interface": self.config.interface.value, "tpm": self.config.tpm.label,
            "firmware": self.config.firmware_name, "profile": self.config.profile.value,
            "request": {"op": self.request.op, "param": self.request.param},
            "write": self.write, "sysfs": self.sysfs, "response": self.response,
            "tpm_before": self.before.to_dict() if self.before else None,
            "tpm_after": self.after.to_dict() if self.after else None,
            "tpm_changes": self.before.changes(self.after) if self.before and self.after else [],
            "page": {k: v for k, v in self.page.to_dict().items() if k not in ("func", "res1", "reserved")}
            if self.page else None,
            "boots": self.boots,
            "timeline": [{"actor": e.actor, "text": e.text} for e in self.timeline],
        }


def simulate(config: PlatformConfig, request: Request, *, confirm: ConfirmPolicy = accept,
             set_owner_auth: bool = True) -> SimulationResult:
    """Run the whole flow on a fresh platform; the platform is torn down before returning."""
    timeline = Timeline()
    result = SimulationResult(config, request, timeline)
    name = lookup(config.tpm, request.op).name if request.op <= 0xFF else "out of range"
    with Platform(config, confirm=confirm, timeline=timeline) as platform:
        platform.power_on()
        if set_owner_auth and config.tpm == TpmVersion.TPM_2_0:
            try:
                effects.set_owner_auth(platform.tpm_transmit, DEMO_OWNER_AUTH)
                timeline.add("os", f"takes ownership: TPM2_HierarchyChangeAuth(owner, {DEMO_OWNER_AUTH.decode()!r})")
            except TpmResponseError as exc:  # e.g. a TPM 1.2 firmware model never started the TPM 2.0
                timeline.add("os", f"cannot take ownership: {exc}")
        result.before = _probe(platform, timeline)
        with platform.os_session() as acpi:
            sysfs = attach(acpi)
            try:
                written = sysfs.write_request(request.sysfs_text + "\n")
                result.write = {"written": written}
                timeline.add("os", f"echo {request.sysfs_text} > /sys/class/tpm/tpm0/ppi/request  ({name}): ok")
            except SysfsError as exc:
                result.write = {"errno": exc.errno_name, "error": str(exc)}
                timeline.add("os", f"echo {request.sysfs_text} > /sys/class/tpm/tpm0/ppi/request  ({name}): "
                                   f"write error: {exc.strerror} [{exc.errno_name}]")
            for file in ("request", "transition_action"):
                timeline.add("os", f"cat ppi/{file}: {_cat(sysfs, file)}")
        page = platform.page
        timeline.add("acpi", f"PPI page now: pprq {page.pprq}, pprm {page.pprm}")
        platform.reboot()
        with platform.os_session() as acpi:
            sysfs = attach(acpi)
            result.sysfs = {read.file: read.cat() for read in sysfs.read_all()}
            for file in ("request", "response"):
                timeline.add("os", f"cat ppi/{file}: {result.sysfs[file].rstrip()}")
        result.after = _probe(platform, timeline)
        if result.before is not None and result.after is not None:
            for line in result.before.changes(result.after) or ["no change"]:
                timeline.add("tpm", line)
        result.page = platform.page
        result.boots = platform.boot_count
    return result


def _probe(platform: Platform, timeline: Timeline) -> TpmFacts | None:
    """The TPM's facts, or None when the TPM cannot answer (e.g. a firmware that never started it:
    OVMF's TPM 2.0 code in front of a TPM 1.2 leaves it in TPM_INVALID_POSTINIT)."""
    try:
        return effects.probe(platform.tpm_transmit, platform.config.tpm)
    except TpmResponseError as exc:
        timeline.add("tpm", f"state not readable: {exc}")
        return None


def _cat(sysfs: Any, file: str) -> str:
    try:
        return sysfs.read(file).rstrip("\n")
    except SysfsError as exc:
        return f"{exc.strerror} [{exc.errno_name}]"
