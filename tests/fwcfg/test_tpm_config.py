"""``etc/tpm/config``: QEMU 7.2's real bytes, round trips, and errors naming field and offset."""

import pytest
from hypothesis import given

from ppikit import strategies
from ppikit.errors import LayoutError
from ppikit.fwcfg.tpm_config import FW_CFG_TPM_CONFIG, PpiVersion, TpmConfig
from ppikit.tpm.version import TpmVersion

# Observed on QEMU 7.2.22 (acpi-ppi.md §0.1): TPM 2.0 + ppi=on, and TPM 1.2 + ppi=on.
QEMU_TPM2 = bytes.fromhex("0050d4fe0201")  # 0xFED45000, TPM 2.0, PPI 1.30
QEMU_TPM12 = bytes.fromhex("0050d4fe0101")  # 0xFED45000, TPM 1.2, PPI 1.30


def test_size():
    assert FW_CFG_TPM_CONFIG.sizeof() == 6


@pytest.mark.parametrize(
    "raw,version",
    [(QEMU_TPM2, TpmVersion.TPM_2_0), (QEMU_TPM12, TpmVersion.TPM_1_2)],
)
def test_qemu_vectors(raw, version):
    config = TpmConfig.parse(raw)
    assert config == TpmConfig(0xFED45000, version, PpiVersion.V1_30)
    assert config.build() == raw


def test_defaults_are_qemus_tpm2_record():
    assert TpmConfig().build() == QEMU_TPM2


def test_field_offsets():
    raw = TpmConfig(0x11223344, TpmVersion.TPM_1_2, PpiVersion.NONE).build()
    assert raw == bytes.fromhex("44332211" "01" "00")


@given(strategies.tpm_configs())
def test_parse_build_round_trip(config):
    assert TpmConfig.parse(config.build()) == config


@given(strategies.tpm_config_bytes())
def test_any_six_bytes_parse_or_name_the_bad_field(raw):
    try:
        config = TpmConfig.parse(raw)
    except LayoutError as exc:
        assert exc.field in ("tpm_version", "tpmppi_version")
        assert exc.offset == {"tpm_version": 4, "tpmppi_version": 5}[exc.field]
    else:
        assert config.build() == raw


@pytest.mark.parametrize(
    "raw,message",
    [
        (b"", r"^etc/tpm/config @0x000: .*exactly 6 bytes, got 0"),
        (QEMU_TPM2[:5], r"exactly 6 bytes, got 5"),
        (QEMU_TPM2 + b"\0", r"exactly 6 bytes, got 7"),
        (bytes.fromhex("0050d4fe0301"), r"^tpm_version @0x004: unknown value 3"),
        (bytes.fromhex("0050d4fe0202"), r"^tpmppi_version @0x005: unknown value 2"),
    ],
)
def test_bad_records(raw, message):
    with pytest.raises(LayoutError, match=message):
        TpmConfig.parse(raw)


def test_bad_address_on_build():
    with pytest.raises(LayoutError, match=r"^tpmppi_address @0x000: address 4294967296 outside"):
        TpmConfig(1 << 32).build()
