"""overcast's demo, on drivers that need no cloud: local storage (sync,
then async); a node on libvirt's built-in ``test:///default`` hypervisor; its
address published in a DNS zone file (printed, then synced to a mirror); and
the zone and an inventory backed up to local storage: the cross-service flow
(create nodes on one cloud, publish them in DNS, keep copies in storage).
Last, HAProxy balances between two HTTP servers the demo starts, the node
attached disabled (where haproxy is installed).

Run it with ``python -m overcast.demo [ROOT]``; it works in a temporary
directory unless ROOT is given, and prints what it does.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import time
from typing import Any

import anyio

from overcast.storage import Provider
from overcast.storage import get_driver
from overcast.storage.base import Prefix

MiB = 1024 * 1024


def sync_part(root: str) -> str:
    """Containers, streaming upload and download, listing, ranges, copy."""
    Local = get_driver(Provider.LOCAL)
    with Local(root) as driver:
        print(f"driver: {driver!r}")
        backups = driver.create_container("backups")
        payload = os.urandom(64 * 1024) * 160  # 10 MiB, streamed in 64 KiB pieces
        marks: list[int] = []
        started = time.perf_counter()
        obj = driver.upload_object_via_stream(
            (payload[i : i + 65536] for i in range(0, len(payload), 65536)),
            backups,
            "dumps/dump.bin",
            meta_data={"source": "demo"},
            progress=lambda done, total: marks.append(done),
        )
        elapsed = time.perf_counter() - started
        print(f"uploaded {obj.name}: {obj.size / MiB:.0f} MiB in {elapsed * 1000:.0f} ms, "
              f"md5 {obj.content_md5}, {len(marks)} progress reports")
        digest = hashlib.md5(usedforsecurity=False)
        for chunk in driver.download_object_as_stream(obj):
            digest.update(chunk)
        print(f"streamed it back, md5 {digest.hexdigest()} (checked by the driver too)")
        head = b"".join(driver.download_object_range_as_stream(obj, 0, 16))
        print(f"first 16 bytes by range read: {head.hex()}")
        for name in ("notes/today.txt", "notes/tomorrow.txt", "readme.md"):
            driver.upload_object_via_stream([f"{name}\n".encode()], backups, name)
        driver.copy_object(obj, backups, "dumps/dump-copy.bin")
        print("objects under 'notes/':",
              [o.name for o in driver.iterate_container_objects(backups, prefix="notes/")])
        level = driver.list_container_entries(backups)
        print("top level:", [e.name + (" (dir)" if isinstance(e, Prefix) else "")
                             for e in level])
        print("supports copy_object:", driver.supports("copy_object"),
              "| supports get_object_cdn_url:", driver.supports("get_object_cdn_url"))
        return obj.content_md5 or ""


async def async_part(root: str) -> None:
    """The same driver, async: ten uploads at once, then an async download."""
    Local = get_driver(Provider.LOCAL)
    async with Local(root).aio as adriver:
        container = await adriver.create_container("async-demo")

        async def put(i: int) -> None:
            await adriver.upload_object_via_stream([bytes([i]) * MiB], container, f"part-{i}")

        async with anyio.create_task_group() as group:
            for i in range(10):
                group.start_soon(put, i)
        names = [o.name async for o in adriver.iterate_container_objects(container)]
        print(f"async: uploaded {len(names)} objects concurrently: {names[0]} .. {names[-1]}")
        obj = await adriver.get_object("async-demo", "part-7")
        total = 0
        async for chunk in adriver.download_object_as_stream(obj):
            total += len(chunk)
        print(f"async: streamed {obj.name} back, {total} bytes")


def compute_part() -> tuple[Any, list[str]]:
    """Create a node on libvirt's test hypervisor and wait until it runs."""
    from overcast.compute import Provider as ComputeProvider
    from overcast.compute import get_driver as get_compute_driver

    kvm = get_compute_driver(ComputeProvider.LIBVIRT)("test:///default")
    image = kvm.ex_create_image_volume("demo-disk", 64)
    size = min(kvm.list_sizes(), key=lambda s: s.ram)
    node = kvm.create_node("web-1", size, image)
    [(node, addresses)] = kvm.wait_until_running(
        [node], wait_period=0.1, timeout=30, ssh_interface="private_ips"
    )
    print(f"compute: node {node.name} ({node.id}) is {node.state.value} at {addresses} "
          f"on {kvm!r}, size {size.name}")
    return kvm, addresses


