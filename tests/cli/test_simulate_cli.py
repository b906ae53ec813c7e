"""``ppikit demo`` and ``ppikit simulate`` as a user runs them."""

import json


def test_demo_is_the_readme_main_job(ppikit):
    r = ppikit("demo")
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[0] == "platform: TIS + TPM 2.0 (swtpm), firmware ovmf, qemu-profile SSDT"
    assert lines[-2] == "OS reads /sys/class/tpm/tpm0/ppi/response: 5 0: Success"
    assert lines[-1] == "owner authorization: set before, cleared after -- verified on the TPM"
    body = "\n".join(lines)
    for step in ("echo 5 > /sys/class/tpm/tpm0/ppi/request  (Clear): ok", "user      pressed F12",
                 "TPM2_Clear -> TPM_RC_SUCCESS", "owner_auth_set: True -> False"):
        assert step in body


def test_simulate_reject_json(ppikit):
    r = ppikit("simulate", "--request", "5", "--confirm", "reject", "--json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert data["response"] == "5 0xFFFFFFF0: User Abort"
    assert data["tpm_changes"] == []
    assert data["page"]["lppr"] == 5 and data["page"]["pprq"] == 0 and data["page"]["pprp"] == 0xFFFFFFF0


def test_simulate_set_pcr_banks_on_crb(ppikit):
    r = ppikit("simulate", "--interface", "crb", "--request", "23:3")
    assert r.code == 0, r.err
    assert "active_banks: sha1+sha256+sha384+sha512 -> sha1+sha256" in r.out
    assert r.out.splitlines()[-1] == "OS reads /sys/class/tpm/tpm0/ppi/response: 23 0: Success"


def test_simulate_bad_input(ppikit):
    ppikit("simulate", "--request", "five").assert_one_line_error(r"request 'five': expected OP or OP:PARAM")
    ppikit("simulate", "--interface", "crb", "--tpm", "1.2", "--request", "5").assert_one_line_error(
        r"CRB is a TPM 2.0 interface")
    ppikit("simulate").assert_one_line_error(r"Missing option '--request'")
