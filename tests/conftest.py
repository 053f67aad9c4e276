"""Shared fixtures: the scripted HTTP server and driver factories."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from servers.httpd import ScriptedServer
from servers.modes import MODES


@pytest.fixture(scope="session")
def http_server() -> Iterator[ScriptedServer]:
    """A real HTTP server on 127.0.0.1, shared by the session."""
    with ScriptedServer() as server:
        yield server


@pytest.fixture
def server(http_server: ScriptedServer) -> ScriptedServer:
    """The shared server with its records cleared for this test."""
    http_server.reset()
    return http_server


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    """Tests that take ``mode`` run once sync and once async (``servers.modes.call``)."""
    return str(request.param)
