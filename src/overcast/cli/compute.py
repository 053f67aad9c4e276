"""Compute commands: ``nodes`` (several profiles at once, through
:func:`overcast.fanout.fan_out`), ``sizes``, ``images``, ``create``,
``destroy``, ``reboot`` and ``ssh``."""

from __future__ import annotations

import shutil
import subprocess
import sys
from typing import TYPE_CHECKING
from typing import Annotated
from typing import Any

import typer

from overcast.cli.app import JsonOpt
from overcast.cli.app import ProfileOpt
from overcast.cli.app import state
from overcast.cli.output import State
from overcast.errors import InvalidInput
from overcast.errors import NodeNotFound
from overcast.errors import NotFound

if TYPE_CHECKING:
    from overcast.compute.base import Node
    from overcast.compute.base import NodeDriver

__all__ = ["register"]


def _driver(current: State, profile: list[str] | None) -> NodeDriver:
    from overcast.compute.base import NodeDriver

    _, driver = current.resolver(profile).area_driver("compute")
    assert isinstance(driver, NodeDriver)
    return driver


def _node_row(profile: str, node: Node) -> dict[str, Any]:
    return {"profile": profile, "id": node.id, "name": node.name, "state": str(node.state),
            "public_ips": list(node.public_ips), "private_ips": list(node.private_ips),
            "size": node.size.id if node.size else None,
            "image": node.image.id if node.image else None}


def find_node(driver: NodeDriver, text: str) -> Node:
    """The node whose id or name is ``text`` (NodeNotFound; InvalidInput if the
    name is shared)."""
    found = [n for n in driver.iterate_nodes() if text in (n.id, n.name)]
    by_id = [n for n in found if n.id == text]
    if by_id:
        return by_id[0]
    if len(found) > 1:
        raise InvalidInput(f"{len(found)} nodes are named {text!r}: give the id")
    if not found:
        raise NodeNotFound(text, f"no node {text!r} on {driver.name}")
    return found[0]


def nodes(ctx: typer.Context, profile: ProfileOpt = None, json_output: JsonOpt = False) -> None:
    """List the nodes of every compute profile given with --profile (all at once),
    or of the only compute profile. A profile that fails is reported on stderr and
    the exit code is 4; the others are still listed."""
    from overcast.fanout import fan_out

    current = state(ctx, json_output)
    resolver = current.resolver(profile)
    names = resolver.profiles or [resolver.profile_for("compute").name]
    chosen = [current.config.get(n) for n in names]
    chosen = [p for p in chosen if p.area == "compute"]
    if not chosen:
        raise InvalidInput("none of the profiles given is a compute profile")
    drivers = [resolver.driver(p) for p in chosen]
    label = {id(d): p.name for d, p in zip(drivers, chosen, strict=True)}
    result = fan_out(drivers, "list_nodes")
    rows = [_node_row(label[id(driver)], node) for driver, listed in result.results
            for node in listed]
    for row in rows:
        if not current.json:
            row["public_ips"] = " ".join(row["public_ips"])
            row["private_ips"] = " ".join(row["private_ips"])
    current.emit(rows, ["profile", "id", "name", "state", "public_ips", "size", "image"])
    for driver, error in result.errors:
        from overcast.cli.output import one_line

        print(f"overcast: error: {label[id(driver)]}: {one_line(error)}", file=sys.stderr)
    if result.errors:
        raise typer.Exit(4)


def sizes(ctx: typer.Context, profile: ProfileOpt = None, json_output: JsonOpt = False) -> None:
    """List the sizes (flavours, instance types)."""
    current = state(ctx, json_output)
    driver = _driver(current, profile)
    rows = [{"id": s.id, "name": s.name, "ram": s.ram, "disk": s.disk, "price": s.price}
            for s in driver.list_sizes()]
    current.emit(rows, ["id", "name", "ram", "disk", "price"])


def images(ctx: typer.Context, profile: ProfileOpt = None, json_output: JsonOpt = False) -> None:
    """List the images."""
    current = state(ctx, json_output)
    driver = _driver(current, profile)
    rows = [{"id": i.id, "name": i.name} for i in driver.list_images()]
    current.emit(rows, ["id", "name"])


def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The new node's name.")],
    size: Annotated[str, typer.Option(help="Size id or name (see 'overcast sizes').")],
    image: Annotated[str, typer.Option(help="Image id or name (see 'overcast images').")],
    location: Annotated[str | None, typer.Option(help="Location id (default: the driver's).")
                        ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until it runs.")] = False,
    profile: ProfileOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Create a node (made once even if the provider's answer is lost)."""
    current = state(ctx, json_output)
    driver = _driver(current, profile)
    the_size = next((s for s in driver.list_sizes() if size in (s.id, s.name)), None)
    if the_size is None:
        raise NotFound(size, f"no size {size!r} on {driver.name}")
    the_image = next((i for i in driver.list_images() if image in (i.id, i.name)), None)
    if the_image is None:
        raise NotFound(image, f"no image {image!r} on {driver.name}")
    where = None
    if location is not None:
        where = driver.get_location(location)
    node = driver.create_node(name, the_size, the_image, where)
    if wait:
        node = driver.wait_until_running([node])[0][0]
    current.emit_one(_node_row(current.resolver().profile_for("compute").name
                               if not profile else profile[0], node))


def _act(ctx: typer.Context, node: str, profile: list[str] | None, operation: str) -> None:
    driver = _driver(state(ctx), profile)
    found = find_node(driver, node)
    getattr(driver, operation)(found)
    print(found.id)


NodeArg = Annotated[str, typer.Argument(help="Node id or name.")]


def destroy(ctx: typer.Context, node: NodeArg, profile: ProfileOpt = None) -> None:
    """Destroy a node."""
    _act(ctx, node, profile, "destroy_node")


def reboot(ctx: typer.Context, node: NodeArg, profile: ProfileOpt = None) -> None:
    """Reboot a node."""
    _act(ctx, node, profile, "reboot_node")


def ssh(
    ctx: typer.Context,
    node: Annotated[str, typer.Argument(help="Node id or name.")],
    command: Annotated[list[str] | None, typer.Argument(help="A command to run there.")] = None,
    user: Annotated[str, typer.Option("--user", "-l", help="Login name.")] = "root",
    identity: Annotated[str | None, typer.Option("--identity", "-i", help="Private key file.")
                        ] = None,
    private: Annotated[bool, typer.Option("--private", help="Use the private address.")
                       ] = False,
    profile: ProfileOpt = None,
) -> None:
    """Open an SSH session to a node (its first public address) with the system's
    ``ssh``; its exit code is the command's."""
    current = state(ctx)
    driver = _driver(current, profile)
    found = find_node(driver, node)
    addresses = found.private_ips if private else (found.public_ips or found.private_ips)
    if not addresses:
        raise InvalidInput(f"node {found.name!r} has no address to reach")
    program = shutil.which("ssh")
    if program is None:
        raise NotFound("ssh", "no ssh program on PATH")
    argv = [program, "-l", user]
    if identity is not None:
        argv += ["-i", identity]
    argv += [addresses[0], *(command or [])]
    raise typer.Exit(subprocess.call(argv))


def register(app: typer.Typer) -> None:
    """Add the compute commands to ``app``."""
    for command in (nodes, sizes, images, create, destroy, reboot, ssh):
        app.command(command.__name__)(command)
