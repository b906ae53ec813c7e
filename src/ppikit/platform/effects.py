"""What a PPI operation did to the TPM, measured on the TPM itself.

Firmware models report a response code; these probes check the claim independently, through the
same TIS/CRB path an OS driver uses: whether the owner hierarchy has an authorization value (gone
after Clear), which PCR banks are active (changed by SetPCRBanks at the next TPM2_Startup), a digest
of the endorsement primary key (different after ChangeEPS), and the TPM 1.2 permanent flags.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any

from ppikit.tpm.client import Tpm2Client, Tpm12Client, client_for
from ppikit.tpm.tpm2 import TPM_ALG, TPM_RH, TPMA_PERMANENT
from ppikit.tpm.version import TpmVersion

#: Flags worth showing for a TPM 1.2 (TPM_PERMANENT_FLAGS names).
TPM12_SHOWN_FLAGS = ("disable", "deactivated", "ownership", "physicalPresenceCMDEnable",
                     "physicalPresenceLifetimeLock")


@dataclass(frozen=True)
class TpmFacts:
    """A TPM's observable state, as far as the PPI operations change it."""

    version: TpmVersion
    owner_auth_set: bool | None = None
    active_banks: tuple[str, ...] = ()
    supported_banks: tuple[str, ...] = ()
    endorsement_key: str | None = None  #: first 16 hex digits of SHA-256(EK public area)
    flags: dict[str, bool] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["version"] = self.version.label
        return data

    def changes(self, after: TpmFacts) -> list[str]:
        """Human lines for each fact that differs in ``after``."""
        lines = []
        for name in ("owner_auth_set", "active_banks", "endorsement_key"):
            old, new = getattr(self, name), getattr(after, name)
            if old != new:
                lines.append(f"{name}: {_show(old)} -> {_show(new)}")
        for flag in sorted(set(self.flags) | set(after.flags)):
            if self.flags.get(flag) != after.flags.get(flag):
                lines.append(f"{flag}: {self.flags.get(flag)} -> {after.flags.get(flag)}")
        return lines


def _show(value: object) -> str:
    if isinstance(value, tuple):
        return "+".join(value) or "none"
    return str(value)


def bank_name(alg: int) -> str:
    try:
        return TPM_ALG(alg).name.lower()
    except ValueError:
        return f"0x{alg:04X}"


def probe(transmit: Any, version: TpmVersion) -> TpmFacts:
    """Read the facts through ``transmit`` (a driver's ``transmit``); the TPM must be started."""
    client = client_for(transmit, version)
    if isinstance(client, Tpm12Client):
        flags = client.get_permanent_flags()
        return TpmFacts(version, flags={k: flags[k] for k in TPM12_SHOWN_FLAGS if k in flags})
    assert isinstance(client, Tpm2Client)
    banks = client.get_pcr_banks()
    owner = bool(client.get_permanent() & TPMA_PERMANENT.ownerAuthSet)
    return TpmFacts(version, owner_auth_set=owner,
                    active_banks=tuple(bank_name(b.alg) for b in banks if b.active),
                    supported_banks=tuple(bank_name(b.alg) for b in banks),
                    endorsement_key=endorsement_key_digest(client))


def endorsement_key_digest(client: Tpm2Client) -> str:
    """SHA-256 of the public area of the EK-like primary (derived from the endorsement seed)."""
    primary = client.create_primary(TPM_RH.ENDORSEMENT)
    try:
        return hashlib.sha256(primary.public_bytes).hexdigest()[:16]
    finally:
        client.flush_context(primary.handle)


def set_owner_auth(transmit: Any, auth: bytes) -> None:
    """What an OS does when it takes ownership: TPM2_HierarchyChangeAuth(owner, auth)."""
    Tpm2Client(transmit).hierarchy_change_auth(TPM_RH.OWNER, auth)
