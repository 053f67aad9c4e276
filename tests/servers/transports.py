"""Every transport overcast ships, as ``(mode, option)`` pairs for
``pytest.mark.parametrize``: the runtime-option tests run on each of them."""

from __future__ import annotations

__all__ = ["IDS", "TRANSPORTS"]

#: (mode, transport option): every transport overcast ships.
TRANSPORTS = [
    ("sync", {"sync_transport": "pycurl"}),
    ("sync", {"sync_transport": "urllib3"}),
    ("sync", {"sync_transport": "httpx"}),
    ("async", {"async_transport": "pycurl"}),
    ("async", {"async_transport": "aiohttp"}),
    ("async", {"async_transport": "httpx"}),
]
IDS = ["pycurl", "urllib3", "httpx-sync", "pycurl-async", "aiohttp", "httpx-async"]
