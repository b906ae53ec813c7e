#!/usr/bin/env python3
"""Observe what the REAL OVMF does with a PPI request, and compare it with ppikit's ``ovmf`` model.

Why: ppikit's firmware model ``ovmf`` (src/ppikit/ppi/firmware/ovmf.py, tcg2.py, pp_flow.py,
qemu_ppi.py) claims to reproduce OVMF's Tcg2PhysicalPresenceLibQemu at boot, and its tests encode
facts from a written reference. This tool boots the real firmware and records what it does, so
model and reference can be checked against the machine instead of against each other.

Per case it starts a fresh ``swtpm socket`` (TPM 2.0, or 1.2 without ``--tpm2``; temporary state)
and ``qemu-system-x86_64 -M q35 -accel tcg -S`` with OVMF (code pflash read-only, a temporary copy
of the vars file), ``-device tpm-tis`` or ``tpm-crb``, no disk, no NIC, ``-display none``, the
serial console on a unix socket, QMP on a unix socket, qtest on a unix socket and
``-action reboot=shutdown,shutdown=pause`` (a guest-initiated reset pauses the VM with memory
intact and emits QMP ``SHUTDOWN`` with reason ``guest-reset``). Before the first instruction it
writes the request into QEMU's PPI page at 0xFED45000 through qtest (qtest works next to
``-accel tcg``: the qtest accelerator is not selected, only its protocol server runs; the proof is
that OVMF acts on the request written), then ``cont`` over QMP and watches the serial console:

* a prompt (a line naming the accept F-key and ESC): after the prompt text has arrived and the
  console has been quiet for a moment (keys pressed before OVMF waits for input are lost), the
  case's answer is sent with QMP ``send-key`` to the PS/2 keyboard -- the accept key the prompt
  names, or ESC -- and re-sent if nothing at all happens;
* a guest reset (QMP ``SHUTDOWN``): the VM is paused, memory intact;
* the boot manager starting a boot option (``BdsDxe: loading Boot...`` on the console): PPI
  processing is over and no reset happened; the VM is stopped.

Then it reads the whole 0x400-byte page back (qtest ``read``; cross-checked with QMP ``pmemsave``)
and records func[] as {value: [ops]} (ops not listed are 0), ppin, ppip, pprp, pprq, pprm, lppr,
fret, next_step, movv, any non-zero reserved byte, the prompt (shown, accept key named, a
keyword-derived kind label and a short hash of its text -- the text itself is edk2's and is not
stored), the key(s) sent and whether a reset happened.

``compare`` runs ppikit's ``OvmfFirmware`` on the same page, interface, TPM version and
confirmation (the FirmwareMachine from tests/ppi/conftest.py, one boot against a fresh swtpm) and
prints observed vs model per case, and a final count of differing cases.

This is a checking tool only: nothing in src/ or tests/ imports it, and ppikit's test suite does
not need QEMU or OVMF.

Usage (from the repository root, with the project venv)::

    .venv/bin/python tools/ovmf_observed.py list
    .venv/bin/python tools/ovmf_observed.py run                  # every case, then compare
    .venv/bin/python tools/ovmf_observed.py run -k tis2-op5-accept -k crb2-op5-accept
    .venv/bin/python tools/ovmf_observed.py run --out /tmp/obs.json --transcripts /tmp/serial
    .venv/bin/python tools/ovmf_observed.py compare             # model vs the recorded file

``run`` writes tests/data/ovmf-2022.11/observed.json (``--out``); with ``-k`` it replaces only the
named cases in an existing file. ``--transcripts DIR`` keeps each case's raw serial output (for
debugging; do not commit it -- it is edk2's text). Exit status: 0 all cases observed and (for
``compare``) no difference, 1 a case failed or differs, 2 usage or tool error.

Timing (2 cores, no KVM): a case takes about 10-15 s, most of it OVMF's TCG boot to the prompt.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _lifecycle import Started  # tools/: the script's own folder is on sys.path

from ppikit._subprocess import ManagedProcess
from ppikit.device.backends.swtpm import SwtpmBackend
from ppikit.errors import PpikitError, ToolError
from ppikit.ppi.page import TPM_PPI_ADDR_BASE, TPM_PPI_ADDR_SIZE, PpiPage
from ppikit.tpm.version import TpmVersion

ROOT = Path(__file__).resolve().parent.parent
# The summary and comparison are shared with the suite (tests/ppi/test_ovmf_observed.py).
sys.path.insert(0, str(ROOT / "tests" / "ppi"))
from ovmf_observed_support import (  # noqa: E402
    OBSERVED_FILE, describe_prompt, differences, run_model, summarize_page, tpm_inspect, tpm_prepare)
DEFAULT_OUT = OBSERVED_FILE
OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
PACKAGES = ("qemu-system-x86", "ovmf", "swtpm", "libtpms0")

#: Seconds from ``cont`` until a prompt, a reset or the boot manager must have shown up.
BOOT_TIMEOUT = 240.0
#: Seconds after the last key until a reset or the boot manager must have shown up.
AFTER_KEY_TIMEOUT = 180.0
#: The prompt counts as complete after this much console silence following its last line...
PROMPT_QUIET = 1.0
#: ...and the key goes out this much later still (OVMF drops keys pressed before it waits).
PROMPT_SETTLE = 2.0
#: A key that changed nothing (no console output, no QMP event) for this long is pressed again.
KEY_RETRY_AFTER = 30.0
KEY_ATTEMPTS = 3
#: After the boot manager shows up, how long a late reset still gets to arrive.
BOOT_GRACE = 3.0
IO_TIMEOUT = 30.0

#: The boot manager starting a boot option: PlatformBootManagerBeforeConsole (PPI) is over.
BOOT_MARKER = re.compile(rb"BdsDxe: (loading|starting) Boot")
#: A PPI prompt: a line naming the accept F-key, and a line naming ESC after it.
PROMPT_KEY = re.compile(r"Press (F\d+)\b")
PROMPT_ESC = re.compile(r"Press ESC\b[^\n]*\n")
ANSI = re.compile(r"\x1b(\[[0-9;=?]*[A-Za-z]|[()][A-Z0-9]|[=>])")
QCODE = {"F10": "f10", "F12": "f12", "ESC": "esc"}


# -- cases -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """One boot: the page written before it (ppin, pprq, pprm; all else 0) and how to answer a prompt.

    ``answer``: "accept" (the accept key the prompt names), "reject" (ESC), or None (no prompt
    expected; should one appear anyway it is recorded and answered with ESC).
    """

    name: str
    interface: str  # "tis" or "crb"
    tpm: str  # "2.0" or "1.2"
    op: int
    param: int = 0
    answer: str | None = None
    ppin: int = 1

    def page(self) -> bytes:
        page = PpiPage.blank()
        page.ppin, page.pprq, page.pprm = self.ppin, self.op, self.param
        return page.build()


def _tis2(op: int, answer: str | None = None, param: int = 0, suffix: str = "") -> Case:
    name = f"tis2-op{op}" + (f"-param{param}" if param or op == 23 else "") + (f"-{answer}" if answer else "") + suffix
    return Case(name, "tis", "2.0", op, param, answer)


CASES: list[Case] = [
    _tis2(0, suffix="-no-request"),
    _tis2(5, "accept"), _tis2(5, "reject"),
    _tis2(14, "accept"), _tis2(22, "accept"), _tis2(24, "accept"),
    _tis2(23, "accept", 3), _tis2(23, "accept", 0),
    _tis2(33),
    _tis2(96, "accept"), _tis2(97, "reject"), _tis2(21, "reject"),
    _tis2(97, "accept"),
    _tis2(2), _tis2(34), _tis2(35), _tis2(40), _tis2(128),
    Case("tis2-ppin0-op5-accept", "tis", "2.0", 5, 0, "accept", ppin=0),
    Case("crb2-op5-accept", "crb", "2.0", 5, 0, "accept"),
    Case("crb2-op24-accept", "crb", "2.0", 24, 0, "accept"),
    Case("tis12-no-request", "tis", "1.2", 0),
    Case("tis12-op5", "tis", "1.2", 5),
]
CASES_BY_NAME = {case.name: case for case in CASES}


# -- the VM ------------------------------------------------------------------------------------------
class Vm(Started):
    """swtpm + QEMU (paused) with qtest, QMP and the serial console on unix sockets."""

    def __init__(self, case: Case, transcript: Path | None = None, probe_tpm: bool = True,
                 serial: str = "file") -> None:
        self.case = case
        self.serial_mode = serial
        self.serial_file: Any = None
        self.probe_tpm = probe_tpm and case.tpm == "2.0"
        self.tpm_before: dict[str, Any] | None = None
        self.transcript = transcript
        self.tmp = Path(tempfile.mkdtemp(prefix="ppikit-ovmf-"))
        self.procs: list[ManagedProcess] = []
        self.socks: dict[str, socket.socket] = {}
        self.qtest_file: Any = None
        self.qmp_buf = b""
        self.qmp_returns: list[dict[str, Any]] = []
        self.events: list[tuple[float, dict[str, Any]]] = []
        self.serial = bytearray()
        self.last_activity = time.monotonic()
        self.selector = selectors.DefaultSelector()
        self.argv: dict[str, list[str]] = {}

    def _start(self) -> None:
        tmp = self.tmp
        ctrl, state = tmp / "swtpm.sock", tmp / "state"
        state.mkdir()
        if self.probe_tpm:
            with SwtpmBackend(TpmVersion.TPM_2_0, state_dir=state) as backend:
                self.tpm_before = tpm_prepare(backend)
        tpm2 = ["--tpm2"] if self.case.tpm == "2.0" else []
        swtpm_argv = ["swtpm", "socket", *tpm2, "--ctrl", f"type=unixio,path={ctrl}",
                      "--tpmstate", f"dir={state}", "--log", f"file={tmp / 'swtpm.log'},level=1"]
        swtpm = ManagedProcess(swtpm_argv, ready=lambda _p: ctrl.exists(), workdir=tmp / "swtpm-run")
        self.procs.append(swtpm)
        swtpm.start()
        self.argv["swtpm"] = swtpm.argv
        vars_copy = tmp / "OVMF_VARS.fd"
        shutil.copyfile(OVMF_VARS, vars_copy)
        device = "tpm-tis" if self.case.interface == "tis" else "tpm-crb"
        qemu_argv = [
            "qemu-system-x86_64", "-M", "q35", "-accel", "tcg", "-m", "256", "-S", "-nodefaults",
            "-display", "none", "-net", "none",
            "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
            "-drive", f"if=pflash,format=raw,unit=1,file={vars_copy}",
            "-chardev", (f"socket,id=ser0,path={tmp / 'serial.sock'},server=on,wait=off"
                         if self.serial_mode == "socket" else f"file,id=ser0,path={tmp / 'serial.out'}"),
            "-serial", "chardev:ser0",
            "-chardev", f"socket,id=chrtpm,path={ctrl}",
            "-tpmdev", "emulator,id=tpm0,chardev=chrtpm", "-device", f"{device},tpmdev=tpm0",
            "-qmp", f"unix:{tmp / 'qmp.sock'},server=on,wait=off",
            "-qtest", f"unix:{tmp / 'qtest.sock'},server=on,wait=off", "-qtest-log", "/dev/null",
            "-action", "reboot=shutdown,shutdown=pause",
        ]
        sockets = ("qtest", "qmp") + (("serial",) if self.serial_mode == "socket" else ())
        qemu = ManagedProcess(qemu_argv, ready=lambda _p: all((tmp / f"{n}.sock").exists() for n in sockets),
                              workdir=tmp / "qemu-run", ready_timeout=60)
        self.procs.append(qemu)
        qemu.start()
        self.argv["qemu"] = qemu.argv
        for name in sockets:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(IO_TIMEOUT)
            sock.connect(str(tmp / f"{name}.sock"))
            self.socks[name] = sock
        self.qtest_file = self.socks["qtest"].makefile("rb")
        for name in sockets[1:]:
            self.socks[name].setblocking(False)
            self.selector.register(self.socks[name], selectors.EVENT_READ, name)
        if self.serial_mode == "file":
            self.serial_file = open(tmp / "serial.out", "rb")
        greeting = self._qmp_wait_line(IO_TIMEOUT)
        if "QMP" not in greeting:
            raise ToolError(f"no QMP greeting: {greeting!r}")
        self.qmp("qmp_capabilities")

    # -- I/O ----------------------------------------------------------------------------------------
    def pump(self, seconds: float) -> None:
        """Read whatever QMP and the serial console send for up to ``seconds``."""
        deadline = time.monotonic() + seconds
        while True:
            remaining = deadline - time.monotonic()
            if self.serial_file is not None:
                data = self.serial_file.read()
                if data:
                    self.serial += data
                    self.last_activity = time.monotonic()
            wait = max(remaining, 0) if self.serial_file is None else min(max(remaining, 0), 0.05)
            for key, _mask in self.selector.select(timeout=wait):
                try:
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                except BlockingIOError:
                    continue
                if not data:
                    raise ToolError(f"QEMU closed its {key.data} socket; QEMU log: {self.procs[-1].log_tail(5)}")
                self.last_activity = time.monotonic()
                if key.data == "serial":
                    self.serial += data
                else:
                    self.qmp_buf += data
                    self._parse_qmp()
            if remaining <= 0:
                return

    def _parse_qmp(self) -> None:
        while b"\n" in self.qmp_buf:
            line, self.qmp_buf = self.qmp_buf.split(b"\n", 1)
            if not line.strip():
                continue
            message = json.loads(line)
            if "event" in message:
                self.events.append((time.monotonic(), message))
            else:
                self.qmp_returns.append(message)

    def _qmp_wait_line(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while not self.qmp_returns:
            if time.monotonic() > deadline:
                raise ToolError(f"QMP did not answer within {timeout:g} s")
            self.pump(0.05)
        return self.qmp_returns.pop(0)

    def qmp(self, command: str, **arguments: Any) -> Any:
        message = {"execute": command, **({"arguments": arguments} if arguments else {})}
        self.socks["qmp"].sendall(json.dumps(message).encode() + b"\n")
        answer = self._qmp_wait_line(IO_TIMEOUT)
        if "error" in answer:
            raise ToolError(f"QMP {command} failed: {answer['error']}")
        return answer.get("return")

    def qtest(self, line: str) -> str:
        self.socks["qtest"].sendall(line.encode() + b"\n")
        answer = self.qtest_file.readline().decode().strip()
        if not answer.startswith("OK"):
            raise ToolError(f"qtest {line[:60]!r} answered {answer!r}")
        return answer

    def write_page(self, data: bytes) -> None:
        self.qtest(f"write 0x{TPM_PPI_ADDR_BASE:x} 0x{len(data):x} 0x{data.hex()}")

    def read_page(self) -> bytes:
        """The page through qtest, cross-checked with QMP pmemsave."""
        answer = self.qtest(f"read 0x{TPM_PPI_ADDR_BASE:x} 0x{TPM_PPI_ADDR_SIZE:x}")
        data = bytes.fromhex(answer.split()[1].removeprefix("0x"))
        dump = self.tmp / "page.bin"
        self.qmp("pmemsave", val=TPM_PPI_ADDR_BASE, size=TPM_PPI_ADDR_SIZE, filename=str(dump))
        if dump.read_bytes() != data:
            raise ToolError("qtest read and QMP pmemsave of the PPI page differ")
        return data

    def status(self) -> str:
        return str(self.qmp("query-status")["status"])

    def send_key(self, key: str) -> None:
        self.qmp("send-key", keys=[{"type": "qcode", "data": QCODE[key]}])

    def serial_text(self, start: int = 0) -> str:
        return ANSI.sub("", bytes(self.serial[start:]).decode("utf-8", errors="replace")).replace("\r", "")

    def inspect_tpm(self) -> dict[str, Any] | None:
        """Stop QEMU and its swtpm, then read the TPM state they left (TPM 2.0 cases)."""
        self.stop_processes()
        if self.tpm_before is None:
            return None
        with SwtpmBackend(TpmVersion.TPM_2_0, state_dir=self.tmp / "state") as backend:
            return tpm_inspect(backend, self.tpm_before)

    def stop_processes(self) -> None:
        """Close the sockets, stop QEMU, then swtpm (idempotent)."""
        if self.transcript is not None and self.serial:
            self.transcript.parent.mkdir(parents=True, exist_ok=True)
            self.transcript.write_bytes(bytes(self.serial))
            self.transcript = None
        try:
            self.selector.close()
        except Exception:
            pass
        if self.qtest_file is not None:
            self.qtest_file.close()
            self.qtest_file = None
        if self.serial_file is not None:
            self.serial_file.close()
            self.serial_file = None
        for sock in self.socks.values():
            sock.close()
        self.socks.clear()
        while self.procs:
            self.procs.pop().stop()

    def close(self) -> None:
        self.stop_processes()
        shutil.rmtree(self.tmp, ignore_errors=True)


# -- observing one case ----------------------------------------------------------------------------------
@dataclass
class Prompt:
    start: int  # serial offset where the prompt's screen begins (after the previous key)
    accept_key: str
    text: str
    complete_at: float | None = None
    keys: list[str] = field(default_factory=list)  # sent for this prompt (more than one: re-pressed)
    key_times: list[float] = field(default_factory=list)


def observe(case: Case, transcript_dir: Path | None = None, verbose: bool = False,
            probe_tpm: bool = True) -> dict[str, Any]:
    started = time.monotonic()
    result: dict[str, Any] = {
        "case": case.name, "interface": case.interface, "tpm_version": case.tpm,
        "op": case.op, "param": case.param,
        "page_written": {"ppin": case.ppin, "pprq": case.op, "pprm": case.param, "everything_else": 0},
        "answer": case.answer,
    }
    timing: dict[str, float] = {}
    transcript = transcript_dir / f"{case.name}.serial" if transcript_dir else None
    with Vm(case, transcript, probe_tpm) as vm:
        written = case.page()
        vm.write_page(written)
        if vm.read_page() != written:
            raise ToolError("the page read back before boot is not the page written")
        if vm.status() != "prelaunch":
            raise ToolError(f"VM not paused before boot: {vm.status()}")
        t0 = time.monotonic()
        vm.qmp("cont")
        prompts: list[Prompt] = []
        scan_from = 0  # serial offset after which a new prompt is looked for
        deadline = t0 + BOOT_TIMEOUT
        outcome = "timeout"
        boot_seen_at: float | None = None
        while True:
            vm.pump(0.2)
            now = time.monotonic()
            if any(e["event"] == "SHUTDOWN" for _, e in vm.events):
                outcome = "reset"
                break
            if any(e["event"] == "RESET" for _, e in vm.events):
                outcome = "reset-not-paused"  # -action reboot=shutdown did not take: should not happen
                break
            if boot_seen_at is None and BOOT_MARKER.search(vm.serial, scan_from):
                boot_seen_at = now
                timing["boot_manager_s"] = round(now - t0, 1)
            if boot_seen_at is not None:
                if now - boot_seen_at >= BOOT_GRACE:
                    outcome = "boot-continued"
                    break
                continue
            last = prompts[-1] if prompts else None
            if last is None or last.keys:
                text = vm.serial_text(scan_from)
                found = PROMPT_KEY.search(text)
                if found and PROMPT_ESC.search(text, found.end()):
                    last = Prompt(scan_from, found.group(1), text)
                    prompts.append(last)
                    timing.setdefault("prompt_s", round(now - t0, 1))
            if last is not None and not last.keys:
                last.text = vm.serial_text(scan_from)
                if last.complete_at is None and now - vm.last_activity >= PROMPT_QUIET:
                    last.complete_at = now
                if last.complete_at is not None and now - last.complete_at >= PROMPT_SETTLE:
                    key = last.accept_key if case.answer == "accept" else "ESC"
                    vm.send_key(key)
                    last.keys.append(key)
                    last.key_times.append(now)
                    scan_from = len(vm.serial)
                    deadline = now + AFTER_KEY_TIMEOUT
                    if verbose:
                        print(f"  {case.name}: prompt ({last.accept_key}) complete, sent {key} at {now - t0:.1f} s",
                              flush=True)
            elif last is not None and len(vm.serial) == scan_from and len(last.keys) < KEY_ATTEMPTS \
                    and now - last.key_times[-1] >= KEY_RETRY_AFTER:
                # nothing at all happened since the key (no output, no reset): not taken, press it again
                vm.send_key(last.keys[-1])
                last.keys.append(last.keys[-1])
                last.key_times.append(now)
            if now > deadline:
                break
        timing["end_s"] = round(time.monotonic() - t0, 1)
        status = vm.status()
        if status == "running":
            vm.qmp("stop")
            status = vm.status()
        data = vm.read_page()
        shutdown = [e for _, e in vm.events if e["event"] == "SHUTDOWN"]
        result.update({
            "prompt": [describe_prompt(p.text, p.accept_key) for p in prompts],
            "keys_sent": [key for p in prompts for key in p.keys],
            "reset": outcome == "reset",
            "reset_reason": shutdown[0]["data"].get("reason") if shutdown else None,
            "boot_continued": outcome == "boot-continued",
            "outcome": outcome,
            "vm_status_at_end": status,
            "page_after": summarize_page(data),
        })
        if outcome == "timeout":
            result["error"] = (f"nothing conclusive within the timeouts (prompts {len(prompts)}); "
                               f"console tail: {vm.serial_text()[-200:]!r}")
        result["_argv"] = vm.argv
        if vm.tpm_before is not None:
            result["tpm_before"] = {k: v for k, v in vm.tpm_before.items() if k != "ek"}
        result["tpm_after"] = vm.inspect_tpm()
    timing["case_total_s"] = round(time.monotonic() - started, 1)
    result["_timing"] = timing
    return result


# -- the model ------------------------------------------------------------------------------------------
def _firmware_machine() -> Any:
    """FirmwareMachine from tests/ppi/conftest.py (loaded by path; the tool is not part of the suite)."""
    path = ROOT / "tests" / "ppi" / "conftest.py"
    spec = importlib.util.spec_from_file_location("_ovmf_observed_ppi_conftest", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.FirmwareMachine


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"0x{value:X}" if value > 0xFFFF else str(value)
    return json.dumps(value, separators=(",", ":"))


def compare(entries: list[dict[str, Any]]) -> int:
    """Print observed vs model per case; return how many cases differ in behaviour."""
    machine_cls = _firmware_machine()
    differing = noted = 0
    for entry in entries:
        name = entry["case"]
        if entry.get("error"):
            print(f"{name}: not compared (observation failed: {entry['error']})")
            differing += 1
            continue
        model = run_model(entry, machine_cls)
        behaviour, notes = differences(entry, model)
        after, mafter = entry["page_after"], model["page_after"]

        def row(who: str, result: dict[str, Any], page: dict[str, Any]) -> str:
            keys = [p["accept_key"] for p in result["prompt"]] or "-"
            tpm = result.get("tpm_after")
            tpm_text = "" if tpm is None else (f" tpm(ownerAuthSet={tpm['owner_auth_set']} banks=0x"
                                               f"{tpm['active_banks']:X} ekChanged={tpm['ek_changed']})")
            return (f"    {who:8} reset={str(result['reset']):5} prompt={keys} ppin={page['ppin']} "
                    f"pprp={_fmt(page['pprp'])} pprq={page['pprq']} pprm={page['pprm']} lppr={page['lppr']} "
                    f"next_step={page['next_step']} movv={page['movv']} func={_fmt(page['func'])}{tpm_text}")

        verdict = "DIFFERS" if behaviour else "model agrees"
        print(f"{name}: {verdict}" + (f" ({len(notes)} prompt note(s))" if notes else ""))
        print(row("observed", entry, after))
        print(row("model", model, mafter))
        for field_name, observed, modelled in behaviour:
            print(f"    DIFFERENCE {field_name}: observed {_fmt(observed)}, model {_fmt(modelled)}")
        for field_name, observed, modelled in notes:
            print(f"    note {field_name}: observed {_fmt(observed)}, model {_fmt(modelled)}")
        differing += bool(behaviour)
        noted += bool(notes)
    print(f"{differing} of {len(entries)} case(s) differ between real OVMF and ppikit's ovmf model "
          f"(page fields, reset, prompt keys, TPM effects); {noted} case(s) with prompt-content notes")
    return differing


# -- CLI ------------------------------------------------------------------------------------------------
def package_versions() -> dict[str, str]:
    proc = subprocess.run(["dpkg-query", "-W", *PACKAGES], capture_output=True, text=True, timeout=30)
    versions = {}
    for line in proc.stdout.splitlines():
        name, _, version = line.partition("\t")
        versions[name.split(":")[0]] = version
    return versions


def _public(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if not k.startswith("_")}


def cmd_run(args: argparse.Namespace) -> int:
    names = args.case or [case.name for case in CASES]
    unknown = [n for n in names if n not in CASES_BY_NAME]
    if unknown:
        print(f"error: unknown case(s) {', '.join(unknown)} (see 'list')", file=sys.stderr)
        return 2
    for path in (OVMF_CODE, OVMF_VARS):
        if not path.exists():
            print(f"error: {path} missing (apt-get install ovmf)", file=sys.stderr)
            return 2
    out = Path(args.out)
    existing: dict[str, dict[str, Any]] = {}
    if args.case and out.exists():
        existing = {e["case"]: e for e in json.loads(out.read_text())["cases"]}
    observed: list[dict[str, Any]] = []
    failed = 0
    for name in names:
        case = CASES_BY_NAME[name]
        try:
            entry = observe(case, Path(args.transcripts) if args.transcripts else None, args.verbose,
                            probe_tpm=not args.no_tpm_probe)
        except (PpikitError, OSError) as exc:
            entry = {"case": name, "interface": case.interface, "tpm_version": case.tpm, "op": case.op,
                     "param": case.param, "answer": case.answer,
                     "page_written": {"ppin": case.ppin, "pprq": case.op, "pprm": case.param,
                                      "everything_else": 0},
                     "error": f"{type(exc).__name__}: {exc}"}
        if entry.get("error"):
            failed += 1
        timing = entry.get("_timing", {})
        after = entry.get("page_after", {})
        print(f"{name}: {entry.get('outcome', 'error')}, prompt "
              f"{[p['accept_key'] for p in entry.get('prompt', [])] or '-'}, keys {entry.get('keys_sent')}, "
              f"pprp={_fmt(after.get('pprp', '?'))} pprq={after.get('pprq')} lppr={after.get('lppr')} "
              f"ppin={after.get('ppin')} func={_fmt(after.get('func'))}; {timing}"
              + (f"; ERROR {entry['error']}" if entry.get("error") else ""), flush=True)
        if args.show_argv and "_argv" in entry:
            for program, argv in entry["_argv"].items():
                print(f"  {program}: {' '.join(argv)}")
        observed.append(entry)
    merged = dict(existing)
    merged.update({e["case"]: _public(e) for e in observed})
    order = [c.name for c in CASES]
    document = {
        "about": "Real OVMF 2022.11 on QEMU 7.2 with swtpm, one boot per case, request written into the PPI "
                 "page (0xFED45000) before the first instruction; generated by tools/ovmf_observed.py. "
                 "func lists non-zero values only: {value: [ops]}, every other op is 0. See PROVENANCE.md.",
        "packages": package_versions(),
        "firmware": {"code": str(OVMF_CODE), "vars_template": str(OVMF_VARS)},
        "cases": [merged[n] for n in order if n in merged],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, indent=1) + "\n")
    print(f"wrote {len(document['cases'])} case(s) to {out}")
    if args.no_compare:
        return 1 if failed else 0
    differing = compare([_public(e) for e in observed])
    return 1 if failed or differing else 0


def cmd_compare(args: argparse.Namespace) -> int:
    document = json.loads(Path(args.observed).read_text())
    entries = [e for e in document["cases"] if not args.case or e["case"] in args.case]
    return 1 if compare(entries) else 0


def cmd_list(_args: argparse.Namespace) -> int:
    for case in CASES:
        print(f"{case.name:28} {case.interface} TPM {case.tpm}  ppin={case.ppin} pprq={case.op} "
              f"pprm={case.param} answer={case.answer}")
    return 0


def _terminate(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwind through the context managers: every process is stopped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="boot real OVMF per case, record, then compare with the model")
    run.add_argument("-k", "--case", action="append", help="case name (repeatable; default: all)")
    run.add_argument("--out", default=str(DEFAULT_OUT), help="JSON file to write")
    run.add_argument("--transcripts", help="directory for each case's raw serial output (not for committing)")
    run.add_argument("--no-compare", action="store_true", help="only observe and record")
    run.add_argument("--no-tpm-probe", action="store_true",
                     help="boot a fresh TPM as is (no owner auth set before, no TPM inspection after)")
    run.add_argument("--show-argv", action="store_true", help="print the swtpm and QEMU command lines")
    run.add_argument("-v", "--verbose", action="store_true")
    comp = sub.add_parser("compare", help="run ppikit's ovmf model on the recorded cases and compare")
    comp.add_argument("--observed", default=str(DEFAULT_OUT))
    comp.add_argument("-k", "--case", action="append")
    sub.add_parser("list", help="list the cases")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    try:
        return {"run": cmd_run, "compare": cmd_compare, "list": cmd_list}[args.command](args)
    except (PpikitError, OSError, json.JSONDecodeError, KeyError) as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
