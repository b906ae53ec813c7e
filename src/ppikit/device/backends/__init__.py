"""Backends behind a TIS/CRB front end: swtpm (emulator) and passthrough to a host TPM."""

from ppikit.device.backends.base import FATAL_ERROR_RESPONSE, Backend, BackendError
from ppikit.device.backends.passthrough import PassthroughBackend, swtpm_chardev
from ppikit.device.backends.swtpm import ControlCommandError, SwtpmBackend

__all__ = ["FATAL_ERROR_RESPONSE", "Backend", "BackendError", "ControlCommandError", "PassthroughBackend",
           "SwtpmBackend", "swtpm_chardev"]
