"""QEMU 7.2's TPM CRB interface (``hw/tpm/tpm_crb.c``, classic: no chunking).

Why it is so much simpler than TIS: QEMU's CRB decodes locality 0 only, grants every request at
once, latches nothing but Start, and treats the 0xF80-byte data buffer at 0x80 as plain guest RAM
shared by command and response. Its quirks are kept: writes act only at the exact register offset
with the exact action value, cmdReady/goIdle merely toggle tpmIdle (Start is accepted while
idle), CTRL_CANCEL and CTRL_REQ read 0, the address and size registers are read-only, and
CTRL_STS.tpmSts (fatal error) stays set until reset once a backend call failed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ppikit.device.backends.base import Backend
from ppikit.device.mmio import PACK_PIECE, SIZE_MASK, UNPACK_PIECE, MmioDevice, byte_lane, check_state, tpm_header_size
from ppikit.device.registers import (
    A_CRB_CTRL_START,
    A_CRB_CTRL_STS,
    A_CRB_DATA_BUFFER,
    A_CRB_LOC_STATE,
    A_CRB_LOC_STS,
    CRB_CANCEL_INVOKE,
    CRB_CTRL_CMD_SIZE,
    CRB_CTRL_REQ_CMD_READY,
    CRB_CTRL_REQ_GO_IDLE,
    CRB_CTRL_STS_TPM_IDLE,
    CRB_CTRL_STS_TPM_STS,
    CRB_LOC_CTRL_RELINQUISH,
    CRB_LOC_CTRL_REQUEST_ACCESS,
    CRB_LOC_STATE_LOC_ASSIGNED,
    CRB_LOC_STATE_TPM_ESTABLISHED,
    CRB_LOC_STS_BEEN_SEIZED,
    CRB_LOC_STS_GRANTED,
    CRB_REGISTERS,
    CRB_START_INVOKE,
    TPM_CRB_ADDR_BASE,
    TPM_CRB_ADDR_SIZE,
    TPM_CRB_R_MAX,
)
from ppikit.errors import LayoutError
from ppikit.tpm.version import TpmVersion

_R_LOC_STATE = A_CRB_LOC_STATE >> 2
_R_LOC_STS = A_CRB_LOC_STS >> 2
_R_CTRL_STS = A_CRB_CTRL_STS >> 2
_R_CTRL_START = A_CRB_CTRL_START >> 2


class CrbDevice(MmioDevice):
    """QEMU 7.2 ``tpm-crb`` at ``base`` (one 4 KiB window) in front of a :class:`Backend`.

    Construction performs the machine reset (which starts the backend); see :meth:`reset`.
    Guest access: :meth:`mmio_read` / :meth:`mmio_write` (never raise); the data buffer is
    ``base + 0x80 .. base + 0xFFF``. Snapshots: :meth:`get_state` / :meth:`set_state`.
    """

    def __init__(self, backend: Backend, *, base: int = TPM_CRB_ADDR_BASE, asynchronous: bool = False,
                 poll_wait: float = 0.001) -> None:
        super().__init__(backend, base=base, size=TPM_CRB_ADDR_SIZE, asynchronous=asynchronous,
                         poll_wait=poll_wait, ram_offset=A_CRB_DATA_BUFFER)
        self._regs = [0] * TPM_CRB_R_MAX
        self._buffer = self._ram = bytearray(CRB_CTRL_CMD_SIZE)
        self._buffer_size = CRB_CTRL_CMD_SIZE
        registers: list[Callable[[int, int], int]] = [self._read_stored] * TPM_CRB_R_MAX
        registers[_R_LOC_STATE] = self._read_loc_state
        registers[_R_CTRL_START] = self._read_ctrl_start
        ram = (TPM_CRB_ADDR_SIZE - A_CRB_DATA_BUFFER) >> 2
        self._readers = registers + [self._read_ram] * ram
        self._writers = [self._write_register] * TPM_CRB_R_MAX + [self._write_ram] * ram
        self._actions: dict[int, Callable[[int], None]] = {
            register.offset: getattr(self, f"_write_{register.write}")
            for register in CRB_REGISTERS if register.write != "ignore"
        }
        self.reset()

    # -- reset and state --------------------------------------------------------------------------
    def reset(self) -> None:
        """QEMU's ``tpm_crb_reset``: finish the command in flight, zero the registers and set their
        reset values, ``MIN(backend buffer size, 0xF80)``, then ``backend.startup(size)``. The data
        buffer (RAM) keeps its contents. Raises :class:`BackendError` if the backend cannot start."""
        self._reset_with_backend(CRB_CTRL_CMD_SIZE, self._reset_registers)

    def _reset_registers(self, version: TpmVersion, buffer_size: int) -> None:
        self._regs[:] = [0] * TPM_CRB_R_MAX
        for register in CRB_REGISTERS:
            self._regs[register.offset >> 2] = register.value
        self._buffer_size = buffer_size

    @property
    def buffer_size(self) -> int:
        """``be_buffer_size``: the backend's buffer size, at most 0xF80."""
        return self._buffer_size

    def get_state(self) -> dict[str, Any]:
        """Registers, data buffer and buffer size as a JSON-able dict, after finishing the command
        in flight (so a response waiting in the buffer is included)."""
        self.finish_pending()
        return {"interface": "crb", "buffer_size": self._buffer_size, "regs": list(self._regs),
                "buffer": bytes(self._buffer).rstrip(b"\0").hex()}

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Load a :meth:`get_state` dict (the backend is not touched). Raises :class:`LayoutError`."""
        check_state(state, "crb", {"buffer_size": (int, CRB_CTRL_CMD_SIZE), "regs": (list, TPM_CRB_R_MAX),
                                   "buffer": (str, CRB_CTRL_CMD_SIZE)})
        if state["regs"][_R_CTRL_START] & CRB_START_INVOKE:
            raise LayoutError("a snapshot never holds an executing command (taken after finish)",
                              field="regs")
        self.finish_pending()
        self.startup_error = None
        self._buffer_size = state["buffer_size"]
        self._regs[:] = state["regs"]
        data = bytes.fromhex(state["buffer"])
        self._buffer[:] = data + bytes(CRB_CTRL_CMD_SIZE - len(data))

    # -- MMIO pieces (the data buffer is RAM: MmioDevice hands it any access whole) ---------------
    def _read_ram(self, offset: int, size: int) -> int:
        start = offset - A_CRB_DATA_BUFFER
        unpack = UNPACK_PIECE[size]
        if unpack is not None:
            return unpack(self._buffer, start)[0]
        return int.from_bytes(self._buffer[start:start + size], "little")

    def _read_stored(self, offset: int, size: int) -> int:
        return (self._regs[offset >> 2] >> ((offset & 3) << 3)) & SIZE_MASK[size]  # byte_lane, inlined

    def _read_loc_state(self, offset: int, size: int) -> int:
        value = byte_lane(self._regs[_R_LOC_STATE], offset, size)
        if offset == A_CRB_LOC_STATE and not self._backend_call(self.backend.get_established, default=False):
            value |= CRB_LOC_STATE_TPM_ESTABLISHED  # computed at read time, exact offset 0 only
        return value

    def _read_ctrl_start(self, offset: int, size: int) -> int:
        if self._inflight:
            self._collect(self.poll_wait)  # a Start poll waits a little for the completion
        return (self._regs[_R_CTRL_START] >> ((offset & 3) << 3)) & SIZE_MASK[size]  # byte_lane, inlined

    def _write_ram(self, offset: int, size: int, value: int) -> None:
        start = offset - A_CRB_DATA_BUFFER
        pack = PACK_PIECE[size]
        if pack is not None:
            pack(self._buffer, start, value)
        else:
            self._buffer[start:start + size] = value.to_bytes(size, "little")

    def _write_register(self, offset: int, size: int, value: int) -> None:
        action = self._actions.get(offset)
        if action is not None:
            action(value)

    # -- register actions (exact offset, exact value) ---------------------------------------------
    def _write_ctrl_req(self, value: int) -> None:
        if value == CRB_CTRL_REQ_CMD_READY:
            self._regs[_R_CTRL_STS] &= ~CRB_CTRL_STS_TPM_IDLE
        elif value == CRB_CTRL_REQ_GO_IDLE:
            self._regs[_R_CTRL_STS] |= CRB_CTRL_STS_TPM_IDLE

    def _write_ctrl_cancel(self, value: int) -> None:
        if value == CRB_CANCEL_INVOKE and self._regs[_R_CTRL_START] & CRB_START_INVOKE:
            self._backend_call(self.backend.cancel)

    def _write_ctrl_start(self, value: int) -> None:
        if (value == CRB_START_INVOKE and not self._regs[_R_CTRL_START] & CRB_START_INVOKE
                and self._regs[_R_LOC_STATE] & CRB_LOC_STATE_LOC_ASSIGNED):
            self._regs[_R_CTRL_START] |= CRB_START_INVOKE
            length = min(tpm_header_size(self._buffer), self._buffer_size)
            self._submit(bytes(self._buffer[:length]), 0)

    def _write_loc_ctrl(self, value: int) -> None:
        if value == CRB_LOC_CTRL_RELINQUISH:
            self._regs[_R_LOC_STATE] &= ~CRB_LOC_STATE_LOC_ASSIGNED
            self._regs[_R_LOC_STS] &= ~CRB_LOC_STS_GRANTED
        elif value == CRB_LOC_CTRL_REQUEST_ACCESS:
            self._regs[_R_LOC_STS] = (self._regs[_R_LOC_STS] | CRB_LOC_STS_GRANTED) & ~CRB_LOC_STS_BEEN_SEIZED
            self._regs[_R_LOC_STATE] |= CRB_LOC_STATE_LOC_ASSIGNED
        # CRB_LOC_CTRL_SEIZE and CRB_LOC_CTRL_RESET_ESTABLISHMENT_BIT: ignored ("not loc 3 or 4")

    def _complete(self, response: bytes, failed: bool) -> None:
        """QEMU ``tpm_crb_request_completed``: response into the buffer, Start cleared, tpmSts set
        on a backend error (sticky until reset)."""
        count = min(len(response), self._buffer_size)
        self._buffer[:count] = response[:count]
        self._regs[_R_CTRL_START] &= ~CRB_START_INVOKE
        if failed:
            self._regs[_R_CTRL_STS] |= CRB_CTRL_STS_TPM_STS
