"""A hypothesis state machine over the whole platform: random OS requests (through the Linux client
on the real AML), confirmations, reboots (OVMF through TIS into swtpm) and MOR writes, checked
against the invariants of the PPI flow."""

import re

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from ppikit.aml.params import MOR_DSM_UUID
from ppikit.platform.platform import Platform, PlatformConfig
from ppikit.ppi.firmware.base import ConfirmAnswer
from ppikit.ppi.operations import (
    TCG_PP_OPERATION_RESPONSE_BIOS_FAILURE,
    TCG_PP_OPERATION_RESPONSE_SUCCESS,
    TCG_PP_OPERATION_RESPONSE_USER_ABORT,
)
from ppikit.ppi.os_linux import SysfsError, attach
from ppikit.tpm.version import TpmVersion

RAM_BASE = 0x100000
#: TPM commands that change TPM state on behalf of a PPI operation (OVMF's actions).
ACTION_COMMANDS = ("TPM2_ClearControl", "TPM2_Clear", "TPM2_PCR_Allocate", "TPM2_ChangeEPS")
#: What each Linux sysfs file may contain (one line each, or nothing for vs_operations).
SYSFS_GRAMMAR = {
    "version": r"1\.3\n",
    "request": r"\d+( \d+)?\n",
    "response": r"(0: No Recent Request|\d+ (0: Success|0xFFFFFFF0: User Abort|0xFFFFFFF1: BIOS Failure"
                r"|\d+: Corresponding TPM error|\d+: Error))\n",
    "transition_action": r"2: Reboot\n",
    "tcg_operations": r"(\d+ [1-4]: (BIOS only|Blocked for OS by BIOS|User required|User not required)\n)*",
    "vs_operations": r"(\d+ [1-4]: [^\n]+\n)*",
}

#: Mostly operations OVMF allows (so requests get processed), some it refuses, some out of range.
OPS = st.one_of(st.sampled_from([0, 5, 14, 21, 22, 23, 24, 33, 96, 97]), st.sampled_from([2, 40, 128]),
                st.integers(0, 300))


