"""AcpiRuntime against QEMU 7.2's own q35 TIS TPM 2.0 DSDT in real acpiexec.

One module-scoped session serves most tests (a session start costs ~50 ms); tests that change the
PPI page write the whole page first, so their order does not matter.
"""

from __future__ import annotations

import os
import signal
import tempfile
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ppikit.aml.bytecode import definition_block
from ppikit.aml.iasl import compile_asl
from ppikit.aml.params import MOR_DSM_UUID, PPI_DSM_UUID
from ppikit.aml.runtime import (
    AcpiexecError,
    AcpiRuntime,
    AmlEvalError,
    AmlLoadError,
    Call,
    ReadMemory,
    WriteMemory,
    resolve_uuid,
    stand_in_dsdt,
)
from ppikit.errors import UsageError
from ppikit.ppi.page import FIELD_OFFSETS, TPM_PPI_ADDR_BASE, TPM_PPI_ADDR_SIZE, PpiPage

PPI = uuid.UUID(PPI_DSM_UUID)
MOR = uuid.UUID(MOR_DSM_UUID)
TPM = "\\_SB.PCI0.SF8.TPM"
DSM = TPM + "._DSM"
PAGE = TPM_PPI_ADDR_BASE

#: Test methods next to QEMU's DSDT (compiled by the real iasl).
TEST_SSDT_ASL = """
DefinitionBlock ("", "SSDT", 1, "PPIKIT", "RTTEST", 1)
{
    Method (\\ECHO, 1) { Return (Arg0) }
    Method (\\NRET, 0) { Local0 = 1 }
    Method (\\DIVZ, 1) { Return (10 / Arg0) }
    Method (\\INNR, 1) { Return (DIVZ (Arg0)) }
    Method (\\SLPY, 0) { Sleep (30000) }
    Method (\\FAKE, 0) { Debug = "Evaluation of \\\\PKIT\\n- " Return (5) }
    Name (\\NINT, 0x1234)
}
"""


@pytest.fixture(scope="module")
def test_ssdt() -> bytes:
    return compile_asl(TEST_SSDT_ASL, name="runtime-test.asl")


@pytest.fixture(scope="module")
def runtime(qemu_tables_module, test_ssdt):
    with AcpiRuntime([qemu_tables_module("q35.tis.tpm2.ppi", "DSDT"), test_ssdt]) as rt:
        yield rt


def set_page(rt: AcpiRuntime, **fields: int) -> PpiPage:
    """Write a blank page with ``fields`` (``func`` as {op: byte}) and return it."""
    page = PpiPage.blank()
    for op, value in fields.pop("func", {}).items():
        page.func[op] = value
    for name, value in fields.items():
        setattr(page, name, value)
    rt.write_memory(PAGE, page.build())
    return page


def read_page(rt: AcpiRuntime) -> PpiPage:
    return PpiPage.parse(rt.read_memory(PAGE, TPM_PPI_ADDR_SIZE))


# -- QEMU's _DSM, exact typed results ---------------------------------------------------------------
def test_constant_functions_of_qemu_dsm(runtime):
    assert runtime.dsm(TPM, PPI, 1, 0) == b"\xff\x01"  # fn 0: functions 0-8 supported
    assert runtime.dsm(TPM, PPI, 1, 1) == "1.3"  # fn 1: PPI version string
    assert runtime.dsm(TPM, PPI, 1, 4) == 2  # fn 4: reboot
    assert runtime.dsm(TPM, PPI, 1, 6) == 3  # fn 6: not implemented
    assert runtime.dsm(TPM, PPI, 1, 9) == b"\x00"  # unknown function
    assert runtime.dsm(TPM, MOR, 1, 0) == b"\x03"  # MOR fn 0


def test_fn3_returns_the_pending_request_from_the_page(runtime):
    set_page(runtime, pprq=0x17, pprm=0x3)  # op 23 (set PCR banks) with bank bitmap 3
    assert runtime.dsm(TPM, PPI, 2, 3) == [0, 0x17, 0x3]
    assert runtime.dsm(TPM, PPI, 1, 3) == [0, 0x17]


