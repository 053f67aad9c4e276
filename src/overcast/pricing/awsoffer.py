"""Linux on-demand prices from one region's EC2 offer file of the AWS Price
List Bulk API, read as it streams in (the file is several hundred MB).

An offer file is one JSON object::

    {"formatVersion": ..., "publicationDate": ..., ...,
     "products": {SKU: {"sku", "productFamily", "attributes": {...}}, ...},
     "terms": {"OnDemand": {SKU: {OFFER: {"priceDimensions": {RATE: {
                   "unit": "Hrs", "pricePerUnit": {"USD": "0.0104"}}}}}},
               "Reserved": {...}}}

:class:`OfferReader` is a sink (``write(chunk)``, then ``finish()``) that
walks the object's outer levels itself and decodes each product and each
SKU's terms on its own with :mod:`json`'s C decoder, so memory holds one
element at a time plus the matching SKUs, whatever the file's size. A product
is kept when it is a Linux instance with Shared tenancy, no pre-installed
software and Used capacity (``RunInstances``, on demand); its price is the
hourly USD figure of its OnDemand term. A price of 0 is left out (unknown).
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Mapping
from typing import Any
from typing import Final

__all__ = ["OfferReader", "is_linux_on_demand"]

_WS: Final = re.compile(r"[ \t\n\r]*")
#: What each level holds: the objects walked into, by path of keys.
_WALKED: Final = {(), ("products",), ("terms",)}
#: The outer fields kept (scalars of the root object).
_KEPT: Final = ("publicationDate", "version", "offerCode", "formatVersion")
#: Bytes a single element may take before the file is refused (a real
#: product or term is a few KB).
MAX_ELEMENT: Final = 16 * 1024 * 1024


class _More(Exception):
    """The buffer ends inside the next token: wait for more bytes."""


def is_linux_on_demand(product: Mapping[str, Any], region: str) -> str | None:
    """The instance type of a product that is a Linux, Shared tenancy, no
    pre-installed software, Used capacity, on-demand instance in ``region``;
    else None."""
    attributes = product.get("attributes")
    if not isinstance(attributes, Mapping):
        return None
    family = str(product.get("productFamily") or "")
    if not family.startswith("Compute Instance"):
        return None
    wanted = {"operatingSystem": "Linux", "tenancy": "Shared", "preInstalledSw": "NA",
              "capacitystatus": "Used"}
    if any(attributes.get(k) != v for k, v in wanted.items()):
        return None
    optional = {"operation": "RunInstances", "marketoption": "OnDemand",
                "licenseModel": "No License required", "locationType": "AWS Region",
                "regionCode": region}
    if any(attributes.get(k, v) != v for k, v in optional.items()):
        return None
    instance_type = attributes.get("instanceType")
    return str(instance_type) if instance_type else None


def _hourly_usd(offers: Any) -> float | None:
    """The hourly USD price of one SKU's OnDemand offers (the first tier)."""
    if not isinstance(offers, Mapping):
        return None
    for offer in offers.values():
        dimensions = offer.get("priceDimensions") if isinstance(offer, Mapping) else None
        if not isinstance(dimensions, Mapping):
            continue
        for dimension in dimensions.values():
            if not isinstance(dimension, Mapping) or dimension.get("unit") not in ("Hrs", "Hours"):
                continue
            if str(dimension.get("beginRange", "0")) not in ("0", "0.0"):
                continue
            usd: Any = (dimension.get("pricePerUnit") or {}).get("USD")
            try:
                return float(usd)
            except (TypeError, ValueError):
                return None
    return None


