"""Amazon Route 53: hosted zones and resource record sets (REST/XML API 2013-04-01).

The driver speaks the REST API directly (``/2013-04-01/hostedzone``,
``/hostedzone/{Id}/rrset``), signed with AWS Signature V4
(:mod:`overcast.auth.aws_sigv4`, region ``us-east-1``, service ``route53``).
Responses are parsed with :mod:`defusedxml`, matching tags by their local name
so the XML namespace string does not matter.

How the API maps onto overcast's model:

* ``Zone.id`` is the bare hosted-zone id (``"Z1D633PJN98FT9"``, without
  ``/hostedzone/``); ``Zone.domain`` is the zone name with its trailing dot.
  Route 53 zones have no default TTL (``Zone.ttl`` is ``None``) and are always
  primary (``"master"``) zones.
* A :class:`~overcast.dns.base.RecordSet` is one resource record set. Its id is
  ``"<name>:<TYPE>"`` with the name relative to the zone (``"@"`` for the apex),
  plus ``":<SetIdentifier>"`` for the weighted, latency, failover, geolocation
  and multivalue sets that carry one. Values travel in zone-file form
  (TXT quoted and split into 255-byte strings) and come back in overcast's.
  Alias sets (no values, an ``AliasTarget``) are listed with the alias's DNS
  name as their one value and the target in ``extra["alias_target"]``.
* ``create_record_set`` reads the record sets at that name first: a set of the same
  type raises :class:`~overcast.errors.RecordAlreadyExists`, and a CNAME beside
  other data (or other data beside a CNAME) raises
  :class:`~overcast.errors.InvalidInput`, before any change is sent. A set
  with no TTL given gets :data:`DEFAULT_RECORD_TTL`, since Route 53 requires
  one and has no zone default.
* ``update_record_set`` sends an ``UPSERT`` when the name and type stay, else one
  change batch that deletes the old set and creates the new one (atomic).
* A zone-file import is sent in change batches within Route 53's limits (1,000
  values and 32,000 characters of values a request, an ``UPSERT`` counted
  twice): one batch for most zones, each applied atomically; if a later batch
  fails, the batches before it are undone (created sets deleted, replaced ones
  put back). An import does not replace routing-policy or alias sets.
* ``delete_zone`` first deletes every record set except the SOA and the apex NS
  sets, in change batches within Route 53's limits, then the hosted zone
  (Route 53 refuses to delete a zone that still holds other record sets).
* ``create_zone`` sends a unique ``CallerReference`` (Route 53's idempotency
  token). The runtime never resends a ``CreateHostedZone`` whose outcome is
  unknown (:class:`~overcast.errors.OutcomeUnknown`); the driver then looks
  the zone up by name and reference (``ListHostedZonesByName``) and sends
  again only if no zone was made, so a create never makes two zones. Route 53
  allows several zones of one name; overcast does not create a second one and
  raises :class:`~overcast.errors.ZoneAlreadyExists` instead.
* Listings are read page by page: hosted zones by ``Marker``/``NextMarker``,
  record sets from ``StartRecordName``/``StartRecordType``/
  ``StartRecordIdentifier`` (the next page's name, type and set identifier,
  kept together as one cursor). An answer that is not the document asked for
  (``ListHostedZonesResponse``, ...) is a :class:`~overcast.errors.ProviderError`,
  never an empty listing.
* Route 53 answers throttling with HTTP 400 and code ``Throttling`` (and
  ``PriorRequestNotComplete`` while an earlier change is still applied); the
  driver's error table maps these codes to
  :class:`~overcast.errors.RateLimited`, so the runtime retries them as it
  does a 429, with its backoff and at most ``RetryPolicy.max_attempts``
  attempts, then raises :class:`~overcast.errors.RateLimited`. A throttled
  request was not processed, so it is safe to resend even a create.
"""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from itertools import takewhile
from typing import Any
from typing import ClassVar
from typing import Final
from typing import TypeVar
from typing import Unpack
from urllib.parse import quote
from xml.etree.ElementTree import Element

from overcast.auth.aws_sigv4 import AwsCredentials
from overcast.auth.aws_sigv4 import SigV4Hooks
from overcast.dns import names
from overcast.dns.base import DNSDriver
from overcast.dns.base import RecordSet
from overcast.dns.base import RecordSpec
from overcast.dns.base import RecordStyle
from overcast.dns.base import RecordType
from overcast.dns.base import Zone
from overcast.dns.base import ZoneType
from overcast.dns.base import batches
from overcast.dns.records import from_presentation
from overcast.dns.records import to_presentation
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import NotSupported
from overcast.errors import OvercastError
from overcast.errors import ProviderError
from overcast.errors import RateLimited
from overcast.errors import RecordAlreadyExists
from overcast.errors import RecordNotFound
from overcast.errors import ZoneAlreadyExists
from overcast.errors import ZoneNotFound
from overcast.runtime.api import ErrorMap
from overcast.runtime.api import HttpApi
from overcast.runtime.api import Outcome
from overcast.runtime.api import RequestOptions
from overcast.runtime.api import When
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.effects import Request
from overcast.runtime.effects import Response
from overcast.runtime.operation import iterator
from overcast.runtime.operation import operation
from overcast.runtime.ops import collect
from overcast.runtime.ops import create_once
from overcast.runtime.options import check_endpoint
from overcast.runtime.options import check_page_size
from overcast.runtime.paging import Cursor
from overcast.runtime.paging import Page
from overcast.runtime.paging import paginate
from overcast.runtime.redact import Secret
from overcast.xml import child as _child
from overcast.xml import children as _children
from overcast.xml import escape
from overcast.xml import local as _local
from overcast.xml import text as _xml_text

