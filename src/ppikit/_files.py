"""Reading the files users name: bounded, so an endless input is bad input, never a hang.

Why not ``Path.read_bytes()``: ``ppikit fwcfg decode /dev/zero`` would read for ever, and opening a
FIFO that nobody writes to blocks in ``open()``. Every input ppikit takes (a PPI page, an fw_cfg
record, ACPI tables or acpidump text, a snapshot) is far below :data:`MAX_INPUT_BYTES`. A pipe with
a live writer (``ppikit check <(acpidump)``) still works: only the open is non-blocking.
"""

from __future__ import annotations

import errno
import fcntl
import os

#: Upper bound on a file ppikit reads: acpidump text of a large server is a few MiB, a snapshot
#: about 150 KiB. Reading this much of /dev/zero takes well under a second.
MAX_INPUT_BYTES = 64 * 1024 * 1024


def read_input_file(path: str | os.PathLike[str], limit: int = MAX_INPUT_BYTES) -> bytes:
    """The whole content of ``path``, at most ``limit`` bytes.

    Raises :class:`OSError` (callers turn it into their own error type, naming the file): what
    ``open``/``read`` raise, or ``EFBIG`` with "larger than N bytes" for a longer input.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO without a writer must not block here
    try:
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)  # ... but its data is waited for
        with os.fdopen(fd, "rb", closefd=False) as file:
            data = file.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"larger than {limit} bytes: not a ppikit input")
    return data
