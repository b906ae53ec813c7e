"""Replaying what real OVMF did (tests/data/ovmf-2022.11/observed.json) on ppikit's ``ovmf`` model.

Shared by tests/ppi/test_ovmf_observed.py (the suite: model vs the recorded file, swtpm only) and
tools/ovmf_observed.py (which records the file by booting real OVMF on QEMU, then compares). Both
sides are reduced to the same summary -- page fields, func[] as {value: [ops]}, reset or not, the
prompts' accept keys and kinds, the SetPCRBanks bitmaps, and the TPM's state after the boot -- so a
difference means the model behaves differently, not that the two were summarised differently.

edk2's prompt text is not stored: a prompt is reduced to a kind label from a few keywords.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ppikit.device.backends.swtpm import SwtpmBackend
from ppikit.ppi.firmware.base import RecordingPolicy, accept, reject
from ppikit.ppi.firmware.ovmf import OvmfFirmware
from ppikit.ppi.page import FIELD_OFFSETS, TPM_PPI_ADDR_BASE, PpiPage
from ppikit.platform.effects import probe, set_owner_auth
from ppikit.tpm.client import Tpm2Client, backend_transport
from ppikit.tpm.version import TpmVersion

OBSERVED_FILE = Path(__file__).resolve().parent.parent / "data" / "ovmf-2022.11" / "observed.json"

#: EFI_TCG2_BOOT_HASH_ALG bits by the names both prompts use.
BANK_BITS = {"SHA1": 0x1, "SHA256": 0x2, "SHA384": 0x4, "SHA512": 0x8, "SM3_256": 0x10}

#: Page fields compared between the real firmware and the model.
COMPARED_FIELDS = ("ppin", "ppip", "pprp", "pprq", "pprm", "lppr", "fret", "next_step", "movv", "func",
                   "res1_nonzero", "reserved_nonzero")

#: The owner auth the probe sets before the boot, so that a Clear shows as ownerAuthSet going away.
PROBE_OWNER_AUTH = b"ppikit-ovmf-observed"


def load_observed(path: Path = OBSERVED_FILE) -> dict[str, Any]:
    """The recorded document: ``about``, ``packages``, ``firmware`` and the list of ``cases``."""
    return json.loads(path.read_text())


# -- prompts ---------------------------------------------------------------------------------------
def prompt_kind(text: str) -> str:
    """A label for which prompt it was, from a few keywords of either side's wording."""
    low = text.lower()
    if "sid" in low:
        return ("disable" if "disabl" in low else "enable") + "-block-sid"
    if "pcr" in low:
        return "set-pcr-banks"
    if "identity" in low:  # OVMF: "clear and change identity of"; ppikit: "... change its identity"
        return "change-eps"
    if "clear" in low:
        return "enable-clear" if "enabl" in low or "activat" in low else "clear"
    return "other"


def prompt_banks(text: str, model: bool) -> dict[str, int] | None:
    """SetPCRBanks prompts name the current and the new bank bitmap: both as ints."""
    if model:  # ppikit: "Current PCR banks: SHA1|SHA256; new PCR banks: SHA256."
        found = re.search(r"Current PCR banks: ([^;]*); new PCR banks: ([^.]*)\.", text)
        if not found:
            return None
        return {which: sum(BANK_BITS.get(name, 0) for name in found.group(i).split("|"))
                for i, which in ((1, "current"), (2, "new"))}
    values = re.findall(r"\b0x([0-9A-Fa-f]+)\b", text)  # OVMF: the two bitmaps in hex, in that order
    if len(values) < 2:
        return None
    return {"current": int(values[0], 16), "new": int(values[1], 16)}


def describe_prompt(text: str, accept_key: str, *, model: bool = False) -> dict[str, Any]:
    """One prompt as recorded: its keys, its kind, the banks of a SetPCRBanks prompt, and (for the
    real firmware) a short hash of the text, to tell wording changes apart without storing it."""
    described: dict[str, Any] = {"shown": True, "accept_key": accept_key, "reject_key": "ESC",
                                 "kind": prompt_kind(text)}
    if described["kind"] == "set-pcr-banks":
        described["banks"] = prompt_banks(text, model)
    if not model:
        described["text_sha256_12"] = hashlib.sha256(" ".join(text.split()).encode()).hexdigest()[:12]
    return described


# -- the TPM before and after (TPM 2.0 cases) ------------------------------------------------------
def _summary(transmit: Callable[[bytes], bytes]) -> dict[str, Any]:
    """ppikit's own effect probe, reduced to what is recorded: ownerAuthSet, the active banks as an
    EFI_TCG2_BOOT_HASH_ALG bitmap (as the prompts show them), and the EK digest (not recorded)."""
    facts = probe(transmit, TpmVersion.TPM_2_0)
    return {"owner_auth_set": facts.owner_auth_set,
            "active_banks": sum(BANK_BITS.get(name.upper(), 0) for name in facts.active_banks),
            "ek": facts.endorsement_key}


