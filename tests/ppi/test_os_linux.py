"""The Linux PPI client on QEMU 7.2's own DSDTs (real acpiexec): what Linux 6.1 printed, exactly.

Reference: firmware-and-os.md, "Observed on real firmware and a real kernel" (Linux 6.1 on QEMU
7.2.22's AML with OVMF 2022.11's func[] values in the page) and §5 (tpm_ppi.c).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ppikit.aml.runtime import AcpiRuntime
from ppikit.errors import UsageError
from ppikit.ppi.os_linux import (
    DsmCall,
    LinuxPpiSysfs,
    OperationsFormat,
    SysfsError,
    attach,
    find_tpm_devices,
)
from ppikit.ppi.page import TPM_PPI_ADDR_BASE, TPM_PPI_ADDR_SIZE, PpiPage

QEMU_DATA = Path(__file__).resolve().parent.parent / "data" / "qemu-7.2"

#: Operations OVMF 2022.11 marks 3 (allowed, user required) in func[]; every other byte is 0.
OVMF_ALLOWED_OPS = (0, 5, 14, 21, 22, 23, 24, 33, 96, 97)

#: What Linux 6.1 printed with that page and no request pending (classic format).
LINUX_61_ON_QEMU_OVMF = {
    "version": "1.3\n",
    "request": "0\n",
    "transition_action": "2: Reboot\n",
    "response": "0: No Recent Request\n",
    "tcg_operations": "".join(f"{op} 3: User required\n" for op in OVMF_ALLOWED_OPS),
    "vs_operations": "",
}


def ovmf_page(**fields: int) -> PpiPage:
    """The page as OVMF 2022.11 leaves it after its PPI init, with ``fields`` changed."""
    page = PpiPage.blank()
    page.ppin = 1
    for op in OVMF_ALLOWED_OPS:
        page.func[op] = 3
    for name, value in fields.items():
        setattr(page, name, value)
    return page


@pytest.fixture(scope="module", params=["q35.tis.tpm2.ppi", "q35.tis.tpm12.ppi"])
def qemu_runtime(request):
    """One warm acpiexec per QEMU DSDT (TPM 2.0 = MSFT0101, TPM 1.2 = PNP0C31)."""
    with AcpiRuntime([QEMU_DATA / request.param / "DSDT.aml"], fix_checksums=True) as runtime:
        yield runtime


@pytest.fixture(scope="module")
def tpm2_runtime():
    with AcpiRuntime([QEMU_DATA / "q35.tis.tpm2.ppi" / "DSDT.aml"], fix_checksums=True) as runtime:
        yield runtime


def boot(runtime: AcpiRuntime, page: PpiPage, fmt: OperationsFormat = OperationsFormat.CLASSIC) -> LinuxPpiSysfs:
    """Put ``page`` into guest memory and boot a fresh Linux client."""
    runtime.write_memory(TPM_PPI_ADDR_BASE, page.build())
    return attach(runtime, operations_format=fmt)


def page_in(runtime: AcpiRuntime) -> PpiPage:
    return PpiPage.parse(runtime.read_memory(TPM_PPI_ADDR_BASE, TPM_PPI_ADDR_SIZE))


def test_tpm_device_is_found_by_its_id_not_a_fixed_path(qemu_runtime):
    assert find_tpm_devices(qemu_runtime) == ["\\_SB.PCI0.SF8.TPM"]


def test_every_file_reads_exactly_what_linux_6_1_printed(qemu_runtime):
    sysfs = boot(qemu_runtime, ovmf_page())
    reads = sysfs.read_all()
    assert [r.file for r in reads] == list(LINUX_61_ON_QEMU_OVMF)
    assert {r.file: r.content for r in reads} == LINUX_61_ON_QEMU_OVMF
    assert all(r.error is None for r in reads)


def test_registration_probes_fn0_then_caches_fn1_string(tpm2_runtime):
    sysfs = boot(tpm2_runtime, ovmf_page())
    assert sysfs.calls == [
        DsmCall(1, 0, (), b"\xff\x01"),  # acpi_check_dsm(rev 1, bit 1): QEMU's Buffer{0xFF, 0x01}
        DsmCall(1, 1, (), "1.3"),
    ]
    assert sysfs.version == "1.3"


def test_echo_5_then_request_reads_5(qemu_runtime):
    sysfs = boot(qemu_runtime, ovmf_page())
    assert sysfs.write_request("5\n") == 2  # the byte count echo wrote
    assert sysfs.read_request() == "5\n"
    page = page_in(qemu_runtime)
    assert (page.pprq, page.pprm) == (5, 0)


def test_echo_23_3_is_a_rev2_request_with_parameter(qemu_runtime):
    sysfs = boot(qemu_runtime, ovmf_page())
    assert sysfs.write_request("23 3\n") == 5
    assert sysfs.calls[-2:] == [DsmCall(1, 0, (), b"\xff\x01"), DsmCall(2, 7, (23, 3), 0)]
    page = page_in(qemu_runtime)
    assert (page.pprq, page.pprm) == (23, 3)
    assert sysfs.read_request() == "23 3\n"
    assert sysfs.calls[-1] == DsmCall(2, 3, (), (0, 23, 3))


def test_single_number_on_ppi_1_3_is_rev1_package_of_one(tpm2_runtime):
    sysfs = boot(tpm2_runtime, ovmf_page(pprm=7))
    sysfs.write_request("14\n")
    assert sysfs.calls[-1] == DsmCall(1, 7, (14,), 0)
    assert (page_in(tpm2_runtime).pprq, page_in(tpm2_runtime).pprm) == (14, 0)  # fn 7 rev 1 zeroes pprm


@pytest.mark.parametrize(("pprp", "text"), [
    (0x00000000, "5 0: Success\n"),
    (0xFFFFFFF0, "5 0xFFFFFFF0: User Abort\n"),
    (0xFFFFFFF1, "5 0xFFFFFFF1: BIOS Failure\n"),
    (0x00000001, "5 1: Corresponding TPM error\n"),
    (0x00000101, "5 257: Corresponding TPM error\n"),  # TPM_RC_FAILURE
    (0x00000FFF, "5 4095: Corresponding TPM error\n"),
    (0x00001000, "5 4096: Error\n"),
    (0xFFFFFFEF, "5 4294967279: Error\n"),
])
def test_response_after_firmware_processed_clear(qemu_runtime, pprp, text):
    sysfs = boot(qemu_runtime, ovmf_page(lppr=5, pprp=pprp))
    assert sysfs.read_response() == text
    assert sysfs.calls[-1].revision == 1 and sysfs.calls[-1].function == 5


def test_write_of_unimplemented_op_is_eperm_and_changes_nothing(qemu_runtime):
    sysfs = boot(qemu_runtime, ovmf_page(pprq=5))
    with pytest.raises(SysfsError) as info:
        sysfs.write_request("2\n")  # func[2] == 0: QEMU's fn 7 answers 1
    assert (info.value.errno_name, info.value.strerror) == ("EPERM", "Operation not permitted")
    assert page_in(qemu_runtime).pprq == 5


def test_write_of_blocked_op_is_efault(tpm2_runtime):
    page = ovmf_page()
    page.func[24] = 2  # BLOCKED: QEMU's fn 7 answers 3, which Linux maps to EFAULT
    sysfs = boot(tpm2_runtime, page)
    with pytest.raises(SysfsError) as info:
        sysfs.write_request("24\n")
    assert info.value.errno_name == "EFAULT"


def test_unparsable_write_is_einval_after_the_fn0_probe(tpm2_runtime):
    sysfs = boot(tpm2_runtime, ovmf_page())
    before = len(sysfs.calls)
    with pytest.raises(SysfsError) as info:
        sysfs.write_request("clear\n")
    assert info.value.errno_name == "EINVAL"
    assert sysfs.calls[before:] == [DsmCall(1, 0, (), b"\xff\x01")]  # the fn 7 probe comes first


def test_cached_format_on_the_ovmf_page(qemu_runtime):
    sysfs = boot(qemu_runtime, ovmf_page(), OperationsFormat.CACHED)
    allowed = set(OVMF_ALLOWED_OPS)
    assert sysfs.read_tcg_operations() == "".join(
        f"{op} 3: User required\n" if op in allowed else f"{op} 0: Not implemented\n" for op in range(102))
    assert sysfs.read_vs_operations() == "".join(f"{op} 0: Not implemented\n" for op in range(128, 256))


def test_cached_format_evaluates_fn8_once_for_0_to_255(tpm2_runtime):
    page = ovmf_page()
    page.func[130] = 2
    sysfs = boot(tpm2_runtime, page, OperationsFormat.CACHED)
    start = len(sysfs.calls)
    sysfs.read_vs_operations()
    fn8 = [c for c in sysfs.calls[start:] if c.function == 8]
    assert [c.argument for c in fn8] == [(op,) for op in range(256)]
    page.func[130] = 4  # firmware changes nothing at runtime, but even if it did: the cache stays
    tpm2_runtime.write_memory(TPM_PPI_ADDR_BASE, page.build())
    start = len(sysfs.calls)
    assert "130 2: Blocked for OS by system firmware\n" in sysfs.read_vs_operations()
    assert sysfs.read_tcg_operations().startswith("0 3: User required\n1 0: Not implemented\n")
    assert sysfs.calls[start:] == []


def test_classic_format_asks_every_read_and_skips_0_and_5_plus(tpm2_runtime):
    page = ovmf_page()
    page.func[128], page.func[129], page.func[130], page.func[131], page.func[132] = 1, 2, 4, 5, 0x0B
    sysfs = boot(tpm2_runtime, page)
    # 0x0B & 7 == 3: QEMU masks the flag; 5 passes through and Linux omits it
    assert sysfs.read_vs_operations() == (
        "128 1: BIOS only\n129 2: Blocked for OS by BIOS\n130 4: User not required\n132 3: User required\n")
    page.func[128] = 0
    tpm2_runtime.write_memory(TPM_PPI_ADDR_BASE, page.build())
    assert sysfs.read_vs_operations().startswith("129 2:")


def test_read_revisions_and_arguments_match_linux(tpm2_runtime):
    sysfs = boot(tpm2_runtime, ovmf_page())
    sysfs.read_request()
    sysfs.read_transition_action()
    sysfs.read_response()
    assert sysfs.calls[2:] == [
        DsmCall(2, 3, (), (0, 0, 0)),  # fn 3 rev 2 ("1.3" >= "1.2"), empty Package for NULL argv4
        DsmCall(1, 4, (), 2),
        DsmCall(1, 5, (), (0, 0, 0)),
    ]



def test_request_wider_than_the_tables_integers_is_refused_not_cut(tpm2_runtime):
    # Linux would pass 0x100000005 whole and QEMU's TPFN would see an op >= 0x100 (EPERM); a
    # revision-1 table cannot receive it through acpiexec, so ppikit says so instead of sending 5
    sysfs = boot(tpm2_runtime, ovmf_page())
    with pytest.raises(UsageError, match=r"integer 0x100000005 does not fit the 32-bit AML integers"):
        sysfs.write_request("4294967301\n")
    assert page_in(tpm2_runtime).pprq == 0
