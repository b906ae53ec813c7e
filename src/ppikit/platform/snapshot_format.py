"""The ppikit snapshot file: a versioned, checksummed container for one saved platform.

Why a container of its own and not pickle/JSON: a snapshot is handed between machines, ppikit
versions and people (a firmware author attaches one to a bug report), so it must be readable
without running code, refuse politely what it cannot load, and detect damage before anything is
touched. Layout (byte-level in docs/snapshot-format.md):

* a 56-byte header -- magic ``PPIKSNAP``, format version, header size, flags, body size and the
  SHA-256 of the body;
* a body of sections, each ``kind`` (4 ASCII bytes) + ``name`` + length-prefixed data: one
  ``META`` section (UTF-8 JSON: config, boot count, firmware NV, device registers, swtpm facts),
  one ``MEM `` per guest-memory region (the PPI page is the region ``tpm-ppi``), one ``FWCF`` per
  fw_cfg file and one ``BLOB`` per swtpm state blob (``permanent``, ``volatile``, ``savestate``).

Reading checks, in this order, and stops at the first problem with a :class:`SnapshotError`:
magic, format version (newer than :data:`SNAPSHOT_FORMAT_VERSION` is refused by name), header
size, body length (truncation), SHA-256 (corruption), section layout, META contents.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from enum import IntFlag
from pathlib import Path
from typing import Any

import construct as cs

from ppikit._files import read_input_file
from ppikit.device.backends.ctrl import PtmBlobType
from ppikit.errors import PpikitError, UsageError
from ppikit.platform.platform import PlatformConfig
from ppikit.ppi.page import PpiPage

SNAPSHOT_MAGIC = b"PPIKSNAP"
#: The format this ppikit writes and the newest it reads.
SNAPSHOT_FORMAT_VERSION = 1

SNAPSHOT_HEADER = cs.Struct(
    "magic" / cs.Bytes(8),
    "format_version" / cs.Int16ub,
    "header_size" / cs.Int16ub,  #: 56; lets a later format grow the header
    "flags" / cs.Int32ub,  #: reserved, 0
    "body_size" / cs.Int64ub,
    "body_sha256" / cs.Bytes(32),
)
SNAPSHOT_HEADER_SIZE = SNAPSHOT_HEADER.sizeof()
#: Enough of the header to know whether the rest is a format this ppikit reads.
_HEADER_PREFIX = cs.Struct("magic" / cs.Bytes(8), "format_version" / cs.Int16ub)

SECTION = cs.Struct(
    "kind" / cs.Bytes(4),
    "name" / cs.PascalString(cs.Int8ub, "utf8"),
    "data" / cs.Prefixed(cs.Int32ub, cs.GreedyBytes),
)
SNAPSHOT_BODY = cs.Struct(
    "sections" / cs.PrefixedArray(cs.Int16ub, SECTION),
    cs.Terminated,
)

KIND_META = b"META"
KIND_MEMORY = b"MEM "
KIND_FWCFG = b"FWCF"
KIND_BLOB = b"BLOB"

#: swtpm's own header in front of every state blob (``blobheader`` in swtpm_nvstore.c), big-endian.
SWTPM_BLOB_HEADER = cs.Struct(
    "version" / cs.Int8ub,
    "min_version" / cs.Int8ub,
    "hdrsize" / cs.Int16ub,
    "flags" / cs.Int16ub,
    "totlen" / cs.Int32ub,
)


class SwtpmBlobFlag(IntFlag):
    """``BLOB_FLAG_*`` of swtpm's blob header."""

    ENCRYPTED = 0x01  #: encrypted with the state-file key (--key)
    MIGRATION_ENCRYPTED = 0x02  #: encrypted with the migration key (--migration-key)
    MIGRATION_DATA = 0x04  #: a migration blob (what GET_STATEBLOB hands out)
    ENCRYPTED_256BIT_KEY = 0x08
    MIGRATION_256BIT_KEY = 0x10


class SnapshotError(PpikitError):
    """A snapshot cannot be read, written, taken or restored; the message names the reason."""


def blob_flags(blob: bytes) -> SwtpmBlobFlag:
    """The flags of swtpm's header on ``blob`` (0 for a blob too short to carry one).

    swtpm 0.7.1 answers GET_STATEBLOB with state_flags 0 even when it encrypted the blob with its
    migration key; the blob's own header is the only place the encryption shows.
    """
    if len(blob) < SWTPM_BLOB_HEADER.sizeof():
        return SwtpmBlobFlag(0)
    return SwtpmBlobFlag(SWTPM_BLOB_HEADER.parse(blob).flags)


