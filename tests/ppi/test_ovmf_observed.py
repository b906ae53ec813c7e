"""The ``ovmf`` model replays what real OVMF 2022.11 did on QEMU 7.2 with swtpm, case by case.

tests/data/ovmf-2022.11/observed.json was recorded by tools/ovmf_observed.py: per case one boot of
the real firmware with a request written into QEMU's PPI page before the first instruction, the
prompt answered with the key OVMF names (or ESC), and the page and the TPM read back afterwards
(PROVENANCE.md there). Here the model boots on the same page, behind the same interface, in front
of a fresh swtpm, answering the same way; the page, the reset decision, the prompts (accept key,
kind, SetPCRBanks bitmaps) and the TPM's state afterwards must all be what the real firmware left.
No QEMU or OVMF is needed to run this: only swtpm.
"""

from __future__ import annotations

import pytest
from ovmf_observed_support import differences, load_observed, run_model

DOCUMENT = load_observed()
CASES = {entry["case"]: entry for entry in DOCUMENT["cases"]}

#: Every case the tool records (tools/ovmf_observed.py CASES): a regenerated file that lost one fails.
EXPECTED_CASES = (
    "tis2-op0-no-request", "tis2-op5-accept", "tis2-op5-reject", "tis2-op14-accept", "tis2-op22-accept",
    "tis2-op24-accept", "tis2-op23-param3-accept", "tis2-op23-param0-accept", "tis2-op33",
    "tis2-op96-accept", "tis2-op97-reject", "tis2-op21-reject", "tis2-op97-accept", "tis2-op2",
    "tis2-op34", "tis2-op35", "tis2-op40", "tis2-op128", "tis2-ppin0-op5-accept", "crb2-op5-accept",
    "crb2-op24-accept", "tis12-no-request", "tis12-op5",
)


def test_recording_is_complete_and_names_its_versions():
    assert tuple(CASES) == EXPECTED_CASES
    assert [name for name, entry in CASES.items() if entry.get("error")] == []
    assert DOCUMENT["packages"] == {"libtpms0": "0.9.2-3.1+deb12u1", "ovmf": "2022.11-6+deb12u2",
                                    "qemu-system-x86": "1:7.2+dfsg-7+deb12u18+b3", "swtpm": "0.7.1-1.3"}


@pytest.mark.parametrize("name", EXPECTED_CASES)
def test_model_does_what_real_ovmf_did(name, make_machine):
    entry = CASES[name]
    model = run_model(entry, make_machine)
    behaviour, prompt_notes = differences(entry, model)
    assert behaviour == [], f"{name}: (what, real OVMF, model) {behaviour}"
    assert prompt_notes == [], f"{name}: (what, real OVMF, model) {prompt_notes}"


# A few recorded facts spelled out, so that the file cannot silently drift into agreeing with a
# broken model: these are what OVMF 2022.11 did, as hex where the page holds a 32-bit code.
@pytest.mark.parametrize(("name", "pprp", "lppr", "reset", "keys"), [
    ("tis2-op5-accept", 0x00000000, 5, True, ["F12"]),          # Clear accepted: success, cold reset
    ("tis2-op5-reject", 0xFFFFFFF0, 5, False, ["ESC"]),         # rejected: USER_ABORT, boot continues
    ("tis2-op23-param0-accept", 0xFFFFFFF1, 23, True, ["F12"]),  # no bank selected: BIOS_FAILURE, reset
    ("tis2-op96-accept", 0xFFFFFFF1, 96, True, ["F10"]),         # Block SID: F10, nothing to do it with
    ("tis2-op34", 0x00000000, 34, False, []),                    # valid number, no action: "success"
    ("tis2-op35", 0xFFFFFFF1, 35, False, []),                    # past NO_ACTION_MAX: BIOS_FAILURE
    ("tis2-ppin0-op5-accept", 0x00000000, 0, False, []),         # uninitialised page: request dropped
])
def test_recorded_facts(name, pprp, lppr, reset, keys):
    entry = CASES[name]
    assert (entry["page_after"]["pprp"], entry["page_after"]["lppr"], entry["page_after"]["pprq"]) == (pprp, lppr, 0)
    assert (entry["reset"], entry["keys_sent"]) == (reset, keys)
