"""End to end on real parts: Linux-like OS in acpiexec -> PPI page -> reboot -> firmware -> TIS/CRB
-> swtpm -> OS reads the result. Effects are checked on the TPM, not assumed."""

import pytest

from ppikit.errors import UsageError
from ppikit.platform.platform import PlatformConfig
from ppikit.platform.simulate import Request, simulate
from ppikit.ppi.firmware.base import reject, timeout

TPM2_TIS = PlatformConfig.create(interface="tis", tpm="2.0")
TPM2_CRB = PlatformConfig.create(interface="crb", tpm="2.0")



def page_fields(result):
    page = result.page
    return {"pprq": page.pprq, "pprm": page.pprm, "lppr": page.lppr, "pprp": page.pprp, "ppin": page.ppin}


@pytest.mark.parametrize("config", [TPM2_TIS, TPM2_CRB], ids=["tis", "crb"])
def test_clear_accepted_clears_owner_auth(config):
    result = simulate(config, Request(5))
    assert result.write == {"written": 2}  # "5\n"
    assert result.response == "5 0: Success"
    assert result.sysfs["request"] == "0\n"
    assert result.before.owner_auth_set is True
    assert result.after.owner_auth_set is False
    # OVMF 2022.11 observed: pprq 0, pprm 0, lppr 5, pprp 0 after F12.
    assert page_fields(result) == {"pprq": 0, "pprm": 0, "lppr": 5, "pprp": 0, "ppin": 1}
    # power-on boot, the boot that processed Clear (and asked for a reset), the boot after it.
    assert result.boots == 3
    texts = [e.text for e in result.timeline]
    assert "user pressed F12" in [f"{e.actor} {e.text}" for e in result.timeline]
    assert texts.index("executing 5 (Clear): ClearControl(NO) + Clear") < texts.index(
        "rebooting to make the TPM settings take effect")


def test_clear_rejected_leaves_tpm_untouched():
    result = simulate(TPM2_TIS, Request(5), confirm=reject)
    assert result.response == "5 0xFFFFFFF0: User Abort"
    assert result.after.owner_auth_set is True
    assert result.before == result.after
    # OVMF 2022.11 observed after ESC: pprq 0, lppr 5, pprp 0xFFFFFFF0, no reboot.
    assert page_fields(result) == {"pprq": 0, "pprm": 0, "lppr": 5, "pprp": 0xFFFFFFF0, "ppin": 1}
    assert result.boots == 2


def test_prompt_timeout_is_an_abort():
    result = simulate(TPM2_TIS, Request(24), confirm=timeout(180))
    assert result.response == "24 0xFFFFFFF0: User Abort"
    assert result.before.endorsement_key == result.after.endorsement_key


def test_set_pcr_banks_changes_the_active_banks():
    result = simulate(TPM2_TIS, Request(23, 2))  # SHA256 only
    assert result.sysfs["response"] == "23 0: Success\n"
    # A fresh swtpm 0.7.1 (no swtpm_setup) has every supported bank active.
    assert result.before.active_banks == ("sha1", "sha256", "sha384", "sha512")
    assert result.after.active_banks == ("sha256",)


def test_change_eps_changes_the_endorsement_key():
    result = simulate(TPM2_CRB, Request(24))
    assert result.response == "24 0: Success"
    assert result.before.endorsement_key != result.after.endorsement_key


def test_op_not_allowed_by_func_is_refused_by_the_os():
    # OVMF leaves func[2] = 0, so QEMU's AML answers fn 7 with 1 and Linux returns EPERM.
    result = simulate(TPM2_TIS, Request(2))
    assert result.write["errno"] == "EPERM"
    assert result.response == "0: No Recent Request"
    assert result.before == result.after


def test_tpm12_two_boot_op_completes_across_reboots():
    result = simulate(PlatformConfig.create(interface="tis", tpm="1.2"), Request(21))  # Enable+Activate+Clear
    assert result.response == "21 0: Success"
    # A fresh swtpm 0.7.1 TPM 1.2 (no swtpm_setup) is enabled and activated; TPM_ForceClear in the
    # second boot leaves it disabled and deactivated, as the TPM 1.2 spec says of a clear.
    assert (result.before.flags["disable"], result.before.flags["deactivated"]) == (False, False)
    assert (result.after.flags["disable"], result.after.flags["deactivated"]) == (True, True)
    assert result.after.flags["physicalPresenceCMDEnable"] is True  # firmware enabled the PP command
    # power on, boot A (enable+activate, reset), boot B (ForceClear, reset), boot to the OS.
    assert result.boots == 4
    firmware_lines = [e.text for e in result.timeline if e.actor == "firmware"]
    assert "operation continues after the reset" in " ".join(firmware_lines)
    assert page_fields(result) == {"pprq": 0, "pprm": 0, "lppr": 21, "pprp": 0, "ppin": 1}
    assert result.page.next_step == 0


@pytest.mark.parametrize(
    "text,op,param",
    [("5", 5, None), ("23:3", 23, 3), ("23 3", 23, 3), ("0x17:0x2", 23, 2)],
)
def test_request_parsing(text, op, param):
    assert Request.parse(text) == Request(op, param)


@pytest.mark.parametrize("text", ["", "x", "5:", "1:2:3", "-1", "4294967296"])
def test_bad_request_text(text):
    with pytest.raises(UsageError, match="request"):
        Request.parse(text)


def test_crb_needs_tpm2():
    with pytest.raises(UsageError, match="CRB is a TPM 2.0 interface"):
        PlatformConfig.create(interface="crb", tpm="1.2")
    with pytest.raises(UsageError, match="unknown firmware 'bios'"):
        PlatformConfig.create(firmware="bios")
    with pytest.raises(UsageError, match="unknown interface 'spi'"):
        PlatformConfig.create(interface="spi")


def test_ovmf_in_front_of_a_tpm12_offers_no_ppi():
    # Upstream OVMF has PPI for TPM 2.0 only: func[] stays 0, Linux's write fails with EPERM, and the
    # TPM 1.2 is never started (its state is not readable), as firmware-and-os.md §6.3 says.
    result = simulate(PlatformConfig.create(tpm="1.2", firmware="ovmf"), Request(5))
    assert result.write["errno"] == "EPERM"
    assert result.sysfs["tcg_operations"] == ""
    assert result.response == "0: No Recent Request"
    assert result.before is None and result.after is None
    assert any(e.text.startswith("state not readable: TPM_GetCapability failed: TPM_INVALID_POSTINIT")
               for e in result.timeline)


def test_tpm12_firmware_in_front_of_a_tpm2_never_starts_it():
    result = simulate(PlatformConfig.create(tpm="2.0", firmware="edk2-tpm12"), Request(5))
    assert result.write["errno"] == "EPERM"  # the TPM 1.2 model refuses a TPM 2.0 fw_cfg record: no func[]
    texts = [e.text for e in result.timeline]
    assert any(t.startswith("cannot take ownership: TPM2_HierarchyChangeAuth failed: TPM_RC_INITIALIZE") for t in texts)
    assert result.before is None and result.after is None