def tpm_prepare(backend: SwtpmBackend) -> dict[str, Any]:
    """Before the boot: give the owner hierarchy an auth value, note the EK and the active banks.

    So that after the boot Clear (ownerAuthSet gone), ChangeEPS (another EK) and PCR_Allocate
    (other active banks) can be seen on the TPM itself. Ends with TPM2_Shutdown(CLEAR)."""
    backend.startup(4096)
    transmit = backend_transport(backend)
    tpm = Tpm2Client(transmit)
    tpm.startup()
    set_owner_auth(transmit, PROBE_OWNER_AUTH)
    before = _summary(transmit)
    tpm.shutdown()
    return before


def tpm_inspect(backend: SwtpmBackend, before: dict[str, Any]) -> dict[str, Any]:
    """After the boot (machine reset + TPM2_Startup(CLEAR), as the next boot would see it)."""
    backend.startup(4096)
    transmit = backend_transport(backend)
    Tpm2Client(transmit).startup()
    after = _summary(transmit)
    return {"owner_auth_set": after["owner_auth_set"], "active_banks": after["active_banks"],
            "ek_changed": after["ek"] != before["ek"]}


# -- the page --------------------------------------------------------------------------------------
def summarize_page(data: bytes) -> dict[str, Any]:
    """The 0x400-byte page as recorded: named fields, func[] as {value: [ops]}, stray reserved bytes."""
    page = PpiPage.parse(data)
    func: dict[str, list[int]] = {}
    for op, value in enumerate(page.func):
        if value:
            func.setdefault(str(value), []).append(op)
    res1_at, _ = FIELD_OFFSETS["res1"]
    rest_at, _ = FIELD_OFFSETS["reserved"]
    return {
        "ppin": page.ppin, "ppip": page.ppip, "pprp": page.pprp, "pprq": page.pprq, "pprm": page.pprm,
        "lppr": page.lppr, "fret": page.fret, "next_step": page.next_step, "movv": page.movv,
        "func": func,
        "res1_nonzero": [f"0x{res1_at + i:03X}" for i, b in enumerate(page.res1) if b],
        "reserved_nonzero": [f"0x{rest_at + i:03X}" for i, b in enumerate(page.reserved) if b],
    }


# -- the model on a recorded case ------------------------------------------------------------------
def run_model(entry: dict[str, Any], machine_cls: Callable[..., Any]) -> dict[str, Any]:
    """ppikit's OvmfFirmware, one boot, on the page the case wrote, answering as the case did,
    with the same TPM preparation and inspection as the real run.

    ``machine_cls`` is tests/ppi/conftest.py's ``FirmwareMachine`` (TIS/CRB driver and register
    model in front of a fresh swtpm started here)."""
    written = entry["page_written"]
    page = PpiPage.blank()
    page.ppin, page.pprq, page.pprm = written["ppin"], written["pprq"], written["pprm"]
    version = TpmVersion.TPM_2_0 if entry["tpm_version"] == "2.0" else TpmVersion.TPM_1_2
    # the real run answers an unexpected prompt with ESC, so the model rejects unless told to accept
    policy = RecordingPolicy(accept if entry["answer"] == "accept" else reject)
    with SwtpmBackend(version) as backend:
        before = tpm_prepare(backend) if entry.get("tpm_before") is not None else None
        machine = machine_cls(backend, interface=entry["interface"])  # its construction = power-on reset
        try:
            machine.memory.write(TPM_PPI_ADDR_BASE, page.build())
            outcome = machine.boot(OvmfFirmware(), policy)
            data = machine.raw_page()
        finally:
            machine.device.close()
        after = tpm_inspect(backend, before) if before is not None else None
    return {
        "prompt": [describe_prompt(p.text, p.accept_key, model=True) for p in policy.seen],
        "keys_sent": [p.accept_key if entry["answer"] == "accept" else p.reject_key for p in policy.seen],
        "reset": outcome.reset_requested,
        "page_after": summarize_page(data),
        "tpm_after": after,
    }


Difference = tuple[str, Any, Any]


def differences(entry: dict[str, Any], model: dict[str, Any]) -> tuple[list[Difference], list[Difference]]:
    """(behaviour differences, prompt-content notes) between an observed entry and the model's run,
    each as (what, observed, model)."""
    behaviour: list[Difference] = []
    notes: list[Difference] = []
    obs_keys = [p["accept_key"] for p in entry["prompt"]]
    mod_keys = [p["accept_key"] for p in model["prompt"]]
    if obs_keys != mod_keys:
        behaviour.append(("prompt accept key(s)", obs_keys or "no prompt", mod_keys or "no prompt"))
    if entry["reset"] != model["reset"]:
        behaviour.append(("reset", entry["reset"], model["reset"]))
    for name in COMPARED_FIELDS:
        observed, modelled = entry["page_after"][name], model["page_after"][name]
        if observed != modelled:
            behaviour.append((name, observed, modelled))
    if entry.get("tpm_after") is not None:
        for name, observed in entry["tpm_after"].items():
            modelled = (model["tpm_after"] or {}).get(name)
            if observed != modelled:
                behaviour.append((f"TPM after: {name}", observed, modelled))
    for obs, mod in zip(entry["prompt"], model["prompt"]):
        for name in ("kind", "banks"):
            if obs.get(name) != mod.get(name):
                notes.append((f"prompt {name}", obs.get(name), mod.get(name)))
    return behaviour, notes
