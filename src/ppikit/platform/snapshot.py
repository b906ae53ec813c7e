"""Save, restore and migrate a running :class:`Platform` -- QEMU's savevm/loadvm and migration.

Why it matters to a firmware author: a PPI request lives in the PPI page (RAM) until the next
boot, and the TPM it will act on lives in swtpm. A VM saved or migrated between the OS's request
and the reboot must still honour it -- which works only if page, device registers and TPM state
travel together, exactly the way QEMU moves them:

* **save** (QEMU ``pre_save``): finish the command in flight (``device.get_state()``), then
  CMD_GET_STATEBLOB for PERMANENT, VOLATILE and SAVESTATE with state_flags DECRYPTED over the
  control channel (absent blobs, TPM_RETRY, left out). The TPM keeps running: the source
  platform is not disturbed, and volatile state (PCRs, sessions) is captured because the TPM is
  saved running.
* **restore** (QEMU ``post_load``) into a platform that was started for it (its own, fresh swtpm
  with its own state directory): CMD_STOP, CMD_SET_STATEBLOB per non-empty blob,
  CMD_INIT(PTM_INIT_FLAG_DELETE_VOLATILE) -- ``SwtpmBackend.set_state_blobs`` -- then the device
  registers, guest memory (the PPI page migrates as RAM), fw_cfg, firmware NV and boot count.

Modes: a file (:meth:`Snapshot.write` / :meth:`Snapshot.read`); localhost migration into a second
platform with its own swtpm (:func:`migrate`; the :class:`Snapshot` object or its bytes travel, no
file needed); snapshot-and-revert on the same platform (``p.restore(p.save())``).

A restore is all-or-nothing. Everything that can be checked without touching the destination is
checked first (file integrity, TPM family, interface, the rest of the machine config, the backend
can take state); if swtpm then refuses the blobs (a migration key mismatch), the destination's
own TPM state and registers are put back, so it stays usable. The source -- a file, a
:class:`Snapshot`, a running platform -- is only ever read.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ppikit
from ppikit.device.backends.base import BackendError
from ppikit.device.backends.ctrl import PtmBlobType, PtmGetConfigFlag
from ppikit.device.backends.swtpm import ControlCommandError
from ppikit.errors import LayoutError
from ppikit.platform.snapshot_format import (
    Snapshot,
    SnapshotError,
    SwtpmBlobFlag,
    blob_flags,
    config_to_meta,
)

if TYPE_CHECKING:
    from ppikit.platform.platform import Platform, PlatformConfig

#: TPM 1.2 return codes swtpm answers CMD_SET_STATEBLOB with, and what they mean for a restore
#: (observed with swtpm 0.7.1: a missing key fails on the first blob with TPM_KEYNOTFOUND and
#: "Missing migration key to decrypt permall" in its log; a different key with TPM_DECRYPT_ERROR).
TPM_KEYNOTFOUND = 0x0D
TPM_DECRYPT_ERROR = 0x21
SET_STATEBLOB_REFUSALS: dict[int, str] = {
    TPM_KEYNOTFOUND: "the snapshot's TPM state is encrypted with a migration key and the destination swtpm "
                     "has none: start it with the same --migration-key",
    TPM_DECRYPT_ERROR: "the destination swtpm's --migration-key is not the one that encrypted the "
                       "snapshot's TPM state",
}

#: Config fields a restore must match, with the reason QEMU would refuse a mismatch.
_MATCHED_FIELDS: tuple[tuple[str, str], ...] = (
    ("tpm", "swtpm cannot load one TPM family's state into the other"),
    ("interface", "the saved registers belong to the other interface"),
    ("ppi", "the PPI page exists on one side only"),
    ("ppi_address", "the PPI page would move"),
    ("ram_size", "guest RAM sizes differ"),
    ("firmware", "the firmware NV variables belong to another firmware model"),
    ("profile", "the OS's ACPI _DSM behaves differently"),
)


def take(platform: Platform) -> Snapshot:
    """Snapshot a running platform without disturbing it (QEMU's migration ``pre_save``)."""
    device, backend = platform.device, platform.backend
    if device is None or backend is None:
        raise SnapshotError("cannot save: the platform is not started (use it as a context manager)")
    if device.startup_error is not None:
        raise SnapshotError(f"cannot save: the TPM device failed to start ({device.startup_error})")
    get_blobs = getattr(backend, "get_state_blobs", None)
    if get_blobs is None:
        raise SnapshotError(f"cannot save: the {type(backend).__name__} cannot hand out TPM state "
                            "(QEMU migrates only the swtpm emulator backend)")
    try:
        nv = json.loads(json.dumps(platform.nv))
    except (TypeError, ValueError) as exc:
        raise SnapshotError(f"cannot save: firmware NV is not JSON-able: {exc}") from None
    try:
        device_state = device.get_state()  # finishes the command in flight first, as pre_save does
        blobs: dict[PtmBlobType, bytes] = get_blobs()
        config_flags = int(backend.cmd_get_config())
    except BackendError as exc:
        raise SnapshotError(f"cannot save the TPM state: {exc}") from None
    meta = {
        "ppikit": ppikit.__version__,
        "config": config_to_meta(platform.config),
        "boot_count": platform.boot_count,
        "nv": nv,
        "memory": [{"name": r.name, "base": r.base, "size": len(r.data), "clear_on_mor": r.clear_on_mor}
                   for r in platform.memory.regions],
        "fwcfg": [{"name": f.name, "writable": f.writable} for f in platform.fwcfg.files()],
        "device": device_state,
        "swtpm": {"version": backend.version.label, "capabilities": int(backend.capabilities),
                  "config_flags": config_flags,
                  "migration_key": bool(config_flags & PtmGetConfigFlag.MIGRATION_KEY)},
    }
    return Snapshot(meta,
                    memory={r.name: bytes(r.data) for r in platform.memory.regions},
                    fwcfg={f.name: f.data for f in platform.fwcfg.files()},
                    blobs=blobs)


def load(source: Snapshot | bytes | str | os.PathLike[str]) -> Snapshot:
    """A :class:`Snapshot` from an object, its bytes, or a file path."""
    if isinstance(source, Snapshot):
        return source
    if isinstance(source, (bytes, bytearray)):
        return Snapshot.from_bytes(bytes(source))
    return Snapshot.read(source)


def check_config(snapshot: Snapshot, config: PlatformConfig) -> None:
    """Refuse a snapshot of another machine (TPM family, interface, ...) -- checkable before the
    destination is even started."""
    saved, here = snapshot.meta["config"], config_to_meta(config)
    for name, reason in _MATCHED_FIELDS:
        if saved[name] != here[name]:
            raise SnapshotError(f"cannot restore: the snapshot has {name} {_show(name, saved[name])}, "
                                f"this platform {_show(name, here[name])} ({reason})")


def check_compatible(snapshot: Snapshot, platform: Platform) -> None:
    """Refuse, before anything is touched, a snapshot this platform cannot become."""
    check_config(snapshot, platform.config)
    layout = {(r["name"], r["base"], r["size"]) for r in snapshot.meta["memory"]}
    ours = {(r.name, r.base, len(r.data)) for r in platform.memory.regions}
    if layout != ours:
        raise SnapshotError(f"cannot restore: guest memory layout differs (snapshot {sorted(layout)}, "
                            f"platform {sorted(ours)})")
    if platform.device is None or platform.backend is None:
        raise SnapshotError("cannot restore: the platform is not started (use it as a context manager)")
    if getattr(platform.backend, "set_state_blobs", None) is None:
        raise SnapshotError(f"cannot restore: the {type(platform.backend).__name__} cannot take TPM state "
                            "(QEMU migrates only the swtpm emulator backend)")


#: How a config value reads in a mismatch message; others are shown with repr().
_SHOW: dict[str, Callable[[Any], str]] = {
    "tpm": lambda v: f"TPM {v}", "interface": lambda v: str(v).upper(), "ppi_address": lambda v: f"0x{v:X}"}


def _show(name: str, value: Any) -> str:
    return _SHOW.get(name, repr)(value)


def restore_into(platform: Platform, snapshot: Snapshot) -> None:
    """Make ``platform`` continue where ``snapshot`` was taken (QEMU's migration ``post_load``).

    All-or-nothing: raises :class:`SnapshotError` with the platform as it was before.
    """
    check_compatible(snapshot, platform)
    device, backend = platform.device, platform.backend
    assert device is not None and backend is not None
    try:
        own_state = device.get_state()
        own_blobs = backend.get_state_blobs()
    except BackendError as exc:
        raise SnapshotError(f"cannot restore: the destination TPM cannot be saved for a rollback: {exc}") from None
    try:
        device.set_state(snapshot.meta["device"])
    except LayoutError as exc:
        raise SnapshotError(f"cannot restore: the snapshot's device registers are invalid: {exc}") from None
    try:
        backend.set_state_blobs(snapshot.blobs)
    except BackendError as exc:
        device.set_state(own_state)
        raise SnapshotError(f"cannot restore: {_refusal(exc)}{_rollback(backend, own_blobs)}") from None
    for region in platform.memory.regions:
        region.data[:] = snapshot.memory[region.name]
    for file in list(platform.fwcfg.files()):
        platform.fwcfg.remove_file(file.name)
    for entry in snapshot.meta["fwcfg"]:
        platform.fwcfg.add_file(entry["name"], snapshot.fwcfg[entry["name"]], writable=entry["writable"])
    platform.nv.clear()
    platform.nv.update(json.loads(json.dumps(snapshot.meta["nv"])))
    platform.boot_count = snapshot.meta["boot_count"]
    platform.timeline.add("platform", f"restored a TPM {snapshot.meta['config']['tpm']} snapshot: "
                                      f"{_blob_summary(snapshot)}, device registers, guest memory, fw_cfg, NV")


def _refusal(exc: BackendError) -> str:
    """One line: what swtpm's refusal means, with swtpm's own words from its log."""
    said = exc.log.strip().splitlines()[-1:] if exc.log else []
    swtpm = f" (swtpm: {said[0].strip()})" if said else ""
    if isinstance(exc, ControlCommandError) and exc.result in SET_STATEBLOB_REFUSALS:
        return SET_STATEBLOB_REFUSALS[exc.result] + swtpm
    return f"swtpm refused the snapshot's TPM state: {exc.reason}{swtpm}"


def _rollback(backend: Any, own_blobs: dict[PtmBlobType, bytes]) -> str:
    """Put the destination's own TPM state back; returns a note only if even that failed."""
    try:
        backend.set_state_blobs(own_blobs)
    except BackendError as exc:
        return f"; putting the destination's own TPM state back failed too: {exc.reason}"
    return ""


def _blob_summary(snapshot: Snapshot) -> str:
    parts = [f"{t.name.lower()} {len(b)} bytes" for t, b in snapshot.blobs.items()]
    return ", ".join(parts) + (" (migration-key encrypted)" if snapshot.encrypted else "")


def migrate(source: Platform, destination: Platform) -> Snapshot:
    """Localhost migration: the running ``source`` continues on ``destination`` (its own swtpm
    and state directory). The snapshot travels in memory; the source keeps running untouched
    (QEMU would pause it). Returns the snapshot that moved."""
    snapshot = take(source)
    restore_into(destination, snapshot)
    return snapshot


def describe(snapshot: Snapshot) -> dict[str, Any]:
    """A JSON-able summary for ``ppikit snapshot inspect``: config, state, sections, blobs."""
    blobs = {}
    for blob_type, data in snapshot.blobs.items():
        flags = blob_flags(data)
        blobs[blob_type.name.lower()] = {
            "size": len(data), "swtpm_header_flags": int(flags),
            "migration_key_encrypted": SwtpmBlobFlag.MIGRATION_ENCRYPTED in flags}
    meta = snapshot.meta
    return {
        "ppikit": meta["ppikit"], "config": meta["config"], "boot_count": meta["boot_count"], "nv": meta["nv"],
        "memory": meta["memory"], "fwcfg": [dict(f, size=len(snapshot.fwcfg[f["name"]])) for f in meta["fwcfg"]],
        "device": {k: v for k, v in meta["device"].items() if k != "buffer"},
        "device_buffer_bytes": len(bytes.fromhex(meta["device"].get("buffer", ""))),
        "swtpm": meta["swtpm"], "blobs": blobs,
    }
