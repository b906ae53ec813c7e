"""The snapshot scenario behind ``ppikit snapshot save`` / ``restore``: a PPI request pending
across a save and a restore.

Why this cut point: between the OS's ``echo 5 > ppi/request`` and the reboot the request exists
only in the PPI page, and the TPM it is meant for only in swtpm. Saving there and resuming on a
fresh swtpm is the case a firmware author needs to see honoured -- the question QEMU's migration
support answers with "the PPI page migrates as RAM".
"""

from __future__ import annotations

import os
from dataclasses import replace

from ppikit.platform import effects
from ppikit.platform.platform import Platform, PlatformConfig
from ppikit.platform.simulate import DEMO_OWNER_AUTH, Request, SimulationResult
from ppikit.platform.snapshot import check_config
from ppikit.platform.snapshot_format import Snapshot, SnapshotError
from ppikit.ppi.firmware.base import ConfirmPolicy, Timeline, accept
from ppikit.ppi.os_linux import SysfsError, attach
from ppikit.tpm.version import TpmVersion


def queue_request(platform: Platform, request: Request, *, owner_auth: bytes | None = DEMO_OWNER_AUTH) -> int:
    """Power on, let the OS take ownership (TPM 2.0) and write ``request`` to ``ppi/request``.

    Returns the bytes written; a refused write (e.g. EPERM for an op the firmware blocks) is a
    :class:`SnapshotError`, since there would be nothing pending to save.
    """
    platform.power_on()
    if owner_auth is not None and platform.config.tpm == TpmVersion.TPM_2_0:
        effects.set_owner_auth(platform.tpm_transmit, owner_auth)
        platform.timeline.add("os", f"takes ownership: TPM2_HierarchyChangeAuth(owner, {owner_auth.decode()!r})")
    with platform.os_session() as acpi:
        try:
            written = attach(acpi).write_request(request.sysfs_text + "\n")
        except SysfsError as exc:
            raise SnapshotError(f"the OS could not queue request {request.sysfs_text!r}: {exc}") from None
    platform.timeline.add("os", f"echo {request.sysfs_text} > /sys/class/tpm/tpm0/ppi/request: ok")
    return written


def save_pending(config: PlatformConfig, request: Request, path: str | os.PathLike[str]) -> Snapshot:
    """A fresh platform with ``request`` queued by the OS, saved to ``path`` right before the reboot
    (``config.swtpm_args`` may carry the source swtpm's ``--migration-key``)."""
    with Platform(config) as platform:
        queue_request(platform, request)
        return platform.save(path)


def resume(snapshot: Snapshot, *, config: PlatformConfig | None = None, confirm: ConfirmPolicy = accept,
           swtpm_args: tuple[str, ...] = ()) -> SimulationResult:
    """Restore ``snapshot`` into a platform with a fresh swtpm, reboot, and read every ppi file.

    The second half of :func:`~ppikit.platform.simulate.simulate`, on the restored machine:
    ``before`` is the restored TPM before the reboot, ``request`` the one pending in the saved
    page, ``write`` empty (the OS wrote before the save). ``config`` defaults to the snapshot's
    own; another one (or ``swtpm_args`` such as a migration key) models a destination that
    differs from the source.
    """
    base = config or snapshot.config
    target = replace(base, swtpm_args=swtpm_args)
    check_config(snapshot, target)  # refuse another machine before starting one
    page = snapshot.page
    result = SimulationResult(target, Request(page.pprq, page.pprm or None), Timeline())
    with Platform(target, confirm=confirm, timeline=result.timeline) as platform:
        platform.restore(snapshot)
        result.before = effects.probe(platform.tpm_transmit, target.tpm)
        platform.reboot()
        with platform.os_session() as acpi:
            result.sysfs = {read.file: read.cat() for read in attach(acpi).read_all()}
        result.after = effects.probe(platform.tpm_transmit, target.tpm)
        result.boots = platform.boot_count
        result.page = platform.page
    return result