class OfferReader:
    """A sink that reads one region's offer file as it arrives.

    ``write`` each chunk in order, then :meth:`finish`, which returns
    ``{instance type: USD per hour}`` and raises :class:`ValueError` if the
    document is not a complete offer file (a truncated download among them).
    ``expected`` is the byte count the server announced, if any.
    """

    def __init__(self, region: str, expected: int | None = None) -> None:
        self.region = region
        self.expected = expected
        self.received = 0
        #: The root object's scalar fields (``publicationDate``, ...).
        self.header: dict[str, Any] = {}
        self._text = codecs.getincrementaldecoder("utf-8")()
        self._decoder = json.JSONDecoder()
        self._buf = ""
        self._pos = 0
        self._wait = 0  # characters to have before trying again after a _More
        self._path: list[str] = []  # keys of the objects walked into
        self._state = "start"
        self._key = ""
        self._products_done = False
        self._types: dict[str, str] = {}  # SKU -> instance type, kept products only
        self._early: dict[str, float] = {}  # prices of SKUs seen before the products
        self._prices: dict[str, float] = {}

    # -- the sink --------------------------------------------------------------------

    def write(self, data: bytes) -> int:
        """Take the next chunk of the file."""
        self.received += len(data)
        text = self._text.decode(data)
        self._buf = self._buf[self._pos:] + text if self._pos else self._buf + text
        self._pos = 0
        if len(self._buf) >= self._wait:
            self._run(final=False)
        return len(data)

    def finish(self) -> dict[str, float]:
        """The prices read; :class:`ValueError` if the file is incomplete."""
        if self.expected is not None and self.received != self.expected:
            raise ValueError(f"the offer file of {self.region} is {self.received} bytes of the "
                             f"{self.expected} announced: truncated")
        self._buf = self._buf[self._pos:] + self._text.decode(b"", final=True)
        self._pos = 0
        self._run(final=True)
        if self._state != "done":
            raise ValueError(f"the offer file of {self.region} ends early: truncated")
        for sku, price in self._early.items():
            instance_type = self._types.get(sku)
            if instance_type is not None:
                self._keep(instance_type, price)
        self._early.clear()
        return dict(self._prices)

    # -- walking the outer levels ------------------------------------------------------

    def _run(self, final: bool) -> None:
        try:
            while self._state != "done":
                self._step(final)
            rest = _WS.match(self._buf, self._pos)
            end = rest.end() if rest else self._pos
            if end < len(self._buf):
                raise ValueError(f"the offer file of {self.region} has data after its end")
        except _More:
            if final:
                return
            pending = len(self._buf) - self._pos
            if pending > MAX_ELEMENT:
                raise ValueError(f"an element of the offer file of {self.region} is over "
                                 f"{MAX_ELEMENT} bytes: not an offer file") from None
            self._wait = 2 * pending  # retry once at least as much again has come
            return
        self._wait = 0

    def _skip(self) -> int:
        found = _WS.match(self._buf, self._pos)
        pos = found.end() if found else self._pos
        if pos >= len(self._buf):
            raise _More
        return pos

    def _decode(self, pos: int, final: bool) -> tuple[Any, int]:
        try:
            value, end = self._decoder.raw_decode(self._buf, pos)
        except json.JSONDecodeError as exc:
            if final:
                raise ValueError(f"the offer file of {self.region} is cut short or not JSON: "
                                 f"{exc}") from None
            raise _More from None
        if end >= len(self._buf) and not final:
            raise _More  # a number cut by the chunk's end reads as a shorter one
        return value, end

    def _expect(self, pos: int, char: str) -> int:
        if self._buf[pos] != char:
            raise ValueError(f"the offer file of {self.region} is not an offer file: expected "
                             f"{char!r} at {self._buf[pos:pos + 20]!r}")
        return pos + 1

    def _step(self, final: bool) -> None:
        state = self._state
        pos = self._skip()
        if state == "start":
            self._pos = self._expect(pos, "{")
            self._state = "first"
            return
        char = self._buf[pos]
        if state in ("first", "next"):
            if char == "}":
                self._close(pos + 1)
                return
            if state == "next":
                pos = self._skip_to(self._expect(pos, ","))
            elif self._buf[pos] != '"':
                raise ValueError(f"the offer file of {self.region} is not an offer file")
            key, end = self._decode(pos, final)
            colon = self._skip_to(end)
            self._pos = self._expect(colon, ":")
            self._key = str(key)
            self._state = "value"
            return
        # state == "value"
        path = (*self._path, self._key)
        if path in _WALKED or (len(path) == 2 and path[0] == "terms"):
            self._pos = self._expect(pos, "{")
            self._path.append(self._key)
            self._state = "first"
            return
        value, end = self._decode(pos, final)
        self._element(value)
        self._pos = end
        self._state = "next"

    def _skip_to(self, pos: int) -> int:
        found = _WS.match(self._buf, pos)
        pos = found.end() if found else pos
        if pos >= len(self._buf):
            raise _More
        return pos

    def _close(self, pos: int) -> None:
        self._pos = pos
        if not self._path:
            self._state = "done"
            return
        if self._path.pop() == "products" and len(self._path) == 0:
            self._products_done = True
        self._state = "next"

    # -- the elements --------------------------------------------------------------

    def _element(self, value: Any) -> None:
        path = self._path
        if not path:
            if self._key in _KEPT and isinstance(value, str | int | float):
                self.header[self._key] = value
        elif path == ["products"]:
            if isinstance(value, Mapping):
                instance_type = is_linux_on_demand(value, self.region)
                if instance_type is not None:
                    self._types[self._key] = instance_type
        elif path == ["terms", "OnDemand"]:
            price = _hourly_usd(value)
            if price is None:
                return
            instance_type = self._types.get(self._key)
            if instance_type is not None:
                self._keep(instance_type, price)
            elif not self._products_done:
                self._early[self._key] = price

    def _keep(self, instance_type: str, price: float) -> None:
        if price > 0:
            self._prices.setdefault(instance_type, price)