__all__ = ["DEFAULT_ENDPOINT", "DEFAULT_RECORD_TTL", "Route53DNSDriver"]

T = TypeVar("T")

#: The global Route 53 endpoint.
DEFAULT_ENDPOINT: Final = "https://route53.amazonaws.com"
#: The TTL given to a record set created without one (Route 53 requires a TTL).
DEFAULT_RECORD_TTL: Final = 300
API_VERSION: Final = "2013-04-01"
XMLNS: Final = f"https://route53.amazonaws.com/doc/{API_VERSION}/"
#: Largest ``MaxItems`` Route 53 accepts for ListHostedZones / ListResourceRecordSets.
MAX_ZONE_PAGE: Final = 100
MAX_RECORD_PAGE: Final = 300
#: Record sets asked for per page when reading the sets of one name.
NAME_PAGE: Final = 20
#: Limits of one ChangeResourceRecordSets request (Route 53 quotas).
MAX_BATCH_VALUES: Final = 1000
MAX_BATCH_CHARS: Final = 32000
#: Error codes meaning "the request was not processed, try again later".
THROTTLING_CODES: Final = frozenset(
    {"Throttling", "ThrottlingException", "PriorRequestNotComplete"}
)
CREDENTIAL_CODES: Final = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "MissingAuthenticationToken",
        "ExpiredToken",
        "UnrecognizedClientException",
        "InvalidSignatureException",
    }
)
#: How often a create whose outcome is unknown is looked up and sent again.
CREATE_ATTEMPTS: Final = 3

_NO_OUTCOME: Final = Outcome()
_ZONE_ID = re.compile(r"[A-Za-z0-9]{1,32}\Z")
_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")


# -- XML helpers ------------------------------------------------------------------


def _text(element: Element | None, *steps: str) -> str | None:
    return _xml_text(element, *steps, strip=True)


def _truncated(root: Element) -> bool:
    return (_text(root, "IsTruncated") or "").lower() == "true"


def _serialize(element: Element) -> str:
    """An element and its subtree as XML text without namespace prefixes."""
    name = _local(element.tag)
    inner = escape((element.text or "").strip()) if len(element) == 0 else ""
    inner += "".join(_serialize(child) for child in element)
    return f"<{name}>{inner}</{name}>"


def _tag(name: str, value: str) -> str:
    return f"<{name}>{escape(value)}</{name}>"


# -- names and cursors --------------------------------------------------------------


def _unescape_name(name: str) -> str:
    """Route 53 writes ``*`` and other special characters as ``\\ddd`` (octal)."""
    return _OCTAL_ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), name)


def _name_of(text: str | None) -> str:
    """A name as Route 53 wrote it, unescaped and absolute."""
    return names.absolute_name(_unescape_name(text or ""), ".")


def _record_id(name: str, rtype: str, identifier: str | None = None) -> str:
    base = f"{name or '@'}:{rtype}"
    return f"{base}:{identifier}" if identifier is not None else base


def _split_record_id(record_id: str) -> tuple[str, str, str | None] | None:
    """``(relative name, TYPE, set identifier)`` from a record id, or None if malformed."""
    parts = str(record_id).split(":", 2)
    if len(parts) < 2:
        return None
    name, rtype = parts[0], parts[1].upper()
    identifier = parts[2] if len(parts) == 3 else None
    if not name or not rtype.isalnum():
        return None
    return ("" if name == "@" else name), rtype, identifier


def _cursor(*parts: str | None) -> str:
    """Several values that together say where the next page starts, as the one
    string the pager compares (so a repeated start is caught)."""
    return json.dumps(parts)


def _cursor_parts(cursor: Cursor) -> list[str | None]:
    parts: list[str | None] = json.loads(str(cursor))
    return parts


# -- the driver -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _RecordSet:
    """One resource record set as Route 53 returned it, and its XML."""

    name: str  # absolute, unescaped
    type: str
    identifier: str | None
    element: Element

    @classmethod
    def of(cls, element: Element) -> _RecordSet:
        """The set an ``<ResourceRecordSet>`` element describes."""
        return cls(
            _name_of(_text(element, "Name")),
            (_text(element, "Type") or "").upper(),
            _text(element, "SetIdentifier"),
            element,
        )

    def matches(self, fqdn: str, rtype: str | None = None) -> bool:
        return names.same_name(self.name, fqdn) and (rtype is None or self.type == rtype)