def test_fn5_returns_last_request_and_response(runtime):
    set_page(runtime, lppr=5, pprp=0xFFFFFFF0)  # op 5 (clear), user abort
    assert runtime.dsm(TPM, "ppi", 1, 5) == [0, 5, 0xFFFFFFF0]


def test_fn7_writes_pprq_pprm_visible_through_read_memory(runtime):
    set_page(runtime, func={23: 0x04, 5: 0x02})  # op 23 allowed without user, op 5 blocked
    assert runtime.dsm(TPM, PPI, 2, 7, [23, 7]) == 0
    page = read_page(runtime)
    assert (page.pprq, page.pprm) == (23, 7)
    assert runtime.dsm(TPM, PPI, 2, 7, [5, 0]) == 3  # blocked by firmware settings: nothing written
    assert (read_page(runtime).pprq, read_page(runtime).pprm) == (23, 7)


@pytest.mark.parametrize("func_byte", [0x00, 0x01, 0x02, 0x03, 0x04, 0x07, 0xF3, 0x88])
def test_fn8_returns_func_masked_to_three_bits(runtime, func_byte):
    set_page(runtime, func={0: func_byte, 22: func_byte, 0xFF: func_byte})
    results = runtime.evaluate_many([(DSM, (PPI, 1, 8, [op])) for op in (0, 22, 0xFF, 0x100)])
    assert results == [func_byte & 7] * 3 + [0]  # op 0x100 is outside func[]: not implemented


def test_mor_fn1_writes_movv_and_other_functions_return_nothing(runtime):
    set_page(runtime)
    assert runtime.dsm(TPM, MOR, 1, 1, [0x01]) == 0
    assert runtime.read_memory(PAGE + FIELD_OFFSETS["movv"][0], 1) == b"\x01"
    assert runtime.dsm(TPM, MOR, 1, 2) is None  # QEMU's MOR block has no Return for fn 2


# -- memory: one consistent SystemMemory ---------------------------------------------------------------
def test_overlapping_regions_share_one_memory(runtime):
    page = bytes(range(256)) * 4  # func[op] = op, then a recognisable pattern
    runtime.write_memory(PAGE, page)
    assert runtime.read_memory(PAGE + 0x109, 8) == page[0x109:0x111]  # a sub-range reads the same bytes
    assert runtime.dsm(TPM, PPI, 1, 8, [0x2B]) == 0x2B & 7  # dynamic TPP1 sees func[0x2B] = 0x2B
    assert runtime.dsm(TPM, PPI, 2, 3) == [0, int.from_bytes(page[0x109:0x10D], "little"),
                                           int.from_bytes(page[0x10D:0x111], "little")]  # TPP2 sees it
    runtime.write_memory(PAGE + 0x109, b"\x05\x00\x00\x00")  # a narrow write is seen by TPP2 ...
    assert runtime.dsm(TPM, PPI, 1, 3) == [0, 5]
    runtime.dsm(TPM, MOR, 1, 1, [0x5A])  # ... and a TPP3 write by the wide read
    assert runtime.read_memory(PAGE, TPM_PPI_ADDR_SIZE)[0x15A] == 0x5A


FN8_OP5 = (1, 8, [5])  # creates the dynamic 1-byte TPP1 region at func[5]
FN3 = (2, 3, [])  # reads through TPP2 (0x100..0x159)


@pytest.mark.parametrize("calls", [(FN8_OP5, FN3), (FN3, FN8_OP5)])
def test_regions_created_before_a_wide_write_still_alias_it(qemu_tables, calls):
    """Without pre-allocated windows: TPP1 and TPP2 exist as separate acpiexec buffers before one
    write covers both; acpiexec merges them, in either creation order."""
    with AcpiRuntime([qemu_tables("q35.tis.tpm2.ppi", "DSDT")], memory_windows=()) as rt:
        for rev, fn, args in calls:
            rt.dsm(TPM, PPI, rev, fn, args)
        page = set_page(rt, func={5: 0x04}, pprq=0x17)
        assert rt.dsm(TPM, PPI, *FN8_OP5) == 4
        assert rt.dsm(TPM, PPI, *FN3) == [0, 0x17, 0]
        assert rt.read_memory(PAGE, TPM_PPI_ADDR_SIZE) == page.build()


