"""AcpiRuntime.mirror(): a caller's copy of a memory range travels with the batches themselves."""

from pathlib import Path

import pytest

from ppikit.aml.runtime import AcpiexecError, AcpiRuntime
from ppikit.aml.tables import fix_checksum
from ppikit.errors import UsageError
from ppikit.ppi.page import TPM_PPI_ADDR_BASE, PpiPage

DSDT = fix_checksum((Path(__file__).parents[1] / "data/qemu-7.2/q35.tis.tpm2.ppi/DSDT.aml").read_bytes())
TPM = "\\_SB.PCI0.SF8.TPM"


@pytest.fixture(scope="module")
def acpi():
    with AcpiRuntime([DSDT]) as runtime:
        yield runtime


def test_page_goes_in_with_the_first_batch_and_comes_back_after_each(acpi):
    page = PpiPage.blank()
    page.func[5] = 3
    with acpi.mirror(TPM_PPI_ADDR_BASE, page.build()) as mirror:
        assert mirror.batches == 0 and mirror.dirty
        # fn 7 rev 1 Package{5}: QEMU's AML accepts op 5 (func[5] = 3) and stores pprq = 5, pprm = 0.
        assert acpi.dsm(TPM, "ppi", 1, 7, [5]) == 0
        assert mirror.batches == 1 and not mirror.dirty
        assert PpiPage.parse(mirror.data).pprq == 5
        assert acpi.dsm(TPM, "ppi", 1, 8, [5]) == 3
        assert mirror.batches == 2
    assert acpi.read_memory(TPM_PPI_ADDR_BASE + 0x109, 4) == bytes.fromhex("05000000")


def test_results_are_not_shifted_by_the_mirror_steps(acpi):
    with acpi.mirror(TPM_PPI_ADDR_BASE, PpiPage.blank().build()):
        results = acpi.evaluate_many([(f"{TPM}._DSM", (bytes(16), 1, 0, [])), (f"{TPM}._UID", ())])
    assert results[1] == 1 and len(results) == 2


def test_mirrors_do_not_nest_and_are_bounded(acpi):
    with acpi.mirror(TPM_PPI_ADDR_BASE, bytes(4)), pytest.raises(UsageError, match="does not nest"):
        with acpi.mirror(TPM_PPI_ADDR_BASE, bytes(4)):
            pass
    with pytest.raises(UsageError, match="at most"):
        with acpi.mirror(TPM_PPI_ADDR_BASE, bytes(0x2001)):
            pass


def test_a_crash_inside_a_mirror_re_sends_the_page(acpi):
    page = PpiPage.blank()
    page.lppr, page.pprp = 5, 0xFFFFFFF0
    with acpi.mirror(TPM_PPI_ADDR_BASE, page.build()):
        acpi.dsm(TPM, "ppi", 1, 5, [])
        acpi._process.proc.kill()
        acpi._process.proc.wait()
        with pytest.raises(AcpiexecError, match="acpiexec exited unexpectedly"):
            acpi.dsm(TPM, "ppi", 1, 5, [])
        # The fresh session starts with zeroed memory; the mirror puts the page back first.
        assert acpi.dsm(TPM, "ppi", 1, 5, []) == [0, 5, 0xFFFFFFF0]
