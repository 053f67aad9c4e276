"""Record values between overcast's form and the forms providers use.

overcast's form (see :mod:`overcast.dns.base`): presentation text, with TXT and
SPF values as the bare text (no quotes, not split). Providers want either the
zone-file form (:func:`to_presentation`: TXT quoted and split into 255-byte
character-strings, host names absolute) or the bare text, and give back
either; :func:`from_presentation` reads a zone-file form back. :func:`canonical`
is what two values are compared by (sync plans, tests): it absorbs what
providers change on the way (a trailing dot, letter case in host names, IPv6
spelling, CAA quoting, spaces).
"""

from __future__ import annotations

import ipaddress
from typing import Final

from overcast.dns import names
from overcast.errors import InvalidInput

__all__ = [
    "canonical",
    "character_strings",
    "from_presentation",
    "parse_character_strings",
    "to_presentation",
]

#: Types whose last field is a host name.
_LAST_FIELD_TARGET: Final = frozenset({"MX", "SRV"})


def character_strings(text: str) -> str:
    """``text`` as quoted RFC 1035 character-strings of at most 255 bytes each.

    Splitting is by bytes of the UTF-8 encoding; ``"`` and ``\\`` are escaped
    and bytes outside printable ASCII written as ``\\DDD``.
    """
    data = text.encode("utf-8", "surrogateescape")
    chunks = [data[i : i + 255] for i in range(0, len(data), 255)] or [b""]
    return " ".join(f'"{_escape(chunk)}"' for chunk in chunks)


def _escape(chunk: bytes) -> str:
    out: list[str] = []
    for byte in chunk:
        if byte in (0x22, 0x5C):
            out.append("\\" + chr(byte))
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        else:
            out.append(f"\\{byte:03d}")
    return "".join(out)


def parse_character_strings(text: str) -> str:
    """The inverse of :func:`character_strings`: join quoted (or bare) strings.

    ``"abc" "def"`` gives ``abcdef``; escapes ``\\"``, ``\\\\`` and ``\\DDD`` are
    decoded, and the bytes read as UTF-8.
    """
    out = bytearray()
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        quoted = text[i] == '"'
        if quoted:
            i += 1
        while i < n:
            ch = text[i]
            if quoted and ch == '"':
                i += 1
                break
            if not quoted and ch.isspace():
                break
            if ch == "\\" and i + 1 < n:
                if text[i + 1 : i + 4].isdigit() and len(text[i + 1 : i + 4]) == 3:
                    out.append(int(text[i + 1 : i + 4]))
                    i += 4
                    continue
                out += text[i + 1].encode("utf-8")
                i += 2
                continue
            out += ch.encode("utf-8")
            i += 1
    return out.decode("utf-8", "surrogateescape")


def _absolute(host: str) -> str:
    return host if host.endswith(".") else f"{host}."


def to_presentation(rtype: str, value: str) -> str:
    """A value in zone-file form: TXT/SPF quoted and split, host names absolute."""
    rtype = str(rtype).upper()
    if rtype in names.TEXT_TYPES:
        return character_strings(value)
    if rtype in names.TARGET_TYPES:
        return _absolute(value.strip())
    if rtype in _LAST_FIELD_TARGET:
        fields = value.split()
        if fields:
            fields[-1] = _absolute(fields[-1])
        return " ".join(fields)
    if rtype == "CAA":
        fields = value.split(None, 2)
        if len(fields) == 3 and not fields[2].startswith('"'):
            fields[2] = character_strings(fields[2])
        return " ".join(fields)
    return " ".join(value.split())


def from_presentation(rtype: str, text: str) -> str:
    """A zone-file form value in overcast's form (TXT/SPF unquoted and joined)."""
    rtype = str(rtype).upper()
    if rtype in names.TEXT_TYPES:
        return parse_character_strings(text)
    return to_presentation(rtype, text)


def canonical(rtype: str, value: str) -> str:
    """The form two values of type ``rtype`` are compared by."""
    rtype = str(rtype).upper()
    if rtype in names.TEXT_TYPES:
        return value
    if rtype in ("A", "AAAA"):
        try:
            return str(ipaddress.ip_address(value.strip()))
        except ValueError:
            raise InvalidInput(f"invalid {rtype} value {value!r}") from None
    text = to_presentation(rtype, value)
    if rtype in names.TARGET_TYPES:
        return text.lower()
    if rtype in _LAST_FIELD_TARGET:
        *head, target = text.split()
        return " ".join([*(str(int(f)) for f in head), target.lower()])
    if rtype == "CAA":
        flags, tag, rest = [*text.split(None, 2), "", ""][:3]
        return f"{int(flags) if flags.isdigit() else flags} {tag.lower()} {rest}"
    return text
