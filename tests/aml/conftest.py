"""Fixtures for the AML tests: QEMU 7.2's reference tables (tests/data/qemu-7.2) ready to load.

Shared with helper A2's runtime tests: append, do not reorganise.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ppikit.aml.tables import fix_checksum

QEMU_DATA = Path(__file__).resolve().parent.parent / "data" / "qemu-7.2"

#: The QEMU 7.2 variants with PPI on that the AML must match, and their TPM node paths.
QEMU_PPI_VARIANTS = {
    "q35.tis.tpm12.ppi": "\\_SB.PCI0.SF8.TPM",
    "q35.tis.tpm2.ppi": "\\_SB.PCI0.SF8.TPM",
    "q35.crb.tpm2.ppi": "\\_SB.TPM",
}


def qemu_table(variant: str, signature: str, *, fixed: bool = True) -> bytes:
    """A table from QEMU 7.2's ``etc/acpi/tables``; ``fixed`` sets the checksum QEMU leaves 0."""
    data = (QEMU_DATA / variant / f"{signature}.aml").read_bytes()
    return fix_checksum(data) if fixed else data


@pytest.fixture
def qemu_tables():
    """The :func:`qemu_table` loader as a fixture."""
    return qemu_table


@pytest.fixture(scope="module")
def qemu_tables_module():
    """:func:`qemu_table` for module-scoped fixtures."""
    return qemu_table
