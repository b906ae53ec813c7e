"""The batch fast path (ppikit.aml.fastpath): same results as the evaluate path, fewer slow commands.

Every property runs the same batch in two sessions over the same tables: one on the fast path, one
with ``fast_path = False`` (the evaluate path, the reference), and compares results -- values,
``None``, and errors by path, status *and* message -- and the PPI page afterwards.
"""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ppikit.aml.fastpath import parse_package_dump, trigger_scope
from ppikit.aml.iasl import compile_asl
from ppikit.aml.params import MOR_DSM_UUID, PPI_DSM_UUID, SsdtParams
from ppikit.aml.render import build_scope_dsdt, build_ssdt
from ppikit.aml.runtime import (
    AcpiexecError,
    AcpiRuntime,
    AmlEvalError,
    Call,
    ReadMemory,
    WriteMemory,
)
from ppikit.aml.values import DumpParseError
from ppikit.ppi.page import TPM_PPI_ADDR_BASE, TPM_PPI_ADDR_SIZE

PPI = uuid.UUID(PPI_DSM_UUID)
MOR = uuid.UUID(MOR_DSM_UUID)
PAGE = TPM_PPI_ADDR_BASE
LONG = "L" * 300  #: ``dump`` truncates strings at 255 characters; the evaluate path refuses this one too

#: Test methods next to the DSDT under test (compiled by the real iasl).
TEST_SSDT_ASL = f"""
DefinitionBlock ("", "SSDT", 1, "PPIKIT", "FPTEST", 1)
{{
    Method (\\ECHO, 1) {{ Return (Arg0) }}
    Method (\\NRET, 0) {{ Local0 = 1 }}
    Method (\\DIVZ, 1) {{ Return (10 / Arg0) }}
    Method (\\INNR, 1) {{ Return (DIVZ (Arg0)) }}
    Method (\\UNIN, 0) {{ Return (Package (3) {{ 1 }}) }}
    Method (\\FAKL, 0) {{
        Debug = "x\\nAcpi table [SSDT] successfully installed and loaded\\n- "
        Return (5)
    }}
    Method (\\LONG, 0) {{ Return ("{LONG}") }}
}}
"""


def _pair(tables: list[bytes]):
    fast, reference = AcpiRuntime(tables), AcpiRuntime(tables)
    reference.fast_path = False
    with fast, reference:
        yield fast, reference


@pytest.fixture(scope="module")
def test_ssdt() -> bytes:
    return compile_asl(TEST_SSDT_ASL, name="fastpath-test.asl")


@pytest.fixture(scope="module")
def qemu_pair(qemu_tables_module, test_ssdt):
    yield from _pair([qemu_tables_module("q35.tis.tpm2.ppi", "DSDT"), test_ssdt])


@pytest.fixture(scope="module")
def ppikit_pair(test_ssdt):
    params = SsdtParams.create()
    yield from _pair([build_scope_dsdt(params), build_ssdt(params), test_ssdt])


def both(pair, steps, page: bytes) -> tuple[list, bytes]:
    """Run ``steps`` on both sessions after writing ``page``; return the (equal) results and page."""
    outcomes = []
    for runtime in pair:
        runtime.write_memory(PAGE, page)
        try:
            results = runtime.run(steps)
        except AcpiexecError as exc:  # both paths must refuse the same results
            results = [type(exc)]
        shown = [(type(r).__name__, r.path, r.status, str(r)) if isinstance(r, AmlEvalError) else r
                 for r in results]
        outcomes.append((shown, runtime.read_memory(PAGE, TPM_PPI_ADDR_SIZE)))
    assert outcomes[0] == outcomes[1]
    return outcomes[0]


aml_values = st.recursive(
    st.integers(0, 0xFFFFFFFF) | st.text(st.characters(min_codepoint=1, max_codepoint=0x7F), max_size=30)
    | st.binary(max_size=40),
    lambda children: st.lists(children, max_size=5),
    max_leaves=12,
)


