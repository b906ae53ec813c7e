"""TpmClient: send commands through any ``transport(command_bytes) -> response_bytes``.

Why a bare callable: the same firmware logic must run against a backend directly (tests, tools:
``backend_transport(backend)``) and through the MMIO path a real firmware uses (a TIS/CRB driver's
``transmit``), and the client must not care which. Every method builds the command from its
:class:`~ppikit.tpm.command.CommandSpec`, sends it, parses the response and raises
:class:`~ppikit.tpm.rc.TpmResponseError` (with ``.code`` and ``.name``) for a non-zero response
code; :meth:`TpmClient.execute` with ``check=False`` returns the response code instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import construct as cs

from ppikit.errors import LayoutError, UsageError
from ppikit.tpm import tpm2, tpm12
from ppikit.tpm.command import CommandSpec, TpmResponse, build_command, parse_response
from ppikit.tpm.tpm2 import TPM_CAP, TPM_PT, TPM_RH, TPM_SU, TPMA_PERMANENT, TPMA_STARTUP_CLEAR
from ppikit.tpm.tpm12 import TPM_ST
from ppikit.tpm.version import TpmVersion

#: The one thing a client needs: send a complete command, get the complete response.
Transport = Callable[[bytes], bytes]


class _Transmitting(Protocol):
    def transmit(self, command: bytes, locality: int) -> bytes: ...


def backend_transport(backend: _Transmitting, locality: int = 0) -> Transport:
    """A transport that sends straight to a backend (``backend.transmit(cmd, locality)``)."""
    return lambda command: backend.transmit(command, locality)


class TpmClient:
    """Family-independent part: build, send, parse.

    ``TpmClient(transport)`` alone offers :meth:`execute`; use :class:`Tpm2Client` or
    :class:`Tpm12Client` (or :func:`client_for`) for the named commands.
    """

    version: ClassVar[TpmVersion] = TpmVersion.UNSPEC

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def execute(self, spec: CommandSpec, *, handles: Iterable[int] = (), passwords: Iterable[bytes] | None = None,
                check: bool = True, **params: Any) -> TpmResponse:
        """Send ``spec`` with ``handles``, password sessions and parameters; return the parsed response.

        ``check=True`` raises :class:`TpmResponseError` for a non-zero response code. A response
        that does not parse raises :class:`LayoutError` naming the field.
        """
        command = build_command(spec, handles=tuple(handles),
                                passwords=None if passwords is None else tuple(passwords), **params)
        response = parse_response(spec, self.transport(command))
        return response.check() if check else response


@dataclass(frozen=True)
class PcrBank:
    """One entry of TPM_CAP_PCRS: a bank is *supported* if listed, *active* if any bit is set."""

    alg: int
    pcr_select: bytes

    @property
    def active(self) -> bool:
        return any(self.pcr_select)

    @property
    def pcrs(self) -> list[int]:
        return tpm2.pcrs_in_bitmap(self.pcr_select)


@dataclass(frozen=True)
class PcrValues:
    """TPM2_PCR_Read result: the update counter and ``{alg: {pcr: digest}}`` of what was read."""

    update_counter: int
    values: dict[int, dict[int, bytes]]


@dataclass(frozen=True)
class CreatedPrimary:
    """TPM2_CreatePrimary result: the transient handle, TPMT_PUBLIC parsed, and its raw bytes."""

    handle: int
    public: cs.Container
    public_bytes: bytes


class Tpm2Client(TpmClient):
    """TPM 2.0 commands. Authorized commands take ``password`` (a password session, default empty)."""

    version = TpmVersion.TPM_2_0

    def startup(self, startup_type: int = TPM_SU.CLEAR) -> None:
        self.execute(tpm2.STARTUP, startupType=startup_type)

    def shutdown(self, shutdown_type: int = TPM_SU.CLEAR) -> None:
        self.execute(tpm2.SHUTDOWN, shutdownType=shutdown_type)

    def self_test(self, full: bool = True) -> None:
        self.execute(tpm2.SELF_TEST, fullTest=int(full))

    def get_capability(self, capability: int, prop: int, count: int) -> tuple[bool, Any]:
        """Raw TPM2_GetCapability: ``(moreData, parsed capability data)``."""
        params = self.execute(tpm2.GET_CAPABILITY, capability=capability, property=prop,
                              propertyCount=count).params
        return bool(params.moreData), params.capabilityData.data

    def get_pcr_banks(self) -> list[PcrBank]:
        """TPM_CAP_PCRS: every supported bank with its current (active) PCR bitmap."""
        _, selections = self.get_capability(TPM_CAP.PCRS, 0, 1)
        return [PcrBank(s.hash, bytes(s.pcrSelect)) for s in selections]

    def get_tpm_properties(self, first: int, count: int = 1) -> dict[int, int]:
        """TPM_CAP_TPM_PROPERTIES from ``first``: ``{property: value}`` (at most ``count``)."""
        _, props = self.get_capability(TPM_CAP.TPM_PROPERTIES, first, count)
        return {p.property: p.value for p in props}

    def get_tpm_property(self, prop: int) -> int:
        values = self.get_tpm_properties(prop, 1)
        if prop not in values:
            raise LayoutError(f"TPM did not report property 0x{prop:X}", field="property")
        return values[prop]

    def get_permanent(self) -> TPMA_PERMANENT:
        """TPM_PT_PERMANENT: ownerAuthSet, endorsementAuthSet, lockoutAuthSet, disableClear, ..."""
        return TPMA_PERMANENT(self.get_tpm_property(TPM_PT.PERMANENT))

    def get_startup_clear(self) -> TPMA_STARTUP_CLEAR:
        """TPM_PT_STARTUP_CLEAR: phEnable, shEnable, ehEnable, phEnableNV, orderly."""
        return TPMA_STARTUP_CLEAR(self.get_tpm_property(TPM_PT.STARTUP_CLEAR))

    def get_random(self, count: int) -> bytes:
        return bytes(self.execute(tpm2.GET_RANDOM, bytesRequested=count).params.randomBytes)

    def read_clock(self) -> cs.Container:
        return self.execute(tpm2.READ_CLOCK).params

    def pcr_read(self, selection: Mapping[int, Iterable[int]]) -> PcrValues:
        """TPM2_PCR_Read of ``{alg: [pcr, ...]}`` (the TPM returns at most 8 digests per call)."""
        request = [{"hash": alg, "pcrSelect": tpm2.pcr_select_bitmap(list(pcrs))} for alg, pcrs in selection.items()]
        params = self.execute(tpm2.PCR_READ, pcrSelectionIn=request).params
        digests = iter(params.pcrValues)
        values = {s.hash: {pcr: bytes(next(digests)) for pcr in tpm2.pcrs_in_bitmap(s.pcrSelect)}
                  for s in params.pcrSelectionOut}
        return PcrValues(params.pcrUpdateCounter, values)

    def pcr_extend(self, pcr: int, digests: Mapping[int, bytes], password: bytes = b"") -> None:
        """TPM2_PCR_Extend of ``pcr`` with one digest per bank ``{alg: digest}``."""
        self.execute(tpm2.PCR_EXTEND, handles=[pcr], passwords=[password],
                     digests=[{"hashAlg": alg, "digest": d} for alg, d in digests.items()])

    def pcr_allocate(self, banks: Mapping[int, bytes], *, auth_handle: int = TPM_RH.PLATFORM,
                     password: bytes = b"") -> cs.Container:
        """TPM2_PCR_Allocate ``{alg: pcrSelect}``; returns allocationSuccess, maxPCR, sizes."""
        allocation = [{"hash": alg, "pcrSelect": select} for alg, select in banks.items()]
        return self.execute(tpm2.PCR_ALLOCATE, handles=[auth_handle], passwords=[password],
                            pcrAllocation=allocation).params

    def clear(self, *, auth_handle: int = TPM_RH.PLATFORM, password: bytes = b"") -> None:
        self.execute(tpm2.CLEAR, handles=[auth_handle], passwords=[password])

    def clear_control(self, disable: bool, *, auth_handle: int = TPM_RH.PLATFORM, password: bytes = b"") -> None:
        self.execute(tpm2.CLEAR_CONTROL, handles=[auth_handle], passwords=[password], disable=int(disable))

    def change_eps(self, *, password: bytes = b"") -> None:
        self.execute(tpm2.CHANGE_EPS, handles=[TPM_RH.PLATFORM], passwords=[password])

    def hierarchy_control(self, enable: int, state: bool, *, auth_handle: int = TPM_RH.PLATFORM,
                          password: bytes = b"") -> None:
        """Enable/disable hierarchy ``enable`` (TPM_RH_OWNER, _ENDORSEMENT, _PLATFORM, _PLATFORM_NV)."""
        self.execute(tpm2.HIERARCHY_CONTROL, handles=[auth_handle], passwords=[password],
                     enable=enable, state=int(state))

    def hierarchy_change_auth(self, auth_handle: int, new_auth: bytes, *, password: bytes = b"") -> None:
        self.execute(tpm2.HIERARCHY_CHANGE_AUTH, handles=[auth_handle], passwords=[password], newAuth=new_auth)

    def create_primary(self, hierarchy: int = TPM_RH.ENDORSEMENT, template: Mapping[str, Any] | None = None,
                       *, password: bytes = b"") -> CreatedPrimary:
        """TPM2_CreatePrimary (default: the EK-like ECC P-256 template under the endorsement hierarchy).

        The key is derived from the hierarchy's seed, so the same template gives the same public
        key until the seed changes (ChangeEPS / Clear). Flush the handle when done.
        """
        response = self.execute(
            tpm2.CREATE_PRIMARY, handles=[hierarchy], passwords=[password],
            inSensitive={"userAuth": b"", "data": b""},
            inPublic=dict(template if template is not None else tpm2.EK_ECC_P256_TEMPLATE),
            outsideInfo=b"", creationPCR=[])
        public = response.params.outPublic
        return CreatedPrimary(response.handles["objectHandle"], public, tpm2.TPMT_PUBLIC.build(public))

    def flush_context(self, handle: int) -> None:
        self.execute(tpm2.FLUSH_CONTEXT, flushHandle=handle)


class Tpm12Client(TpmClient):
    """TPM 1.2 physical-presence commands (no authorization sessions)."""

    version = TpmVersion.TPM_1_2

    def startup(self, startup_type: int = TPM_ST.CLEAR) -> None:
        self.execute(tpm12.STARTUP, startupType=startup_type)

    def physical_presence(self, value: int) -> None:
        """TSC_PhysicalPresence(``TPM_PHYSICAL_PRESENCE_*`` bits)."""
        self.execute(tpm12.PHYSICAL_PRESENCE, physicalPresence=value)

    def get_capability(self, cap_area: int, sub_cap: bytes) -> bytes:
        return bytes(self.execute(tpm12.GET_CAPABILITY, capArea=cap_area, subCap=sub_cap).params.resp)

    def _get_flags(self, sub_cap: int, schema: cs.Construct, names: tuple[str, ...]) -> dict[str, bool]:
        resp = self.get_capability(tpm12.TPM_CAP_FLAG, cs.Int32ub.build(sub_cap))
        try:
            flags = schema.parse(resp)
        except cs.ConstructError as exc:
            raise LayoutError(f"TPM_GetCapability flags: {exc}", field="resp") from None
        return {name: bool(flags[name]) for name in names}

    def get_permanent_flags(self) -> dict[str, bool]:
        """TPM_PERMANENT_FLAGS by spec name (disable, ownership, deactivated, ...)."""
        return self._get_flags(tpm12.TPM_CAP_FLAG_PERMANENT, tpm12.TPM_PERMANENT_FLAGS,
                               tpm12.PERMANENT_FLAG_NAMES)

    def get_stclear_flags(self) -> dict[str, bool]:
        """TPM_STCLEAR_FLAGS (deactivated, disableForceClear, physicalPresence, ...)."""
        return self._get_flags(tpm12.TPM_CAP_FLAG_VOLATILE, tpm12.TPM_STCLEAR_FLAGS, tpm12.STCLEAR_FLAG_NAMES)

    def set_capability(self, cap_area: int, sub_cap: bytes, value: bytes) -> None:
        self.execute(tpm12.SET_CAPABILITY, capArea=cap_area, subCap=sub_cap, setValue=value)

    def set_deferred_physical_presence(self, value: bool = True) -> None:
        """PPI op 12: SetCapability(TPM_SET_STCLEAR_DATA, TPM_SD_DEFERREDPHYSICALPRESENCE, value)."""
        self.set_capability(tpm12.TPM_SET_STCLEAR_DATA, cs.Int32ub.build(tpm12.TPM_SD_DEFERREDPHYSICALPRESENCE),
                            cs.Int32ub.build(int(value)))

    def physical_enable(self) -> None:
        self.execute(tpm12.PHYSICAL_ENABLE)

    def physical_disable(self) -> None:
        self.execute(tpm12.PHYSICAL_DISABLE)

    def physical_set_deactivated(self, state: bool) -> None:
        self.execute(tpm12.PHYSICAL_SET_DEACTIVATED, state=state)

    def force_clear(self) -> None:
        self.execute(tpm12.FORCE_CLEAR)

    def set_owner_install(self, state: bool) -> None:
        self.execute(tpm12.SET_OWNER_INSTALL, state=state)

    def continue_self_test(self) -> None:
        self.execute(tpm12.CONTINUE_SELF_TEST)


def client_for(transport: Transport, version: TpmVersion) -> Tpm2Client | Tpm12Client:
    """The client class for a TPM family (e.g. ``client_for(t, backend.version)``)."""
    clients: dict[TpmVersion, type[Tpm2Client] | type[Tpm12Client]] = {
        TpmVersion.TPM_2_0: Tpm2Client, TpmVersion.TPM_1_2: Tpm12Client}
    try:
        return clients[version](transport)
    except KeyError:
        raise UsageError(f"no TPM client for version {version!r}") from None


__all__ = ["CreatedPrimary", "PcrBank", "PcrValues", "Tpm12Client", "Tpm2Client", "TpmClient", "Transport",
           "backend_transport", "client_for"]
