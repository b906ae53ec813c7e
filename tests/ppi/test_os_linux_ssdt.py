"""Linux on ppikit's own SSDTs: what Linux 6.1 printed on QEMU's AML, and, for the qemu profile, the
same text and errno as QEMU 7.2's DSDT for any page and request (real iasl + acpiexec)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ppikit.aml.params import SsdtParams
from ppikit.aml.render import build_scope_dsdt, build_ssdt
from ppikit.aml.runtime import AcpiRuntime
from ppikit.ppi.os_linux import OperationsFormat, SysfsError, attach
from ppikit.ppi.page import TPM_PPI_ADDR_BASE, PpiPage

QEMU_TPM2 = Path(__file__).resolve().parent.parent / "data" / "qemu-7.2" / "q35.tis.tpm2.ppi" / "DSDT.aml"
OVMF_ALLOWED_OPS = (0, 5, 14, 21, 22, 23, 24, 33, 96, 97)


def ppikit_runtime(profile: str) -> AcpiRuntime:
    params = SsdtParams.create(interface="tis", tpm="2.0", profile=profile)
    return AcpiRuntime([build_scope_dsdt(params), build_ssdt(params)])


@pytest.fixture(scope="module")
def qemu_ssdt():
    with ppikit_runtime("qemu") as runtime:
        yield runtime


@pytest.fixture(scope="module")
def qemu_dsdt():
    with AcpiRuntime([QEMU_TPM2], fix_checksums=True) as runtime:
        yield runtime


def transcript(runtime: AcpiRuntime, page: PpiPage, request: str | None, fmt: OperationsFormat) -> list[str]:
    """The write's outcome and every file, as text or errno name."""
    runtime.write_memory(TPM_PPI_ADDR_BASE, page.build())
    sysfs = attach(runtime, operations_format=fmt)
    out = []
    if request is not None:
        try:
            out.append(f"write {sysfs.write_request(request)}")
        except SysfsError as exc:
            out.append(f"write {exc.errno_name}")
    out += [read.content if read.error is None else read.error.errno_name for read in sysfs.read_all()]
    return out


def ovmf_page() -> PpiPage:
    page = PpiPage.blank()
    page.ppin = 1
    for op in OVMF_ALLOWED_OPS:
        page.func[op] = 3
    return page


@pytest.mark.parametrize("profile", ["qemu", "strict"])
def test_ppikit_ssdt_prints_what_linux_6_1_printed(profile):
    with ppikit_runtime(profile) as runtime:
        assert transcript(runtime, ovmf_page(), None, OperationsFormat.CLASSIC) == [
            "1.3\n", "0\n", "2: Reboot\n", "0: No Recent Request\n",
            "".join(f"{op} 3: User required\n" for op in OVMF_ALLOWED_OPS), "",
        ]


pages = st.builds(
    lambda funcs, pprq, pprm, lppr, pprp: _page(funcs, pprq, pprm, lppr, pprp),
    st.dictionaries(st.integers(0, 255), st.integers(0, 7), max_size=6),
    st.integers(0, 255), st.integers(0, 2**32 - 1), st.integers(0, 255),
    st.sampled_from([0, 1, 0x101, 0xFFF, 0x1000, 0xFFFFFFF0, 0xFFFFFFF1, 0xFFFFFFFF]),
)
requests = st.one_of(st.none(), st.integers(0, 300).map(lambda op: f"{op}\n"),
                     st.tuples(st.integers(0, 300), st.integers(0, 2**32 - 1)).map(lambda p: f"{p[0]} {p[1]}\n"))


def _page(funcs: dict[int, int], pprq: int, pprm: int, lppr: int, pprp: int) -> PpiPage:
    page = ovmf_page()
    for op, flag in funcs.items():
        page.func[op] = flag
    page.pprq, page.pprm, page.lppr, page.pprp = pprq, pprm, lppr, pprp
    return page


@settings(max_examples=10, deadline=None)
@given(page=pages, request=requests, fmt=st.sampled_from(list(OperationsFormat)))
def test_qemu_profile_answers_linux_like_qemu_7_2(qemu_ssdt, qemu_dsdt, page, request, fmt):
    assert transcript(qemu_ssdt, page, request, fmt) == transcript(qemu_dsdt, page, request, fmt)