def steps_for(tpm: str):
    dsm = f"{tpm}._DSM"
    return st.one_of(
        st.builds(lambda v: Call("\\ECHO", (v,)), aml_values),
        st.sampled_from([Call("\\NRET"), Call("\\DIVZ", (0,)), Call("\\DIVZ", (3,)), Call("\\INNR", (0,)),
                         Call("\\UNIN"), Call("\\FAKL"), Call("\\_SB.NOPE"), Call(f"{tpm}._CRS"),
                         Call(f"{tpm}._HID"), ReadMemory(PAGE, TPM_PPI_ADDR_SIZE)]),
        st.builds(lambda fn, rev, op, prm: Call(dsm, (PPI, rev, fn, [op, prm])),
                  st.sampled_from([2, 7]), st.integers(0, 3), st.integers(0, 0x101), st.integers(0, 0xFFFFFFFF)),
        st.builds(lambda fn, rev, args: Call(dsm, (PPI, rev, fn, args)),
                  st.integers(0, 9), st.integers(0, 3), st.lists(st.integers(0, 0x101), max_size=2)),
        st.builds(lambda fn, v: Call(dsm, (MOR, 1, fn, [v])), st.integers(0, 3), st.integers(0, 0xFF)),
        st.builds(lambda off, data: WriteMemory(PAGE + off, data), st.integers(0, 0x3F0), st.binary(min_size=1,
                                                                                                     max_size=16)),
        st.builds(lambda off, n: ReadMemory(PAGE + off, n), st.integers(0, 0x3F0), st.integers(1, 16)),
    )


PAGES = st.binary(min_size=TPM_PPI_ADDR_SIZE, max_size=TPM_PPI_ADDR_SIZE)


@settings(deadline=None, max_examples=40)
@given(st.lists(steps_for("\\_SB.PCI0.SF8.TPM"), min_size=1, max_size=10), PAGES)
def test_fast_path_equals_evaluate_path_on_qemus_dsdt(qemu_pair, steps, page):
    both(qemu_pair, steps, page)


@settings(deadline=None, max_examples=25)
@given(st.lists(steps_for(SsdtParams.create().device_path), min_size=1, max_size=10), PAGES)
def test_fast_path_equals_evaluate_path_on_ppikits_ssdt(ppikit_pair, steps, page):
    both(ppikit_pair, steps, page)


def test_many_blocks_and_failures_in_one_batch(qemu_pair):
    # 150 steps = three result blocks; every 7th step fails, the rest echo nested values.
    steps = [Call("\\DIVZ", (0,)) if k % 7 == 0 else Call("\\ECHO", ([k, f"s{k}", bytes([k])],))
             for k in range(150)]
    results, _ = both(qemu_pair, steps, bytes(TPM_PPI_ADDR_SIZE))
    assert results[1] == [1, "s1", b"\x01"] and results[149] == [149, "s149", b"\x95"]
    assert results[7] == ("AmlEvalError", "\\DIVZ", "AE_AML_DIVIDE_BY_ZERO",
                          "\\DIVZ: AE_AML_DIVIDE_BY_ZERO: Divide by zero")


def test_special_results_match(qemu_pair):
    results, _ = both(qemu_pair, [Call("\\NRET"), Call("\\UNIN"), Call("\\FAKL"), Call("\\ECHO", ("after",)),
                                  Call("\\INNR", (0,))], bytes(TPM_PPI_ADDR_SIZE))
    assert results[:4] == [None, [1, None, None], 5, "after"]
    assert results[4][:3] == ("AmlEvalError", "\\INNR", "AE_AML_DIVIDE_BY_ZERO")
    assert results[4][3].startswith("\\INNR: AE_AML_DIVIDE_BY_ZERO (in \\DIVZ)")


def test_slack_mode_matches_too(qemu_tables, test_ssdt):
    pair = _pair([qemu_tables("q35.tis.tpm2.ppi", "DSDT"), test_ssdt])
    fast, reference = next(pair)
    fast.slack = reference.slack = True  # implicit return: NRET gives its last result (Local0 = 1)
    fast.restart()
    reference.restart()
    results, _ = both((fast, reference), [Call("\\NRET"), Call("\\_SB.PCI0.SF8.TPM._DSM", (MOR, 1, 2, [])),
                                          Call("\\DIVZ", (0,)), Call("\\ECHO", (7,))], bytes(TPM_PPI_ADDR_SIZE))
    assert results[:2] == [1, 0] and results[2][2] == "AE_AML_DIVIDE_BY_ZERO" and results[3] == 7
    pair.close()


