"""Pluggable HTTP transports. The defaults were chosen by measurement (see
``bench/README.md``): libcurl through pycurl for the sync runner
(``pycurl``), libcurl's multi interface driven by the running asyncio loop for
the async runner on asyncio (``pycurl_async``: the same C transport, 15-20 %
less CPU per small GET than aiohttp through the runner), and httpx's async
client on trio (this transport and aiohttp integrate with asyncio only). aiohttp stays selectable
(``async_transport="aiohttp"``); urllib3 and httpx are optional sync
transports (extras ``urllib3`` and ``httpx``)."""

from overcast.runtime.transports.base import DEFAULT_POOL_SIZE
from overcast.runtime.transports.base import AsyncTransport
from overcast.runtime.transports.base import SyncTransport
from overcast.runtime.transports.base import Timeouts
from overcast.runtime.transports.base import TransportFailure

__all__ = ["DEFAULT_POOL_SIZE", "AsyncTransport", "SyncTransport", "Timeouts", "TransportFailure"]
