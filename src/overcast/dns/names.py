"""Validation of DNS names and record data, run before any request is sent.

Pure functions: no I/O, no resolver. Each raises
:class:`~overcast.errors.InvalidInput` with a message that names the bad part,
so a typo fails at once and identically on every provider instead of as a
provider-specific HTTP 400 (or, worse, a record that silently never resolves).

What is accepted:

* **names** (:func:`validate_name`): ASCII letters, digits, ``-`` (not at the
  start or end of a label) and ``_`` (service and policy labels such as
  ``_sip._tcp`` or ``_dmarc``); labels of 1 to 63 bytes; at most 255 bytes on
  the wire (253 characters without the trailing dot); ``*`` only as the whole
  leftmost label (a wildcard). A trailing dot (absolute name) is allowed, ``""``
  and ``"@"`` mean the zone apex. Internationalised names must be given in
  their IDNA (``xn--``) form.
* **record data** (:func:`validate_record_data`): every value of a type
  dnspython knows must parse as dnspython reads zone files (host names in it
  absolute, with or without the trailing dot), so a malformed TLSA, SSHFP,
  HTTPS or LOC value fails here like a malformed address. The common types get
  a sharper message first: A and AAAA values are checked with
  :mod:`ipaddress`; CNAME, DNAME, NS, PTR and ALIAS targets and the names in MX
  and SRV values are checked as host names, priorities, weights and ports as
  16-bit integers; CNAME, DNAME, ALIAS and SOA sets hold one value. Values
  other than TXT and SPF may not contain control characters (they would break
  a zone file line). TXT and SPF values must have a UTF-8 form (no lone
  surrogate, but for the ``\\udc80``-``\\udcff`` that stand for raw bytes).
* **TTLs** (:func:`check_ttl`): integers from 0 to 2**31 - 1 (RFC 2181, 8).
* **text a request carries** (:func:`encodable`, :func:`url_segment`): a zone
  id or name that has no UTF-8 form cannot be sent, so it is refused before
  any request.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from collections.abc import Sequence
from typing import Any
from typing import Final
from urllib.parse import quote

from overcast.dns.records import CONTROL
from overcast.dns.records import TARGET_TYPES
from overcast.dns.records import TEXT_TYPES
from overcast.dns.records import canonical
from overcast.dns.records import knows
from overcast.dns.records import to_rdata
from overcast.errors import InvalidInput
from overcast.errors import RecordAlreadyExists

__all__ = [
    "APEX_NAMES",
    "CNAME_COMPANIONS",
    "MAX_LABEL_LENGTH",
    "MAX_NAME_LENGTH",
    "MAX_TTL",
    "SINGLETON_TYPES",
    "TARGET_TYPES",
    "TEXT_TYPES",
    "absolute_name",
    "bare_name",
    "check_free",
    "check_ttl",
    "encodable",
    "relative_name",
    "same_name",
    "url_segment",
    "validate_ipv4",
    "validate_ipv6",
    "validate_name",
    "validate_record_data",
]

#: Longest label, in bytes (RFC 1035, 2.3.4).
MAX_LABEL_LENGTH: Final = 63
#: Longest name on the wire, in bytes, the root label included (RFC 1035, 2.3.4).
MAX_NAME_LENGTH: Final = 255
#: Largest TTL, in seconds: values with the top bit set mean 0 (RFC 2181, 8).
MAX_TTL: Final = 2**31 - 1
#: Spellings of the zone apex as a relative record name.
APEX_NAMES: Final = frozenset({"", "@"})
#: Types whose record set holds exactly one value.
SINGLETON_TYPES: Final = frozenset({"CNAME", "DNAME", "ALIAS", "SOA"})
#: Types that may stand beside a CNAME: DNSSEC signatures and denial records
#: (RFC 4035, 2.5; RFC 2535, 2.3.5 for KEY).
CNAME_COMPANIONS: Final = frozenset({"RRSIG", "NSEC", "NSEC3", "KEY"})

_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?\Z")
_CAA_TAG = re.compile(r"[A-Za-z0-9]+\Z")


def validate_name(name: str, *, wildcard: bool = True, origin: str | None = None,
                  what: str = "name", driver: Any = None) -> str:
    """Check a DNS name's syntax and return it unchanged.

    ``name`` may be relative (``"www"``, ``"_sip._tcp"``), absolute
    (``"www.example.com."``) or the apex (``""`` or ``"@"``). ``wildcard``
    allows ``*`` as the whole leftmost label. With ``origin`` (the zone's
    domain), a relative name's full length in the zone is checked too.
    ``what`` names the argument in error messages.
    """
    if not isinstance(name, str):
        raise InvalidInput(f"{what} must be a string, not {type(name).__name__}", driver=driver)
    if name in APEX_NAMES:
        return name
    if name == ".":
        return name
    if not name.isascii():
        raise InvalidInput(
            f"{what} {name!r} is not ASCII; give internationalised names in IDNA (xn--) form",
            driver=driver,
        )
    text = name[:-1] if name.endswith(".") else name
    labels = text.split(".")
    for index, label in enumerate(labels):
        if not label:
            raise InvalidInput(f"{what} {name!r} has an empty label", driver=driver)
        if len(label) > MAX_LABEL_LENGTH:
            raise InvalidInput(
                f"{what} {name!r}: label {label[:20]!r}... is {len(label)} bytes, "
                f"longer than {MAX_LABEL_LENGTH}",
                driver=driver,
            )
        if label == "*":
            if not wildcard:
                raise InvalidInput(f"{what} {name!r} may not be a wildcard", driver=driver)
            if index != 0:
                raise InvalidInput(
                    f"{what} {name!r}: '*' is allowed only as the leftmost label", driver=driver
                )
            continue
        if not _LABEL.match(label):
            raise InvalidInput(
                f"{what} {name!r}: label {label!r} may hold only letters, digits, '_' and "
                "'-' (not at its start or end)",
                driver=driver,
            )
    full = text
    if origin and not name.endswith("."):
        suffix = origin[:-1] if origin.endswith(".") else origin
        full = f"{text}.{suffix}" if suffix else text
    # Wire length: one length byte per label plus the label, plus the root byte.
    if len(full) + 2 > MAX_NAME_LENGTH:
        raise InvalidInput(
            f"{what} {full[:40]!r}... is {len(full) + 2} bytes on the wire, "
            f"longer than {MAX_NAME_LENGTH}",
            driver=driver,
        )
    return name


def check_ttl(ttl: object, *, what: str = "ttl", driver: Any = None) -> int:
    """Check a TTL and return it: an integer from 0 to :data:`MAX_TTL`
    (RFC 2181, 8); :class:`~overcast.errors.InvalidInput` otherwise."""
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not 0 <= ttl <= MAX_TTL:
        raise InvalidInput(f"{what} must be an integer from 0 to 2**31-1: {ttl!r}", driver=driver)
    return ttl


def encodable(value: str, *, what: str = "name", driver: Any = None) -> str:
    """``value``, checked to have a UTF-8 form, as every name a request carries
    (in its path or query) must; :class:`~overcast.errors.InvalidInput` for a
    lone surrogate."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(f"{what} {value!r} is not valid text: it has a lone surrogate",
                           driver=driver) from None
    return value


