"""A fixture Azure Instance Metadata Service (IMDS): managed identity tokens and
instance metadata, as a VM inside Azure sees them.

Written from Microsoft's references ("Azure Instance Metadata Service",
"How to use managed identities for Azure resources on an Azure VM to acquire
an access token"):

* every request needs the header ``Metadata: true`` (else 400
  ``{"error": "invalid_request", "error_description": "Required metadata
  header not specified"}``) and an ``api-version``;
* ``GET /metadata/identity/oauth2/token?resource=...`` answers
  ``{"access_token", "client_id", "expires_in", "expires_on", "ext_expires_in",
  "not_before", "resource", "token_type"}``, times as strings of seconds; the
  token is issued by the ARM fixture it serves (``identity``), so ARM calls
  accept it. An unknown ``resource`` is 400 ``invalid_resource``;
* ``GET /metadata/instance`` answers ``{"compute": {...}, "network": {...}}``
  with the VM's subscription, resource group, location and name.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field

from servers.azure_arm import SUBSCRIPTION
from servers.azure_arm import ArmIdentity
from servers.fakeapi import FakeAPI
from servers.fakeapi import FakeRequest
from servers.fakeapi import FakeResponse

ARM_RESOURCE = "https://management.azure.com/"
TOKEN_VERSIONS = ("2018-02-01", "2019-08-01")
CLIENT_ID = "8e1b2c3d-0000-4000-8000-000000000abc"


@dataclass
class ImdsFixture:
    """IMDS in front of an ARM fixture's identity."""

    identity: ArmIdentity
    resource_group: str
    location: str = "eastus"
    lifetime: int = 3600
    api: FakeAPI = field(default_factory=FakeAPI)
    base_url: str = ""

    def __post_init__(self) -> None:
        self.api.route("GET", "/metadata/identity/oauth2/token")(self.token)
        self.api.route("GET", "/metadata/instance")(self.instance)

    def count(self, path: str) -> int:
        """How many requests reached ``path``."""
        with self.api.lock:
            return sum(1 for r in self.api.requests if r.path == path)

    @staticmethod
    def _refuse(req: FakeRequest, versions: tuple[str, ...]) -> FakeResponse | None:
        if req.header("Metadata") != "true":
            return FakeResponse.json({"error": "invalid_request",
                                      "error_description": "Required metadata header not "
                                                           "specified"}, 400)
        if req.arg("api-version") not in versions:
            return FakeResponse.json({"error": "Bad request. api-version is invalid or was "
                                               "not specified in the request."}, 400)
        return None

    def token(self, req: FakeRequest) -> FakeResponse:
        if (refused := self._refuse(req, TOKEN_VERSIONS)) is not None:
            return refused
        if req.arg("resource") != ARM_RESOURCE:
            return FakeResponse.json({"error": "invalid_resource",
                                      "error_description": "AADSTS500011: The resource "
                                                           "principal was not found."}, 400)
        now = int(time.time())
        with self.identity.api.lock:
            token = self.identity.issue(self.lifetime)
        return FakeResponse.json({
            "access_token": token, "client_id": CLIENT_ID, "expires_in": str(self.lifetime),
            "expires_on": str(now + self.lifetime), "ext_expires_in": str(self.lifetime),
            "not_before": str(now), "resource": ARM_RESOURCE, "token_type": "Bearer"})

    def instance(self, req: FakeRequest) -> FakeResponse:
        if (refused := self._refuse(req, ("2021-02-01", "2021-12-13"))) is not None:
            return refused
        return FakeResponse.json({
            "compute": {"azEnvironment": "AzurePublicCloud", "location": self.location,
                        "name": "overcast-runner", "resourceGroupName": self.resource_group,
                        "subscriptionId": SUBSCRIPTION, "vmSize": "Standard_B1s",
                        "osType": "Linux"},
            "network": {"interface": [{"ipv4": {"ipAddress": [
                {"privateIpAddress": "10.0.0.4", "publicIpAddress": ""}]}}]},
        })


@contextlib.contextmanager
def serve_imds(identity: ArmIdentity, resource_group: str, **settings: object
               ) -> Iterator[ImdsFixture]:
    """An IMDS fixture on a free port in front of ``identity``."""
    fixture = ImdsFixture(identity, resource_group, **settings)  # type: ignore[arg-type]
    with fixture.api.serving() as base_url:
        fixture.base_url = base_url
        yield fixture