def test_region_left_of_the_page_merges_with_it(runtime):
    runtime.write_memory(PAGE, b"\xab\xcd")
    assert runtime.read_memory(PAGE - 0x10, 0x12) == bytes(0x10) + b"\xab\xcd"


def test_memory_outside_the_page_round_trips(runtime):
    runtime.write_memory(0xFED40000, b"\x81\x00\x00\x00\x97\x06\x00\x30")  # ACCESS, INTF_CAPABILITY bytes
    assert runtime.read_memory(0xFED40000, 8) == b"\x81\x00\x00\x00\x97\x06\x00\x30"
    assert runtime.read_memory(0xFED40004, 1) == b"\x97"


def test_large_reads_are_split_and_exact(runtime):
    pattern = bytes((i * 7) & 0xFF for i in range(0x5000))
    runtime.write_memory(0x10000000, pattern)
    assert runtime.read_memory(0x10000000, 0x5000) == pattern  # three steps, each near 8 KiB


def test_many_package_results_come_back_in_order(runtime):
    set_page(runtime, pprq=0x21, pprm=0x2)
    results = runtime.evaluate_many([(DSM, (PPI, 2, 3, [])) for _ in range(300)]
                                    + [(DSM, (PPI, 1, 1, []))])
    assert results == [[0, 0x21, 0x2]] * 300 + ["1.3"]


# -- argument types --------------------------------------------------------------------------------
@pytest.mark.parametrize(("arg", "expected"), [
    (0, 0),
    (0xFFFFFFFF, 0xFFFFFFFF),  # largest 32-bit integer (QEMU's DSDT is revision 1)
    ("", ""),
    ('a b"c\n\\', 'a b"c\n\\'),  # quote, newline and backslash survive acpiexec's escaping
    (b"", b""),
    (bytes(range(40)), bytes(range(40))),  # a buffer printed over several hex-dump lines
    ([], []),
    ([1, "x", b"\x01", [[], 2]], [1, "x", b"\x01", [[], 2]]),
    ((7, 8), [7, 8]),  # a tuple is a Package too
    (PPI, bytes.fromhex("a6fadd3d1b36b44ea4248d10089d1653")),  # ToUUID byte order
])
def test_argument_types_round_trip(runtime, arg, expected):
    assert runtime.evaluate("\\ECHO", arg) == expected


aml_values = st.recursive(
    st.integers(0, 0xFFFFFFFF) | st.text(st.characters(min_codepoint=1, max_codepoint=0x7F), max_size=20)
    | st.binary(max_size=40),
    lambda children: st.lists(children, max_size=5),
    max_leaves=12,
)


@settings(deadline=None, max_examples=20)
@given(st.lists(aml_values, min_size=1, max_size=8))
def test_any_value_round_trips_in_one_batch(runtime, values):
    assert runtime.evaluate_many([("\\ECHO", (v,)) for v in values]) == values


@pytest.mark.parametrize("bad", [-1, 1 << 32, "naïve", "a\x00b", 1.5, True, {"a": 1}])
def test_unencodable_arguments_are_refused_before_running(runtime, bad):
    with pytest.raises(UsageError):
        runtime.evaluate("\\ECHO", bad)


def test_named_objects_evaluate_without_arguments(runtime):
    assert runtime.evaluate("\\NINT") == 0x1234
    assert runtime.evaluate(TPM + "._HID") == "MSFT0101"
    with pytest.raises(UsageError, match="not a method"):
        runtime.evaluate("\\NINT", 1)


def test_arity_mismatch_is_a_usage_error(runtime):
    with pytest.raises(UsageError, match=r"\\_SB.PCI0.SF8.TPM._DSM takes 4 argument\(s\), got 3"):
        runtime.evaluate(DSM, PPI, 1, 0)


def test_uuid_names_and_text(runtime):
    assert resolve_uuid("ppi") == PPI and resolve_uuid("MOR") == MOR
    assert resolve_uuid("3DDDFAA6-361B-4EB4-A424-8D10089D1653") == PPI
    with pytest.raises(UsageError):
        resolve_uuid("tpm")


# -- errors ----------------------------------------------------------------------------------------
def test_missing_path_is_ae_not_found(runtime):
    with pytest.raises(AmlEvalError) as info:
        runtime.evaluate("\\_SB.NOPE")
    assert (info.value.path, info.value.status) == ("\\_SB.NOPE", "AE_NOT_FOUND")
    assert str(info.value) == "\\_SB.NOPE: AE_NOT_FOUND"


