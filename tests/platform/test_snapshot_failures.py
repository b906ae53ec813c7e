"""Every way a restore must refuse: a clear SnapshotError, the source (file bytes, running
platform) untouched, and the destination platform still usable with its own TPM state."""

import copy
import hashlib
import secrets
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ppikit.device.backends.ctrl import PtmBlobType
from ppikit.device.registers import TPM_TIS_STATE_EXECUTION
from ppikit.platform import effects
from ppikit.platform.platform import Platform, PlatformConfig
from ppikit.platform.simulate import Request
from ppikit.platform.snapshot_format import (
    SNAPSHOT_FORMAT_VERSION,
    SNAPSHOT_HEADER_SIZE,
    Snapshot,
    SnapshotError,
)
from ppikit.platform.snapshot_scenario import queue_request
from ppikit.ppi.os_linux import attach
from ppikit.tpm.client import Tpm2Client
from ppikit.tpm.command import TpmResponseError
from ppikit.tpm.tpm2 import TPM_ALG, TPM_RH
from ppikit.tpm.version import TpmVersion

TIS2, CRB2 = PlatformConfig.create(interface="tis"), PlatformConfig.create(interface="crb")
TIS12 = PlatformConfig.create(interface="tis", tpm="1.2")

DEST_OWNER_AUTH = b"destination-owner"
DEST_DIGEST = b"destination".ljust(32, b"\0")


def key_args(path):
    return ("--migration-key", f"file={path},format=hex")


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    base = tmp_path_factory.mktemp("keys")
    paths = {name: base / name for name in ("k1", "k2")}
    for path in paths.values():
        path.write_text(secrets.token_hex(16))  # AES-128 key, swtpm's hex format
    return paths


def pending_file(directory, config, op):
    path = directory / f"{config.interface.value}-{config.tpm.label}-{op}.snap"
    with Platform(config) as source:
        queue_request(source, Request(op))
        source.save(path)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory, keys):
    """Pending-request snapshots saved once: TIS 2.0, TIS 1.2, and TIS 2.0 encrypted with key k1."""
    base = tmp_path_factory.mktemp("snapshots")
    encrypted = PlatformConfig(swtpm_args=key_args(keys["k1"]))
    return {"tis2": pending_file(base, TIS2, 5), "tis12": pending_file(base, TIS12, 21),
            "encrypted": pending_file(base, encrypted, 5)}


@pytest.fixture(scope="module")
def tis2_bytes(files):
    return files["tis2"].read_bytes()


