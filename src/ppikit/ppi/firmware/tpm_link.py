"""The firmware's link to the TPM: every command narrated into the timeline, failures as results.

Firmware does not crash when the TPM misbehaves: edk2 turns a failed ``Tpm2SubmitCommand`` into
EFI_DEVICE_ERROR and carries on (writing BIOS_FAILURE, or the TPM 1.2 return code, into pprp).
This module gives the models exactly that: :func:`traced_transport` wraps ``ctx.transmit`` so
each command and its response code appear in the timeline and a broken transport becomes
:class:`TpmDeviceError`, and :func:`outcome_of` runs one client call and says how it ended.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from ppikit.errors import LayoutError, PpikitError, UsageError
from ppikit.ppi.firmware.base import Timeline, Transport
from ppikit.tpm.header import (
    TPM_HEADER,
    TPM_HEADER_SIZE,
    TPM_TAG_RSP_AUTH1_COMMAND,
    TPM_TAG_RSP_AUTH2_COMMAND,
    TPM_TAG_RSP_COMMAND,
)
from ppikit.tpm.rc import TpmResponseError, rc_name
from ppikit.tpm.tpm2 import TPM2_COMMANDS
from ppikit.tpm.tpm12 import TPM12_COMMANDS
from ppikit.tpm.version import TpmVersion

#: Command code -> spec name, both families (their code ranges do not overlap).
_COMMAND_NAMES = {spec.code: spec.name for spec in TPM2_COMMANDS + TPM12_COMMANDS}
_TPM12_RESPONSE_TAGS = frozenset({TPM_TAG_RSP_COMMAND, TPM_TAG_RSP_AUTH1_COMMAND, TPM_TAG_RSP_AUTH2_COMMAND})


class TpmDeviceError(PpikitError):
    """The command never got a usable answer (driver or backend failure): edk2's EFI_DEVICE_ERROR."""


def traced_transport(transmit: Transport, timeline: Timeline) -> Callable[[bytes], bytes]:
    """``transmit`` that records ``tpm`` events and raises :class:`TpmDeviceError` on transport failure."""

    def send(command: bytes) -> bytes:
        code = TPM_HEADER.parse(command[:TPM_HEADER_SIZE]).code
        name = _COMMAND_NAMES.get(code, f"command 0x{code:X}")
        try:
            response = transmit(command)
        except UsageError:
            raise
        except PpikitError as exc:
            timeline.add("tpm", f"{name}: no response ({exc})", command=name, error=str(exc))
            raise TpmDeviceError(f"{name}: {exc}") from exc
        if len(response) < TPM_HEADER_SIZE:
            timeline.add("tpm", f"{name} -> short response ({len(response)} bytes)", command=name, rc=None)
            return response
        header = TPM_HEADER.parse(response[:TPM_HEADER_SIZE])
        # name the code by the family that answered: QEMU's fatal-error reply is TPM 1.2-shaped
        family = TpmVersion.TPM_1_2 if header.tag in _TPM12_RESPONSE_TAGS else TpmVersion.TPM_2_0
        timeline.add("tpm", f"{name} -> {rc_name(header.code, family)}", command=name, rc=header.code)
        return response

    return send


T = TypeVar("T")


@dataclass(frozen=True)
class CallOutcome(Generic[T]):
    """How one TPM call ended: ``rc`` 0 with a ``value``, a TPM return code, or no answer (rc None)."""

    rc: int | None
    value: T | None = None

    @property
    def ok(self) -> bool:
        return self.rc == 0


def outcome_of(call: Callable[[], T]) -> CallOutcome[T]:
    """Run ``call`` (one client method); TPM errors give their code, transport failures rc None."""
    try:
        return CallOutcome(0, call())
    except TpmResponseError as exc:
        return CallOutcome(exc.code)
    except (TpmDeviceError, LayoutError):
        return CallOutcome(None)