def test_truncated_string_is_refused_like_the_evaluate_path(qemu_pair):
    results, _ = both(qemu_pair, [Call("\\LONG")], bytes(TPM_PPI_ADDR_SIZE))
    assert results == [AcpiexecError]
    fast, _ = qemu_pair
    assert fast.evaluate("\\ECHO", "ok") == "ok"  # the session goes on


def test_fast_path_needs_no_evaluate_and_leaves_no_tables(qemu_pair, monkeypatch):
    fast, _ = qemu_pair
    verbs = []
    command = fast._command

    def spy(text, *args, **kwargs):
        verbs.append(text.split()[0])
        return command(text, *args, **kwargs)

    before = command("namespace \\PKIT")
    monkeypatch.setattr(fast, "_command", spy)
    results = fast.run([Call("\\ECHO", (b"\x01\x02\x03\x04\x05",)), Call("\\DIVZ", (0,)), Call("\\DIVZ", (2,)),
                        ReadMemory(PAGE, TPM_PPI_ADDR_SIZE)])
    assert results[0] == bytes.fromhex("0102030405") and results[2] == 5 and len(results[3]) == 0x400
    # driver load, trigger from 0 (fails at step 1), PROG dump, trigger from 2, block dump, 2 unloads
    assert verbs == ["load", "load", "dump", "load", "unload", "dump", "unload"]
    assert command("namespace \\PKIT") == before  # the driver and both triggers are unloaded


# -- the dump parser, on exact acpiexec 20200925 output ------------------------------------------
DUMP = """\
Object 0x7f488c0015f0: Namespace Node - Pathname: \\PKIT.TAAA.B000
                Type : 04 [Package]

Package Contents:
0x55949fec9490 [Package] Contains 6 Elements:
  [00] 0x7fce70003330 [Package] Contains 2 Elements:
    [00] 0x7fce700033b0 [Integer] = 0000000000000001
    [01] (nil) [Null Object]
  [01] 0x7fce70002eb0 [Buffer] Length 12 =     0000: 03020100 07060504 0B0A0908 0F0E0D0C  // ................
    0010: 00004241                             // AB
  [02] 0x7fce70003040 [String]  Value: "tab\\there\\x7F\\"q\\""
  [03] 0x5614b73a6080 [Buffer] Length 00 = 
  [04] 0x7fce700035e0 [Buffer] Length 03 =     0000: 01 02 7A                                         // ..z
  [05] 0x7fce70001c60 [Package] Contains 0 Elements:
"""


def test_dump_parser_reads_every_shape():
    # Real output (dump \\DMPX of an iasl-built Package). The 0x12-byte buffer prints as little-endian
    # DWORDs; its last DWORD "00004241" shows 2 bytes past the end, which are dropped.
    assert parse_package_dump(DUMP) == [[1, None], bytes(range(16)) + b"AB", 'tab\there\x7f"q"', b"",
                                        b"\x01\x02z", []]


@pytest.mark.parametrize(("old", "new"), [
    ('Value: "tab\\there\\x7F\\"q\\""', 'Value: "LLL"...'),  # truncated at 255 characters
    ("  [05] 0x7fce70001c60 [Package]", "  [06] 0x7fce70001c60 [Package]"),  # wrong index
    ("// AB", "// AC"),  # characters disagree with the bytes
    ("[Integer] = 0000000000000001", "[Object Reference] Class [Index]"),  # unknown type
    ("Contains 6 Elements", "Contains 7 Elements"),  # ends early
    ("Package Contents:\n", ""),
])
def test_dump_parser_refuses_what_it_does_not_understand(old, new):
    assert old in DUMP
    with pytest.raises(DumpParseError):
        parse_package_dump(DUMP.replace(old, new))


def test_trigger_scope_sits_next_to_the_driver():
    class Driver:
        scope = "\\PKIT.T0A1"
    assert trigger_scope(Driver()) == "\\PKIT.U0A1"  # type: ignore[arg-type]