def fingerprint(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- file damage: pure parsing, nothing started ----------------------------------------------------
@pytest.mark.parametrize("keep", [0, 4, 9, 20, SNAPSHOT_HEADER_SIZE - 1, SNAPSHOT_HEADER_SIZE, SNAPSHOT_HEADER_SIZE + 100])
def test_truncated_file(tmp_path, tis2_bytes, keep):
    path = tmp_path / "cut.snap"
    path.write_bytes(tis2_bytes[:keep])
    with pytest.raises(SnapshotError, match=r"cut\.snap: truncated: "):
        Snapshot.read(path)
    assert path.read_bytes() == tis2_bytes[:keep]


def test_truncated_by_one_byte_names_both_sizes(tis2_bytes):
    body = len(tis2_bytes) - SNAPSHOT_HEADER_SIZE
    with pytest.raises(SnapshotError, match=rf"truncated: the header announces {body} body bytes, the file has {body - 1}$"):
        Snapshot.from_bytes(tis2_bytes[:-1])


def test_flipped_body_byte_is_a_checksum_error(tis2_bytes):
    damaged = bytearray(tis2_bytes)
    damaged[SNAPSHOT_HEADER_SIZE + 1000] ^= 0x01
    with pytest.raises(SnapshotError, match=r"corrupted: body SHA-256 is [0-9a-f]{16}\.\.\., the header says"):
        Snapshot.from_bytes(bytes(damaged))


def test_trailing_bytes_are_refused(tis2_bytes):
    with pytest.raises(SnapshotError, match=r"corrupted: 3 bytes after the \d+-byte body"):
        Snapshot.from_bytes(tis2_bytes + b"xyz")


def test_not_a_snapshot():
    with pytest.raises(SnapshotError, match=r"not a ppikit snapshot \(magic 3c3f786d6c207665, expected PPIKSNAP\)"):
        Snapshot.from_bytes(b"<?xml version='1.0'?>")


def test_newer_format_version_is_refused_by_name(tis2_bytes):
    newer = tis2_bytes[:8] + struct.pack(">H", SNAPSHOT_FORMAT_VERSION + 1) + tis2_bytes[10:]
    with pytest.raises(SnapshotError, match=r"snapshot format version 2 is newer than this ppikit reads \(up to 1\); "
                                            r"upgrade ppikit"):
        Snapshot.from_bytes(newer)


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_single_byte_change_is_refused(tis2_bytes, data):
    position = data.draw(st.integers(0, len(tis2_bytes) - 1))
    mask = data.draw(st.integers(1, 255))
    damaged = bytearray(tis2_bytes)
    damaged[position] ^= mask
    with pytest.raises(SnapshotError):
        Snapshot.from_bytes(bytes(damaged))


def test_round_trip_is_exact(tis2_bytes):
    snapshot = Snapshot.from_bytes(tis2_bytes)
    assert snapshot.to_bytes() == tis2_bytes
    assert Snapshot.from_bytes(snapshot.to_bytes()) == snapshot


@settings(max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blobs=st.dictionaries(st.sampled_from(list(PtmBlobType)), st.binary(min_size=1, max_size=3000)),
       nv=st.dictionaries(st.text(max_size=20), st.integers(0, 2**32)), boot_count=st.integers(0, 1000))
def test_any_contents_round_trip(tis2_bytes, blobs, nv, boot_count):
    good = Snapshot.from_bytes(tis2_bytes)
    meta = dict(good.meta, nv=nv, boot_count=boot_count)
    snapshot = Snapshot(meta, good.memory, good.fwcfg, blobs)
    assert Snapshot.from_bytes(snapshot.to_bytes()) == snapshot


def test_checksummed_but_inconsistent_contents_are_refused(tis2_bytes):
    """A well-formed file whose META lies (written by a buggy tool): still a SnapshotError."""
    good = Snapshot.from_bytes(tis2_bytes)
    bad_config = copy.deepcopy(good.meta)
    bad_config["config"]["tpm"] = "3.0"
    with pytest.raises(SnapshotError, match=r"META\.config: .*3\.0"):
        Snapshot.from_bytes(Snapshot(bad_config, good.memory, good.fwcfg, good.blobs).to_bytes())
    with pytest.raises(SnapshotError, match=r"memory sections \{'ram': 65536\} do not match META\.memory"):
        Snapshot.from_bytes(Snapshot(good.meta, {"ram": good.memory["ram"]}, good.fwcfg, good.blobs).to_bytes())


def test_unwritable_target_is_an_error_and_leaves_nothing(tmp_path, tis2_bytes):
    with pytest.raises(SnapshotError, match=r"cannot write snapshot '.*/missing/x\.snap': No such file or directory"):
        Snapshot.from_bytes(tis2_bytes).write(tmp_path / "missing" / "x.snap")


# -- mismatched destinations: refused before anything is touched ------------------------------------
@pytest.fixture
def owned_destination(request):
    """A started destination that already has its own TPM state: owner auth and PCR 10 extended."""
    with Platform(request.param) as platform:
        platform.power_on()
        if platform.config.tpm == TpmVersion.TPM_2_0:
            client = Tpm2Client(platform.tpm_transmit)
            client.hierarchy_change_auth(TPM_RH.OWNER, DEST_OWNER_AUTH)
            client.pcr_extend(10, {TPM_ALG.SHA256: DEST_DIGEST})
        yield platform


def pcr10(platform):
    return Tpm2Client(platform.tpm_transmit).pcr_read({TPM_ALG.SHA256: [10]}).values[TPM_ALG.SHA256][10]


def destination_facts(platform):
    """What must survive a refused restore: page, boot count, TPM facts, PCR 10 (TPM 2.0)."""
    tpm2 = platform.config.tpm == TpmVersion.TPM_2_0
    return (platform.page, platform.boot_count, effects.probe(platform.tpm_transmit, platform.config.tpm),
            pcr10(platform) if tpm2 else None)


def assert_destination_untouched(platform, facts_before):
    """The same page and running TPM (no TPM2_Startup needed, PCR 10 still extended), own auth intact."""
    assert destination_facts(platform) == facts_before
    if platform.config.tpm == TpmVersion.TPM_2_0:
        client = Tpm2Client(platform.tpm_transmit)
        with pytest.raises(TpmResponseError):
            client.hierarchy_change_auth(TPM_RH.OWNER, b"x", password=b"wrong")
        client.hierarchy_change_auth(TPM_RH.OWNER, DEST_OWNER_AUTH, password=DEST_OWNER_AUTH)


@pytest.mark.parametrize(
    "owned_destination,file,message",
    [(TIS2, "tis12", r"the snapshot has tpm TPM 1\.2, this platform TPM 2\.0 \(swtpm cannot load one TPM family's "
                     r"state into the other\)"),
     (TIS12, "tis2", r"the snapshot has tpm TPM 2\.0, this platform TPM 1\.2"),
     (CRB2, "tis2", r"the snapshot has interface TIS, this platform CRB \(the saved registers belong to the other "
                    r"interface\)")],
    ids=["tpm12-into-tpm2", "tpm2-into-tpm12", "tis-into-crb"], indirect=["owned_destination"])
def test_mismatched_platform_is_refused_untouched(owned_destination, files, file, message):
    facts = destination_facts(owned_destination)
    before = fingerprint(files[file])
    with pytest.raises(SnapshotError, match="^cannot restore: " + message):
        owned_destination.restore(files[file])
    assert fingerprint(files[file]) == before
    assert_destination_untouched(owned_destination, facts)


@pytest.mark.parametrize("owned_destination", [TIS2], indirect=True)
def test_invalid_device_registers_are_refused_untouched(owned_destination, tis2_bytes):
    good = Snapshot.from_bytes(tis2_bytes)
    meta = copy.deepcopy(good.meta)
    meta["device"]["state"][0] = TPM_TIS_STATE_EXECUTION
    facts = destination_facts(owned_destination)
    with pytest.raises(SnapshotError, match=r"device registers are invalid: state: a snapshot never holds an "
                                            r"executing command"):
        owned_destination.restore(Snapshot(meta, good.memory, good.fwcfg, good.blobs))
    assert_destination_untouched(owned_destination, facts)


# -- migration keys: swtpm refuses at CMD_SET_STATEBLOB; the destination gets its own state back -----
@pytest.mark.parametrize(
    "destination_key,message",
    [("k2", r"the destination swtpm's --migration-key is not the one that encrypted the snapshot's TPM state "
            r"\(swtpm: .*Decrypting the permall blob with the migration key failed"),
     (None, r"the snapshot's TPM state is encrypted with a migration key and the destination swtpm has none: "
            r"start it with the same --migration-key \(swtpm: .*Missing migration key to decrypt permall\)")],
    ids=["different-key", "no-key"])
def test_migration_key_mismatch_leaves_the_destination_usable(files, keys, destination_key, message):
    args = key_args(keys[destination_key]) if destination_key else ()
    before = fingerprint(files["encrypted"])
    assert Snapshot.read(files["encrypted"]).encrypted
    with Platform(PlatformConfig(swtpm_args=args)) as destination:
        destination.power_on()
        client = Tpm2Client(destination.tpm_transmit)
        client.hierarchy_change_auth(TPM_RH.OWNER, DEST_OWNER_AUTH)
        client.pcr_extend(10, {TPM_ALG.SHA256: DEST_DIGEST})
        facts = destination_facts(destination)
        with pytest.raises(SnapshotError, match="^cannot restore: " + message):
            destination.restore(files["encrypted"])
        assert_destination_untouched(destination, facts)
        destination.reboot()  # and it keeps working as a machine: nothing pending, no Clear
        with destination.os_session() as acpi:
            assert attach(acpi).read("response") == "0: No Recent Request\n"
    assert fingerprint(files["encrypted"]) == before


def test_same_migration_key_restores_and_plain_state_goes_into_a_keyed_swtpm(files, keys):
    """The matching key works; an unencrypted snapshot is accepted by a keyed swtpm (swtpm allows
    'upgrading' to encryption, never the reverse)."""
    for file in ("encrypted", "tis2"):
        with Platform(PlatformConfig(swtpm_args=key_args(keys["k1"]))) as destination:
            destination.restore(files[file])
            destination.reboot()
            with destination.os_session() as acpi:
                assert attach(acpi).read("response") == "5 0: Success\n"
