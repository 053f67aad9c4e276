"""Record values between overcast's form, the zone-file form and dnspython's model.

overcast's form (see :mod:`overcast.dns.base`): presentation text, with TXT and
SPF values as the bare text (no quotes, not split). Providers want either the
zone-file form (:func:`to_presentation`: TXT quoted and split into 255-byte
character-strings, host names absolute) or the bare text, and give back
either; :func:`from_presentation` reads a zone-file form back (RFC 3597
``\\# length hex`` data included).

dnspython is the one parser of record data: :func:`to_rdata` reads a value of
any type dnspython knows (refusing a malformed one with
:class:`~overcast.errors.InvalidInput`), and :func:`canonical` is what two
values are compared by (sync plans, tests): one text per value, whatever a
provider changed on the way (a trailing dot, letter case in host names and
hex digits, IPv6 spelling, CAA quoting, spaces, base64 line breaks).
"""

from __future__ import annotations

import functools
import ipaddress
import re
from typing import Final

from overcast.errors import InvalidInput
from overcast.extras import MissingExtra
from overcast.extras import install_hint

try:
    import dns.exception
    import dns.name
    import dns.rdata
    import dns.rdataclass
    import dns.rdatatype
except ImportError as missing:  # dnspython is the "dns" extra
    raise MissingExtra(
        f"overcast's DNS drivers need dnspython: {install_hint('dns')}", name=missing.name
    ) from missing

__all__ = [
    "CONTROL",
    "TARGET_TYPES",
    "TEXT_TYPES",
    "canonical",
    "character_strings",
    "from_presentation",
    "generic",
    "generic_type",
    "knows",
    "mnemonic",
    "parse_character_strings",
    "rdata_text",
    "to_presentation",
    "to_rdata",
]

#: Types whose value is one host name.
TARGET_TYPES: Final = frozenset({"CNAME", "DNAME", "NS", "PTR", "ALIAS"})
#: Types whose values are free text (quoted and chunked in zone files).
TEXT_TYPES: Final = frozenset({"TXT", "SPF"})
#: Types whose last field is a host name.
_LAST_FIELD_TARGET: Final = frozenset({"MX", "SRV"})
#: RFC 3597's marker of data given as hex.
_GENERIC_MARK: Final = "\\#"
#: Characters no value but text may hold: they would end or break a zone-file line.
CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")


#: Text written in a character-string as it is: printable ASCII but ``"`` and ``\\``.
_PLAIN_TEXT: Final = re.compile(r'[\x20\x21\x23-\x5b\x5d-\x7e]*')
#: One quoted character-string of such text.
_PLAIN_QUOTED: Final = re.compile(r'"([\x20\x21\x23-\x5b\x5d-\x7e]*)"')


def character_strings(text: str) -> str:
    """``text`` as quoted RFC 1035 character-strings of at most 255 bytes each.

    Splitting is by bytes of the UTF-8 encoding; ``"`` and ``\\`` are escaped
    and bytes outside printable ASCII written as ``\\DDD``.
    """
    if len(text) <= 255 and _PLAIN_TEXT.fullmatch(text):
        return f'"{text}"'  # one chunk with nothing to escape: the common case
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
    plain = _PLAIN_QUOTED.fullmatch(text)
    if plain is not None:
        return plain.group(1)  # one quoted string with no escape: the common case
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
    if rtype in TEXT_TYPES:
        return character_strings(value)
    if rtype in TARGET_TYPES:
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
    """A zone-file form value in overcast's form (TXT/SPF unquoted and joined;
    RFC 3597 ``\\# length hex`` data of a type dnspython knows in its own syntax)."""
    rtype = str(rtype).upper()
    if text.lstrip().startswith(_GENERIC_MARK) and knows(rtype):
        try:
            rdata = _parse(rtype, text, zone_file=True)
        except (dns.exception.DNSException, ValueError):
            pass  # not RFC 3597 data after all: kept as it is
        else:
            text = rdata.to_text()
    if rtype in TEXT_TYPES:
        return parse_character_strings(text)
    return to_presentation(rtype, text)


# -- dnspython --------------------------------------------------------------------------


@functools.cache
def _rdatatype(rtype: str) -> dns.rdatatype.RdataType | None:
    """The dnspython type of a mnemonic, if dnspython can parse its data."""
    try:
        kind = dns.rdatatype.from_text(rtype)
    except dns.exception.DNSException:
        return None
    if dns.rdatatype.is_metatype(kind) or kind == dns.rdatatype.NONE:
        return None
    parser = dns.rdata.get_rdata_class(dns.rdataclass.IN, kind)  # type: ignore[no-untyped-call]
    if parser is dns.rdata.GenericRdata:
        return None  # dnspython knows only the mnemonic, not the data's syntax
    return kind


