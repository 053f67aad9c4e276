"""The Compute Engine part of ``bench/compute_list.py``: the fixture server
seeded with running instances, and the two clients pointed at it.

* The server is the tests' fixture (``tests/servers/compute_gce.py``) with
  ``nodes`` RUNNING instances in ``us-central1-a``; a service account's key
  is registered for overcast's JWT exchange, and a token is planted for
  Libcloud, whose credential file (Libcloud's token cache) holds it.
* overcast: ``GCENodeDriver(project=, credentials_info=, datacenter=)`` with
  ``page_size=100``: one token request at warm-up, then 5 pages of the zone.
* Libcloud 3.9.1: ``GCENodeDriver(email, key, project=, auth_type="SA",
  credential_file=)``, its connection pointed at the fixture; its ``list_nodes`` asks
  ``aggregated/instances`` (pages of 500) and ``aggregated/disks`` (its disk
  cache for the boot disks) and, once, the zones.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from typing import Any

PROJECT = "overcast-test"
ZONE = "us-central1-a"
EMAIL = "bench@overcast-test.iam.gserviceaccount.com"
LIBCLOUD_TOKEN = "ya29.bench-libcloud-token"


def _key() -> tuple[str, Any]:
    """The bench service account's key: made once and kept in a file, so the
    server's process and the clients' (forked before it is made) share it."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    path = os.path.join(tempfile.gettempdir(), "overcast-gce-bench-key.pem")
    try:
        with open(path, "rb") as f:
            key = serialization.load_pem_private_key(f.read(), password=None)
    except FileNotFoundError:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())
        with open(path, "wb") as f:
            f.write(data)
    assert isinstance(key, rsa.RSAPrivateKey)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return pem, key.public_key()


#: The service account's key.
PEM, PUBLIC = _key()


def seeded_server(nodes: int) -> Any:
    """The fixture server holding ``nodes`` running instances."""
    from servers.compute_gce import GCEServer

    server = GCEServer()
    # Resource links name Compute Engine's own host, as real answers do
    # (Libcloud takes a zone link for a name unless it starts with https://).
    server.state.base_url = "https://compute.googleapis.com"
    server.auth.accounts[EMAIL] = PUBLIC
    server.auth.tokens[LIBCLOUD_TOKEN] = time.time() + 86400
    image = "projects/debian-cloud/global/images/debian-12-bookworm-v20250101"
    for n in range(nodes):
        made = server._new_instance(ZONE, {
            "name": f"bench-{n:04d}", "machineType": f"zones/{ZONE}/machineTypes/e2-small",
            "disks": [{"boot": True, "autoDelete": True,
                       "initializeParams": {"sourceImage": image}}],
            "networkInterfaces": [{"network": "global/networks/default",
                                   "accessConfigs": [{"type": "ONE_TO_ONE_NAT"}]}],
            "labels": {"bench": "yes"}})
        assert isinstance(made, dict)
        server._create_instance(ZONE, made)
        server._boot(made)
    dispatch = server.dispatch

    def addressed(request: Any) -> Any:  # the token audience is the URL it is served at
        if not server.auth.base_url:
            server.auth.base_url = f"http://{request.header('Host')}"
        return dispatch(request)

    server.dispatch = addressed
    return server


def overcast_driver(base: str, page: int) -> Any:
    from overcast.compute.drivers.gce import GCENodeDriver

    return GCENodeDriver(project=PROJECT, datacenter=ZONE, endpoint=f"{base}/compute/v1",
                         credentials_info={"type": "service_account", "client_email": EMAIL,
                                           "private_key": PEM, "token_uri": f"{base}/token"},
                         page_size=page)


def libcloud_driver(base: str) -> Any:
    from libcloud.compute.drivers.gce import GCENodeDriver

    host, port = base.removeprefix("http://").split(":")
    cache = os.path.join(tempfile.mkdtemp(prefix="gce-bench-"), "token.json")
    with open(cache, "w", encoding="utf-8") as f:
        json.dump({"access_token": LIBCLOUD_TOKEN, "token_type": "Bearer",
                   "expire_time": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                time.gmtime(time.time() + 86400))}, f)
    driver = GCENodeDriver(EMAIL, PEM, project=PROJECT, auth_type="SA", credential_file=cache)
    # Libcloud's GCE constructor passes host and port where its connection
    # takes auth_type: the connection is pointed at the fixture afterwards.
    driver.connection.host, driver.connection.port = host, int(port)
    driver.connection.secure = False
    driver.connection.connect()
    return driver
