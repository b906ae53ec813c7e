"""TPM 1.2 command bytes and the permanent-flags layout, as hex literals."""

from __future__ import annotations

import construct as cs
import pytest

from ppikit.tpm import tpm12
from ppikit.tpm.command import build_command, parse_response
from ppikit.tpm.tpm12 import TPM_PHYSICAL_PRESENCE as PP
from ppikit.tpm.tpm12 import TPM_ST


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


@pytest.mark.parametrize(("command", "wire"), [
    (build_command(tpm12.STARTUP, startupType=TPM_ST.CLEAR), "00c1 0000000c 00000099 0001"),
    # edk2's pre-step: CMD_ENABLE, PRESENT; post-step NOTPRESENT|LOCK (0x14)
    (build_command(tpm12.PHYSICAL_PRESENCE, physicalPresence=PP.CMD_ENABLE), "00c1 0000000c 4000000a 0020"),
    (build_command(tpm12.PHYSICAL_PRESENCE, physicalPresence=PP.PRESENT), "00c1 0000000c 4000000a 0008"),
    (build_command(tpm12.PHYSICAL_PRESENCE, physicalPresence=PP.NOTPRESENT | PP.LOCK), "00c1 0000000c 4000000a 0014"),
    (build_command(tpm12.GET_CAPABILITY, capArea=tpm12.TPM_CAP_FLAG, subCap=h("00000108")),
     "00c1 00000016 00000065 00000004 00000004 00000108"),
    (build_command(tpm12.PHYSICAL_ENABLE), "00c1 0000000a 0000006f"),
    (build_command(tpm12.PHYSICAL_DISABLE), "00c1 0000000a 00000070"),
    (build_command(tpm12.PHYSICAL_SET_DEACTIVATED, state=True), "00c1 0000000b 00000072 01"),
    (build_command(tpm12.FORCE_CLEAR), "00c1 0000000a 0000005d"),
    (build_command(tpm12.SET_OWNER_INSTALL, state=False), "00c1 0000000b 00000071 00"),
    (build_command(tpm12.CONTINUE_SELF_TEST), "00c1 0000000a 00000053"),
    # PPI op 12: SetCapability(TPM_SET_STCLEAR_DATA, TPM_SD_DEFERREDPHYSICALPRESENCE, 1)
    (build_command(tpm12.SET_CAPABILITY, capArea=tpm12.TPM_SET_STCLEAR_DATA, subCap=h("00000006"),
                   setValue=h("00000001")),
     "00c1 0000001e 0000003f 00000004 00000004 00000006 00000004 00000001"),
])
def test_command_bytes(command: bytes, wire: str) -> None:
    assert command == h(wire)


def test_permanent_flags_of_fresh_swtpm() -> None:
    # swtpm 0.7.1 TPM 1.2 answer to GetCapability(TPM_CAP_FLAG, PERMANENT): 22-byte TPM_PERMANENT_FLAGS
    reply = h("00c4 00000024 00000000 00000016 001f 00 01 00 01 00 01 00 00 00 00 00 00 00 00 01 00 00 00 00 00")
    resp = parse_response(tpm12.GET_CAPABILITY, reply).params.resp
    flags = tpm12.TPM_PERMANENT_FLAGS.parse(resp)
    assert {name for name in tpm12.PERMANENT_FLAG_NAMES if flags[name]} == {
        "ownership", "readPubek", "allowMaintenance", "enableRevokeEK"}


def test_permanent_flags_tag_is_checked() -> None:
    with pytest.raises(cs.ConstError):
        tpm12.TPM_PERMANENT_FLAGS.parse(h("0020") + bytes(20))
