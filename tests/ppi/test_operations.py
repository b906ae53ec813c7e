"""The operation catalogue against the tables it encodes (firmware-and-os.md §3, §4, §7)."""

import pytest

from ppikit.errors import UsageError
from ppikit.ppi.operations import OpKind, catalogue, listed, lookup, response_text
from ppikit.tpm.version import TpmVersion

TPM2 = TpmVersion.TPM_2_0
TPM12 = TpmVersion.TPM_1_2


@pytest.mark.parametrize("tpm", [TPM2, TPM12])
def test_every_number_has_one_entry(tpm):
    ops = catalogue(tpm)
    assert [op.number for op in ops] == list(range(256))
    assert all(op.tpm == tpm for op in ops)
    assert {op.kind for op in ops[128:]} == {OpKind.VENDOR}


def test_tpm2_defined_set():
    defined = [op.number for op in catalogue(TPM2) if op.kind is OpKind.DEFINED]
    assert defined == [0, 1, 2, 5, 14, 17, 18, *range(21, 35), 96, 97, 98, 99, 100, 101]
    assert {op.number for op in catalogue(TPM2)[35:96]} <= {*range(35, 96)}
    assert {op.kind for op in catalogue(TPM2)[35:96]} == {OpKind.RESERVED}
    assert {op.kind for op in catalogue(TPM2)[102:128]} == {OpKind.RESERVED}
    assert lookup(TPM2, 3).kind is OpKind.TPM12_ONLY and lookup(TPM2, 3).name == "TPM 1.2 only: Activate"


def test_only_set_pcr_banks_takes_a_parameter():
    assert [op.number for op in catalogue(TPM2) if op.takes_parameter] == [23]
    assert [op.number for op in catalogue(TPM12) if op.takes_parameter] == []
    assert lookup(TPM2, 23).name == "SetPCRBanks"


def test_tpm2_reboot_set_is_ovmfs():
    # OVMF Tcg2PhysicalPresenceLibQemu resets after these (firmware-and-os.md §2.3 step 8).
    assert {op.number for op in catalogue(TPM2) if op.reboot} == {5, 14, 21, 22, 23, 24, 33, 96, 97}


def test_tpm2_default_confirmation_follows_flags_0x700E2():
    required = {op.number for op in catalogue(TPM2) if op.pp_required}
    assert required == {2, 5, 14, 18, 21, 22, 23, 24, 25, 27, 29, 31, 34, 96, 97, 99, 101}
    assert lookup(TPM2, 0).pp_required is False and lookup(TPM2, 33).pp_required is False
    assert lookup(TPM2, 200).pp_required is None


def test_tpm12_table():
    ops = catalogue(TPM12)
    assert [op.number for op in ops if op.kind is OpKind.DEFINED] == list(range(23))
    assert {op.number for op in ops if op.reboot} == {3, 4, 5, 6, 7, 10, 11, 12, 14, 21, 22}
    assert {op.number for op in ops if op.boots == 2} == {10, 21, 22}
    # edk2 DxeTcgPhysicalPresenceLib with the default flags (NoPPIProvision only).
    assert {op.number for op in ops if op.pp_required} == {5, 12, 14, 16, 18, 20, 21, 22}
    assert lookup(TPM12, 22).name == "Enable + Activate + Clear + Enable + Activate"
    assert lookup(TPM12, 23).kind is OpKind.RESERVED


def test_listed_filters():
    assert len(listed(TPM2)) == 27  # 0,1,2,5,14,17,18, 21..34, 96..101
    assert len(listed(TPM12)) == 23
    assert len(listed(TPM2, include_all=True)) == 256


@pytest.mark.parametrize("bad", [-1, 256, "5", True, None])
def test_lookup_out_of_range(bad):
    with pytest.raises(UsageError, match="outside 0..255"):
        lookup(TPM2, bad)


def test_catalogue_needs_a_family():
    with pytest.raises(UsageError, match="TPM 1.2 or 2.0"):
        catalogue(TpmVersion.UNSPEC)


@pytest.mark.parametrize(
    "pprp,text",
    [(0, "Success"), (0xFFFFFFF0, "User Abort"), (0xFFFFFFF1, "BIOS Failure"), (1, "TPM error"),
     (0xFFF, "TPM error"), (0x1000, "Error"), (0xFFFFFFF2, "Error")],
)
def test_response_text(pprp, text):
    assert response_text(pprp) == text
