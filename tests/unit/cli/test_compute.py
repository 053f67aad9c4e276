"""Compute commands in-process on libvirt's test hypervisor (``test:///default``):
nodes across several profiles at once, sizes, images, create, reboot, destroy,
and ssh through the system's ssh program."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from servers.cli_runner import Invoke
from servers.compute_libvirt import IMAGE
from servers.compute_libvirt import URI
from servers.compute_libvirt import anchor


@pytest.fixture
def hosts(cli: Invoke, request: pytest.FixtureRequest) -> None:
    """Two compute profiles on the test hypervisor (the process's anchor keeps
    its state and the test image)."""
    anchor(request)
    for name in ("hv1", "hv2"):
        cli("profile", "add", name, "--driver", "libvirt", "-o", f"uri={URI}")


def test_nodes_across_profiles_sizes_and_images(cli: Invoke, hosts: None) -> None:
    rows = json.loads(cli("nodes", "--json", "-p", "hv1", "-p", "hv2").stdout)
    assert {r["profile"] for r in rows} == {"hv1", "hv2"}
    assert {r["name"] for r in rows if r["profile"] == "hv1"} == {
        r["name"] for r in rows if r["profile"] == "hv2"}
    assert "test" in {r["name"] for r in rows}
    table = cli("--profile", "hv1", "nodes").stdout
    assert table.splitlines()[0].split()[:4] == ["PROFILE", "ID", "NAME", "STATE"]
    sizes = json.loads(cli("sizes", "-p", "hv1", "--json").stdout)
    assert sizes and all({"id", "ram"} <= set(s) for s in sizes)
    images = json.loads(cli("images", "-p", "hv1", "--json").stdout)
    assert IMAGE in {i["name"] for i in images}
    several = cli("nodes", ok=False)
    assert several.exit_code == 2 and "several compute profiles" in several.stderr


def test_create_reboot_destroy(cli: Invoke, hosts: None) -> None:
    sizes = json.loads(cli("sizes", "-p", "hv1", "--json").stdout)
    smallest = min(sizes, key=lambda s: s["ram"])["id"]
    made = json.loads(cli("create", "cli-node", "-p", "hv1", "--size", smallest,
                          "--image", IMAGE, "--json").stdout)
    assert made["name"] == "cli-node"
    names = {r["name"] for r in json.loads(cli("nodes", "-p", "hv1", "--json").stdout)}
    assert "cli-node" in names
    assert cli("reboot", "-p", "hv1", "cli-node").stdout.strip() == made["id"]
    assert cli("destroy", "-p", "hv1", made["id"]).stdout.strip() == made["id"]
    names = {r["name"] for r in json.loads(cli("nodes", "-p", "hv1", "--json").stdout)}
    assert "cli-node" not in names
    gone = cli("destroy", "-p", "hv1", "cli-node", ok=False)
    assert gone.exit_code == 3 and "NodeNotFound" in gone.stderr
    bad = cli("create", "x", "-p", "hv1", "--size", "no-such", "--image", IMAGE, ok=False)
    assert bad.exit_code == 3


def test_ssh_runs_the_system_ssh(cli: Invoke, hosts: None, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "bin" / "ssh"
    fake.parent.mkdir()
    log = tmp_path / "argv"
    fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {log}\nexit 5\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    node = next(r for r in json.loads(cli("nodes", "-p", "hv1", "--json").stdout)
                if r["name"] == "test")
    result = cli("ssh", "-p", "hv1", "--user", "admin", "test", "--", "uptime", ok=False)
    assert result.exit_code == 5  # the remote command's exit code
    assert log.read_text().split() == ["-l", "admin", node["private_ips"][0], "uptime"]