def test_aml_fault_names_path_status_and_inner_method(runtime):
    with pytest.raises(AmlEvalError) as info:
        runtime.evaluate("\\INNR", 0)
    assert (info.value.path, info.value.status) == ("\\INNR", "AE_AML_DIVIDE_BY_ZERO")
    assert str(info.value).startswith("\\INNR: AE_AML_DIVIDE_BY_ZERO (in \\DIVZ)")


def test_method_without_return_value_gives_none(runtime):
    assert runtime.evaluate("\\NRET") is None


def test_debug_output_that_looks_like_a_prompt_is_skipped(runtime):
    assert runtime.evaluate_many([("\\FAKE", ()), ("\\ECHO", ("after",))]) == [5, "after"]
    assert runtime.evaluate("\\FAKE") == 5
    assert runtime.evaluate("\\NINT") == 0x1234


def test_slack_mode_turns_a_missing_return_into_zero(qemu_tables):
    with AcpiRuntime([qemu_tables("q35.tis.tpm2.ppi", "DSDT")], slack=True) as rt:
        assert rt.dsm(TPM, MOR, 1, 2) == 0  # strict mode: None (see the MOR test above)


def test_failures_in_a_batch_leave_the_other_results_in_place(runtime):
    results = runtime.evaluate_many([("\\DIVZ", (5,)), ("\\DIVZ", (0,)), ("\\NRET", ()), ("\\_SB.NOPE", ()),
                                     ("\\DIVZ", (2,)), ("\\DIVZ", (0,))])
    assert results[0] == 2 and results[2] is None and results[4] == 5
    assert [(r.path, r.status) for r in (results[1], results[3], results[5])] == [
        ("\\DIVZ", "AE_AML_DIVIDE_BY_ZERO"), ("\\_SB.NOPE", "AE_NOT_FOUND"), ("\\DIVZ", "AE_AML_DIVIDE_BY_ZERO")]


# -- batch == sequential ------------------------------------------------------------------------------
ppi_steps = st.one_of(
    st.builds(lambda op, v: WriteMemory(PAGE + op, bytes([v])), st.integers(0, 0xFF), st.integers(0, 0xFF)),
    st.builds(lambda fn, rev, op, prm: Call(DSM, (PPI, rev, fn, [op, prm])),
              st.sampled_from([2, 7]), st.integers(0, 3), st.integers(0, 0x101), st.integers(0, 0xFFFFFFFF)),
    st.builds(lambda fn, rev, op: Call(DSM, (PPI, rev, fn, [op])),
              st.sampled_from([3, 5, 8]), st.integers(0, 3), st.integers(0, 0x101)),
    st.builds(lambda fn, v: Call(DSM, (MOR, 1, fn, [v])), st.integers(0, 3), st.integers(0, 0xFF)),
    st.just(ReadMemory(PAGE + 0x100, 0x5B)),
)


@settings(deadline=None, max_examples=15)
@given(st.lists(ppi_steps, min_size=1, max_size=12), st.binary(min_size=TPM_PPI_ADDR_SIZE,
                                                               max_size=TPM_PPI_ADDR_SIZE))
def test_batch_equals_sequential(runtime, steps, page):
    runtime.write_memory(PAGE, page)
    batch = runtime.evaluate_many(steps)
    batch_page = runtime.read_memory(PAGE, TPM_PPI_ADDR_SIZE)
    runtime.write_memory(PAGE, page)
    one_by_one = [runtime.evaluate_many([s])[0] for s in steps]
    assert batch == one_by_one
    assert batch_page == runtime.read_memory(PAGE, TPM_PPI_ADDR_SIZE)


# -- crashes, hangs, bad tables ---------------------------------------------------------------------------
def test_killed_acpiexec_gives_an_error_then_a_fresh_session(qemu_tables):
    with AcpiRuntime([qemu_tables("q35.tis.tpm2.ppi", "DSDT")]) as rt:
        rt.write_memory(PAGE + 0x109, b"\x05")
        os.killpg(rt.pid, signal.SIGKILL)
        with pytest.raises(AcpiexecError, match="next request starts a fresh session"):
            rt.dsm(TPM, PPI, 1, 1)
        assert rt.dsm(TPM, PPI, 1, 1) == "1.3"
        assert rt.read_memory(PAGE + 0x109, 1) == b"\x00"  # memory of the killed session is gone
        assert rt.restarts == 1


