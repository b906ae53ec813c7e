"""THE key test: the qemu-profile SSDT's _DSM behaves exactly like QEMU 7.2's own DSDT _DSM.

Both run in real ACPICA (acpiexec, through :class:`ppikit.aml.runtime.AcpiRuntime`): QEMU's q35 DSDT
(checksum fixed) with its TPM node at ``\\_SB.PCI0.SF8.TPM`` / ``\\_SB.TPM``, and ppikit's golden
qemu-profile SSDT loaded next to its revision-1 stand-in DSDT (so both interpret integers as 32-bit).
Every case starts from the same PPI page, makes one _DSM call, and then the return value (or ACPICA
error status) and the page bytes QEMU's AML can write (0x100..0x15A) must be equal; a final read
compares the whole 0x400-byte page. The calls run in the same order on both sides, so the global
TPM2/TPM3 return packages carry the same history.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ppikit.aml import golden
from ppikit.aml.params import MOR_DSM_UUID, PPI_DSM_UUID
from ppikit.aml.render import build_scope_dsdt
from ppikit.aml.runtime import AcpiRuntime, AmlEvalError, Call, ReadMemory, WriteMemory
from ppikit.ppi.page import FIELD_OFFSETS, TPM_PPI_ADDR_BASE, TPM_PPI_ADDR_SIZE, PpiPage

PPI = uuid.UUID(PPI_DSM_UUID)
MOR = uuid.UUID(MOR_DSM_UUID)
OTHER_UUIDS = (uuid.UUID(int=0), uuid.UUID("4e4b1d69-2a8e-4c0e-9e0d-6a6d5b3b2f11"))
SCALARS_AT = FIELD_OFFSETS["ppin"][0]  # 0x100: first byte the _DSM can write
SCALARS_LEN = FIELD_OFFSETS["movv"][0] + 1 - SCALARS_AT  # through movv (0x15A)

#: ppikit golden configuration -> (QEMU 7.2 q35 reference variant, TPM node path there)
VARIANTS = {
    "tis-tpm12-ppi-qemu": ("q35.tis.tpm12.ppi", "\\_SB.PCI0.SF8.TPM"),
    "tis-tpm2-ppi-qemu": ("q35.tis.tpm2.ppi", "\\_SB.PCI0.SF8.TPM"),
    "crb-tpm2-ppi-qemu": ("q35.crb.tpm2.ppi", "\\_SB.TPM"),
}


def page_scalars(**values: int) -> bytes:
    """Bytes 0x100..0x15A of a page with these fields (others from a non-trivial default)."""
    fields = dict(ppin=1, ppip=0x11111111, pprp=0xFFFFFFF0, pprq=0x22, pprm=0x33, lppr=5, fret=0x44,
                  next_step=0x55, movv=0x01)
    fields.update(values)
    page = PpiPage.blank()
    for name, value in fields.items():
        setattr(page, name, value)
    page.res1 = bytes(range(0x40))
    return page.build()[SCALARS_AT:SCALARS_AT + SCALARS_LEN]


DEFAULT_SCALARS = page_scalars()
CASES_PER_BATCH = 40


class Side:
    """One _DSM implementation under acpiexec: a session and the path of its TPM node."""

    def __init__(self, runtime: AcpiRuntime, device: str) -> None:
        self.runtime, self.device = runtime, device

    def run(self, cases: list[tuple]) -> list[tuple]:
        """Per case (uuid, rev, fn, args, op_index, func_byte, scalars): (result, page bytes after),
        then ("whole page", 0x400 bytes). Batches of :data:`CASES_PER_BATCH` keep each generated driver
        table and its result dump small."""
        out: list[tuple] = []
        for first in range(0, len(cases), CASES_PER_BATCH):
            out += self._batch(cases[first:first + CASES_PER_BATCH])
        out.append(("whole page", self.runtime.read_memory(TPM_PPI_ADDR_BASE, TPM_PPI_ADDR_SIZE)))
        return out

    def _batch(self, cases: list[tuple]) -> list[tuple]:
        steps = []
        for dsm_uuid, rev, fn, args, op, func_byte, scalars in cases:
            steps.append(WriteMemory(TPM_PPI_ADDR_BASE + SCALARS_AT, scalars))
            steps.append(WriteMemory(TPM_PPI_ADDR_BASE + op, bytes([func_byte])) if op < 0x100
                         else ReadMemory(TPM_PPI_ADDR_BASE, 1))
            steps.append(Call(f"{self.device}._DSM", (dsm_uuid, rev, fn, list(args))))
            steps.append(ReadMemory(TPM_PPI_ADDR_BASE + SCALARS_AT, SCALARS_LEN))
        results = self.runtime.run(steps)
        return [(_plain(results[4 * k + 2]), results[4 * k + 3]) for k in range(len(cases))]


def _plain(result: object) -> object:
    """Compare errors by ACPICA status only (the device paths differ by design)."""
    return ("AML error", result.status) if isinstance(result, AmlEvalError) else result


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def sides(request, qemu_tables_module) -> Iterator[tuple[Side, Side]]:
    config = request.param
    variant, qemu_node = VARIANTS[config]
    params = next(p for p in golden.GOLDEN_CONFIGS if p.config_name == config)
    ssdt = (golden.default_root() / config / golden.SSDT_AML).read_bytes()
    with AcpiRuntime([qemu_tables_module(variant, "DSDT")]) as theirs, \
            AcpiRuntime([build_scope_dsdt(params), ssdt]) as ours:
        assert theirs.integer_width == ours.integer_width == 32
        yield Side(theirs, qemu_node), Side(ours, params.device_path)


def assert_same(sides: tuple[Side, Side], cases: list[tuple]) -> None:
    theirs, ours = sides
    expected, actual = theirs.run(cases), ours.run(cases)
    for case, want, got in zip([*cases, "final page"], expected, actual):
        assert got == want, f"case {case}: QEMU 7.2 gave {want!r}, ppikit qemu profile gave {got!r}"


FLAG_BYTES = (0, 1, 2, 3, 4, 5, 6, 7, 0x0B, 0xFA, 0xFF)  # every flag code, then upper-bit garbage (3, 2, 7)
OPS = (0, 1, 5, 22, 23, 34, 35, 0x60, 0x7F, 0x80, 0xC0, 0xFE, 0xFF, 0x100, 0x101, 0x17F, 0x1FF, 0xFFFFFFFF)


def test_every_ppi_function_revision_and_flag(sides):
    """PPI UUID: revisions 0..3 x functions 0..10 x every func[] value for op 5 (param 0x1234)."""
    cases = [(PPI, rev, fn, (5, 0x1234), 5, flag, DEFAULT_SCALARS)
             for rev in range(4) for fn in range(11) for flag in FLAG_BYTES]
    assert_same(sides, cases)


def test_operations_across_and_past_func_table(sides):
    """fn 2/7/8, revisions 1 and 2, ops from 0 to past 0xFF, flags not-implemented/blocked/allowed."""
    cases = [(PPI, rev, fn, (op, 0xCAFE), op, flag, DEFAULT_SCALARS)
             for rev in (1, 2) for fn in (2, 7, 8) for op in OPS for flag in (0, 2, 3)]
    assert_same(sides, cases)


def test_mor_and_unknown_uuids(sides):
    """MOR: revisions 0..3 x functions 0..3 x values (byte, bit and wider); unknown UUIDs: no return."""
    cases = [(MOR, rev, fn, (value,), 0, 0, page_scalars(movv=0x80))
             for rev in range(4) for fn in range(4) for value in (0, 1, 2, 0x80, 0xFF, 0x100, 0x1FF, 0xFFFFFFFF)]
    cases += [(other, rev, fn, (5,), 5, 3, DEFAULT_SCALARS)
              for other in OTHER_UUIDS for rev in range(3) for fn in range(3)]
    assert_same(sides, cases)


def test_malformed_argument_packages(sides):
    """Missing Arg3 elements fail in ACPICA the same way, leaving the same partial writes (fn 7 rev 2
    stores PPRQ before it reaches the missing parameter)."""
    cases = [(PPI, 1, 2, (), 5, 3, DEFAULT_SCALARS), (PPI, 1, 7, (), 5, 3, DEFAULT_SCALARS),
             (PPI, 1, 8, (), 5, 3, DEFAULT_SCALARS), (PPI, 2, 7, (5,), 5, 3, DEFAULT_SCALARS),
             (PPI, 2, 7, (5,), 5, 2, DEFAULT_SCALARS), (MOR, 1, 1, (), 0, 0, DEFAULT_SCALARS),
             (PPI, 1, 8, ("5",), 5, 3, DEFAULT_SCALARS), (PPI, 1, 7, (b"\x05",), 5, 3, DEFAULT_SCALARS)]
    assert_same(sides, cases)


_case = st.tuples(
    st.sampled_from([PPI, PPI, PPI, MOR, OTHER_UUIDS[1]]),
    st.integers(0, 3) | st.integers(4, 0xFF),
    st.integers(0, 10),
    st.tuples(st.integers(0, 0x1FF), st.integers(0, 0xFFFFFFFF)),
    st.integers(0, 0xFF),
    st.integers(0, 0xFF),
    st.binary(min_size=SCALARS_LEN, max_size=SCALARS_LEN),
).map(lambda c: (c[0], c[1], c[2], c[3], c[3][0] if c[3][0] < 0x100 else c[4], c[5], c[6]))


@settings(max_examples=5, deadline=None)
@given(cases=st.lists(_case, min_size=10, max_size=60))
def test_sampled_inputs_and_page_states(sides, cases):
    """Random UUID/revision/function, op 0..0x1FF with parameter, func[] byte and page contents."""
    assert_same(sides, cases)
