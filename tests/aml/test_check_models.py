"""The expectation models and the sweep's input space, without acpiexec (fast)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ppikit.aml import expectations as ex
from ppikit.aml.params import MOR_DSM_UUID, PPI_DSM_UUID
from ppikit.aml.sweep import REVISIONS, SWEEP_OPS, base_page, input_space

SPACE = input_space()
BASE = SPACE.setups["base"]


def ppi(rev: int, fn: int, *args: int, setup: str = "base") -> ex.DsmInput:
    return ex.DsmInput(PPI_DSM_UUID, rev, fn, args, setup)


def mor(rev: int, fn: int, *args: int) -> ex.DsmInput:
    return ex.DsmInput(MOR_DSM_UUID, rev, fn, args, "base")


def test_base_page_is_ovmf_func_and_default_state():
    # func[] = 3 (allowed, user required) for OVMF's ten ops, 0 elsewhere
    assert [op for op in range(256) if BASE.func[op]] == [0, 5, 14, 21, 22, 23, 24, 33, 96, 97]
    assert set(BASE.func) == {0, 3}
    # state 0x100..0x15A: ppin 1, ppip 0, pprp 0xFFFFFFF0, pprq 0x11, pprm 0x12, lppr 0x0E, rest 0
    assert BASE.state[:0x15] == bytes.fromhex("01" "00000000" "f0ffffff" "11000000" "12000000" "0e000000")
    assert len(BASE.state) == 0x5B and not any(BASE.state[0x15:])


def test_every_swept_op_meets_every_flag_across_the_rotations():
    for op in SWEEP_OPS:
        flags = {SPACE.setups[f"rot{k}"].flag(op) for k in range(8)}
        assert flags == ({0} if op >= 0x100 else set(range(8))), op


def test_inputs_are_unique_and_cover_linux_calls():
    assert len(set(SPACE.inputs)) == len(SPACE.inputs) == 1433
    for fn in (8, 7):
        assert all(ppi(1, fn, op) in SPACE.inputs for op in range(256))
    assert ppi(2, 7, 23, 3, setup="rot0") in SPACE.inputs  # Linux: echo "23 3" > request
    assert {i.revision for i in SPACE.inputs if i.interface == ex.PPI} == set(REVISIONS)


@pytest.mark.parametrize(("inp", "setup", "value", "writes"), [
    (ppi(3, 0), "base", b"\xff\x01", ()),                      # no revision check in QEMU
    (ppi(0, 1), "base", "1.3", ()),
    (ppi(1, 2, 5, setup="rot2"), "rot2", 0, (("pprm", 0), ("pprq", 5))),   # flag 7 still accepted
    (ppi(1, 3), "base", [0, 0x11], ()),
    (ppi(2, 3), "base", [0, 0x11, 0x12], ()),
    (ppi(0, 3), "base", b"\x00", ()),
    (ppi(3, 5), "base", [0, 0x0E, 0xFFFFFFF0], ()),
    (ppi(2, 7, 23, 3, setup="rot1"), "rot1", 1, ()),           # (23+1)&7 = 0: not implemented
    (ppi(2, 7, 23, 3, setup="rot4"), "rot4", 0, (("pprm", 3), ("pprq", 23))),  # (23+4)&7 = 3
    (ppi(0, 7, 5, setup="rot0"), "rot0", 0, ()),                # flag 5, rev 0: success, nothing written
    (ppi(1, 7, 5, setup="rot5"), "rot5", 3, ()),                # (5+5)&7 = 2: blocked
    (ppi(1, 8, 0x100, setup="rot3"), "rot3", 0, ()),            # beyond func[]: TPFN -> 0
    (ppi(1, 8, 5, setup="high"), "high", 5, ()),                # func[5] = 0xFD: masked to 5
    (mor(1, 1, 0x102), "base", 0, (("movv", 2),)),
    (mor(1, 2), "base", None, ()),                              # falls off the end of _DSM
])
def test_qemu_model_examples(inp, setup, value, writes):
    expectation = ex.qemu_expectation(inp, SPACE.setups[setup])
    assert expectation.outcome == ex.Outcome(value, writes)


@pytest.mark.parametrize(("inp", "key", "value"), [
    (ppi(0, 0), "ppi-fn0-unknown-revision", b"\x00"),
    (ppi(3, 8, 5, setup="rot0"), "ppi-unknown-revision", b"\x00"),
    (ppi(1, 2, 5, setup="rot4"), "ppi-fn2-firmware-only", 2),   # (5+4)&7 = 1
    (ppi(2, 2, 5, setup="rot5"), "ppi-fn2-blocked", 2),          # (5+5)&7 = 2
    (ppi(1, 7, 5, setup="rot4"), "ppi-fn7-firmware-only", 3),
    (ppi(1, 7, 5, setup="rot0"), "ppi-fn2-fn7-undefined-flag", 1),
    (ppi(1, 8, 5, setup="rot0"), "ppi-fn8-undefined-flag", 0),
    (ppi(1, 9), "ppi-unknown-function", b"\x00"),
    (mor(1, 1, 2), "mor-fn1-not-a-bit", 1),
    (mor(0, 3), "mor-unknown-function", b"\x00"),
    (ex.DsmInput("00000000-0000-0000-0000-000000000000", 1, 0, (), "base"), "unknown-uuid", b"\x00"),
])
def test_spec_rules_classify_and_expect(inp, key, value):
    expectation = ex.spec_expectation(inp, SPACE.setups[inp.setup])
    assert (expectation.rule.key, expectation.outcome) == (key, ex.Outcome(value))


def test_spec_fn4_accepts_any_transition_action_but_not_4():
    expectation = ex.spec_expectation(ppi(1, 4), BASE)
    assert [expectation.accepts(ex.Outcome(v)) for v in range(5)] == [True, True, True, True, False]


def test_spec_fn7_rev2_records_op_and_parameter():
    setup = SPACE.setups["rot4"]  # (23 + 4) & 7 = 3: allowed, user required
    assert ex.spec_expectation(ppi(2, 7, 23, 3, setup="rot4"), setup).outcome == \
        ex.Outcome(0, (("pprm", 3), ("pprq", 23)))


def test_page_writes_names_changed_fields():
    after = bytearray(BASE.state)
    after[0x109 - 0x100] = 0x05  # pprq low byte
    after[0x15A - 0x100] = 0x01  # movv
    assert ex.page_writes(BASE.state, bytes(after)) == (("movv", 1), ("pprq", 5))


@pytest.mark.parametrize(("inp", "observed", "failed"), [
    (ppi(1, 0), ex.Outcome(b"\xff\x01"), []),
    (ppi(1, 0), ex.Outcome(0x183), []),                          # Integer bitmap, bits 0, 1, 7, 8
    (ppi(1, 0), ex.Outcome(b"\xff\x00"), ["linux-fn0-fn8"]),
    (ppi(1, 0), ex.Outcome(b"\x01"), ["linux-fn0-ppi", "linux-fn0-fn7", "linux-fn0-fn8"]),
    (ppi(1, 1), ex.Outcome(0x13), ["linux-fn1"]),
    (ppi(2, 3), ex.Outcome([1, 5, 0]), ["linux-fn3-rev2"]),       # element 0 != 0: EFAULT
    (ppi(1, 5), ex.Outcome([0, 5]), ["linux-fn5"]),
    (ppi(1, 4), ex.Outcome(ex.Fault("AE_AML_PACKAGE_LIMIT")), ["linux-fn4"]),
    (ppi(1, 7, 5), ex.Outcome(0), ["linux-fn7-rev1"]),             # success without queueing op 5
    (ppi(1, 7, 5), ex.Outcome(0, (("pprm", 0), ("pprq", 5))), []),
    (ppi(1, 8, 200), ex.Outcome(b"\x00"), ["linux-fn8"]),
    (ppi(0, 8, 200), ex.Outcome(b"\x00"), []),                     # Linux never sends revision 0
])
def test_linux_needs(inp, observed, failed):
    assert [n.key for n in ex.linux_failures(inp, BASE, observed)] == failed


def test_describe_input_and_outcome():
    setup = SPACE.setups["high"]
    assert ppi(2, 7, 23, 3, setup="high").describe(setup) == \
        "PPI rev 2 fn 7 Package{0x17, 3} [func[op]=0xFF, flag 7]"
    assert ex.Outcome([0, 0x11, 0xFFFFFFF0], (("pprq", 23),)).describe(op=23) == \
        "Package {Integer 0, Integer 0x11, Integer 0xfffffff0}; writes pprq = op"
    assert ex.describe_value(ex.Fault("AE_AML_PACKAGE_LIMIT")) == "fault AE_AML_PACKAGE_LIMIT"


def test_base_page_from_user_page():
    from ppikit.ppi.page import PpiPage

    page = PpiPage.blank()
    page.func[7] = 4
    page.pprq = 9
    setup = base_page(page)
    assert (setup.flag(7), setup.field("pprq"), setup.field("ppin")) == (4, 9, 0)


UUIDS = st.sampled_from([PPI_DSM_UUID, MOR_DSM_UUID, "00000000-0000-0000-0000-000000000000"])
U32 = st.integers(0, 0xFFFFFFFF)


@given(UUIDS, U32, U32, st.lists(U32, max_size=3), st.sampled_from(sorted(SPACE.setups)))
def test_models_cover_every_input(uuid, revision, function, args, setup):
    inp = ex.DsmInput(uuid, revision, function, tuple(args), setup)
    spec = ex.spec_expectation(inp, SPACE.setups[setup])
    ex.qemu_expectation(inp, SPACE.setups[setup])  # never LookupError
    if inp.interface == ex.PPI and revision not in (1, 2):
        assert spec.outcome == ex.Outcome(b"\x00")
    if inp.interface == ex.OTHER:
        assert spec.rule.key == "unknown-uuid"


@given(st.binary(min_size=0x5B, max_size=0x5B), st.binary(min_size=0x5B, max_size=0x5B))
def test_page_writes_reconstruct_the_after_state(before, after):
    rebuilt = {**ex.state_fields(before), **dict(ex.page_writes(before, after))}
    assert rebuilt == ex.state_fields(after)


def test_state_checker_equals_iasl_output_of_its_documented_asl():
    from ppikit.aml.iasl import compile_asl
    from ppikit.aml.sweep import state_checker

    asl = '''DefinitionBlock ("", "SSDT", 1, "PPIKIT", "PPIKITCK", 1)
    {
        Device (\\PKCK)
        {
            OperationRegion (PKCR, SystemMemory, 0xFED45100, 0x5B)
            Field (PKCR, ByteAcc, NoLock, Preserve) { PKST, 728 }
            Name (PKRF, Buffer (0x5B) { %s })
            Method (SNAP, 0, Serialized)
            {
                If (LNot (LEqual (PKST, PKRF))) { Store (PKST, Local0)  Store (PKRF, PKST)  Return (Local0) }
                Return (Zero)
            }
        }
    }''' % ", ".join(f"0x{b:02X}" for b in BASE.state)
    # the AML body (after the 36-byte header, whose creator fields differ) is byte-identical
    assert state_checker(BASE.state)[36:] == compile_asl(asl)[36:]


@pytest.mark.parametrize(("crs", "window"), [
    # ResourceTemplate { Memory32Fixed (ReadWrite, 0xFED40000, 0x5000) }: QEMU's TIS _CRS
    ("860900" "01" "0000d4fe" "00500000" "7900", (0xFED40000, 0x5000)),
    # IRQNoFlags {1} (small item, 2 data bytes) first, then the CRB window
    ("220200" "860900" "01" "0000d4fe" "00100000" "7900", (0xFED40000, 0x1000)),
    # QWordMemory-like large item 0x8A of 0x2B bytes is skipped; no Memory32Fixed follows
    ("8a2b00" + "00" * 0x2B + "7900", None),
    ("7900", None),  # end tag only
])
def test_memory_window_of_crs(crs, window):
    from ppikit.aml.check import _memory_window

    assert _memory_window(bytes.fromhex(crs)) == window
