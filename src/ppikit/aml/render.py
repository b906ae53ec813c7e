"""Render the jinja2 ASL templates for a :class:`SsdtParams` and compile them with iasl.

Why templates and not an AML builder: firmware and VMM authors read and ship ASL; the templates in
``ppikit/asl_templates/`` are that ASL with the few values that vary filled in, and the real iasl
compiles them. They are loaded from the installed package (jinja2 ``PackageLoader``), so they work
from a wheel as well as from the source tree.

Scope decision: the SSDT declares ``External (<scope>, DeviceObj)`` for any scope other than the
predefined root scopes (``\\``, ``\\_SB``, ...). That is what a platform needs to drop the SSDT next
to its own DSDT, which defines the bridge. To load the SSDT *on its own* (acpiexec), load
:func:`build_scope_dsdt` first: a revision-1 stand-in DSDT that defines the scope devices and,
because ACPICA takes its integer width from the DSDT revision, gives the SSDT QEMU's 32-bit integer
arithmetic (acpiexec's built-in DSDT is revision 2, i.e. 64-bit).
"""

from __future__ import annotations

from functools import lru_cache
from types import SimpleNamespace
from typing import Any

import jinja2

from ppikit.aml.iasl import compile_asl
from ppikit.aml.params import (
    ACPI_TABLE_REVISION_32BIT,
    MOR_DSM_UUID,
    PPI_DSM_UUID,
    Profile,
    SsdtParams,
)
from ppikit.ppi.page import FIELD_OFFSETS, PPI_FUNC_COUNT, TPM_PPI_FUNC_MASK

SSDT_TEMPLATE = "ssdt.asl.j2"
SCOPE_DSDT_TEMPLATE = "scope_dsdt.asl.j2"

#: Root scopes every ACPI namespace has (ACPI 6.x "Predefined Root Namespaces"); never External.
PREDEFINED_SCOPES = frozenset({"\\", "\\_SB", "\\_GPE", "\\_PR", "\\_SI", "\\_TZ"})


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("ppikit", "asl_templates"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def _context(params: SsdtParams) -> dict[str, Any]:
    params.validate()
    scope = params.resolved_scope
    segments = [] if scope == "\\" else scope[1:].split(".")
    parent = "\\" + segments[0] if segments and "\\" + segments[0] in PREDEFINED_SCOPES else "\\"
    stub = segments[1:] if parent != "\\" else segments
    return {
        "table_revision": ACPI_TABLE_REVISION_32BIT,
        "oem_id": params.oem_id,
        "oem_table_id": params.oem_table_id,
        "oem_revision": params.oem_revision,
        "interface": params.interface.value,
        "tpm": params.tpm.label,
        "ppi": params.ppi,
        "profile": params.profile.value,
        "strict": params.ppi and params.profile is Profile.STRICT,
        "scope": scope,
        "scope_is_external": scope not in PREDEFINED_SCOPES,
        "stub_parent": parent,
        "stub_devices": stub,
        "device_name": params.device_name,
        "mmio_base": params.mmio_base,
        "mmio_size": params.resolved_mmio_size,
        "ppi_address": params.ppi_address,
        "off": SimpleNamespace(**{name: offset for name, (offset, _size) in FIELD_OFFSETS.items()}),
        "func_count": PPI_FUNC_COUNT,
        "func_mask": TPM_PPI_FUNC_MASK,
        "ppi_uuid": PPI_DSM_UUID,
        "mor_uuid": MOR_DSM_UUID,
        "hex8": lambda v: f"0x{v:02X}",
        "hex16": lambda v: f"0x{v:04X}",
        "hex32": lambda v: f"0x{v:08X}",
    }


def render_ssdt(params: SsdtParams) -> str:
    """The SSDT's ASL text for ``params`` (validated first)."""
    return _environment().get_template(SSDT_TEMPLATE).render(_context(params))


def build_ssdt(params: SsdtParams) -> bytes:
    """The compiled SSDT (AML bytes) for ``params``."""
    return compile_asl(render_ssdt(params), name=SSDT_TEMPLATE)


def render_scope_dsdt(params: SsdtParams) -> str:
    """ASL of the stand-in DSDT that lets the SSDT load on its own (see the module docstring)."""
    return _environment().get_template(SCOPE_DSDT_TEMPLATE).render(_context(params))


def build_scope_dsdt(params: SsdtParams) -> bytes:
    """The compiled stand-in DSDT for ``params`` (revision 1, defines the scope devices)."""
    return compile_asl(render_scope_dsdt(params), name=SCOPE_DSDT_TEMPLATE)
