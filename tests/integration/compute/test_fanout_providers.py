"""Fan-out across providers on one event loop: EC2 (moto), OpenStack (fixtures)
and libvirt (test:///default) answer ``list_nodes`` together."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from overcast.compute import list_nodes_everywhere
from overcast.compute import list_nodes_everywhere_async
from servers import compute_ec2
from servers import compute_libvirt
from servers import compute_openstack


def test_gather_on_one_loop_and_the_sync_helper(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    targets = [factory.make_target(request, tmp_path)
               for factory in (compute_ec2, compute_libvirt, compute_openstack)]
    drivers = [t.driver for t in targets]
    made = []
    for target in targets:
        driver = target.driver
        made.append(driver.create_node(
            "fan-out", target.pick_size(driver.list_sizes()),
            target.pick_image(driver.list_images()), **target.create_kwargs,
        ))
    try:
        async def gather() -> list[list[str]]:
            lists = await asyncio.gather(*(d.aio.list_nodes() for d in drivers))
            for d in drivers:
                await d.aio.aclose()
            return [[n.id for n in nodes] for nodes in lists]

        ids = asyncio.run(gather())
        for node, listed in zip(made, ids, strict=True):
            assert node.id in listed
        everywhere = list_nodes_everywhere(drivers)
        assert not everywhere.errors
        assert {n.id for n in made} <= {n.id for n in everywhere.flat()}
        result = asyncio.run(list_nodes_everywhere_async(drivers))
        assert [type(d).__name__ for d, _ in result.results] == [
            "EC2NodeDriver", "LibvirtNodeDriver", "OpenStackNodeDriver"
        ]
    finally:
        for target, node in zip(targets, made, strict=True):
            target.driver.destroy_node(node)
            target.driver.close()