@dataclass(frozen=True)
class Snapshot:
    """One saved platform, in memory: JSON metadata plus the binary parts, by name."""

    meta: dict[str, Any]
    memory: dict[str, bytes] = field(default_factory=dict)  #: region name -> bytes ("tpm-ppi": the page)
    fwcfg: dict[str, bytes] = field(default_factory=dict)  #: fw_cfg file name -> contents
    blobs: dict[PtmBlobType, bytes] = field(default_factory=dict)  #: swtpm state blobs (absent ones left out)

    # -- views -------------------------------------------------------------------------------
    @property
    def config(self) -> PlatformConfig:
        """The saved platform's configuration (validated when the snapshot was read)."""
        return config_from_meta(self.meta["config"])

    @property
    def page(self) -> PpiPage:
        return PpiPage.parse(self.memory["tpm-ppi"])

    @property
    def encrypted(self) -> bool:
        """Whether swtpm encrypted the TPM state with a migration key."""
        return any(SwtpmBlobFlag.MIGRATION_ENCRYPTED in blob_flags(b) for b in self.blobs.values())

    # -- bytes -------------------------------------------------------------------------------
    def sections(self) -> list[dict[str, Any]]:
        """The body sections in file order: META, memory regions, fw_cfg files, blobs."""
        meta = json.dumps(self.meta, sort_keys=True, separators=(",", ":")).encode()
        sections = [{"kind": KIND_META, "name": "snapshot", "data": meta}]
        sections += [{"kind": KIND_MEMORY, "name": n, "data": d} for n, d in self.memory.items()]
        sections += [{"kind": KIND_FWCFG, "name": n, "data": d} for n, d in self.fwcfg.items()]
        sections += [{"kind": KIND_BLOB, "name": t.name.lower(), "data": self.blobs[t]}
                     for t in PtmBlobType if t in self.blobs]
        return sections

    def to_bytes(self) -> bytes:
        try:
            body = SNAPSHOT_BODY.build({"sections": self.sections()})
        except (cs.ConstructError, UnicodeError) as exc:
            raise SnapshotError(f"cannot encode the snapshot: {exc}") from None
        header = SNAPSHOT_HEADER.build({
            "magic": SNAPSHOT_MAGIC, "format_version": SNAPSHOT_FORMAT_VERSION,
            "header_size": SNAPSHOT_HEADER_SIZE, "flags": 0, "body_size": len(body),
            "body_sha256": hashlib.sha256(body).digest()})
        return header + body

    def write(self, path: str | os.PathLike[str]) -> int:
        """Write atomically (temporary file + rename: a failed save leaves no half file); returns the size."""
        data = self.to_bytes()
        target = Path(path)
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or ".")
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
                os.replace(tmp, target)
            except BaseException:
                os.unlink(tmp)
                raise
        except OSError as exc:
            raise SnapshotError(f"cannot write snapshot {str(path)!r}: {exc.strerror or exc}") from None
        return len(data)

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> Snapshot:
        try:
            data = read_input_file(path)
        except OSError as exc:
            raise SnapshotError(f"cannot read snapshot {str(path)!r}: {exc.strerror or exc}") from None
        return cls.from_bytes(data, source=str(path))

    @classmethod
    def from_bytes(cls, data: bytes, *, source: str = "snapshot") -> Snapshot:
        """Parse and verify; every problem is a :class:`SnapshotError` starting with ``source``."""
        header = read_header(data, source)
        body = data[header.header_size:]
        try:
            sections = SNAPSHOT_BODY.parse(body).sections
        except (cs.ConstructError, UnicodeError) as exc:
            raise SnapshotError(f"{source}: corrupted section layout ({_first_line(exc)})") from None
        return _from_sections(sections, source)


def read_header(data: bytes, source: str = "snapshot") -> cs.Container:
    """Check magic, version, header size, body length and SHA-256; return the parsed header."""
    truncated = SnapshotError(f"{source}: truncated: {len(data)} bytes, shorter than the "
                              f"{SNAPSHOT_HEADER_SIZE}-byte header")
    if not SNAPSHOT_MAGIC.startswith(data[:8]):
        raise SnapshotError(f"{source}: not a ppikit snapshot (magic {data[:8].hex()}, "
                            f"expected {SNAPSHOT_MAGIC.decode()})")
    if len(data) < _HEADER_PREFIX.sizeof():
        raise truncated
    version = _HEADER_PREFIX.parse(data).format_version
    if version > SNAPSHOT_FORMAT_VERSION:
        raise SnapshotError(f"{source}: snapshot format version {version} is newer than this ppikit "
                            f"reads (up to {SNAPSHOT_FORMAT_VERSION}); upgrade ppikit")
    if version == 0:
        raise SnapshotError(f"{source}: invalid snapshot format version 0")
    if len(data) < SNAPSHOT_HEADER_SIZE:
        raise truncated
    header = SNAPSHOT_HEADER.parse(data)
    if header.header_size != SNAPSHOT_HEADER_SIZE or header.flags != 0:
        raise SnapshotError(f"{source}: corrupted header (header_size {header.header_size}, "
                            f"flags 0x{header.flags:X}; version {version} has {SNAPSHOT_HEADER_SIZE} and 0)")
    have = len(data) - SNAPSHOT_HEADER_SIZE
    if have < header.body_size:
        raise SnapshotError(f"{source}: truncated: the header announces {header.body_size} body bytes, "
                            f"the file has {have}")
    if have > header.body_size:
        raise SnapshotError(f"{source}: corrupted: {have - header.body_size} bytes after the "
                            f"{header.body_size}-byte body")
    actual = hashlib.sha256(data[SNAPSHOT_HEADER_SIZE:]).digest()
    if actual != header.body_sha256:
        raise SnapshotError(f"{source}: corrupted: body SHA-256 is {actual.hex()[:16]}..., "
                            f"the header says {header.body_sha256.hex()[:16]}...")
    return header


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