def knows(rtype: str) -> bool:
    """Whether dnspython reads and writes the data of type ``rtype`` (a mnemonic)."""
    return _rdatatype(str(rtype).upper()) is not None


def _parse(rtype: str, value: str, *, zone_file: bool = False) -> dns.rdata.Rdata:
    """dnspython's rdata for a value in overcast's form (in zone-file form with
    ``zone_file``), names absolute; raises dnspython's exception, or ValueError,
    if the value does not parse."""
    kind = _rdatatype(rtype)
    if kind is None:
        raise ValueError(f"dnspython does not know the data of {rtype} records")
    text = to_presentation(rtype, value) if rtype in TEXT_TYPES and not zone_file else value
    return dns.rdata.from_text(
        dns.rdataclass.IN, kind, text, origin=dns.name.root, relativize=False
    )


def _one_line(value: str) -> None:
    """ValueError unless ``value`` is one line of data: no control character (a
    line break would end it) and no ``;`` outside quotes (a comment, which
    dnspython would drop without a word)."""
    if CONTROL.search(value):
        raise ValueError("a value may not hold a line break or a control character")
    quoted = escaped = False
    for ch in value:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == ";" and not quoted:
            raise ValueError("a value may not hold a ';' comment")


def to_rdata(rtype: str, value: str, *, driver: object = None) -> dns.rdata.Rdata:
    """dnspython's rdata for a value of type ``rtype`` in overcast's form.

    Host names are read as absolute (with or without their trailing dot).
    :class:`~overcast.errors.InvalidInput` if dnspython does not know the type
    or the value is malformed, saying why; a value of a type other than TXT
    and SPF must be one line without a ``;`` comment (dnspython would read
    the first line and drop the rest).
    """
    rtype = str(rtype).upper()
    try:
        if rtype not in TEXT_TYPES:
            _one_line(value)
        return _parse(rtype, value)
    except (dns.exception.DNSException, ValueError, TypeError) as exc:
        reason = str(exc) or type(exc).__name__
        raise InvalidInput(f"{rtype} value {value!r} is not valid: {reason}",
                           driver=driver) from None


def rdata_text(rdata: dns.rdata.Rdata) -> str:
    """An rdata in overcast's form: dnspython's presentation text with absolute
    names (TXT and SPF as the bare text)."""
    rtype = dns.rdatatype.to_text(rdata.rdtype)
    text = rdata.to_text(relativize=False)
    return parse_character_strings(text) if rtype in TEXT_TYPES else text


def generic(rtype: str, value: str, *, driver: object = None) -> str:
    """A value as RFC 3597 generic data (``\\# length hex``), for servers that
    store a type whose syntax they do not know."""
    rdata = to_rdata(rtype, value, driver=driver)
    return str(rdata.to_generic().to_text(chunksize=0))  # the hex unbroken


def generic_type(rtype: str) -> str:
    """RFC 3597's name of a type: ``TYPE`` and its number (``"TYPE260"`` for
    AMTRELAY); InvalidInput for a mnemonic dnspython does not know."""
    try:
        return f"TYPE{int(dns.rdatatype.from_text(str(rtype).upper()))}"
    except dns.exception.DNSException:
        raise InvalidInput(f"unknown record type {rtype!r}") from None


def mnemonic(rtype: str) -> str:
    """A type's mnemonic, also when given in RFC 3597 form (``"TYPE260"`` is
    ``"AMTRELAY"``); a name dnspython does not know is returned in upper case."""
    return _mnemonic(str(rtype).upper())


@functools.lru_cache(maxsize=512)  # bounded: the text may come from a server
def _mnemonic(text: str) -> str:
    try:
        return str(dns.rdatatype.to_text(dns.rdatatype.from_text(text)))
    except dns.exception.DNSException:
        return text


def _normal(rdata: dns.rdata.Rdata) -> dns.rdata.Rdata:
    """``rdata`` read back from its wire form, with every name in it in lower case:
    one rdata for all the ways its text can be spelled (dnspython keeps some
    fields, such as an L64 locator, as they were written)."""
    wire = rdata.to_digestable()
    rdata = dns.rdata.from_wire(rdata.rdclass, rdata.rdtype, wire, 0, len(wire))
    changes: dict[str, object] = {}
    for cls in type(rdata).__mro__:
        slots = getattr(cls, "__slots__", ())
        for slot in (slots,) if isinstance(slots, str) else slots:
            field = getattr(rdata, slot, None)
            if isinstance(field, dns.name.Name):
                changes[slot] = field.canonicalize()
            elif (isinstance(field, tuple) and field
                  and all(isinstance(item, dns.name.Name) for item in field)):
                changes[slot] = tuple(item.canonicalize() for item in field)
    if rdata.rdtype == dns.rdatatype.CAA:
        changes["tag"] = rdata.tag.lower()  # type: ignore[attr-defined]
    return rdata.replace(**changes) if changes else rdata


