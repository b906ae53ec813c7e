"""Typed Python values for AML objects, read back from acpiexec's debugger output.

Why parse text: acpiexec is the real ACPICA interpreter and its debugger is its only interface. When
it evaluates a method it prints the returned object as an indented tree (``[Integer] = ...``,
``[String] Length 03 = "1.3"``, ``[Buffer] Length 02 = 0000: FF 01``, ``[Package] Contains 3
Elements:``). This module turns that tree back into Python values, exactly and strictly: anything
it does not understand is an error, never a guess.

AML -> Python: Integer -> int, String -> str, Buffer -> bytes, Package -> list (nested),
uninitialized package element -> None.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ppikit.errors import PpikitError

#: What an evaluation returns: int, str, bytes, nested lists of those, or None (no value).
AmlValue = int | str | bytes | list["AmlValue"] | None

_INTEGER = re.compile(r"^\[Integer\] = ([0-9A-Fa-f]+)$")
_STRING = re.compile(r'^\[String\] Length ([0-9A-Fa-f]+) = "(.*)"(\.\.\.)?$')
_BUFFER = re.compile(r"^\[Buffer\] Length ([0-9A-Fa-f]+) =(.*)$")
_PACKAGE = re.compile(r"^\[Package\] Contains (\d+) Elements:$")  # decimal count
_NULL = re.compile(r"^\[Null Object\]")
_HEX_LINE = re.compile(r"^\s*([0-9A-Fa-f]{4,8}):((?: [0-9A-Fa-f]{2})+)")
_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
            "'": "'", '"': '"', "\\": "\\"}


class DumpParseError(PpikitError):
    """acpiexec printed an object this parser does not understand (shown in the message)."""


def parse_object_dump(lines: list[str]) -> AmlValue:
    """Parse one object tree as printed by acpiexec's ``Evaluate`` (the lines after "returned object")."""
    stream = iter(line.strip() for line in lines if line.strip())
    value = _parse(stream)
    leftover = next(stream, None)
    if leftover is not None:
        raise DumpParseError(f"unexpected text after the object: {leftover!r}")
    return value


def _parse(stream: Iterator[str]) -> AmlValue:
    line = next(stream, None)
    if line is None:
        raise DumpParseError("object dump ended early")
    if m := _INTEGER.match(line):
        return int(m.group(1), 16)
    if m := _STRING.match(line):
        text = unescape(m.group(2))
        if m.group(3) or len(text) != int(m.group(1), 16):
            raise DumpParseError(f"acpiexec truncated a {int(m.group(1), 16)}-character string result")
        return text
    if m := _BUFFER.match(line):
        return _parse_buffer(int(m.group(1), 16), m.group(2), stream)
    if m := _PACKAGE.match(line):
        return [_parse(stream) for _ in range(int(m.group(1)))]
    if _NULL.match(line):
        return None
    raise DumpParseError(f"unsupported object in acpiexec output: {line!r}")


def _parse_buffer(length: int, rest: str, stream: Iterator[str]) -> bytes:
    """Collect exactly ``length`` bytes from hex-dump lines (the first may share the header line)."""
    data = bytearray()
    pending = rest.strip()
    while len(data) < length:
        text = pending or next(stream, None)
        pending = ""
        if text is None:
            raise DumpParseError(f"buffer dump ended after {len(data)} of {length} bytes")
        m = _HEX_LINE.match(text)
        if m is None:
            raise DumpParseError(f"expected a hex-dump line, got {text!r}")
        want = min(16, length - len(data))
        data += bytes(int(tok, 16) for tok in m.group(2).split()[:want])
    return bytes(data)


def unescape(text: str) -> str:
    """Undo ACPICA's ``AcpiUtPrintString`` escaping (``\\n``, ``\\"``, ``\\xHH``...)."""
    out = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "\\" or i + 1 == len(text):
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "x" and re.match(r"[0-9A-Fa-f]{2}", text[i + 2:i + 4]):
            out.append(chr(int(text[i + 2:i + 4], 16)))
            i += 4
        else:
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
    return "".join(out)


def eisa_id_to_str(value: int) -> str:
    """Decode a compressed EISA ID (``EisaId ("PNP0C31")`` -> 0x310CD041) to its 7-character text."""
    raw = value.to_bytes(4, "little")
    swapped = int.from_bytes(raw, "big")
    letters = "".join(chr(0x40 + ((swapped >> shift) & 0x1F)) for shift in (26, 21, 16))
    return letters + f"{swapped & 0xFFFF:04X}"
