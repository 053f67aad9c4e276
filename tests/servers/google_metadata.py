"""A fixture of the Compute Engine metadata server (the part credentials use).

Written from Google's "About VM metadata" and "Authenticate workloads using
service accounts" pages:

* Every request needs ``Metadata-Flavor: Google`` (else 403 with an HTML-ish
  text body); every answer carries ``Metadata-Flavor: Google``.
* ``GET /computeMetadata/v1/instance/service-accounts/default/token`` is
  ``{"access_token", "expires_in", "token_type": "Bearer"}``: a token the
  Compute Engine fixture accepts (issued by its :class:`GoogleAuth`).
* ``GET /computeMetadata/v1/project/project-id`` is the project id;
  ``GET /computeMetadata/v1/instance/zone`` is ``projects/<number>/zones/<zone>``.

:attr:`MetadataFixture.token_fetches` counts the token requests answered.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field

from servers.fakeapi import FakeAPI
from servers.fakeapi import FakeRequest
from servers.fakeapi import FakeResponse
from servers.google_api import GoogleAuth

FLAVOR = {"Metadata-Flavor": "Google"}


@dataclass
class MetadataFixture:
    """The metadata server's state: whose tokens it hands out, the instance's
    project and zone."""

    auth: GoogleAuth
    project: str
    zone: str
    api: FakeAPI = field(default_factory=FakeAPI)
    token_fetches: int = 0
    refused: int = 0

    def __post_init__(self) -> None:
        base = "/computeMetadata/v1"
        self.api.route("GET", base + "/instance/service-accounts/default/token")(self.token)
        self.api.route("GET", base + "/project/project-id")(
            lambda req: self._text(req, self.project))
        self.api.route("GET", base + "/instance/zone")(
            lambda req: self._text(req, f"projects/1234567890/zones/{self.zone}"))

    def _refuse(self, req: FakeRequest) -> FakeResponse | None:
        if req.header("Metadata-Flavor") != "Google":
            self.refused += 1
            return FakeResponse(403, b"Missing required header: Metadata-Flavor\n",
                                {"Content-Type": "text/html", **FLAVOR})
        return None

    def _text(self, req: FakeRequest, value: str) -> FakeResponse:
        if (refused := self._refuse(req)) is not None:
            return refused
        return FakeResponse(200, value.encode(), {"Content-Type": "application/text", **FLAVOR})

    def token(self, req: FakeRequest) -> FakeResponse:
        if (refused := self._refuse(req)) is not None:
            return refused
        self.token_fetches += 1
        return FakeResponse.json({"access_token": self.auth.issue(),
                                  "expires_in": self.auth.token_lifetime,
                                  "token_type": "Bearer"}, headers=FLAVOR)


@contextmanager
def serve(auth: GoogleAuth, project: str, zone: str) -> Iterator[tuple[MetadataFixture, str]]:
    """A metadata server handing out ``auth``'s tokens; yields it and its base URL."""
    fixture = MetadataFixture(auth, project, zone)
    with fixture.api.serving() as url:
        yield fixture, url