#: A host name dnspython writes back exactly as it is given but for letter case
#: and the trailing dot: labels of 1 to 63 letters, digits, ``-`` and ``_``
#: (nothing it escapes, no ``@``, ``*`` or empty label).
_PLAIN_HOST: Final = r"(?:[A-Za-z0-9_-]{1,63}\.)*[A-Za-z0-9_-]{1,63}\.?"
#: A 16-bit number as dnspython reads it (decimal digits, leading zeros allowed).
_NUMBER: Final = r"[0-9]{1,5}"
_PLAIN_TARGET: Final = re.compile(f"({_PLAIN_HOST})")
_PLAIN_MX: Final = re.compile(f"({_NUMBER}) ({_PLAIN_HOST})")
_PLAIN_SRV: Final = re.compile(f"({_NUMBER}) ({_NUMBER}) ({_NUMBER}) ({_PLAIN_HOST})")
#: Longest plain host name taken on the fast path: its wire form (the text's
#: length plus two) stays well inside DNS's 255 bytes, so dnspython would accept it.
_PLAIN_HOST_MAX: Final = 250
_PLAIN_PATTERNS: Final = {
    **{rtype: _PLAIN_TARGET for rtype in ("CNAME", "DNAME", "NS", "PTR")},
    "MX": _PLAIN_MX,
    "SRV": _PLAIN_SRV,
}


def _plain_canonical(rtype: str, value: str) -> str | None:
    """:func:`canonical` of the common host-name types without dnspython, for
    values in the plain form most providers send (one space between fields,
    numbers in decimal, a host name of plain labels); ``None`` for anything
    else, which dnspython reads. Gives exactly what dnspython's path gives: the
    numbers as integers, the host name in lower case and absolute."""
    pattern = _PLAIN_PATTERNS.get(rtype)
    if pattern is None:
        return None
    match = pattern.fullmatch(value)
    if match is None:
        return None
    *numbers, host = match.groups()
    if len(host) > _PLAIN_HOST_MAX:
        return None
    fields = []
    for number in numbers:
        if int(number) > 0xFFFF:
            return None  # dnspython refuses it: compared as text instead
        fields.append(str(int(number)))
    fields.append(host.lower() if host.endswith(".") else f"{host.lower()}.")
    return " ".join(fields)


def canonical(rtype: str, value: str) -> str:
    """The form two values of type ``rtype`` are compared by.

    TXT and SPF values are compared as they are. A value of a type dnspython
    knows is compared as dnspython writes it back, with host names absolute and
    in lower case (hex digits, spacing and base64 line breaks come out the same
    whatever the provider sent). A value dnspython cannot read, or of a
    provider pseudo-type, is compared as zone-file text (host names absolute
    and in lower case); a malformed A or AAAA value is
    :class:`~overcast.errors.InvalidInput`.
    """
    rtype = str(rtype).upper()
    if rtype in TEXT_TYPES:
        return value
    if rtype in ("A", "AAAA"):
        try:
            return str(ipaddress.ip_address(value.strip()))
        except ValueError:
            raise InvalidInput(f"invalid {rtype} value {value!r}") from None
    plain = _plain_canonical(rtype, value)
    if plain is not None:
        return plain
    return _canonical_text(rtype, value)


def _canonical_text(rtype: str, value: str) -> str:
    """:func:`canonical` of a value of a type other than TXT, SPF, A and AAAA
    through dnspython (or as zone-file text where dnspython cannot read it)."""
    if knows(rtype):
        try:
            return str(_normal(_parse(rtype, value)).to_text())
        except (dns.exception.DNSException, ValueError, TypeError):
            pass  # not dnspython's syntax: compared as text below
    text = to_presentation(rtype, value)
    if rtype in TARGET_TYPES:
        return text.lower()
    if rtype in _LAST_FIELD_TARGET:
        *head, target = text.split() or [""]
        return " ".join([*(str(int(f)) if f.isdigit() else f for f in head), target.lower()])
    if rtype == "CAA":
        flags, tag, rest = [*text.split(None, 2), "", ""][:3]
        return f"{int(flags) if flags.isdigit() else flags} {tag.lower()} {rest}"
    return text
