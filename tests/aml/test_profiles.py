"""qemu vs strict: the documented table is the complete list of behavioural differences, each row's
probe gives the documented results, and both profiles meet Linux tpm_ppi's expectations
(firmware-and-os.md §5.8). Everything runs the golden SSDTs in acpiexec."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ppikit.aml import golden
from ppikit.aml.params import MOR_DSM_UUID, PPI_DSM_UUID
from ppikit.aml.profiles import NO_RETURN, PROFILE_DIFFERENCES, difference_for, markdown_table
from ppikit.aml.render import build_scope_dsdt
from ppikit.aml.runtime import AcpiRuntime, AmlEvalError, Call, ReadMemory, WriteMemory
from ppikit.ppi.page import FIELD_OFFSETS, TPM_PPI_ADDR_BASE, PpiPage

DOC = Path(__file__).resolve().parents[2] / "docs" / "qemu-vs-strict.md"
PAGE_LEN = FIELD_OFFSETS["movv"][0] + 1  # func[] through movv: everything the _DSM reads or writes


def _session(config: str) -> tuple[AcpiRuntime, str]:
    params = next(p for p in golden.GOLDEN_CONFIGS if p.config_name == config)
    ssdt = (golden.default_root() / config / golden.SSDT_AML).read_bytes()
    return AcpiRuntime([build_scope_dsdt(params), ssdt]), params.device_path


@pytest.fixture(scope="module", params=["tis-tpm12", "tis-tpm2", "crb-tpm2"])
def profiles(request):
    """{"qemu": (runtime, device), "strict": (runtime, device)} for one interface/TPM."""
    sessions = {name: _session(f"{request.param}-ppi-{name}") for name in ("qemu", "strict")}
    for runtime, _ in sessions.values():
        runtime.start()
    yield sessions
    for runtime, _ in sessions.values():
        runtime.close()


def call_many(session: tuple[AcpiRuntime, str], cases: list[tuple]) -> list[tuple]:
    """For each (uuid, rev, fn, args, page): load the page, make one _DSM call; return (result, page
    after) per case, all in one acpiexec round trip. No return value -> NO_RETURN."""
    runtime, device = session
    steps = []
    for dsm_uuid, rev, fn, args, page in cases:
        steps += [WriteMemory(TPM_PPI_ADDR_BASE, page.build()[:PAGE_LEN]),
                  Call(f"{device}._DSM", (uuid.UUID(dsm_uuid), rev, fn, list(args))),
                  ReadMemory(TPM_PPI_ADDR_BASE, PAGE_LEN)]
    results = runtime.run(steps)
    out = []
    for k in range(len(cases)):
        result, after = results[3 * k + 1], results[3 * k + 2]
        if isinstance(result, AmlEvalError):
            result = ("AML error", result.status)
        out.append((NO_RETURN if result is None else result, after))
    return out


def call(session: tuple[AcpiRuntime, str], dsm_uuid: str, rev: int, fn: int, args: tuple, page: PpiPage):
    """One _DSM call on ``page``: (result, page after)."""
    return call_many(session, [(dsm_uuid, rev, fn, args, page)])[0]


def test_doc_table_is_rendered_from_the_data():
    assert markdown_table() in DOC.read_text()
    assert len({row.key for row in PROFILE_DIFFERENCES}) == len(PROFILE_DIFFERENCES)


@pytest.mark.parametrize("row", PROFILE_DIFFERENCES, ids=lambda r: r.key)
def test_each_row_probe_gives_the_documented_results(profiles, row):
    probe = row.probe
    page = PpiPage.blank()
    if probe.flag is not None:
        page.func[probe.args[0]] = probe.flag
    before = page.build()[:PAGE_LEN]
    assert difference_for(probe.uuid, probe.revision, probe.function, probe.args, probe.flag or 0) is row
    for name, outcome in (("qemu", probe.qemu), ("strict", probe.strict)):
        value, after = call(profiles[name], probe.uuid, probe.revision, probe.function, probe.args, page)
        assert value == outcome.value, f"{name}: {row.input}"
        expected = PpiPage.parse(before + bytes(0x400 - PAGE_LEN))
        for field, new in outcome.page.items():
            setattr(expected, field, new)
        assert after == expected.build()[:PAGE_LEN], f"{name}: page after {row.input}"


def assert_rows_explain_differences(profiles, cases: list[tuple]) -> None:
    """cases: (uuid, rev, fn, (op, param), func_byte). Equal outside the rows, different inside."""
    batch, rows = [], []
    for dsm_uuid, rev, fn, args, func_byte in cases:
        page = PpiPage.blank()
        page.pprq, page.pprm, page.lppr, page.pprp, page.movv = 7, 9, 5, 0xFFFFFFF0, 1
        flag = 0
        if args[0] < 0x100:
            page.func[args[0]] = func_byte
            flag = func_byte & 7
        batch.append((dsm_uuid, rev, fn, args, page))
        rows.append(difference_for(dsm_uuid, rev, fn, args, flag))
    qemu, strict = call_many(profiles["qemu"], batch), call_many(profiles["strict"], batch)
    for case, row, q, s in zip(batch, rows, qemu, strict):
        if row is None:
            assert s == q, case[:4]
        else:
            assert s != q, (row.key, *case[:4])


def test_sweep_differs_exactly_where_a_row_says(profiles):
    """Every PPI revision 0..3 x function 0..10 x flag byte, MOR functions and values, other UUIDs."""
    cases = [(PPI_DSM_UUID, rev, fn, (5, 3), func_byte)
             for rev in range(4) for fn in range(11) for func_byte in (0, 1, 2, 3, 4, 5, 6, 7, 0xFB)]
    cases += [(MOR_DSM_UUID, rev, fn, (value, 0), 0) for rev in (0, 1, 2) for fn in range(4)
              for value in (0, 1, 2, 0x100)]
    cases += [(_UUIDS[-1], 1, fn, (5, 0), 3) for fn in range(3)]
    assert_rows_explain_differences(profiles, cases)


_UUIDS = [PPI_DSM_UUID, PPI_DSM_UUID, MOR_DSM_UUID, "6d2a1c35-0f3c-4a8e-9a8d-3c1b7e0e5a42"]


@settings(max_examples=4, deadline=None)
@given(cases=st.lists(st.tuples(st.sampled_from(_UUIDS), st.integers(0, 4), st.integers(0, 10),
                                st.integers(0, 0x1FF), st.integers(0, 3), st.integers(0, 0xFF)),
                      min_size=20, max_size=40))
def test_profiles_differ_exactly_where_a_row_says(profiles, cases):
    """Random inputs: equal outside the rows, different inside."""
    assert_rows_explain_differences(
        profiles, [(dsm_uuid, rev, fn, (op, param), func_byte) for dsm_uuid, rev, fn, op, param, func_byte in cases])


# -- Linux tpm_ppi (firmware-and-os.md §5.8), for both profiles --------------------------------------
@pytest.mark.parametrize("profile", ["qemu", "strict"])
def test_linux_tpm_ppi_expectations(profiles, profile):
    session = profiles[profile]
    page = PpiPage.blank()
    for op in (0, 5, 14, 21, 22, 23, 24, 33, 96, 97):  # OVMF's func[] for TPM 2.0
        page.func[op] = 3
    page.pprq, page.pprm, page.lppr, page.pprp = 0, 0, 5, 0xFFFFFFF0
    value, _ = call(session, PPI_DSM_UUID, 1, 0, (), page)  # 1. acpi_check_dsm(rev 1, bits 1/7/8)
    bitmap = int.from_bytes(value, "little")
    assert bitmap & 0b1_1000_0011 == 0b1_1000_0011
    assert call(session, PPI_DSM_UUID, 1, 1, (), page)[0] == "1.3"  # 2. version String
    assert call(session, PPI_DSM_UUID, 1, 4, (), page)[0] == 2  # 4. transition action: reboot
    assert call(session, PPI_DSM_UUID, 1, 5, (), page)[0] == [0, 5, 0xFFFFFFF0]  # 5. "5 0xFFFFFFF0: User Abort"
    value, after = call(session, PPI_DSM_UUID, 1, 7, (5,), page)  # 6. echo 5 > request
    assert value == 0
    written = PpiPage.parse(after + bytes(0x400 - PAGE_LEN))
    assert (written.pprq, written.pprm) == (5, 0)
    assert call(session, PPI_DSM_UUID, 2, 3, (), written)[0] == [0, 5, 0]  # 3. cat request -> "5"
    assert call(session, PPI_DSM_UUID, 1, 3, (), written)[0] == [0, 5]
    value, after = call(session, PPI_DSM_UUID, 2, 7, (23, 3), page)  # echo "23 3" > request
    assert value == 0
    written = PpiPage.parse(after + bytes(0x400 - PAGE_LEN))
    assert call(session, PPI_DSM_UUID, 2, 3, (), written)[0] == [0, 23, 3]  # cat request -> "23 3"
    assert call(session, PPI_DSM_UUID, 1, 2, (5,), page)[0] == 0  # 7. fn 2 -> Integer
    assert call(session, PPI_DSM_UUID, 1, 7, (40,), page)[0] == 1  # not implemented -> -EPERM


@pytest.mark.parametrize("profile", ["qemu", "strict"])
def test_fn8_is_an_integer_0_to_4_for_every_op(profiles, profile):
    """§5.8 item 8: tcg_operations/vs_operations call fn 8 for ops 0..255 (and must not fault past)."""
    runtime, device = profiles[profile]
    page = PpiPage.blank()
    page.func = [op % 5 if profile == "qemu" else op for op in range(256)]  # strict: any byte is safe
    steps = [WriteMemory(TPM_PPI_ADDR_BASE, page.build()[:PAGE_LEN])]
    steps += [Call(f"{device}._DSM", (uuid.UUID(PPI_DSM_UUID), 1, 8, [op])) for op in range(0x102)]
    results = runtime.run(steps)[1:]
    assert all(isinstance(r, int) and 0 <= r <= 4 for r in results)
    assert results[:0x100] == [(op % 5 if profile == "qemu" else (op & 7 if op & 7 <= 4 else 0))
                               for op in range(0x100)]
    assert results[0x100:] == [0, 0]
