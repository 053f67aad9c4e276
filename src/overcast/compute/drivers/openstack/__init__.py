"""OpenStack compute: Nova (servers), Glance (images), Cinder (volumes) and
Neutron (floating IPs), authenticated by Keystone v3.

``OpenStackNodeDriver(user, password, auth_url=..., project=...)`` works with
any OpenStack cloud (Rackspace, OVH, Vexxhost, a private cloud): the token,
and the endpoint of each service, come from Keystone
(:mod:`overcast.auth.keystone`), chosen by ``region`` and ``interface``.

Facts of the APIs this driver is built on:

* **Nova (compute, v2.1)**: every request carries
  ``OpenStack-API-Version: compute <microversion>`` (and the older
  ``X-OpenStack-Nova-API-Version``); the driver asks for 2.79 by default.
  ``GET /servers/detail`` pages by ``limit`` and ``marker`` (the id of the
  last server seen) and gives a ``servers_links`` entry with ``rel: "next"``
  while a page was full. ``POST /servers`` answers ``202`` with the new id;
  since 2.37 it needs ``networks`` (``"auto"``, ``"none"`` or a list).
  Actions are ``POST /servers/{id}/action`` (``reboot``, ``os-start``,
  ``os-stop``, ``createImage``: since 2.45 the image id is in the body, before
  in the ``Location`` header). Since 2.47 a server's ``flavor`` is the
  flavor's details (``original_name``, ``ram``, ``disk``, ``vcpus``), not its
  id. Key pairs are ``/os-keypairs`` (2.35+: paged; 2.2+: ``201``/``204``),
  volume attachments ``/servers/{id}/os-volume_attachments``, zones
  ``/os-availability-zone``. Faults are ``{"<kind>": {"code", "message"}}``:
  ``itemNotFound`` (404), ``conflictingRequest`` (409), ``badRequest``
  (400), ``forbidden`` (403), ``overLimit`` (413, with ``Retry-After`` when a
  rate limit) and ``computeFault`` (500).
* **Glance (image, v2)**: ``GET /v2/images`` pages by ``limit`` and ``marker``
  with a ``next`` link (relative, ``/v2/images?marker=...``); an image is a
  flat object whose custom properties sit beside ``id`` and ``name``.
* **Cinder (block-storage, v3)**: the catalog URL ends in the project id;
  ``/volumes/detail`` and ``/snapshots/detail`` page like Nova with
  ``volumes_links`` / ``snapshots_links``; creates answer ``202`` while the
  volume is ``creating``.
* **Neutron (network, v2.0)**: ``/v2.0/floatingips`` (``floatingips_links``),
  ``/v2.0/ports?device_id=<server>`` to find the port to associate a
  floating IP with; faults are ``{"NeutronError": {"type", "message"}}``.
* **Keystone**: an expired or revoked token answers ``401`` on any API; the
  session fetches a fresh token and sends the request once more.

How the model maps:

* Server status: ``ACTIVE`` running, ``BUILD`` pending, ``SHUTOFF`` stopped,
  ``REBOOT``/``HARD_REBOOT`` rebooting, ``ERROR``, ``DELETED`` terminated,
  ``PAUSED``, ``SUSPENDED`` (and ``ACTIVE`` with task ``powering-off`` is
  stopping). Floating addresses (``OS-EXT-IPS:type: floating``) and fixed
  addresses outside private ranges are ``public_ips``; fixed private ones are
  ``private_ips``.
* ``node.size`` is built from the server's embedded flavor (microversion
  2.47+): its id is the flavor's id when Nova says it, else the flavor's
  name (``original_name``), which Nova keeps unique.
* Locations are the availability zones, or the region when Nova lists none.
* ``create_node``, ``create_volume``, ``create_volume_snapshot``,
  ``create_image``, ``import_key_pair_from_string`` and
  ``ex_create_floating_ip`` tag what they create with a unique token (the
  ``overcast-token`` metadata entry or image property, or the floating IP's
  description); when the answer is lost (a dropped connection, a 5xx after
  the body was sent) the driver looks for the token and sends again only if
  nothing was made. ``create_key_pair`` cannot be reconciled (the private key
  is in the lost answer) and raises :class:`~overcast.errors.OutcomeUnknown`.

The driver is one class made of a part per API: :mod:`.api` (Keystone, the
request plumbing, errors, paging, checks), :mod:`.servers` (servers, flavors,
zones), :mod:`.images`, :mod:`.volumes` (volumes, snapshots, attachments),
:mod:`.keys` and :mod:`.network` (floating IPs).
"""

from __future__ import annotations

from typing import ClassVar

from overcast.compute.base import NodeDriverAsync
from overcast.compute.drivers.openstack.images import OpenStackImages
from overcast.compute.drivers.openstack.keys import OpenStackKeyPairs
from overcast.compute.drivers.openstack.network import FloatingIPNotFound
from overcast.compute.drivers.openstack.network import NetworkNotFound
from overcast.compute.drivers.openstack.network import OpenStackFloatingIP
from overcast.compute.drivers.openstack.network import OpenStackNetwork
from overcast.compute.drivers.openstack.servers import OpenStackServers
from overcast.compute.drivers.openstack.volumes import OpenStackVolumes
from overcast.runtime.operation import aio

__all__ = [
    "FloatingIPNotFound",
    "NetworkNotFound",
    "NodeDriverAsync",
    "OpenStackFloatingIP",
    "OpenStackNodeDriver", "aio",
]


class OpenStackNodeDriver(
    OpenStackServers, OpenStackImages, OpenStackVolumes, OpenStackKeyPairs, OpenStackNetwork
):
    """Servers, images, volumes, key pairs and floating IPs on an OpenStack cloud.

    ``key`` is the user name and ``secret`` its password (in the user's
    domain ``user_domain``); the token is scoped to ``project`` (a name, in
    ``project_domain``) or ``project_id``. Or authenticate with an application
    credential (``application_credential_id`` and
    ``application_credential_secret``; ``key`` is then only a label and may
    be empty). ``auth_url`` is the Keystone endpoint (``/v3`` is added when
    missing); ``region`` and ``interface`` (``"public"``, ``"internal"`` or
    ``"admin"``) pick the endpoints from the catalog. ``compute_microversion``
    is the Nova microversion asked for: 2.79 (Train) by default; a cloud whose
    Nova is older answers ``406`` and needs its own maximum here (2.47 or
    later). ``page_size`` is how many items each listing request asks for.
    """

    name: ClassVar[str] = "openstack"