def _as_is(rs: _RecordSet) -> _RecordSet:
    return rs


class Route53DNSDriver(SigV4Hooks, HttpApi, DNSDriver):
    """Amazon Route 53 (REST/XML API 2013-04-01, AWS Signature V4).

    ``key``, ``secret`` and ``token`` are the access key id, secret access key
    and optional session token; without them, credentials come from the
    environment or the shared credentials file (``profile``). ``endpoint``
    points the driver elsewhere (moto, a proxy). ``page_size`` (at most 100)
    and ``record_page_size`` (at most 300) set how many zones and record sets
    each list request asks for. ``**options`` are the runtime options
    (``timeout``, ``retry``, ``hooks``, ...). No request is made here.

    >>> driver = Route53DNSDriver("AKIDEXAMPLE", "secret")  # doctest: +SKIP
    >>> zone = driver.create_zone("example.com.")  # doctest: +SKIP
    """

    signing_service: ClassVar[str] = "route53"
    #: Route 53 is global: its requests are signed for ``us-east-1``.
    region: str = "us-east-1"
    name: ClassVar[str] = "route53"
    label: ClassVar[str] = "Route 53"
    request_id_headers: ClassVar[tuple[str, ...]] = ("x-amzn-RequestId",)
    errors: ClassVar[ErrorMap] = ErrorMap(
        When(ZoneNotFound, code="NoSuchHostedZone"),
        When(ZoneAlreadyExists, code=("HostedZoneAlreadyExists", "ConflictingDomainExists")),
        When(RecordAlreadyExists, code="InvalidChangeBatch", says="already exists"),
        When(RecordNotFound, code="InvalidChangeBatch", says="not found"),
        When(RateLimited, code=THROTTLING_CODES),
        When(InvalidCredentials, code=CREDENTIAL_CODES),
        When(InvalidInput, code=("InvalidInput", "InvalidDomainName", "InvalidArgument")),
    )
    #: Apache Libcloud's Route 53 records: ids ``"TYPE:name"`` shared by a set's
    #: values, relative names (``""`` for the apex), TXT quoted as stored, the
    #: TTL in ``extra`` too.
    record_style: ClassVar[RecordStyle] = RecordStyle(ids="type:name", quoted_text=True,
                                                      ttl_in_extra=True)
    record_types: ClassVar[tuple[RecordType, ...]] = tuple(map(RecordType, (
        "A", "AAAA", "CAA", "CNAME", "DS", "HTTPS", "MX", "NAPTR", "NS", "PTR", "SPF", "SRV",
        "SSHFP", "SVCB", "TLSA", "TXT")))

    def __init__(self, key: str | None = None, secret: str | Secret | None = None,
                 token: str | Secret | None = None, *, profile: str | None = None,
                 endpoint: str | None = None, page_size: int = MAX_ZONE_PAGE,
                 record_page_size: int = MAX_RECORD_PAGE, **options: Any) -> None:
        self._credentials = AwsCredentials.resolve(key, secret, token, profile=profile)
        self.endpoint = check_endpoint(endpoint or DEFAULT_ENDPOINT, driver=self)
        self.page_size = check_page_size(page_size, maximum=MAX_ZONE_PAGE, driver=self)
        self.record_page_size = check_page_size(
            record_page_size, maximum=MAX_RECORD_PAGE, option="record_page_size", driver=self
        )
        super().__init__(**options)

    # -- requests ----------------------------------------------------------------------

    def _request(self, method: str, path: str, **options: Unpack[RequestOptions]) -> Request:
        """A request below ``/2013-04-01/``; a body is an XML document."""
        if options.get("body") is not None:
            options["headers"] = {"Content-Type": "text/xml", **(options.get("headers") or {})}
        return super()._request(method, f"/{API_VERSION}/{path}", **options)

    def _post(self, path: str, document: str, root: str, *, what: str, idempotent: bool,
              exists: type[ZoneAlreadyExists] | None = None) -> Op[Element]:
        """POST an XML document; the answer's root element, which must be ``root``."""
        try:
            body = document.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInput(f"{what}: the request has text with a lone surrogate",
                               driver=self) from None
        return (yield from self._xml(
            "POST", path, body=body, root=root, idempotent=idempotent,
            what=what, missing=ZoneNotFound, exists=exists,
        ))

    def _change(self, zone_id: str, changes: Sequence[tuple[str, str | Element]], *, what: str,
                idempotent: bool = False, comment: str | None = None) -> Op[Element]:
        """One ChangeResourceRecordSets batch; the answer's root element."""
        return (yield from self._post(
            f"{self._zone_path(zone_id)}/rrset", _change_batch(changes, comment),
            "ChangeResourceRecordSetsResponse", what=what, idempotent=idempotent,
        ))

    def _error(self, resp: Response, outcome: Outcome = _NO_OUTCOME) -> OvercastError:
        """The table's error; a zone that still holds record sets says so."""
        fault = self._redacted_fault(resp)
        if fault.code == "HostedZoneNotEmpty":
            return ProviderError(
                f"zone {outcome.what!r} still holds record sets other than SOA and NS "
                f"(added while it was being deleted?): {fault.message}",
                status=resp.status, code=fault.code, request_id=fault.request_id, driver=self,
            )
        return super()._error(resp, outcome)

    # -- zones -------------------------------------------------------------------------

    def _zone_path(self, zone_id: str) -> str:
        return f"hostedzone/{quote(zone_id, safe='')}"

    def _to_zone(self, element: Element, delegation: Element | None = None) -> Zone:
        raw_id = _text(element, "Id") or ""
        zone_id = raw_id.rsplit("/", 1)[-1]
        extra: dict[str, Any] = {
            "caller_reference": _text(element, "CallerReference"),
            "comment": _text(element, "Config", "Comment"),
            "private_zone": (_text(element, "Config", "PrivateZone") or "").lower() == "true",
        }
        count = _text(element, "ResourceRecordSetCount")
        if count and count.isdigit():
            extra["record_set_count"] = int(count)
        if delegation is not None:
            extra["name_servers"] = [
                (ns.text or "").strip()
                for ns in _children(_child(delegation, "NameServers"), "NameServer")
            ]
        domain = _name_of(_text(element, "Name"))
        return Zone(zone_id, domain, ZoneType.MASTER.value, None, driver=self, extra=extra)

    def _zone_in(self, root: Element, action: str) -> Zone:
        """The ``HostedZone`` (and its delegation set) of a GetHostedZone or
        CreateHostedZone answer."""
        element = _child(root, "HostedZone")
        if element is None:
            raise ProviderError(f"{action} answer has no HostedZone", driver=self)
        return self._to_zone(element, _child(root, "DelegationSet"))

    def _zones_of(self, root: Element) -> list[Zone]:
        return [self._to_zone(e) for e in _children(_child(root, "HostedZones"), "HostedZone")]

    def _check_zone_id(self, zone_id: str) -> str:
        """The bare id; ZoneNotFound at once for text that cannot be a zone id."""
        if not isinstance(zone_id, str):
            raise InvalidInput(f"zone id must be a string: {zone_id!r}", driver=self)
        bare = zone_id.removeprefix("/hostedzone/")
        if not _ZONE_ID.match(bare):
            raise ZoneNotFound(zone_id, driver=self)
        return bare

    @iterator
    def iterate_zones(self) -> Iter[Zone]:
        """Every hosted zone, page by page (``Marker`` / ``NextMarker``)."""

        def fetch(marker: Cursor | None) -> Op[Page[Zone]]:
            params = [("maxitems", str(self.page_size))]
            if marker is not None:
                params.append(("marker", str(marker)))
            root = yield from self._xml("GET", "hostedzone", params=params,
                                        root="ListHostedZonesResponse")
            return Page.marker(self._zones_of(root), _truncated(root),
                               next_marker=_text(root, "NextMarker"))

        yield from paginate(fetch, what="ListHostedZones", driver=self)

    @operation
    def get_zone(self, zone_id: str) -> Op[Zone]:
        """The hosted zone ``zone_id`` (bare or ``/hostedzone/`` form), with its
        name servers in ``extra["name_servers"]``."""
        bare = self._check_zone_id(zone_id)
        root = yield from self._xml("GET", self._zone_path(bare), root="GetHostedZoneResponse",
                                    what=zone_id, missing=ZoneNotFound)
        return self._zone_in(root, "GetHostedZone")

    def _zones_named(self, fqdn: str) -> Op[list[Zone]]:
        """Every hosted zone named ``fqdn`` (ListHostedZonesByName from that name on;
        zones come in name order, so the first other name ends the search)."""

        def fetch(cursor: Cursor | None) -> Op[Page[Zone]]:
            dns_name, zone_id = _cursor_parts(cursor) if cursor is not None else (fqdn, None)
            params = [("dnsname", str(dns_name)), ("maxitems", str(self.page_size))]
            if zone_id is not None:
                params.append(("hostedzoneid", zone_id))
            root = yield from self._xml("GET", "hostedzonesbyname", params=params,
                                        root="ListHostedZonesByNameResponse")
            zones = self._zones_of(root)
            named = [z for z in zones if names.same_name(z.domain, fqdn)]
            next_name, next_id = _text(root, "NextDNSName"), _text(root, "NextHostedZoneId")
            more = (len(named) == len(zones) and _truncated(root) and next_name and next_id
                    and names.same_name(_unescape_name(next_name), fqdn))
            return Page.token(named, _cursor(next_name, next_id) if more else None)

        return (yield from collect(paginate(fetch, what="ListHostedZonesByName", driver=self)))

    def _zone_by_reference(self, fqdn: str, reference: str) -> Op[Zone | None]:
        zones = yield from self._zones_named(fqdn)
        return next((z for z in zones if z.extra.get("caller_reference") == reference), None)

    @operation
    def create_zone(self, domain: str, type: ZoneType | str = ZoneType.MASTER,
                    ttl: int | None = None, extra: Mapping[str, Any] | None = None) -> Op[Zone]:
        """Create a public hosted zone for ``domain``.

        ``extra`` may hold ``comment`` and ``delegation_set_id`` (a reusable
        delegation set). Route 53 zones are primary zones: ``type="slave"``
        raises :class:`NotSupported`. They have no default TTL either: ``ttl`` is
        checked and accepted, as Apache Libcloud's Route 53 driver does (and as
        zone-file imports pass ``$TTL``), but Route 53 cannot keep it, so the
        zone returned has ``ttl=None``; record sets get their own TTL.
        :class:`ZoneAlreadyExists` if the account has a zone of that name.
        """
        fqdn = self._check_domain(domain)
        if str(type).lower() != ZoneType.MASTER.value:
            raise NotSupported("Route 53 hosts only primary (master) zones", driver=self)
        self._record_ttl(ttl, None)
        options = dict(extra or {})
        unknown = set(options) - {"comment", "delegation_set_id"}
        if unknown:
            raise InvalidInput(
                f"unknown extra for a Route 53 zone: {', '.join(sorted(unknown))}", driver=self
            )
        comment = options.get("comment")
        if comment is not None and not isinstance(comment, str):
            raise InvalidInput("extra['comment'] must be a string", driver=self)
        delegation = options.get("delegation_set_id")
        if delegation is not None and not isinstance(delegation, str):
            raise InvalidInput("extra['delegation_set_id'] must be a string", driver=self)
        reference = f"overcast-{uuid.uuid4().hex}"
        body = [
            f'<?xml version="1.0" encoding="UTF-8"?><CreateHostedZoneRequest xmlns="{XMLNS}">',
            _tag("Name", fqdn),
            _tag("CallerReference", reference),
        ]
        if comment is not None:
            body.append(f"<HostedZoneConfig>{_tag('Comment', comment)}</HostedZoneConfig>")
        if delegation is not None:
            body.append(_tag("DelegationSetId", delegation))
        body.append("</CreateHostedZoneRequest>")
        document = "".join(body)

        if (yield from self._zones_named(fqdn)):
            raise ZoneAlreadyExists(fqdn, driver=self)
        attempts = 0

        def send() -> Op[Zone]:
            nonlocal attempts
            attempts += 1
            try:
                root = yield from self._post("hostedzone", document, "CreateHostedZoneResponse",
                                             what=fqdn, idempotent=False,
                                             exists=ZoneAlreadyExists)
            except ZoneAlreadyExists:
                if attempts > 1:  # our reference was used by an earlier attempt after all
                    made = yield from find()
                    if made is not None:
                        return made
                raise
            zone = self._zone_in(root, "CreateHostedZone")
            zone.extra["change_id"] = _text(root, "ChangeInfo", "Id")
            return zone

        def find() -> Op[Zone | None]:
            # The zone may or may not exist: find it by its CallerReference.
            return (yield from self._zone_by_reference(fqdn, reference))

        return (yield from create_once(send, find, attempts=CREATE_ATTEMPTS))

    def _check_domain(self, domain: str) -> str:
        if not isinstance(domain, str) or domain in names.APEX_NAMES or domain == ".":
            raise InvalidInput(f"zone domain must be a DNS name: {domain!r}", driver=self)
        names.validate_name(domain, wildcard=False, what="zone domain", driver=self)
        # Route 53 keeps zone names in lower case (moto compares them as given).
        return names.absolute_name("", domain).lower()

    @operation
    def update_zone(self, zone: Zone, domain: str | None,
                    type: ZoneType | str | None = ZoneType.MASTER, ttl: int | None = None,
                    extra: Mapping[str, Any] | None = None) -> Op[Zone]:
        """Change a zone's comment (``extra={"comment": ...}``), the one thing
        Route 53 lets change (UpdateHostedZoneComment).

        A different ``domain``, ``type="slave"`` or a ``ttl`` raise
        :class:`NotSupported`.
        """
        if domain is not None and not names.same_name(domain, zone.domain):
            raise NotSupported("Route 53 cannot rename a hosted zone", driver=self)
        if type is not None and str(type).lower() != ZoneType.MASTER.value:
            raise NotSupported("Route 53 hosts only primary (master) zones", driver=self)
        if ttl is not None:
            raise NotSupported("Route 53 zones have no default TTL", driver=self)
        options = dict(extra or {})
        unknown = set(options) - {"comment"}
        if unknown:
            raise InvalidInput(
                f"Route 53 can change only a zone's comment, not: {', '.join(sorted(unknown))}",
                driver=self,
            )
        bare = self._check_zone_id(zone.id)
        if "comment" not in options:
            return (yield from self.get_zone.op(bare))
        comment = options["comment"]
        if comment is not None and not isinstance(comment, str):
            raise InvalidInput("extra['comment'] must be a string", driver=self)
        document = (
            f'<?xml version="1.0" encoding="UTF-8"?>'
            f'<UpdateHostedZoneCommentRequest xmlns="{XMLNS}">'
            f"{_tag('Comment', comment or '')}</UpdateHostedZoneCommentRequest>"
        )
        root = yield from self._post(self._zone_path(bare), document,
                                     "UpdateHostedZoneCommentResponse", what=zone.id,
                                     idempotent=True)
        element = _child(root, "HostedZone")
        if element is None:
            return (yield from self.get_zone.op(bare))
        return self._to_zone(element)

    @operation
    def delete_zone(self, zone: Zone) -> Op[bool]:
        """Delete a zone: first every record set but the SOA and the apex NS
        (in change batches), then the hosted zone itself."""
        bare = self._check_zone_id(zone.id)
        sets = yield from collect(self._record_sets(bare, zone.id, _as_is))
        doomed = [s for s in sets if not (s.type in ("SOA", "NS") and s.matches(zone.domain))]
        for batch in batches(doomed, _set_size, _BATCH_LIMITS):
            with contextlib.suppress(RecordNotFound):  # deleted meanwhile: fine
                yield from self._change(bare, [("DELETE", s.element) for s in batch],
                                        what=zone.id, comment="overcast delete_zone")
        yield from self._send("DELETE", self._zone_path(bare), what=zone.id,
                              missing=ZoneNotFound)
        return True

    # -- records -----------------------------------------------------------------------

    def _record_sets(self, zone_id: str, what: str, convert: Callable[[_RecordSet], T],
                     fqdn: str | None = None, rtype: str | None = None) -> Iter[T]:
        """Iterator operation: every record set of a zone (as ``convert`` makes it), in
        Route 53's order; with ``fqdn``, only the sets of that name (and type
        ``rtype``), read from there.

        A page's cursor is the name, type and set identifier the next page starts
        at (``NextRecordName``, ``NextRecordType``, ``NextRecordIdentifier``).
        """
        first = _cursor(fqdn, rtype) if fqdn is not None else None

        def fetch(cursor: Cursor | None) -> Op[Page[T]]:
            if fqdn is None:
                size = self.record_page_size
            else:  # one set is asked for by name and type; more may share them
                size = 1 if cursor == first and rtype is not None else NAME_PAGE
            start = _cursor_parts(cursor) if cursor is not None else []
            params = [(key, value) for key, value in zip(("name", "type", "identifier"), start,
                                                         strict=False) if value is not None]
            root = yield from self._xml(
                "GET", f"{self._zone_path(zone_id)}/rrset",
                params=[*params, ("maxitems", str(size))],
                root="ListResourceRecordSetsResponse", what=what, missing=ZoneNotFound,
            )
            sets = [_RecordSet.of(e) for e in
                    _children(_child(root, "ResourceRecordSets"), "ResourceRecordSet")]
            if fqdn is not None:
                wanted = list(takewhile(lambda rs: rs.matches(fqdn, rtype), sets))
                if len(wanted) < len(sets):  # past the name: nothing further matches
                    return Page.last([convert(rs) for rs in wanted])
            return Page.token([convert(rs) for rs in sets], self._next_start(root))

        return paginate(fetch, first=first, what=f"ListResourceRecordSets {what}", driver=self)

    def _next_start(self, root: Element) -> str | None:
        """Where the page after ``root`` starts; ``None`` on the last page."""
        if not _truncated(root):
            return None
        name = _text(root, "NextRecordName")
        if not name:
            raise ProviderError("a truncated record set listing gave no NextRecordName",
                                driver=self)
        return _cursor(name, _text(root, "NextRecordType"),
                       _text(root, "NextRecordIdentifier"))

    def _sets_at(self, zone: Zone, fqdn: str, rtype: str | None = None
                 ) -> Op[list[_RecordSet]]:
        """Every record set named ``fqdn`` (of type ``rtype`` if given)."""
        bare = self._check_zone_id(zone.id)
        return (yield from collect(self._record_sets(bare, zone.id, _as_is, fqdn, rtype)))

    def _to_record(self, zone: Zone, rs: _RecordSet) -> RecordSet:
        element = rs.element
        values: list[str] = []
        for item in _children(_child(element, "ResourceRecords"), "ResourceRecord"):
            text = _text(item, "Value") or ""
            try:
                values.append(from_presentation(rs.type, text))
            except (InvalidInput, ValueError):
                values.append(text)
        extra: dict[str, Any] = {}
        alias = _child(element, "AliasTarget")
        if alias is not None:
            dns_name = _text(alias, "DNSName") or ""
            extra["alias_target"] = {
                "hosted_zone_id": _text(alias, "HostedZoneId"),
                "dns_name": dns_name,
                "evaluate_target_health": (
                    (_text(alias, "EvaluateTargetHealth") or "").lower() == "true"
                ),
            }
            if not values:
                values = [dns_name]
        for key, tag in (
            ("set_identifier", "SetIdentifier"),
            ("weight", "Weight"),
            ("region", "Region"),
            ("failover", "Failover"),
            ("multi_value_answer", "MultiValueAnswer"),
            ("health_check_id", "HealthCheckId"),
        ):
            value = _text(element, tag)
            if value is not None:
                extra[key] = value
        ttl_text = _text(element, "TTL")
        ttl = int(ttl_text) if ttl_text and ttl_text.isdigit() else None
        name = names.relative_name(rs.name, zone.domain)
        if not values:
            values = [""]
        return RecordSet(
            _record_id(name, rs.type, rs.identifier),
            name,
            rs.type,
            values[0],
            zone,
            driver=self,
            ttl=ttl,
            extra=extra,
            values=values,
        )

    @iterator
    def iterate_record_sets(self, zone: Zone) -> Iter[RecordSet]:
        """Every record set of a zone, page by page (``StartRecordName`` /
        ``StartRecordType`` / ``StartRecordIdentifier`` from the page before)."""
        bare = self._check_zone_id(zone.id)
        yield from self._record_sets(bare, zone.id, partial(self._to_record, zone))

    def _find_set(self, zone: Zone, record_id: str) -> Op[_RecordSet]:
        parsed = _split_record_id(record_id)
        if parsed is None:
            raise RecordNotFound(record_id, driver=self)
        name, rtype, identifier = parsed
        try:
            names.validate_name(name, what="record name", driver=self)
        except InvalidInput:
            raise RecordNotFound(record_id, driver=self) from None
        fqdn = names.absolute_name(name, zone.domain)
        for rs in (yield from self._sets_at(zone, fqdn, rtype)):
            if rs.identifier == identifier:
                return rs
        raise RecordNotFound(record_id, driver=self)

    @operation
    def get_record_set(self, zone_id: str, record_id: str) -> Op[RecordSet]:
        """A record set by zone id and record id (``"www:A"``, ``"@:MX"``)."""
        zone = yield from self.get_zone.op(zone_id)
        rs = yield from self._find_set(zone, record_id)
        return self._to_record(zone, rs)

    def _write(self, spec: RecordSpec, ttl: int, changes: Sequence[tuple[str, str | Element]],
               *, idempotent: bool = False) -> Op[RecordSet]:
        """Send one change batch that writes ``spec``; the set as written."""
        bare = self._check_zone_id(spec.zone.id)
        root = yield from self._change(bare, changes, what=spec.id, idempotent=idempotent)
        return RecordSet(
            spec.id, spec.name, spec.type.value, spec.values[0], spec.zone, driver=self, ttl=ttl,
            extra={"change_id": _text(root, "ChangeInfo", "Id")}, values=list(spec.values),
        )

    def _store_new_set(self, spec: RecordSpec) -> Op[RecordSet]:
        """Create a record set (a ``CREATE`` change); see the module notes for the
        checks made first. A TTL not given is :data:`DEFAULT_RECORD_TTL`."""
        zone = spec.zone
        ttl_value = DEFAULT_RECORD_TTL if spec.ttl is None else spec.ttl
        fqdn = names.absolute_name(spec.name, zone.domain)
        existing = yield from self._sets_at(zone, fqdn)
        spec.check_free([rs.type for rs in existing], driver=self)
        create = [("CREATE", _set_xml(fqdn, spec.type.value, ttl_value, spec.values))]

        def find() -> Op[RecordSet | None]:
            # Made by an attempt whose answer was lost?
            found = yield from self._sets_at(zone, fqdn, spec.type.value)
            return self._to_record(zone, found[0]) if found else None

        return (yield from create_once(lambda: self._write(spec, ttl_value, create), find,
                                       attempts=CREATE_ATTEMPTS))

    def _store_changed_set(self, record: RecordSet, spec: RecordSpec) -> Op[RecordSet]:
        """Replace a record set: an ``UPSERT`` when the name and type stay, else
        one atomic batch deleting the old set and creating the new one."""
        ttl_value = next(t for t in (spec.ttl, record.ttl, DEFAULT_RECORD_TTL) if t is not None)
        current = yield from self._find_set(record.zone, record.id)
        if current.identifier is not None:
            raise NotSupported(
                "updating a routing-policy record set (with a SetIdentifier) is not supported",
                driver=self,
            )
        fqdn = names.absolute_name(spec.name, record.zone.domain)
        element = _set_xml(fqdn, spec.type.value, ttl_value, spec.values)
        if not spec.moved:
            return (yield from self._write(spec, ttl_value, [("UPSERT", element)],
                                           idempotent=True))
        existing = yield from self._sets_at(record.zone, fqdn)
        spec.check_free([rs.type for rs in existing], driver=self)
        return (yield from self._write(spec, ttl_value,
                                       [("DELETE", current.element), ("CREATE", element)]))

    def _store_sets(self, zone: Zone, specs: Sequence[RecordSpec]) -> Op[None]:
        """Write an import in change batches within Route 53's limits (each batch
        atomic; a later one failing undoes those before it). A TTL not given is
        :data:`DEFAULT_RECORD_TTL`."""
        bare = self._check_zone_id(zone.id)
        for spec in specs:
            old = spec.replaces
            if old is not None and ("set_identifier" in old.extra or "alias_target" in old.extra):
                raise NotSupported(f"an import cannot replace {spec.id}, a routing-policy or "
                                   "alias record set", driver=self)
        elements = {spec.id: self._element(spec, spec.ttl, spec.values) for spec in specs}

        def size(spec: RecordSpec) -> tuple[int, int]:
            twice = 2 if spec.replaces is not None else 1  # Route 53 counts an UPSERT twice
            return twice * len(spec.values), twice * sum(
                len(to_presentation(spec.type.value, v)) for v in spec.values)

        def write(step: Sequence[RecordSpec]) -> Op[None]:
            changes = [("CREATE" if spec.replaces is None else "UPSERT", elements[spec.id])
                       for spec in step]
            yield from self._change(bare, changes, what=zone.id, comment="overcast import")

        def undo(step: Sequence[RecordSpec]) -> Op[None]:
            changes: list[tuple[str, str | Element]] = []
            for spec in step:
                old = spec.replaces
                if old is None:
                    changes.append(("DELETE", elements[spec.id]))
                else:
                    changes.append(("UPSERT", self._element(spec, old.ttl, old.values)))
            yield from self._change(bare, changes, what=zone.id,
                                    comment="overcast import rolled back")

        yield from self._write_steps(zone, batches(specs, size, _BATCH_LIMITS), write, undo)

    @staticmethod
    def _element(spec: RecordSpec, ttl: int | None, values: Sequence[str]) -> str:
        """The ``ResourceRecordSet`` of ``spec``'s name and type with ``values``."""
        fqdn = names.absolute_name(spec.name, spec.zone.domain)
        return _set_xml(fqdn, spec.type.value, DEFAULT_RECORD_TTL if ttl is None else ttl,
                        values)

    @operation
    def delete_record_set(self, record: RecordSet) -> Op[bool]:
        """Delete a record set (a ``DELETE`` change with the set exactly as it is
        now, read first); :class:`RecordNotFound` if it is gone."""
        zone = record.zone
        bare = self._check_zone_id(zone.id)
        current = yield from self._find_set(zone, record.id)

        def send() -> Op[bool]:
            yield from self._change(bare, [("DELETE", current.element)], what=record.id)
            return True

        def gone() -> Op[bool | None]:
            # A delete whose answer was lost happened if the set is gone; if it is
            # still there, nothing was done and the change is sent again.
            try:
                yield from self._find_set(zone, record.id)
            except RecordNotFound:
                return True
            return None

        return (yield from create_once(send, gone))