def dns_part(root: str, dump_md5: str, addresses: list[str]) -> str:
    """Publish the node's address in a zone file, print it, and sync a mirror."""
    from overcast.dns import Provider as DNSProvider
    from overcast.dns import RecordType
    from overcast.dns import get_driver as get_dns_driver
    from overcast.dns import sync

    ZoneFiles = get_dns_driver(DNSProvider.ZONEFILE)
    files = ZoneFiles(os.path.join(root, "zones"))
    zone = files.create_zone("demo.example.", ttl=300)
    zone.create_record("www", RecordType.A, addresses, extra={"ttl": 300})
    zone.create_record("files", RecordType.CNAME, "www.demo.example.")
    zone.create_record("", RecordType.MX, ["10 mail.demo.example."])
    zone.create_record("_backup", RecordType.TXT, f"dumps/dump.bin md5={dump_md5}")
    print(f"dns: zone file {os.path.join(files.directory, 'demo.example.zone')}:")
    print("    " + files.export_zone_to_bind_format(zone).rstrip().replace("\n", "\n    "))
    mirror = ZoneFiles(os.path.join(root, "zones-mirror"))
    print("dns: " + str(sync(zone, mirror)).replace("\n", "\n     "))
    applied = sync(zone, mirror, dry_run=False)
    print(f"dns: applied {len(applied.changes)} changes; a second plan has "
          f"{len(sync(zone, mirror).changes)}")
    return os.path.join(files.directory, "demo.example.zone")


def backup_part(root: str, zone_file: str, kvm: Any) -> None:
    """Keep copies of the zone file and a node inventory in local storage."""
    import json

    Local = get_driver(Provider.LOCAL)
    with Local(root) as storage:
        backups = storage.get_container("backups")
        saved = storage.upload_object(zone_file, backups, "dns/demo.example.zone")
        inventory = [{"id": n.id, "name": n.name, "state": n.state.value,
                      "addresses": n.private_ips + n.public_ips} for n in kvm.list_nodes()]
        listing = storage.upload_object_via_stream(
            [json.dumps(inventory, indent=1).encode()], backups, "compute/inventory.json",
            content_type="application/json",
        )
        print(f"backup: {saved.name} ({saved.size} bytes) and {listing.name} "
              f"({len(inventory)} nodes) kept in local storage")


def restic_part(root: str) -> None:
    """Back the zone and the inventory up with restic to a local repository,
    delete the zone file, restore it, and show its checksum unchanged."""
    import secrets
    import shutil

    from overcast.backup import BackupTargetType
    from overcast.backup import Provider as BackupProvider
    from overcast.backup import get_driver as get_backup_driver

    if shutil.which("restic") is None:
        print("restic: restic is not installed here (bash scripts/demo.sh installs it): skipped")
        return
    kept = os.path.join(root, "backups")
    zone = os.path.join(kept, "dns", "demo.example.zone")

    def md5(path: str) -> str:
        with open(path, "rb") as file:
            return hashlib.md5(file.read()).hexdigest()

    restic = get_backup_driver(BackupProvider.RESTIC)(
        os.path.join(root, "restic-repository"), password=secrets.token_hex(16))
    target = restic.create_target("demo", kept, BackupTargetType.FILESYSTEM)
    job = target.create_job()
    before = md5(zone)
    os.unlink(zone)
    point = target.list_recovery_points()[-1]
    point.recover(path="dns/demo.example.zone")
    print(f"restic: backed up {kept} (snapshot {job.extra['snapshot_id']}), deleted "
          f"{os.path.relpath(zone, kept)}, restored it: md5 {md5(zone)} "
          f"{'==' if md5(zone) == before else '!='} {before}")


