"""The one shape of the checking tools' QEMU sessions: a context manager whose ``_start`` brings
everything up and whose ``close`` takes everything down -- also when ``_start`` fails halfway, so
a half-started QEMU or swtpm never outlives the tool."""

from __future__ import annotations

from typing import Self


class Started:
    """Subclasses define ``_start()`` and an idempotent ``close()``."""

    def _start(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