#: META keys and the JSON type each must have.
_META_KEYS: dict[str, type] = {"ppikit": str, "config": dict, "boot_count": int, "nv": dict, "memory": list,
                               "fwcfg": list, "device": dict, "swtpm": dict}


def config_to_meta(config: PlatformConfig) -> dict[str, Any]:
    """The machine-defining part of a :class:`PlatformConfig` (host details -- state dir, swtpm
    arguments -- belong to whoever restores, as with QEMU's command line on the destination)."""
    return {"interface": config.interface.value, "tpm": config.tpm.label, "firmware": config.firmware_name,
            "profile": config.profile.value, "ppi": config.ppi, "ppi_address": config.ppi_address,
            "ram_size": config.ram_size}


def config_from_meta(meta: dict[str, Any]) -> PlatformConfig:
    return PlatformConfig.create(interface=meta["interface"], tpm=meta["tpm"], firmware=meta["firmware"],
                                 profile=meta["profile"], ppi=meta["ppi"], ppi_address=meta["ppi_address"],
                                 ram_size=meta["ram_size"])


def _from_sections(sections: list[cs.Container], source: str) -> Snapshot:
    if not sections or sections[0].kind != KIND_META:
        raise SnapshotError(f"{source}: corrupted: the first section is not META")
    try:
        meta = json.loads(sections[0].data)
    except ValueError as exc:
        raise SnapshotError(f"{source}: corrupted META section: {exc}") from None
    if not isinstance(meta, dict):
        raise SnapshotError(f"{source}: corrupted META section: not a JSON object")
    for key, kind in _META_KEYS.items():
        if type(meta.get(key)) is not kind:
            raise SnapshotError(f"{source}: META.{key} missing or not a {kind.__name__}")
    try:
        config_from_meta(meta["config"])
    except (KeyError, TypeError, UsageError) as exc:
        raise SnapshotError(f"{source}: META.config: {exc}") from None
    parts: dict[bytes, dict[str, bytes]] = {KIND_MEMORY: {}, KIND_FWCFG: {}, KIND_BLOB: {}}
    for section in sections[1:]:
        if section.kind not in parts or section.name in parts[section.kind]:
            raise SnapshotError(f"{source}: corrupted: unexpected section {section.kind!r} {section.name!r}")
        parts[section.kind][section.name] = section.data
    blobs = {}
    for name, data in parts[KIND_BLOB].items():
        try:
            blobs[PtmBlobType[name.upper()]] = data
        except KeyError:
            raise SnapshotError(f"{source}: corrupted: unknown swtpm blob {name!r}") from None
    snapshot = Snapshot(meta, parts[KIND_MEMORY], parts[KIND_FWCFG], blobs)
    _check_declared(snapshot, source)
    return snapshot


def _check_declared(snapshot: Snapshot, source: str) -> None:
    """Every region and fw_cfg file META lists has its section with the declared size, and no more."""
    meta = snapshot.meta
    try:
        regions = {r["name"]: r["size"] for r in meta["memory"]}
        files = {f["name"] for f in meta["fwcfg"]}
    except (KeyError, TypeError) as exc:
        raise SnapshotError(f"{source}: META.memory/fwcfg malformed: {exc}") from None
    actual = {name: len(data) for name, data in snapshot.memory.items()}
    if regions != actual:
        raise SnapshotError(f"{source}: memory sections {actual} do not match META.memory {regions}")
    if "tpm-ppi" not in regions:
        raise SnapshotError(f"{source}: no PPI page (memory region 'tpm-ppi')")
    if files != set(snapshot.fwcfg):
        raise SnapshotError(f"{source}: fw_cfg sections {sorted(snapshot.fwcfg)} do not match "
                            f"META.fwcfg {sorted(files)}")