def lb_part(kvm: Any) -> None:
    """HAProxy in front of two HTTP servers started here (the libvirt node
    attached disabled): which member answers each of six requests, then a
    detach and the members' health. Skipped where haproxy is not installed."""
    import shutil
    import socket
    import subprocess
    import threading
    import urllib.request
    from http.server import BaseHTTPRequestHandler
    from http.server import ThreadingHTTPServer

    from overcast.loadbalancer import Member
    from overcast.loadbalancer import MemberCondition
    from overcast.loadbalancer import Provider as LBProvider
    from overcast.loadbalancer import get_driver as get_lb_driver
    from overcast.loadbalancer.base import Health

    if shutil.which("haproxy") is None:
        print("lb: haproxy is not installed here (bash scripts/demo.sh installs it): skipped")
        return

    def web(name: str) -> ThreadingHTTPServer:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", str(len(name)))
                self.end_headers()
                self.wfile.write(name.encode())

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    # A short directory: UNIX socket paths are limited to 107 bytes.
    home = tempfile.mkdtemp(prefix="overcast-hap-", dir="/tmp")
    paths = {n: os.path.join(home, n) for n in ("base.cfg", "overcast.cfg", "state",
                                                  "master.sock", "admin.sock")}
    with open(paths["base.cfg"], "w") as base:
        base.write(f"global\n    master-worker\n    stats socket {paths['admin.sock']} level "
                   f"admin expose-fd listeners\n    server-state-file {paths['state']}\n"
                   "defaults\n    mode http\n    timeout connect 2s\n    timeout client 10s\n"
                   "    timeout server 10s\n    load-server-state-from-file global\n")
    open(paths["overcast.cfg"], "w").close()
    servers = {name: web(name) for name in ("alpha", "beta")}
    haproxy = subprocess.Popen(["haproxy", "-W", "-S", paths["master.sock"], "-f",
                                paths["base.cfg"], "-f", paths["overcast.cfg"]],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            if os.path.exists(paths["admin.sock"]) and os.path.exists(paths["master.sock"]):
                break
            time.sleep(0.05)
        hap = get_lb_driver(LBProvider.HAPROXY)(
            paths["overcast.cfg"], master_socket=paths["master.sock"],
            runtime_socket=paths["admin.sock"], base_configs=[paths["base.cfg"]],
            state_file=paths["state"], check_interval=0.2)
        members = [Member(n, "127.0.0.1", s.server_address[1]) for n, s in servers.items()]
        lb = hap.create_balancer("demo", port, "http", members=members)
        node = next(n for n in kvm.list_nodes() if n.name == "web-1")
        hap.balancer_attach_compute_node(lb, node, ex_condition=MemberCondition.DISABLED,
                                         ex_check=False, ex_port=80)
        print(f"lb: balancer {lb.name} on {lb.ip}:{lb.port} (HAProxy, reloaded through its "
              f"master CLI); node {node.name} attached disabled, unchecked")
        for _ in range(100):
            if all(m.extra["health"] == Health.HEALTHY for m in hap.balancer_list_members(lb)
                   if m.id in servers):
                break
            time.sleep(0.05)
        for n in range(1, 7):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as answer:
                print(f"lb: request {n} answered by {answer.read().decode()}")
        hap.balancer_detach_member(lb, members[1])
        print("lb: detached beta (live, through the runtime API: no reload); members now:")
        for m in hap.balancer_list_members(lb):
            print(f"    {m.id} {m.ip}:{m.port} {m.extra['health'].value} ({m.extra['status']})")
        hap.close()
    finally:
        haproxy.terminate()
        haproxy.wait(10)
        for server in servers.values():
            server.shutdown()
            server.server_close()
        shutil.rmtree(home, ignore_errors=True)


def copy_part(root: str) -> None:
    """Stream an object from one storage driver to another, with a progress bar."""
    from overcast.storage import copy

    Local = get_driver(Provider.LOCAL)
    with Local(root) as here, Local(os.path.join(root, "offsite")) as offsite:
        source = here.get_object("backups", "dumps/dump.bin")
        target = offsite.create_container("mirror")

        def bar(done: int, total: int | None) -> None:
            share = done / total if total else 1.0
            filled = int(share * 30)
            end = "\n" if done == total else ""
            print(f"\rcopy: [{'#' * filled}{'.' * (30 - filled)}] {share:4.0%} "
                  f"{done / MiB:5.1f}/{(total or 0) / MiB:.1f} MiB", end=end, flush=True)

        copied = copy(source, target, progress=bar)
        print(f"copy: {source.name} -> offsite/{target.name}/{copied.name}, "
              f"md5 {copied.content_md5} (streamed, no temporary file; works the same "
              "between any two drivers)")


def container_part(root: str) -> None:
    """A busybox container on Podman (its Docker-compatible API on a UNIX
    socket, started here) serving a file on the host network; its logs.
    Skipped where podman, runc or busybox-static is not installed."""
    import io
    import shutil
    import socket
    import subprocess
    import tarfile
    import time
    import urllib.request

    from overcast.container import Provider as ContainerProvider
    from overcast.container import get_driver as get_container_driver
    from overcast.container.base import LogChunk

    if not all(shutil.which(tool) for tool in ("podman", "runc")) or not os.path.exists(
            "/bin/busybox"):
        print("container: podman, runc or busybox-static is not installed here "
              "(bash scripts/install-servers.sh installs them): skipped")
        return
    home = os.path.join(root, "podman")
    storage = os.path.join(home, "storage")
    for sub in ("graph", "run", "tmp", "site"):
        os.makedirs(os.path.join(storage if sub != "site" else home, sub), exist_ok=True)
    with open(os.path.join(home, "containers.conf"), "w") as conf:
        conf.write('[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]\n'
                   'netns = "host"\n[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\n'
                   f'events_logger = "file"\nevents_logfile_path = "{home}/events.log"\n')
    with open(os.path.join(home, "storage.conf"), "w") as conf:
        conf.write(f'[storage]\ndriver = "overlay"\ngraphroot = "{storage}/graph"\n'
                   f'runroot = "{storage}/run"\n')
    env = dict(os.environ, CONTAINERS_CONF=os.path.join(home, "containers.conf"),
               CONTAINERS_STORAGE_CONF=os.path.join(home, "storage.conf"),
               TMPDIR=os.path.join(storage, "tmp"))
    with open(os.path.join(home, "site", "index.html"), "w") as page:
        page.write("hello from a busybox container\n")
    rootfs = os.path.join(home, "rootfs.tar")
    with tarfile.open(rootfs, "w") as tar:
        for name in ("bin", "etc", "tmp", "www"):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        tar.add("/bin/busybox", "bin/busybox")
        for applet in ("sh", "httpd", "echo", "cat"):
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)
        passwd = b"root:x:0:0:root:/root:/bin/sh\n"
        info = tarfile.TarInfo("etc/passwd")
        info.size = len(passwd)
        tar.addfile(info, io.BytesIO(passwd))
    sock = os.path.join(home, "podman.sock")
    service = subprocess.Popen(["podman", "system", "service", "--time=0", f"unix://{sock}"],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # httpd ignores SIGTERM as process 1: a short stop timeout.
        docker = get_container_driver(ContainerProvider.DOCKER)(host=f"unix://{sock}",
                                                                stop_timeout=1)
        for _ in range(600):  # the service is up when its socket accepts
            with socket.socket(socket.AF_UNIX) as client:
                try:
                    client.connect(sock)
                    break
                except OSError:
                    time.sleep(0.05)
        image = docker.ex_import_image(rootfs, tag="localhost/demo-busybox:latest",
                                       changes=['CMD ["/bin/sh"]'])
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        web = docker.deploy_container("demo-web", image, parameters={
            "command": ["sh", "-c", f"echo serving on port {port}; "
                        f"exec httpd -f -v -p 127.0.0.1:{port} -h /www"],
            "network_mode": "host", "mounts": [f"{home}/site:/www:ro"]})
        body = b""
        for _ in range(600):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html",
                                            timeout=5) as answer:
                    body = answer.read()
                break
            except OSError:
                time.sleep(0.05)
        print(f"container: {web.name} ({image.name}) is {web.state.value}, "
              f"http://127.0.0.1:{port}/ says {body.decode().strip()!r}")
        stopped = docker.stop_container(web)
        for chunk in docker.stream_container_logs(stopped):
            stream = chunk.stream if isinstance(chunk, LogChunk) else "stdout"
            for line in chunk.decode(errors="replace").splitlines():
                print(f"container: log {stream}: {line}")
        print(f"container: stopped ({stopped.state.value}, exit code "
              f"{stopped.extra['exit_code']}); destroyed: {docker.destroy_container(stopped)}")
        docker.delete_image(image)
        docker.close()
    finally:
        service.terminate()
        try:
            service.wait(10)
        except subprocess.TimeoutExpired:
            service.kill()
            service.wait(10)
        subprocess.run(["podman", "system", "reset", "--force"], env=env,
                       capture_output=True, check=False, timeout=120)
        shutil.rmtree(home, ignore_errors=True)


def main(argv: list[str]) -> int:
    """Run the demo in ``argv[0]`` or a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="overcast-demo-") as scratch:
        root = argv[0] if argv else scratch
        print(f"== overcast demo: local storage under {root}")
        dump_md5 = sync_part(root)
        anyio.run(async_part, root)
        copy_part(root)
        kvm, addresses = compute_part()
        with kvm:
            zone_file = dns_part(root, dump_md5, addresses)
            backup_part(root, zone_file, kvm)
            restic_part(root)
            lb_part(kvm)
        container_part(root)
        print("== done")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