def url_segment(value: str, *, safe: str = "", what: str = "name", driver: Any = None) -> str:
    """``value`` percent-encoded as (part of) a URL path; ``safe`` as for
    :func:`urllib.parse.quote`. :class:`~overcast.errors.InvalidInput` for text
    that has no UTF-8 form (:func:`encodable`)."""
    return quote(encodable(value, what=what, driver=driver), safe=safe)


def absolute_name(name: str, origin: str) -> str:
    """The fully-qualified form (with a trailing dot) of ``name`` in zone ``origin``.

    ``""`` and ``"@"`` are the apex; a name that already ends with a dot is
    returned as is.
    """
    zone = origin if origin.endswith(".") else f"{origin}."
    if name in APEX_NAMES:
        return zone
    if name.endswith("."):
        return name
    return f"{name}.{zone}" if zone != "." else f"{name}."


def bare_name(name: str) -> str:
    """``name`` without its trailing dot."""
    return name[:-1] if name.endswith(".") else name


def same_name(a: str, b: str) -> bool:
    """Whether two names are the same, ignoring case and a trailing dot."""
    return bare_name(a).lower() == bare_name(b).lower()


def relative_name(
    name: str, origin: str, *, strict: bool = False, lower: bool = False, driver: Any = None
) -> str:
    """``name`` relative to zone ``origin`` (``""`` for the apex).

    ``name`` is relative already, ``""``/``"@"``, or absolute (a trailing dot).
    An absolute name outside the zone is returned absolute, or refused with
    :class:`~overcast.errors.InvalidInput` when ``strict``. ``lower`` folds the
    result to lower case (for providers that store names that way).
    """
    if name in APEX_NAMES:
        return ""
    if not name.endswith("."):
        return name.lower() if lower else name
    zone = bare_name(origin)
    full = bare_name(name)
    if full.lower() == zone.lower():
        return ""
    if zone and full.lower().endswith(f".{zone.lower()}"):
        relative = full[: -len(zone) - 1]
        return relative.lower() if lower else relative
    if strict:
        raise InvalidInput(f"record name {name!r} is not in zone {origin!r}", driver=driver)
    return name.lower() if lower else name