class PlatformMachine(RuleBasedStateMachine):
    """OVMF on TIS + TPM 2.0; subclasses swap the firmware model (the invariants are the same)."""

    CONFIG = PlatformConfig()

    @initialize()
    def boot(self):
        self.answer = True
        self.platform = Platform(self.CONFIG, confirm=self._confirm).start()
        self.platform.power_on()
        self.pending = None  # (op, param) the OS queued and firmware has not processed yet
        self.request_words = (0, 0)  # what (pprq, pprm) must hold: the last accepted write, or 0/0
        self.last = None  # (op, pprp) of the last processed request
        self.ram_marker = b""

    def _confirm(self, request):
        return ConfirmAnswer(self.answer, request.accept_key if self.answer else request.reject_key)

    def teardown(self):
        if hasattr(self, "platform"):
            self.platform.close()

    @rule(op=OPS, param=st.none() | st.integers(0, 0x1F))
    def os_request(self, op, param):
        text = f"{op}\n" if param is None else f"{op} {param}\n"
        with self.platform.os_session() as acpi:
            sysfs = attach(acpi)
            allowed = op < 0x100 and self.platform.page.func[op] & 7 in (3, 4)
            try:
                sysfs.write_request(text)
                assert allowed, f"Linux accepted op {op} whose func[] is {self.platform.page.func[op & 0xFF]}"
                self.request_words = (op, param or 0)  # fn 7 rev 2 stores the parameter, rev 1 stores 0
                self.pending = self.request_words if op != 0 else None
            except SysfsError as exc:
                assert not allowed and exc.errno_name == "EPERM", (op, exc)

    @rule(op=st.sampled_from([0, 5, 14, 21, 22, 23, 24, 33, 96, 97]), param=st.none() | st.integers(0, 0x1F),
          accept=st.booleans())
    def request_then_reboot(self, op, param, accept):
        """The common path, made frequent: the OS queues an allowed request and reboots."""
        self.os_request(op, param)
        self.reboot(accept)

    @rule(value=st.integers(0, 3))
    def mor_write(self, value):
        with self.platform.os_session() as acpi:
            assert acpi.dsm(attach(acpi).dsm.device, MOR_DSM_UUID, 1, 1, [value]) == 0
        assert self.platform.page.movv == value

    @rule(marker=st.binary(min_size=1, max_size=8))
    def os_writes_ram(self, marker):
        self.platform.memory.write(RAM_BASE, marker)
        self.ram_marker = marker

    @rule(accept=st.booleans())
    def reboot(self, accept):
        self.answer = accept
        mor = self.platform.page.movv & 1
        start = len(self.platform.timeline)
        self.platform.reboot()
        events = self.platform.timeline[start:]
        page = self.platform.page
        tpm_actions = [e.text for e in events if e.actor == "tpm" and e.text.startswith(ACTION_COMMANDS)]
        if self.pending is not None and self.pending[0] != 0:
            op = self.pending[0]
            assert page.lppr == op, (op, page.lppr)  # lppr/pprp describe the last processed request
            prompted = any(e.actor == "user" for e in events)
            if prompted and not accept:
                assert page.pprp == TCG_PP_OPERATION_RESPONSE_USER_ABORT
                assert tpm_actions == []
            else:  # success, BIOS failure, or (TPM 1.2) the TPM's own response code
                assert page.pprp in (TCG_PP_OPERATION_RESPONSE_SUCCESS, TCG_PP_OPERATION_RESPONSE_BIOS_FAILURE) \
                    or (self.CONFIG.tpm == TpmVersion.TPM_1_2 and 1 <= page.pprp <= 0xFFF), hex(page.pprp)
            self.last = (op, page.pprp)
        else:
            assert tpm_actions == []  # nothing pending: no PPI action reaches the TPM
        if self.pending is not None:
            self.request_words = (0, 0)  # processed: OVMF clears pprq and pprm
        self.pending = None
        # Op 0 is "no request": OVMF writes nothing, so a parameter stored with it stays in pprm.
        assert (page.pprq, page.pprm) == self.request_words
        if mor:
            assert self.platform.memory.read(RAM_BASE, len(self.ram_marker)) == bytes(len(self.ram_marker))
            self.ram_marker = b""

    @precondition(lambda self: hasattr(self, "platform"))
    @invariant()
    def request_words_are_in_the_page(self):
        page = self.platform.page
        assert (page.pprq, page.pprm) == self.request_words

    @precondition(lambda self: self.last is not None)
    @invariant()
    def last_processed_request_is_reported(self):
        page = self.platform.page
        assert (page.lppr, page.pprp) == self.last

    @precondition(lambda self: hasattr(self, "platform"))
    @rule()
    def every_linux_string_parses(self):
        with self.platform.os_session() as acpi:
            for read in attach(acpi).read_all():
                assert read.error is None, read
                assert re.fullmatch(SYSFS_GRAMMAR[read.file], read.content), (read.file, read.content)
            op, param = self.request_words
            assert attach(acpi).read("request") == (f"{op} {param}\n" if op == 23 else f"{op}\n")


class FlagsFirmwareMachine(PlatformMachine):
    """SecurityPkg's flags-driven TPM 2.0 library on CRB."""

    CONFIG = PlatformConfig.create(interface="crb", firmware="flags")


class Tpm12Machine(PlatformMachine):
    """The edk2 TPM 1.2 model, two-boot operations included."""

    CONFIG = PlatformConfig.create(tpm="1.2")


PlatformMachine.TestCase.settings = settings(max_examples=12, stateful_step_count=10, deadline=None)
FlagsFirmwareMachine.TestCase.settings = settings(max_examples=6, stateful_step_count=8, deadline=None)
Tpm12Machine.TestCase.settings = settings(max_examples=5, stateful_step_count=6, deadline=None)
TestPlatformMachine = PlatformMachine.TestCase
TestFlagsFirmwareMachine = FlagsFirmwareMachine.TestCase
TestTpm12Machine = Tpm12Machine.TestCase
