"""Compute soak: 200 ``create_node`` calls on EC2 (moto) through a proxy that drops
5 % of the answers after the server acted.

A dropped answer to ``RunInstances`` (a form POST, never resent blindly) is an
unknown outcome: the driver looks the instance up by the token it tagged it
with and returns it if it exists (create-once reconciliation). Afterwards
exactly 200 instances must exist for the run (asked from moto directly, with
boto3), the server must hold 200 more instances than before, and every call
must have returned its own instance. The lookups are counted by the driver
itself (``_find_node``) and must match the unknown outcomes the runtime saw.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import boto3
import pytest

from overcast.compute.base import NodeSpec
from overcast.compute.drivers.ec2 import EC2NodeDriver
from overcast.compute.models import Node
from overcast.runtime.effects import Op
from overcast.runtime.transports.base import Timeouts
from servers.compute_ec2 import ACCESS_KEY
from servers.compute_ec2 import IMAGE_ID
from servers.compute_ec2 import REGION
from servers.compute_ec2 import SECRET_KEY
from servers.compute_ec2 import SIZE_ID
from servers.faultproxy import FaultProxy
from servers.faultproxy import Faults
from servers.modes import MODES
from servers.moto_server import MotoServer
from servers.moto_server import moto_server
from soak.harness import SEED
from soak.harness import Tally
from soak.harness import check_accounts
from soak.harness import each
from soak.harness import report

pytestmark = [pytest.mark.soak, pytest.mark.server]

NODES = 200
WORKERS = 8
#: 5 % of answers dropped after the server acted.
FAULTS = Faults(drop=0.05, seed=SEED)


class CountingEC2(EC2NodeDriver):
    """The EC2 driver, counting its lookups of a create's token (each one
    settles a create whose answer was lost)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lookups = 0
        self._lookups_lock = threading.Lock()

    def _find_node(self, spec: NodeSpec, token: str) -> Op[Node | None]:
        with self._lookups_lock:
            self.lookups += 1
        return super()._find_node(spec, token)


def instances(server: MotoServer, run: str | None = None) -> list[str]:
    """The ids of the instances moto holds (tagged ``soak=run``, if given)."""
    client = boto3.client(
        "ec2", endpoint_url=server.url, region_name=REGION,
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
    )
    filters = [{"Name": "tag:soak", "Values": [run]}] if run else []
    pages = client.get_paginator("describe_instances").paginate(Filters=filters)
    return [
        instance["InstanceId"]
        for page in pages
        for reservation in page["Reservations"]
        for instance in reservation["Instances"]
    ]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("mode", MODES)
def test_200_creates_through_dropped_answers_make_200_instances(
    request: pytest.FixtureRequest, mode: str
) -> None:
    server = moto_server(request)
    direct = EC2NodeDriver(ACCESS_KEY, SECRET_KEY, endpoint=server.url, region=REGION)
    image = direct.get_image(IMAGE_ID)
    size = next(s for s in direct.list_sizes() if s.id == SIZE_ID)
    before = len(instances(server))
    run = uuid.uuid4().hex[:12]
    tally = Tally()
    with FaultProxy(server.url, FAULTS) as proxy:
        driver = CountingEC2(
            ACCESS_KEY, SECRET_KEY, endpoint=proxy.url, region=REGION,
            timeout=Timeouts(connect=10, read=60), hooks=tally.hooks(),
        )
        started = time.monotonic()
        nodes = each(
            mode, driver, "create_node", range(NODES),
            lambda i: (f"soak-{run}-{i:03d}", size, image), workers=WORKERS,
            keywords={"ex_tags": {"soak": run}},
        )
        figures = proxy.figures()
    made = instances(server, run)
    assert len(made) == NODES
    assert len(instances(server)) - before == NODES
    assert [node.name for node in nodes] == [f"soak-{run}-{i:03d}" for i in range(NODES)]
    assert sorted(node.id for node in nodes) == sorted(made)
    assert figures.injected["drop"] > 0
    assert driver.lookups > 0
    # Every lookup settled a RunInstances whose answer was lost, and nothing else did.
    assert driver.lookups == tally.unknown
    check_accounts(figures, tally)
    report("compute", mode, started, figures, tally, nodes=NODES, instances=len(made),
           reconciliations=driver.lookups, faults=FAULTS.describe())
