"""Backends behind a TIS/CRB front end: swtpm (emulator) and passthrough to a host TPM."""

from ppikit.device.backends.base import Backend, BackendError

__all__ = ["Backend", "BackendError"]
