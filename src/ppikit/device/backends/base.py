"""The contract between a TIS/CRB front end and whatever executes TPM commands.

It mirrors QEMU's ``TPMBackendClass`` as the front ends use it (``backends/tpm/tpm_backend.c``):
startup with a buffer size at every machine reset, one command at a time tagged with the locality,
cancel, the tpmEstablished flag, and the backend's TPM version and buffer size. A front end never
learns *how* the command is executed, which is what lets the same TIS model run against swtpm, a
host /dev/tpm0, or a user's own fake.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ppikit.errors import PpikitError
from ppikit.tpm.version import TpmVersion

#: QEMU's fatal-error response (``tpm_util_write_fatal_error_response``): TPM 1.2 tag
#: TPM_TAG_RSP_COMMAND 0x00C4, size 10, TPM_FAIL 9 -- used for TPM 2.0 backends as well.
FATAL_ERROR_RESPONSE = bytes.fromhex("00c4 0000000a 00000009".replace(" ", ""))


class BackendError(PpikitError):
    """The backend could not execute a command (process died, short or malformed reply, timeout).

    Front ends catch it, answer the guest with :data:`FATAL_ERROR_RESPONSE`, and keep the error
    so the caller can see why. ``reason`` is the one-line cause; ``log`` is the tail of the
    backend's own log (swtpm's stderr), appended to ``str(error)`` so a single line says it all.
    """

    def __init__(self, reason: str, *, log: str = "") -> None:
        self.reason = reason
        self.log = log
        super().__init__(reason)

    def __str__(self) -> str:
        tail = self.log.strip().splitlines()[-8:]
        return self.reason + (" [log: " + " | ".join(tail) + "]" if tail else "")


@runtime_checkable
class Backend(Protocol):
    """What a front end needs from a backend. All methods may raise :class:`BackendError`."""

    @property
    def version(self) -> TpmVersion:
        """TPM family of the backend (probed, as QEMU's ``tpm_util_test_tpmdev`` does)."""
        ...

    def get_buffer_size(self) -> int:
        """The backend's maximum command/response size (QEMU: STOP + SET_BUFFERSIZE(0))."""
        ...

    def startup(self, buffer_size: int) -> None:
        """Machine-reset start-up: QEMU's STOP, SET_BUFFERSIZE(buffer_size), INIT(0)."""
        ...

    def transmit(self, command: bytes, locality: int) -> bytes:
        """Execute one TPM command at ``locality`` and return the complete response."""
        ...

    def cancel(self) -> None:
        """Ask the backend to cancel the command in flight (CMD_CANCEL_TPM_CMD)."""
        ...

    def get_established(self) -> bool:
        """The TPM's tpmEstablished flag (front ends show its inverse in ACCESS/LOC_STATE bit 0)."""
        ...

    def reset_established(self, locality: int) -> None:
        """Reset the tpmEstablished flag (CMD_RESET_TPMESTABLISHED) as ``locality``."""
        ...
