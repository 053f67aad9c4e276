"""Amazon EC2: instances, instance types, images, availability zones, EBS volumes
and snapshots, key pairs and security groups (the EC2 Query API, 2016-11-15).

The driver speaks the Query API directly: ``Action=...&Version=2016-11-15``,
read-only ``Describe*`` calls as ``GET`` (their parameters in the query string)
and every change as a form-encoded ``POST``, all signed with AWS Signature V4
(:mod:`overcast.auth.aws_sigv4`, service ``ec2``, the driver's region).
Responses are parsed with :mod:`defusedxml`, matching tags by their local name
so the XML namespace string does not matter (moto's differs from AWS's); an
answer that is not the action's ``<{Action}Response>`` document (a proxy's
page, say) is a :class:`~overcast.errors.ProviderError`, never an empty
listing. Error codes map onto overcast's errors through one table
(``InvalidInstanceID.NotFound`` is :class:`~overcast.errors.NodeNotFound`,
``InvalidKeyPair.Duplicate`` :class:`~overcast.errors.KeyPairAlreadyExists`,
``AuthFailure`` :class:`~overcast.errors.InvalidCredentials`, ...); anything
else is a ProviderError with its code and request id.
List parameters are numbered from 1 (``InstanceId.1``, ``Filter.1.Name``,
``Filter.1.Value.1``, ``TagSpecification.1.Tag.1.Key``).

How the API maps onto overcast's model:

* :class:`~overcast.compute.base.NodeLocation` is an availability zone
  (``id`` and ``name`` are the zone name, ``us-east-1a``); sizes are instance
  types (``ram`` in MiB, ``disk`` the instance-store GiB, 0 for EBS-only
  types; vCPUs in ``extra["vcpus"]``; bandwidth the number of the network
  performance as Libcloud gives it, ``"Up to 10 Gigabit"`` 10, else ``None``;
  the price is the Linux on-demand price per hour from the bundled snapshot,
  or from Libcloud's override file or ``pricing=`` when given, else
  ``None``: see :mod:`overcast.pricing`; its date in ``extra["price_date"]``);
  images are AMIs; a node's name is its ``Name`` tag.
* Every listing follows ``NextToken`` page by page. ``page_size`` is the
  ``MaxResults`` asked for, capped at each action's maximum (AWS wants at
  least 5; moto accepts smaller pages, which the tests use).
* Creates are never made twice. ``RunInstances``, ``CreateVolume`` and
  ``CopyImage`` carry a unique ``ClientToken`` (AWS's idempotency field), and
  every create that takes tags is tagged ``overcast:token`` with the same
  token. The runtime never resends a create whose outcome is unknown
  (:class:`~overcast.errors.OutcomeUnknown`); the driver then looks the
  resource up by its token tag (key pairs, security groups and images also by
  name) and sends again only if nothing was made (moto ignores
  ``ClientToken``, so the tag is what makes this work there). A key pair whose
  create answer was lost is deleted and made again, since its private key is
  returned only once.
* Deletes whose outcome is unknown are checked: if the resource is gone, they
  succeeded. Boolean actions answer ``<return>true</return>`` on AWS and only
  a ``requestId`` on moto; both mean success.
* ``RequestLimitExceeded`` (HTTP 503 or 400) is throttling: the runtime retries
  it with backoff, whatever the action, as it does a 429.
* ``detach_volume`` reads the volume first and sends the ``InstanceId`` it is
  attached to (AWS may do without it; moto fails with a 500 if it is missing).

Security groups are ``ex_`` operations (:meth:`EC2NodeDriver.ex_list_security_groups`,
``ex_create_security_group``, ``ex_authorize_security_group_ingress``,
``ex_delete_security_group``); ``await driver.ex_list_security_groups.aio()`` is the
typed async call (``driver.aio.ex_list_security_groups()`` works too).

The driver is one class made of a part per resource: :mod:`.api` (requests,
errors, paging, checks), :mod:`.nodes` (instances, instance types, zones),
:mod:`.volumes` (EBS volumes and snapshots), :mod:`.images`, :mod:`.keys` and
:mod:`.groups` (security groups).
"""

from __future__ import annotations

from typing import ClassVar

from overcast.compute.base import NodeDriverAsync
from overcast.compute.drivers.ec2.addresses import EC2Addresses
from overcast.compute.drivers.ec2.addresses import ElasticIP
from overcast.compute.drivers.ec2.api import API_VERSION
from overcast.compute.drivers.ec2.api import TOKEN_TAG
from overcast.compute.drivers.ec2.api import SecurityGroupNotFound
from overcast.compute.drivers.ec2.groups import EC2SecurityGroups
from overcast.compute.drivers.ec2.groups import SecurityGroup
from overcast.compute.drivers.ec2.images import EC2Images
from overcast.compute.drivers.ec2.keys import EC2KeyPairs
from overcast.compute.drivers.ec2.nodes import EC2Nodes
from overcast.compute.drivers.ec2.volumes import EC2Volumes
from overcast.runtime.operation import aio

__all__ = [
    "API_VERSION",
    "TOKEN_TAG",
    "EC2NodeDriver",
    "ElasticIP",
    "NodeDriverAsync",
    "SecurityGroup",
    "SecurityGroupNotFound", "aio",
]


class EC2NodeDriver(EC2Nodes, EC2Volumes, EC2Images, EC2KeyPairs, EC2SecurityGroups,
                    EC2Addresses):
    """Amazon EC2 (Query API 2016-11-15, AWS Signature V4).

    ``key``, ``secret`` and ``token`` are the access key id, secret access key
    and optional session token; without them, credentials are found where the
    AWS CLI looks (``profile``; ``docs/credentials.md``). ``region`` is the
    region every request goes to (by default the AWS CLI's: ``AWS_REGION``,
    ``AWS_DEFAULT_REGION``, the profile's ``region``; else ``us-east-1``). ``endpoint``
    points the driver elsewhere (moto, a VPC endpoint); by default it is
    ``https://ec2.<region>.amazonaws.com``. ``page_size`` is the ``MaxResults``
    of list requests (capped at each action's maximum). ``**options`` are the
    runtime options (``timeout``, ``retry``, ``hooks``, ...). No request is made
    here.

    >>> driver = EC2NodeDriver("AKIDEXAMPLE", "secret", region="eu-west-1")  # doctest: +SKIP
    >>> driver.list_nodes()  # doctest: +SKIP
    """

    name: ClassVar[str] = "ec2"