# -- request bodies -------------------------------------------------------------------


def _set_xml(fqdn: str, rtype: str, ttl: int, values: Sequence[str]) -> str:
    records = "".join(
        f"<ResourceRecord>{_tag('Value', to_presentation(rtype, v))}</ResourceRecord>"
        for v in values
    )
    return (
        f"<ResourceRecordSet>{_tag('Name', fqdn)}{_tag('Type', rtype)}{_tag('TTL', str(ttl))}"
        f"<ResourceRecords>{records}</ResourceRecords></ResourceRecordSet>"
    )


def _change_batch(changes: Sequence[tuple[str, str | Element]], comment: str | None = None) -> str:
    parts = [
        f'<?xml version="1.0" encoding="UTF-8"?><ChangeResourceRecordSetsRequest xmlns="{XMLNS}">',
        "<ChangeBatch>",
    ]
    if comment:
        parts.append(_tag("Comment", comment))
    parts.append("<Changes>")
    for action, rrset in changes:
        text = rrset if isinstance(rrset, str) else _serialize(rrset)
        parts.append(f"<Change>{_tag('Action', action)}{text}</Change>")
    parts.append("</Changes></ChangeBatch></ChangeResourceRecordSetsRequest>")
    return "".join(parts)


#: Route 53's limits on one change batch, in the units :func:`_set_size` measures.
_BATCH_LIMITS: Final = (MAX_BATCH_VALUES, MAX_BATCH_CHARS)


def _set_size(rs: _RecordSet) -> tuple[int, int]:
    """A set's values and characters of values, as Route 53 counts them in a batch
    (an alias set, with no values, counts one)."""
    values = [
        _text(item, "Value") or ""
        for item in _children(_child(rs.element, "ResourceRecords"), "ResourceRecord")
    ]
    return max(1, len(values)), sum(len(v) for v in values)
