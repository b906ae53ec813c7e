"""Hypothesis strategies for ppikit's data: PPI pages, fw_cfg records, operations, requests, MMIO.

Exported for users who fuzz their own firmware logic or AML with the same generators ppikit's suite
uses. Every function returns a ``SearchStrategy``; none has side effects at import beyond importing
hypothesis (this module is only imported by code that wants strategies).
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from ppikit.fwcfg.tpm_config import PpiVersion, TpmConfig
from ppikit.ppi.operations import (
    TCG_PP_OPERATION_RESPONSE_BIOS_FAILURE,
    TCG_PP_OPERATION_RESPONSE_SUCCESS,
    TCG_PP_OPERATION_RESPONSE_USER_ABORT,
    OpKind,
    Operation,
    catalogue,
)
from ppikit.ppi.page import PPI_FUNC_COUNT, TPM_PPI_ADDR_BASE, TPM_PPI_ADDR_SIZE, PpiFunc, PpiPage
from ppikit.tpm.version import TpmVersion

__all__ = [
    "MmioAccess",
    "consistent_pages",
    "func_flags",
    "mmio_accesses",
    "operations",
    "page_bytes",
    "pprp_values",
    "requests",
    "tpm_config_bytes",
    "tpm_configs",
    "tpm_versions",
]


def tpm_versions() -> SearchStrategy[TpmVersion]:
    return st.sampled_from([TpmVersion.TPM_1_2, TpmVersion.TPM_2_0])


def page_bytes() -> SearchStrategy[bytes]:
    """Any 0x400 bytes: what a guest (or a bug) may leave in the page."""
    return st.binary(min_size=TPM_PPI_ADDR_SIZE, max_size=TPM_PPI_ADDR_SIZE)


def func_flags() -> SearchStrategy[PpiFunc]:
    return st.sampled_from(list(PpiFunc))


def operations(tpm: TpmVersion = TpmVersion.TPM_2_0,
               kinds: tuple[OpKind, ...] = (OpKind.DEFINED,)) -> SearchStrategy[Operation]:
    """Operations of ``tpm`` from the catalogue, restricted to ``kinds``."""
    return st.sampled_from([op for op in catalogue(tpm) if op.kind in kinds])


def pprp_values() -> SearchStrategy[int]:
    """Operation responses firmware writes: success, abort, BIOS failure, or a TPM error code."""
    return st.one_of(
        st.sampled_from([TCG_PP_OPERATION_RESPONSE_SUCCESS, TCG_PP_OPERATION_RESPONSE_USER_ABORT,
                         TCG_PP_OPERATION_RESPONSE_BIOS_FAILURE]),
        st.integers(1, 0xFFF),
    )


def requests(tpm: TpmVersion = TpmVersion.TPM_2_0) -> SearchStrategy[tuple[int, int | None]]:
    """``(op, param)`` as an OS submits them: a parameter only for the operation that takes one."""

    def with_param(op: Operation) -> SearchStrategy[tuple[int, int | None]]:
        if op.takes_parameter:
            return st.tuples(st.just(op.number), st.integers(0, 0xFFFFFFFF) | st.sampled_from([1, 2, 3, 6, 0x1F]))
        return st.tuples(st.just(op.number), st.none())

    return operations(tpm).flatmap(with_param)


@st.composite
def consistent_pages(draw: st.DrawFn, tpm: TpmVersion = TpmVersion.TPM_2_0) -> PpiPage:
    """Pages a correct firmware + OS could produce: valid func[] flags, a pending op from the
    catalogue that func[] allows, a last op with a plausible response, reserved bytes zero."""
    page = PpiPage.blank()
    page.func = draw(st.lists(st.integers(0, 4), min_size=PPI_FUNC_COUNT, max_size=PPI_FUNC_COUNT))
    page.ppin = 1
    op, param = draw(requests(tpm))
    if draw(st.booleans()):
        page.pprq = op
        page.pprm = param or 0
        if page.func[op] in (PpiFunc.NOT_IMPLEMENTED, PpiFunc.BLOCKED):
            page.func[op] = draw(st.sampled_from([PpiFunc.ALLOWED_USR_REQ, PpiFunc.ALLOWED_USR_NOT_REQ]))
    page.lppr = draw(operations(tpm)).number
    page.pprp = draw(pprp_values())
    page.movv = draw(st.sampled_from([0, 1]))
    return page


def tpm_configs() -> SearchStrategy[TpmConfig]:
    """Valid ``etc/tpm/config`` records (any address, TPM 1.2/2.0, PPI version none/1.30)."""
    return st.builds(TpmConfig, st.integers(0, 0xFFFFFFFF) | st.just(TPM_PPI_ADDR_BASE), tpm_versions(),
                     st.sampled_from(list(PpiVersion)))


def tpm_config_bytes() -> SearchStrategy[bytes]:
    """Arbitrary 6-byte records, valid or not (unknown version bytes included)."""
    return st.binary(min_size=6, max_size=6)


@dataclass(frozen=True)
class MmioAccess:
    """One guest access: ``write`` with ``value``, or a read."""

    write: bool
    address: int
    size: int
    value: int = 0


def mmio_accesses(base: int, window: int, *, sizes: tuple[int, ...] = (1, 2, 4),
                  slack: int = 0x10) -> SearchStrategy[MmioAccess]:
    """Accesses in ``[base - slack, base + window + slack)`` of the given sizes, any value."""
    address = st.integers(base - slack, base + window + slack - 1)

    def build(write: bool, addr: int, size: int, value: int) -> MmioAccess:
        return MmioAccess(write, addr, size, value & ((1 << (8 * size)) - 1) if write else 0)

    return st.builds(build, st.booleans(), address, st.sampled_from(sizes), st.integers(0, 0xFFFFFFFFFFFFFFFF))
