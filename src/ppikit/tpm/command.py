"""Commands as data: one :class:`CommandSpec` per TPM command, one builder, one response parser.

Why: firmware models, tests and the CLI all need "send TPM2_ClearControl with platform auth and
tell me the response code by name". Describing each command by its handle area, authorization
count and construct parameter layouts (TPM 2.0 Part 3 / TPM 1.2 Part 3 tables) keeps every command
a few lines of data and the framing rules -- tags, the authorization area, parameterSize -- in one
place.

TPM 2.0 command: header, handles, [authorizationSize + password sessions], parameters.
TPM 2.0 response: header, handles, [parameterSize], parameters, [session responses].
TPM 1.2 (unauthorised commands only): header, parameters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import construct as cs

from ppikit.errors import LayoutError, UsageError
from ppikit.tpm.header import (
    TPM_HEADER,
    TPM_HEADER_SIZE,
    TPM_ST_NO_SESSIONS,
    TPM_ST_SESSIONS,
    TPM_TAG_RQU_COMMAND,
    parse_header,
)
from ppikit.tpm.rc import TpmResponseError, rc_name
from ppikit.tpm.version import TpmVersion

EMPTY = cs.Struct()  #: a command or response without parameters
TPM_RS_PW = 0x40000009  #: the password authorization session handle

TPM2B = cs.Prefixed(cs.Int16ub, cs.GreedyBytes)  #: any TPM2B_* byte buffer (UINT16 size + bytes)
#: TPMS_AUTH_COMMAND of a password session: TPM_RS_PW, empty nonce, attributes 0, the password.
TPMS_AUTH_COMMAND = cs.Struct(
    "sessionHandle" / cs.Const(TPM_RS_PW, cs.Int32ub),
    "nonce" / cs.Const(b"", TPM2B),
    "sessionAttributes" / cs.Int8ub,
    "hmac" / TPM2B,
)
TPMS_AUTH_RESPONSE = cs.Struct("nonce" / TPM2B, "sessionAttributes" / cs.Int8ub, "hmac" / TPM2B)


@dataclass(frozen=True)
class CommandSpec:
    """One TPM command as data.

    ``handles`` names the command's handle area (TPM 2.0), the first ``auth_count`` of which need
    an authorization (a password session here). ``params`` / ``response_params`` are construct
    layouts of the parameter areas; ``response_handles`` names the response's handle area.
    """

    name: str
    code: int
    version: TpmVersion
    params: cs.Construct = EMPTY
    response_params: cs.Construct = EMPTY
    handles: tuple[str, ...] = ()
    auth_count: int = 0
    response_handles: tuple[str, ...] = ()
    tag: int | None = None  #: request tag; default from version and auth_count

    @property
    def request_tag(self) -> int:
        if self.tag is not None:
            return self.tag
        if self.version == TpmVersion.TPM_1_2:
            return TPM_TAG_RQU_COMMAND
        return TPM_ST_SESSIONS if self.auth_count else TPM_ST_NO_SESSIONS


@dataclass(frozen=True)
class TpmResponse:
    """A parsed response. ``params`` is None when the TPM returned an error (no parameters)."""

    spec: CommandSpec
    code: int
    raw: bytes
    handles: dict[str, int] = field(default_factory=dict)
    params: cs.Container | None = None

    @property
    def ok(self) -> bool:
        return self.code == 0

    @property
    def rc_name(self) -> str:
        return rc_name(self.code, self.spec.version)

    def check(self) -> TpmResponse:
        """Return self, or raise :class:`TpmResponseError` for a non-zero response code."""
        if self.code != 0:
            raise TpmResponseError(self.spec.name, self.code, self.spec.version)
        return self


def build_command(
    spec: CommandSpec,
    *,
    handles: Sequence[int] = (),
    passwords: Sequence[bytes] | None = None,
    **params: object,
) -> bytes:
    """The complete command bytes for ``spec``.

    ``handles`` fill the handle area in order; ``passwords`` gives one password per authorized
    handle (default: empty passwords, what OVMF uses for TPM_RH_PLATFORM); ``params`` fill the
    parameter layout by field name.
    """
    if len(handles) != len(spec.handles):
        raise UsageError(f"{spec.name} takes handles {spec.handles}, got {len(handles)} value(s)")
    if passwords is None:
        passwords = [b""] * spec.auth_count
    if len(passwords) != spec.auth_count:
        raise UsageError(f"{spec.name} takes {spec.auth_count} authorization(s), got {len(passwords)}")
    try:
        body = b"".join(cs.Int32ub.build(h) for h in handles)
        if spec.request_tag == TPM_ST_SESSIONS:
            auth = b"".join(TPMS_AUTH_COMMAND.build({"sessionAttributes": 0, "hmac": pw}) for pw in passwords)
            body += cs.Int32ub.build(len(auth)) + auth
        body += spec.params.build(params)
    except (cs.ConstructError, KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"cannot build {spec.name}: {exc}") from None
    return TPM_HEADER.build({"tag": spec.request_tag, "size": TPM_HEADER_SIZE + len(body),
                             "code": spec.code}) + body


def parse_response(spec: CommandSpec, data: bytes) -> TpmResponse:
    """Parse a response to ``spec``; a malformed one raises :class:`LayoutError` naming the field."""
    header = parse_header(data, what=f"{spec.name} response")
    if header.code != 0:
        if len(data) != TPM_HEADER_SIZE:
            raise LayoutError(f"{spec.name} error response has {len(data)} bytes, expected 10",
                              field="size", offset=2)
        return TpmResponse(spec, header.code, data)
    offset = TPM_HEADER_SIZE
    handles = {}
    for name in spec.response_handles:
        handles[name] = _parse_at(cs.Int32ub, data, offset, spec, name)
        offset += 4
    if header.tag == TPM_ST_SESSIONS:
        size = _parse_at(cs.Int32ub, data, offset, spec, "parameterSize")
        offset += 4
        end = offset + size
        if end > len(data):
            raise LayoutError(f"{spec.name} parameterSize {size} runs past the response",
                              field="parameterSize", offset=offset - 4)
        _parse_at(cs.GreedyRange(TPMS_AUTH_RESPONSE) + cs.Terminated, data[end:], 0, spec, "sessions")
    else:
        end = len(data)
    params = _parse_at(cs.FocusedSeq("p", "p" / spec.response_params, cs.Terminated),
                       data[offset:end], 0, spec, "parameters", base=offset)
    return TpmResponse(spec, 0, data, handles, params)


def _parse_at(schema: cs.Construct, data: bytes, offset: int, spec: CommandSpec, what: str,
              base: int = 0) -> object:
    try:
        return schema.parse(data[offset:])
    except (cs.ConstructError, KeyError) as exc:
        raise LayoutError(f"{spec.name} response: {exc}", field=what, offset=base + offset) from None


def container_to_dict(value: object) -> object:
    """A parsed construct value as plain dicts/lists (drops construct's ``_io`` bookkeeping)."""
    if isinstance(value, Mapping):
        return {k: container_to_dict(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [container_to_dict(v) for v in value]
    return value
