"""The boot-time PPI flow the three firmware models share (edk2's ``ExecutePendingTpmRequest``).

OVMF's TPM 2.0 library, SecurityPkg's flags-based TPM 2.0 library and the TPM 1.2 library run the
same skeleton; they differ only in tables and a few hooks. Written once here:

1. start the TPM (hook), find the page through fw_cfg (:mod:`qemu_ppi`), fill ``func[]`` (hook)
   and initialise the page when ``ppin == 0``;
2. ``pprq == 0``: nothing to do, nothing written;
3. pre-request step (hook; TPM 1.2 asserts physical presence here);
4. validity (hook): invalid -> ``pprp`` = the model's invalid response, no reboot;
5. confirmation: no prompt if the rules say so, else the prompt goes to the confirmation policy;
6. execute (hook) -> ``pprp``; then ``lppr = pprq; pprq = 0; pprm = 0`` -- unless the operation
   needs another boot (TPM 1.2 two-boot ops), which keeps the request pending;
7. user abort: boot continues; else reset when the op is in the model's reboot set (also when it
   failed) or still pending; otherwise the post-request step (hook) and the hand-off (hook, e.g.
   locking the platform hierarchy) run and the boot reaches the OS.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from collections.abc import MutableMapping
from typing import Any, ClassVar

from ppikit.ppi.firmware.base import BootContext, BootOutcome, ConfirmRequest
from ppikit.ppi.firmware.qemu_ppi import PpiLocation, discover_ppi
from ppikit.ppi.firmware.tpm_link import traced_transport
from ppikit.ppi.operations import (
    TCG_PP_OPERATION_RESPONSE_SUCCESS,
    TCG_PP_OPERATION_RESPONSE_USER_ABORT,
    lookup,
    response_text,
)
from ppikit.ppi.page import PpiPage
from ppikit.tpm.version import TpmVersion


@dataclass
class Boot:
    """One boot's state as the hooks see it."""

    ctx: BootContext
    tpm: Any  #: the model's TPM client (Tpm2Client / Tpm12Client) over the traced transport
    tpm_ready: bool  #: start-up succeeded (edk2: the TCG protocol is installed)
    location: PpiLocation
    page: PpiPage

    def say(self, text: str, **data: Any) -> None:
        self.ctx.timeline.add("firmware", text, **data)


@dataclass(frozen=True)
class NvFlags:
    """A firmware flags variable in NV ("PhysicalPresenceFlags", "Tcg2PhysicalPresenceFlags").

    edk2 creates it with the platform default the first time a boot looks for it.
    """

    variable: str
    default: int

    def read(self, nv: MutableMapping[str, Any]) -> int:
        return nv.setdefault(self.variable, int(self.default))

    def change(self, boot: Boot, flag: int, value: bool) -> int:
        """Set or clear ``flag``; returns the new value and narrates the change."""
        old = self.read(boot.ctx.nv)
        new = int((old | flag) if value else (old & ~flag))
        boot.ctx.nv[self.variable] = new
        boot.say(f"{self.variable} 0x{old:X} -> 0x{new:X} ({getattr(flag, 'name', hex(flag))} "
                 f"{'set' if value else 'cleared'})", flags=new)
        return new


@dataclass(frozen=True)
class Execution:
    """What executing a confirmed request gave: the pprp value, and whether it needs another boot."""

    response: int
    keep_pending: bool = False