def test_hung_acpiexec_is_killed_after_the_timeout(test_ssdt):
    with AcpiRuntime([test_ssdt], timeout=1.0) as rt:
        with pytest.raises(AcpiexecError, match="did not finish"):
            rt.evaluate("\\SLPY")
        assert rt.evaluate("\\ECHO", 7) == 7


def _table(signature: bytes, body: bytes, revision: int = 2) -> bytes:
    return definition_block(body, signature=signature.decode(), revision=revision, oem_table_id="BAD")


@pytest.mark.parametrize(("table", "message"), [
    (b"SSDT\x24\x00", "shorter than an ACPI table header"),
    (_table(b"SSDT", b"\x00")[:-1] + b"", "header length 37 but the file has 36 bytes"),
    (_table(b"TPM2", b""), "not an AML table"),
    (bytes(_table(b"SSDT", b"\x00")[:9]) + b"\x00" + _table(b"SSDT", b"\x00")[10:], "bad checksum"),
    (_table(b"SSDT", b"\x14\x05\\ABC"), "acpiexec could not load the tables"),  # truncated Method
])
def test_bad_tables_are_refused_with_a_clear_error(table, message):
    with pytest.raises(AmlLoadError, match=message):
        with AcpiRuntime([table]):
            pass


def test_qemu_raw_table_needs_fix_checksums(qemu_tables):
    raw = qemu_tables("q35.tis.tpm2.ppi", "DSDT", fixed=False)
    with pytest.raises(AmlLoadError, match=r"bad checksum \(byte 9 = 0x00, should be 0xa0\)"):
        AcpiRuntime([raw])
    with AcpiRuntime([raw], fix_checksums=True) as rt:
        assert rt.integer_width == 32


def test_two_dsdts_are_refused(qemu_tables):
    dsdt = qemu_tables("q35.tis.tpm2.ppi", "DSDT")
    with pytest.raises(AmlLoadError, match="more than one DSDT"):
        AcpiRuntime([dsdt, dsdt])


# -- devices -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("variant", "path"), [
    ("q35.tis.tpm2.ppi", "\\_SB.PCI0.SF8.TPM"),
    ("pc.tis.tpm12.ppi", "\\_SB.PCI0.S08.TPM"),  # EisaId("PNP0C31")
    ("q35.crb.tpm2.ppi", "\\_SB.TPM"),
])
def test_find_devices_locates_the_tpm_by_hid(qemu_tables, variant, path):
    with AcpiRuntime([qemu_tables(variant, "DSDT")]) as rt:
        assert rt.find_devices() == [path]


def test_find_devices_matches_eisa_hid_and_cid(runtime):
    assert runtime.find_devices(["PNP0A08"]) == ["\\_SB.PCI0"]  # _HID EisaId
    assert runtime.find_devices(["pnp0a03"]) == ["\\_SB.PCI0"]  # _CID EisaId, case-insensitive
    assert runtime.find_devices(["NONE0000"]) == []


def test_stand_in_dsdt_lets_a_scoped_ssdt_load():
    ssdt = compile_asl("""
DefinitionBlock ("", "SSDT", 1, "PPIKIT", "SCOPED", 1)
{
    External (\\_SB.PCI0.ISA, DeviceObj)
    Scope (\\_SB.PCI0.ISA) { Device (TPM) { Name (_HID, "MSFT0101") Name (WDTH, 0xFFFFFFFF) } }
}
""", name="scoped.asl")
    with AcpiRuntime([stand_in_dsdt([ssdt]), ssdt]) as rt:
        assert rt.find_devices() == ["\\_SB.PCI0.ISA.TPM"]
        assert rt.integer_width == 32


def test_failed_start_leaves_no_process_or_files(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the session's files go
    with pytest.raises(AmlLoadError):
        with AcpiRuntime([_table(b"SSDT", b"\x14\x05\\ABC")]):
            pass
    assert list(tmp_path.iterdir()) == []