def check_free(name: str, rtype: str, present: Iterable[str], *, driver: Any = None) -> None:
    """Refuse a new set of type ``rtype`` at ``name`` where sets of the types
    ``present`` already stand (leave out a set the write replaces).

    :class:`~overcast.errors.RecordAlreadyExists` if a set of this type exists;
    :class:`~overcast.errors.InvalidInput` for a CNAME beside other data, or
    other data beside a CNAME (RFC 1034, 3.6.2). DNSSEC records
    (:data:`CNAME_COMPANIONS`) may stand beside a CNAME.
    """
    kind = rtype.upper()
    types = {t.upper() for t in present}
    shown = name or "@"
    if kind in types:
        raise RecordAlreadyExists(f"{shown}:{kind}", driver=driver)
    if kind in CNAME_COMPANIONS:
        return
    types -= CNAME_COMPANIONS
    if types and kind == "CNAME":
        raise InvalidInput(
            f"a CNAME may not share its name with other records: {shown!r} has "
            f"{', '.join(sorted(types))}",
            driver=driver,
        )
    if "CNAME" in types:
        raise InvalidInput(
            f"{shown!r} holds a CNAME; a CNAME may not share its name with other records",
            driver=driver,
        )


def validate_ipv4(value: str, *, driver: Any = None) -> str:
    """Check an A record value (dotted-quad IPv4, no leading zeros) and return it."""
    try:
        ipaddress.IPv4Address(value)
    except (ipaddress.AddressValueError, TypeError, ValueError) as exc:
        raise InvalidInput(
            f"A record value {value!r} is not an IPv4 address: {exc}", driver=driver
        ) from None
    return value


def validate_ipv6(value: str, *, driver: Any = None) -> str:
    """Check an AAAA record value (IPv6, without a ``%zone`` suffix) and return it."""
    try:
        address = ipaddress.IPv6Address(value)
    except (ipaddress.AddressValueError, TypeError, ValueError) as exc:
        raise InvalidInput(
            f"AAAA record value {value!r} is not an IPv6 address: {exc}", driver=driver
        ) from None
    if address.scope_id is not None:
        raise InvalidInput(
            f"AAAA record value {value!r} may not have a scope (%zone)", driver=driver
        )
    return value


def _uint16(field: str, what: str, value: str, driver: Any) -> int:
    if not field.isdigit() or int(field) > 0xFFFF:
        raise InvalidInput(
            f"{what} in {value!r} must be an integer from 0 to 65535, not {field!r}",
            driver=driver,
        )
    return int(field)


