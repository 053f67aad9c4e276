"""The EC2 compute driver pointed at a real moto server (one per test process).

moto bundles the same 44 base AMIs in every region (and about 1,200 more in
us-east-1); nodes are made from the Ubuntu 16.04 one, :data:`IMAGE_ID`, as
``t2.micro``. The driver's ``page_size`` is 2, so a listing of three nodes
crosses pages (moto honours ``MaxResults`` for ``DescribeInstances``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from overcast.compute.base import NodeImage
from overcast.compute.base import NodeSize
from overcast.compute.drivers.ec2 import EC2NodeDriver
from overcast.runtime.policy import Hooks
from servers.compute_target import ComputeTarget
from servers.moto_server import moto_server

#: Any credentials work with moto (it does not check signatures).
ACCESS_KEY = "AKIDOVERCASTEC2TEST"
SECRET_KEY = "overcast-ec2-moto-secret-do-not-log"
REGION = "us-east-1"
#: An AMI moto has in every region (ubuntu-xenial-16.04-amd64-server-20170721).
IMAGE_ID = "ami-785db401"
SIZE_ID = "t2.micro"


def make_driver(request: pytest.FixtureRequest, **kwargs: Any) -> EC2NodeDriver:
    """A driver for this process's moto server; ``kwargs`` go to the constructor."""
    server = moto_server(request)
    kwargs.setdefault("timeout", 60)
    kwargs.setdefault("region", REGION)
    return EC2NodeDriver(ACCESS_KEY, SECRET_KEY, endpoint=server.url, **kwargs)


def pick_size(sizes: list[NodeSize]) -> NodeSize:
    """``t2.micro``, else the first size."""
    return next((s for s in sizes if s.id == SIZE_ID), sizes[0])


def pick_image(images: list[NodeImage]) -> NodeImage:
    """:data:`IMAGE_ID`, else the first image."""
    return next((i for i in images if i.id == IMAGE_ID), images[0])


def make_target(request: pytest.FixtureRequest, tmp_path: Path) -> ComputeTarget:
    """The contract's target: EC2 on moto, with pages of 2."""
    requests: list[object] = []
    driver = make_driver(request, page_size=2, hooks=Hooks(on_request=[requests.append]))
    return ComputeTarget(
        driver=driver,
        pick_size=pick_size,
        pick_image=pick_image,
        requests=requests,
        page_size=2,
        wait_period=0.05,
    )