class PpiFirmware(ABC):
    """Base of the firmware models: ``boot(ctx)`` runs the flow above; subclasses supply the tables."""

    name: ClassVar[str]
    tpm_version: ClassVar[TpmVersion]  #: family whose operation numbering the model uses
    #: Operations after which firmware resets (also when they failed), unless the user aborted.
    reboot_ops: ClassVar[frozenset[int]]

    # -- the flow ----------------------------------------------------------------------------
    def boot(self, ctx: BootContext) -> BootOutcome:
        ctx.timeline.add("firmware", f"{self.name}: boot {ctx.boot_number}")
        tpm, ready = self.start_tpm(ctx, traced_transport(ctx.transmit, ctx.timeline))
        found = discover_ppi(ctx.fwcfg, ctx.memory)
        problem = found.problem if found.location is None else self.reject_location(found.location)
        if found.location is None or problem:
            ctx.timeline.add("firmware", f"no PPI: {problem}")
            self.hand_off(ctx, tpm, ready)
            return BootOutcome(False, reason=f"no PPI: {problem}")
        page = found.location.read()
        boot = Boot(ctx, tpm, ready, found.location, page)
        self.fill_func(boot)
        if page.ppin == 0:
            page.ppin, page.pprq, page.lppr, page.next_step = 1, 0, 0, 0
            boot.say("PPI page initialised (ppin = 1)")
        found.location.write(page)
        outcome = self._process(boot)
        if not outcome.reset_requested:
            self.hand_off(ctx, tpm, ready)
        return outcome

    def _process(self, boot: Boot) -> BootOutcome:
        page = boot.page
        op, param = page.pprq, page.pprm
        if op == 0:
            boot.say("no PPI request pending")
            return BootOutcome(False, reason="no request")
        boot.say(f"PPI request {self._label(op)} pending (parameter 0x{param:X})", op=op, param=param)
        stop = self.before_request(boot)
        if stop:
            boot.say(f"request left pending: {stop}")
            return BootOutcome(False, reason=stop)
        verdict = self.validate(boot, op)
        if verdict is None:
            return self._done(boot, op, Execution(self.invalid_response(op)), "invalid request", may_reset=False)
        confirmed = verdict or self._ask(boot, op, param)
        execution = self.execute(boot, op, param) if confirmed else Execution(TCG_PP_OPERATION_RESPONSE_USER_ABORT)
        return self._done(boot, op, execution, "done" if confirmed else "user abort")

    def _done(self, boot: Boot, op: int, execution: Execution, reason: str, *, may_reset: bool = True) -> BootOutcome:
        page, response = boot.page, execution.response
        page.pprp = response
        if not execution.keep_pending:
            page.lppr, page.pprq, page.pprm = op, 0, 0
        boot.location.write(page)
        boot.say(f"pprp = 0x{response:X} ({response_text(response)}), lppr = {page.lppr}, pprq = {page.pprq}",
                 pprp=response, lppr=page.lppr, pprq=page.pprq)
        if may_reset and response != TCG_PP_OPERATION_RESPONSE_USER_ABORT and (
                execution.keep_pending or op in self.reboot_ops):
            why = "operation continues after the reset" if execution.keep_pending else \
                "rebooting to make the TPM settings take effect"
            boot.say(why)
            return BootOutcome(True, op, response, why)
        self.after_request(boot)
        return BootOutcome(False, op, response, reason)

    def _ask(self, boot: Boot, op: int, param: int) -> bool:
        request = self.prompt(boot, op, param)
        if request is None:
            boot.say(f"no confirmation text for {self._label(op)}: not confirmed")
            return False
        boot.say(f"prompt: {request.text} [{request.accept_key} accepts, {request.reject_key} rejects]",
                 op=op, accept_key=request.accept_key)
        answer = boot.ctx.confirm(request)
        if answer.key is None:
            boot.ctx.timeline.add("user", f"no key pressed ({answer.detail})", accepted=answer.accepted)
        else:
            boot.ctx.timeline.add("user", f"pressed {answer.key}", key=answer.key, accepted=answer.accepted)
        return answer.accepted

    def _flag_op(self, boot: Boot, flags: NvFlags, flag: int, value: bool) -> Execution:
        """A flag-only op: change the NV flags, refill ``func[]`` from them, respond SUCCESS."""
        flags.change(boot, flag, value)
        self.fill_func(boot)
        return Execution(TCG_PP_OPERATION_RESPONSE_SUCCESS)

    def _label(self, op: int) -> str:
        return f"{op} ({lookup(self.tpm_version, op).name})"

    # -- hooks -------------------------------------------------------------------------------
    @abstractmethod
    def start_tpm(self, ctx: BootContext, transport: Any) -> tuple[Any, bool]:
        """TPM start-up at the beginning of the boot; returns ``(client, ready)``."""

    def reject_location(self, location: PpiLocation) -> str:
        """Extra acceptance check on the fw_cfg record ("" = accepted)."""
        return ""

    @abstractmethod
    def fill_func(self, boot: Boot) -> None:
        """Rewrite ``func[]`` (all 256 bytes) in ``boot.page``."""

    def before_request(self, boot: Boot) -> str:
        """Runs when a request is pending, before validation; a non-empty string stops processing."""
        return ""

    @abstractmethod
    def validate(self, boot: Boot, op: int) -> bool | None:
        """None: invalid request; True: valid, confirmed without a prompt; False: valid, prompt."""

    @abstractmethod
    def invalid_response(self, op: int) -> int:
        """pprp for an invalid request."""

    @abstractmethod
    def prompt(self, boot: Boot, op: int, param: int) -> ConfirmRequest | None:
        """What the console shows for ``op``; None: firmware has no text for it (= not confirmed)."""

    @abstractmethod
    def execute(self, boot: Boot, op: int, param: int) -> Execution:
        """Run a confirmed request against the TPM."""

    def after_request(self, boot: Boot) -> None:
        """Runs after a processed request when no reset follows (TPM 1.2: lock physical presence)."""

    def hand_off(self, ctx: BootContext, tpm: Any, ready: bool) -> None:
        """The rest of the boot before the OS (OVMF: lock the TPM 2.0 platform hierarchy)."""