def _target(field: str, rtype: str, value: str, driver: Any, *, root: bool = False) -> None:
    if root and field == ".":
        return
    if field in APEX_NAMES:
        raise InvalidInput(f"{rtype} value {value!r} needs a target host name", driver=driver)
    validate_name(field, wildcard=False, what=f"{rtype} target", driver=driver)


def _check_value(rtype: str, value: str, driver: Any) -> None:
    if rtype == "A":
        validate_ipv4(value, driver=driver)
    elif rtype == "AAAA":
        validate_ipv6(value, driver=driver)
    elif rtype in TARGET_TYPES:
        _target(value, rtype, value, driver)
    elif rtype == "MX":
        fields = value.split()
        if len(fields) != 2:
            raise InvalidInput(
                f"MX value {value!r} must be 'preference exchange' (e.g. '10 mail.example.com.')",
                driver=driver,
            )
        _uint16(fields[0], "MX preference", value, driver)
        _target(fields[1], "MX", value, driver, root=True)
    elif rtype == "SRV":
        fields = value.split()
        if len(fields) != 4:
            raise InvalidInput(
                f"SRV value {value!r} must be 'priority weight port target' "
                "(e.g. '10 5 5060 sip.example.com.')",
                driver=driver,
            )
        for field, what in zip(fields[:3], ("SRV priority", "SRV weight", "SRV port"), strict=True):
            _uint16(field, what, value, driver)
        _target(fields[3], "SRV", value, driver, root=True)
    elif rtype == "CAA":
        fields = value.split(None, 2)
        if len(fields) != 3:
            raise InvalidInput(
                f"CAA value {value!r} must be 'flags tag value' (e.g. '0 issue \"ca.example\"')",
                driver=driver,
            )
        if not fields[0].isdigit() or int(fields[0]) > 255:
            raise InvalidInput(f"CAA flags in {value!r} must be 0 to 255", driver=driver)
        if not _CAA_TAG.match(fields[1]):
            raise InvalidInput(f"CAA tag in {value!r} must be letters and digits", driver=driver)


def validate_record_data(rtype: str, values: Sequence[str], *, driver: Any = None) -> list[str]:
    """Check the values of a record set of type ``rtype`` and return them as a list.

    A set needs at least one value, no value twice (two spellings of the same
    data, such as upper- and lower-case hex, count as one value), and exactly
    one value for CNAME, DNAME, ALIAS and SOA. TXT and SPF values are the text
    itself, unquoted and unsplit (any length, any characters). A value of any
    other type dnspython knows must parse as its zone-file form.
    """
    rtype = str(rtype).upper()
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise InvalidInput(
            f"{rtype} record data must be a string or a list of strings", driver=driver
        )
    result = list(values)
    if not result:
        raise InvalidInput(f"{rtype} record set needs at least one value", driver=driver)
    if rtype in SINGLETON_TYPES and len(result) > 1:
        raise InvalidInput(
            f"a {rtype} record set holds exactly one value, got {len(result)}", driver=driver
        )
    seen: set[str] = set()
    for value in result:
        if not isinstance(value, str):
            raise InvalidInput(
                f"{rtype} record value must be a string, not {type(value).__name__}",
                driver=driver,
            )
        if value in seen:
            raise InvalidInput(f"{rtype} record value {value!r} is given twice", driver=driver)
        seen.add(value)
        if rtype in TEXT_TYPES:
            try:
                value.encode("utf-8", "surrogateescape")
            except UnicodeEncodeError:
                raise InvalidInput(
                    f"{rtype} record value {value!r} is not valid text: it has a lone surrogate",
                    driver=driver,
                ) from None
            continue
        if not value.strip():
            raise InvalidInput(f"{rtype} record value may not be empty", driver=driver)
        if CONTROL.search(value):
            raise InvalidInput(
                f"{rtype} record value {value!r} contains a control character", driver=driver
            )
        _check_value(rtype, value, driver)
        if knows(rtype):
            to_rdata(rtype, value, driver=driver)
    if rtype not in TEXT_TYPES and len({canonical(rtype, v) for v in result}) < len(result):
        raise InvalidInput(
            f"{rtype} record values {result!r} give the same data twice", driver=driver
        )
    return result
