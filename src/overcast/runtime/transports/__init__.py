"""Pluggable HTTP transports. The defaults were chosen by ``bench/transport.py``
(see ``bench/README.md``): pycurl (libcurl) for the sync runner, aiohttp for the
async runner on asyncio, and httpx's async client on trio (aiohttp runs only on
asyncio). urllib3 and httpx are optional sync transports (extras ``urllib3``
and ``httpx``)."""

from overcast.runtime.transports.base import DEFAULT_POOL_SIZE
from overcast.runtime.transports.base import AsyncTransport
from overcast.runtime.transports.base import SyncTransport
from overcast.runtime.transports.base import Timeouts
from overcast.runtime.transports.base import TransportFailure

__all__ = ["DEFAULT_POOL_SIZE", "AsyncTransport", "SyncTransport", "Timeouts", "TransportFailure"]
