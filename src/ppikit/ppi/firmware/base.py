"""The contract between the platform and a firmware model, and the confirmation policies.

A firmware model sees the machine the way real firmware does: the fw_cfg device (to find
``etc/tpm/config`` and through it the PPI page), guest memory (the page itself), a TPM reached only
through the firmware driver (TIS/CRB MMIO), its own non-volatile variables, and a console on which a
physically present user may confirm an operation. It returns what happened -- above all whether it
asked for a reset -- and narrates each step into the timeline, so ``ppikit demo`` can print it and
tests can assert it.

Confirmation is a policy, not a prompt: headless runs must be able to answer "F12", "ESC", nothing
at all (a timeout), or call back into the test.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ppikit.errors import UsageError
from ppikit.fwcfg.device import FwCfgDevice
from ppikit.platform.memory import GuestMemory


@dataclass(frozen=True)
class ConfirmRequest:
    """What the firmware shows a physically present user."""

    operation: int
    name: str
    text: str
    accept_key: str  #: "F12" (caution key) or "F10" (block SID ops), as OVMF asks
    reject_key: str = "ESC"
    parameter: int | None = None


@dataclass(frozen=True)
class ConfirmAnswer:
    accepted: bool
    key: str | None  #: the key "pressed", None when the prompt timed out
    detail: str = ""


class ConfirmPolicy(Protocol):
    def __call__(self, request: ConfirmRequest) -> ConfirmAnswer: ...


def accept(request: ConfirmRequest) -> ConfirmAnswer:
    """The user presses the accept key."""
    return ConfirmAnswer(True, request.accept_key)


def reject(request: ConfirmRequest) -> ConfirmAnswer:
    """The user presses ESC."""
    return ConfirmAnswer(False, request.reject_key)


def timeout(seconds: float = 180.0) -> ConfirmPolicy:
    """Nobody answers: after ``seconds`` the prompt gives up and the request is aborted.

    Upstream OVMF waits forever; the 3-minute timeout is edk2 PR #12865's proposal. Simulated time:
    nothing actually sleeps.
    """

    def policy(request: ConfirmRequest) -> ConfirmAnswer:
        return ConfirmAnswer(False, None, f"no key within {seconds:g} s")

    return policy


def callback(fn: Callable[[ConfirmRequest], bool]) -> ConfirmPolicy:
    """Ask ``fn``; True accepts."""

    def policy(request: ConfirmRequest) -> ConfirmAnswer:
        ok = bool(fn(request))
        return ConfirmAnswer(ok, request.accept_key if ok else request.reject_key)

    return policy


class RecordingPolicy:
    """A confirmation policy that answers as ``policy`` does and keeps every prompt in :attr:`seen`.

    Why: a firmware test nearly always asserts two things, the outcome *and* whether (and with
    which keys) the physically present user was asked; OVMF skips the prompt for ops whose
    NoPpi flag is set, and that difference is exactly what such tests are about.
    """

    def __init__(self, policy: ConfirmPolicy = accept) -> None:
        self.policy = policy
        self.seen: list[ConfirmRequest] = []

    def __call__(self, request: ConfirmRequest) -> ConfirmAnswer:
        self.seen.append(request)
        return self.policy(request)


CONFIRM_POLICIES: dict[str, ConfirmPolicy] = {"accept": accept, "reject": reject, "timeout": timeout()}


def confirm_policy(name: str) -> ConfirmPolicy:
    try:
        return CONFIRM_POLICIES[name]
    except KeyError:
        raise UsageError(f"unknown confirmation policy {name!r} (known: {', '.join(CONFIRM_POLICIES)})") from None


@dataclass(frozen=True)
class Event:
    """One line of the timeline: who did what."""

    actor: str  #: "os", "acpi", "platform", "firmware", "tpm", "user"
    text: str
    data: dict[str, Any] = field(default_factory=dict)


class Timeline(list[Event]):
    def add(self, actor: str, text: str, **data: Any) -> Event:
        event = Event(actor, text, data)
        self.append(event)
        return event


class Transport(Protocol):
    """Sends one TPM command and returns the response (the firmware driver's ``transmit``)."""

    def __call__(self, command: bytes) -> bytes: ...


@dataclass
class BootContext:
    """Everything a firmware model may touch during one boot."""

    fwcfg: FwCfgDevice
    memory: GuestMemory
    transmit: Transport
    nv: MutableMapping[str, Any]  #: firmware non-volatile variables, kept across reboots and snapshots
    confirm: ConfirmPolicy
    timeline: Timeline
    boot_number: int = 1


@dataclass(frozen=True)
class BootOutcome:
    """How a boot ended."""

    reset_requested: bool  #: firmware asked for a (cold) reset before reaching the OS
    processed_operation: int | None = None  #: the PPI op handled in this boot, if any
    response: int | None = None  #: the pprp value written, if any
    reason: str = ""


class Firmware(Protocol):
    """A firmware model: one ``boot`` from reset to OS hand-off (or to a reset request)."""

    name: str

    def boot(self, ctx: BootContext) -> BootOutcome: ...
