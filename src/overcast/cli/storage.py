"""Storage commands: ``ls``, ``cp``, ``sync``, ``rm``, ``cat``, ``stat``, ``mb``,
``rb`` and ``presign``, over every storage driver and local files.

Transfers use the drivers' streaming operations (``upload_object`` reads a
file in parts, ``download_object`` writes through a temporary file,
:func:`overcast.storage.copy` streams object to object), so memory stays near
``jobs x parts in flight x part size`` whatever the sizes.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import threading
from collections.abc import Callable
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC
from typing import TYPE_CHECKING
from typing import Annotated
from typing import Any
from typing import Final

import typer

from overcast.cli.app import JsonOpt
from overcast.cli.app import ProfileOpt
from overcast.cli.app import state
from overcast.cli.output import State
from overcast.cli.refusal import Refused
from overcast.cli.targets import Location
from overcast.cli.targets import parse_size
from overcast.cli.targets import walk_files
from overcast.errors import InvalidInput
from overcast.errors import NotFound

if TYPE_CHECKING:
    from rich.progress import Progress

    from overcast.storage.base import Object
    from overcast.storage.base import StorageDriver

__all__ = ["register"]

#: ``sync --delete`` refuses to delete more than this share of the destination
#: unforced (the same rule as :func:`overcast.dns.sync`: 30 %, destinations of
#: fewer than :data:`MIN_ENTRIES_FOR_SAFETY` entries exempt).
DEFAULT_MAX_DELETE_SHARE: Final = 0.3
MIN_ENTRIES_FOR_SAFETY: Final = 10
_MD5: Final = re.compile(r"^[0-9a-f]{32}$")
#: Modification times this close are equal (file systems and providers round).
_MTIME_SLACK: Final = 2.0

JobsOpt = Annotated[int, typer.Option("--jobs", "-j", min=1, max=64,
                                      help="Files transferred at once.")]
PartSizeOpt = Annotated[str | None, typer.Option(
    "--part-size", metavar="SIZE",
    help="Upload part size (e.g. 8MiB); also the one-request threshold.")]
ResumeOpt = Annotated[bool, typer.Option(
    "--resume/--no-resume",
    help="Continue an interrupted download from its partial file (if the object is "
         "unchanged); --no-resume starts over.")]


# -- entries and transfers -------------------------------------------------------------


@dataclass(slots=True)
class Entry:
    """One file or object of a tree being copied or compared."""

    rel: str
    size: int
    mtime: float | None
    md5: str | None = None
    obj: Object | None = None
    path: str | None = None

    def checksum(self) -> str | None:
        """The MD5 (hex): the provider's, or computed for a local file."""
        if self.md5 is None and self.path is not None:
            digest = hashlib.md5(usedforsecurity=False)
            with open(self.path, "rb") as source:
                for chunk in iter(lambda: source.read(1 << 20), b""):
                    digest.update(chunk)
            self.md5 = digest.hexdigest()
        return self.md5


def _object_entry(obj: Object, rel: str) -> Entry:
    md5 = getattr(obj, "content_md5", None)  # the MD5 of the bytes, where it is known
    mtime = obj.last_modified.timestamp() if obj.last_modified else None
    return Entry(rel, obj.size, mtime, md5 if isinstance(md5, str) and _MD5.match(md5) else None,
                 obj)


@dataclass(slots=True)
class Transfer:
    """One copy: from an entry to a local path or an object name."""

    source: Entry
    src: Location
    dst: Location
    target: str  # a local path, or the object's name in dst.container
    resume: bool = True  # a download continues a partial file of the same version

    def label(self) -> str:
        """The destination as people see it."""
        return self.target if self.dst.is_local else self.dst.url(self.target)


def _prefix(key: str) -> str:
    return key if not key or key.endswith("/") else key + "/"


def _list_tree(loc: Location) -> dict[str, Entry]:
    """Every file under a local directory, or object under a prefix, by relative name."""
    if loc.is_local:
        assert loc.path is not None
        if not os.path.exists(loc.path):
            return {}
        if not os.path.isdir(loc.path):
            raise InvalidInput(f"not a directory: {loc.path}")
        from overcast.cli.resume import is_partial

        return {rel: Entry(rel, st.st_size, st.st_mtime, path=os.path.join(loc.path, rel))
                for rel, st in walk_files(loc.path) if not is_partial(rel)}
    driver, container = _need_container(loc)
    prefix = _prefix(loc.key)
    entries = {}
    for obj in driver.iterate_container_objects(container, prefix or None):
        rel = obj.name[len(prefix):]
        if rel and not rel.endswith("/"):
            entries[rel] = _object_entry(obj, rel)
    return entries


def _need_container(loc: Location) -> tuple[StorageDriver, str]:
    if loc.driver is None or not loc.container:
        raise InvalidInput(f"{loc.text}: name a container (e.g. s3://bucket/key)")
    return loc.driver, loc.container


def _single_target(src_name: str, dst: Location) -> str:
    base = src_name.rstrip("/").rsplit("/", 1)[-1]
    if dst.is_local:
        assert dst.path is not None
        if dst.path.endswith(os.sep) or os.path.isdir(dst.path):
            return os.path.join(dst.path, base)
        return dst.path
    _need_container(dst)
    return dst.key + base if not dst.key or dst.key.endswith("/") else dst.key


def _tree_target(rel: str, dst: Location) -> str:
    if dst.is_local:
        assert dst.path is not None
        return os.path.join(dst.path, *rel.split("/"))
    _need_container(dst)
    return _prefix(dst.key) + rel


def _plan_copy(src: Location, dst: Location, recursive: bool) -> list[Transfer]:
    """The transfers ``cp SRC DST`` makes."""
    if src.is_local:
        assert src.path is not None
        if os.path.isdir(src.path):
            if not recursive:
                raise InvalidInput(f"{src.path} is a directory: copy it with --recursive")
            return [Transfer(e, src, dst, _tree_target(e.rel, dst))
                    for e in _list_tree(src).values()]
        if not os.path.exists(src.path):
            raise FileNotFoundError(f"no such file: {src.path}")
        st = os.stat(src.path)
        entry = Entry(os.path.basename(src.path), st.st_size, st.st_mtime, path=src.path)
        return [Transfer(entry, src, dst, _single_target(src.path, dst))]
    driver, container = _need_container(src)
    if src.key and not src.key.endswith("/"):
        try:
            obj = driver.get_object(container, src.key)
        except NotFound:
            if not recursive:
                raise
        else:
            entry = _object_entry(obj, src.key)
            return [Transfer(entry, src, dst, _single_target(src.key, dst))]
    if not recursive:
        raise InvalidInput(f"{src.text} is a prefix: copy it with --recursive")
    tree = _list_tree(src)
    if not tree:
        raise NotFound(src.text, f"nothing under {src.text}")
    return [Transfer(e, src, dst, _tree_target(e.rel, dst)) for e in tree.values()]


class _Bars:
    """Progress on stderr: one bar per file in flight and one for the total."""

    def __init__(self, current: State, total: int, count: int) -> None:
        self.progress: Progress | None = None
        self.lock = threading.Lock()
        if current.quiet:
            return
        from rich.progress import BarColumn
        from rich.progress import DownloadColumn
        from rich.progress import Progress
        from rich.progress import TextColumn
        from rich.progress import TimeRemainingColumn
        from rich.progress import TransferSpeedColumn

        self.progress = Progress(
            TextColumn("{task.description}", markup=False), BarColumn(), DownloadColumn(),
            TransferSpeedColumn(), TimeRemainingColumn(), console=current.err(),
        )
        self.total = self.progress.add_task(f"total ({count} files)", total=total)

    def __enter__(self) -> _Bars:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def file(self, name: str, size: int) -> tuple[Callable[[int, int | None], None],
                                                  Callable[[], None]]:
        """A progress callback for one file and the function that ends its bar."""
        progress = self.progress
        if progress is None:
            return (lambda done, total: None), (lambda: None)
        task = progress.add_task(name, total=size)
        seen = [0]

        def report(done: int, total: int | None) -> None:
            with self.lock:
                step = max(0, done - seen[0])
                seen[0] = max(seen[0], done)
            progress.update(task, completed=seen[0])
            progress.advance(self.total, step)

        def finish() -> None:
            with self.lock:
                rest = max(0, size - seen[0])
                seen[0] = size
            progress.advance(self.total, rest)
            progress.remove_task(task)

        return report, finish


def _copy_file(source: str, target: str, report: Callable[[int, int | None], None]) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
    tmp = f"{target}.overcast-tmp"
    done = 0
    try:
        with open(source, "rb") as src, open(tmp, "wb") as out:
            for chunk in iter(lambda: src.read(1 << 20), b""):
                out.write(chunk)
                done += len(chunk)
                report(done, None)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _run_one(job: Transfer, report: Callable[[int, int | None], None]) -> None:
    from overcast.storage.base import Container
    from overcast.storage.copying import copy

    src, dst, entry = job.src, job.dst, job.source
    if src.is_local and dst.is_local:
        assert entry.path is not None
        _copy_file(entry.path, job.target, report)
    elif src.is_local:
        driver, container = _need_container(dst)
        assert entry.path is not None
        driver.upload_object(entry.path, container, job.target, progress=report,
                             resume=job.resume and driver.resumable_uploads)
    elif dst.is_local:
        from overcast.cli.resume import download_resumable

        assert entry.obj is not None and src.driver is not None
        download_resumable(src.driver, entry.obj, job.target, source=src.url(entry.obj.name),
                           resume=job.resume, progress=report)
    else:
        driver, container = _need_container(dst)
        assert entry.obj is not None
        copy(entry.obj, Container(container, driver=driver), job.target, progress=report)


def _execute(current: State, jobs: list[Transfer], parallel: int, resume: bool = True) -> None:
    """Run the transfers, ``parallel`` at a time, with progress; the first
    failure is raised after the others have finished (each failure is printed).
    Downloads go through a partial file a later run continues unless ``resume``
    is false (:mod:`overcast.cli.resume`)."""
    failures: list[BaseException] = []
    for job in jobs:
        job.resume = resume
    total = sum(j.source.size for j in jobs)
    with _Bars(current, total, len(jobs)) as bars:

        def one(job: Transfer) -> None:
            report, finish = bars.file(job.source.rel, job.source.size)
            try:
                _run_one(job, report)
            except Exception as exc:
                failures.append(exc)
                from overcast.cli.output import one_line

                print(f"overcast: failed: {job.label()}: {one_line(exc)}", file=sys.stderr)
            finally:
                finish()

        if parallel == 1 or len(jobs) == 1:
            for job in jobs:
                one(job)
        else:
            with ThreadPoolExecutor(max_workers=parallel) as pool:
                list(pool.map(one, jobs))
    if failures:
        raise failures[0]


def _part_size(current: State, dst: Location, part_size: str | None, jobs: int) -> None:
    if part_size is not None and dst.driver is not None:
        current.resolver().tune_parts(dst.driver, parse_size(part_size), None)


# -- commands ------------------------------------------------------------------------


def ls(
    ctx: typer.Context,
    location: Annotated[str | None, typer.Argument(
        help="URL, PROFILE:container/prefix; none: the containers of --profile.")] = None,
    long: Annotated[bool, typer.Option("--long", "-l", help="Sizes and dates.")] = False,
    recursive: Annotated[bool, typer.Option("--recursive", "-r",
                                            help="Every object under the prefix.")] = False,
    profile: ProfileOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """List containers, or the objects and prefixes under a prefix."""
    current = state(ctx, json_output)
    resolver = current.resolver(profile)
    if location is None:
        chosen = resolver.profile_for("storage")
        location = f"{chosen.name}:"
    loc = resolver.location(location, container_level=True)
    if loc.is_local:
        raise InvalidInput(f"{location}: not a storage location (a local path: use your ls)")
    driver = loc.driver
    assert driver is not None
    if not loc.container:
        current.emit([{"name": c.name, "type": "container"}
                      for c in driver.iterate_containers()], ["name"])
        return
    found: list[dict[str, Any]] = []
    if recursive:
        entries: Iterator[Any] = iter(driver.iterate_container_objects(loc.container,
                                                                        loc.key or None))
    else:
        entries = iter(driver.iterate_container_entries(loc.container, loc.key or None))
    from overcast.storage.base import Prefix

    for entry in entries:
        if isinstance(entry, Prefix):
            found.append({"name": entry.name, "type": "prefix", "size": None,
                          "modified": None})
        else:
            found.append({"name": entry.name, "type": "object", "size": entry.size,
                         "modified": entry.last_modified, "hash": entry.hash})
    if current.json:
        current.emit(found, [])
    elif long:
        for row in found:
            when = row["modified"].astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if row[
                "modified"] else ""
            size = "PRE" if row["type"] == "prefix" else str(row["size"])
            print(f"{when:19}  {size:>12}  {row['name']}")
    else:
        for row in found:
            print(row["name"])


def cp(
    ctx: typer.Context,
    sources: Annotated[list[str], typer.Argument(help="SOURCE... DESTINATION")],
    recursive: Annotated[bool, typer.Option("--recursive", "-r",
                                            help="Copy directories and prefixes.")] = False,
    jobs: JobsOpt = 4,
    part_size: PartSizeOpt = None,
    resume: ResumeOpt = True,
    profile: ProfileOpt = None,
) -> None:
    """Copy files and objects, any to any: file to object, object to file, object
    to object across profiles, file to file; directories with --recursive. An
    interrupted download continues where it stopped when run again."""
    current = state(ctx)
    if len(sources) < 2:
        raise InvalidInput("cp needs a source and a destination")
    resolver = current.resolver(profile)
    dst = resolver.location(sources[-1])
    plans: list[Transfer] = []
    srcs = [resolver.location(s) for s in sources[:-1]]
    if len(srcs) > 1 and dst.is_local and dst.path is not None:
        os.makedirs(dst.path, exist_ok=True)
    elif len(srcs) > 1 and not dst.is_local and dst.key and not dst.key.endswith("/"):
        dst.key += "/"
    for src in srcs:
        plans.extend(_plan_copy(src, dst, recursive))
    _part_size(current, dst, part_size, jobs)
    _execute(current, plans, jobs, resume)
    for job in plans:
        print(job.label())


def sync(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="Local directory, or URL of a prefix.")],
    destination: Annotated[str, typer.Argument(help="Local directory, or URL of a prefix.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", "-n", help="Show, change nothing.")
                       ] = False,
    delete: Annotated[bool, typer.Option(
        "--delete", help="Delete what the destination has and the source has not.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Past the --delete safety limit.")
                     ] = False,
    max_delete: Annotated[float, typer.Option(
        "--max-delete", min=0.0, max=1.0,
        help="The share of the destination --delete may remove unforced.")
    ] = DEFAULT_MAX_DELETE_SHARE,
    checksum: Annotated[bool, typer.Option(
        "--checksum", "-c", help="Compare MD5s where both sides know them, not times.")
    ] = False,
    jobs: JobsOpt = 4,
    part_size: PartSizeOpt = None,
    resume: ResumeOpt = True,
    profile: ProfileOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Make DESTINATION hold what SOURCE holds (rclone-style): copy what is new or
    different (size, then MD5 with --checksum, else a newer source); with --delete
    remove what the source lacks, refused past --max-delete unless --force."""
    current = state(ctx, json_output)
    resolver = current.resolver(profile)
    src = resolver.location(source)
    dst = resolver.location(destination)
    wanted = _list_tree(src)
    from overcast.errors import ContainerNotFound

    try:
        present = _list_tree(dst)
        missing_container = False
    except ContainerNotFound:
        present, missing_container = {}, True
    copies: list[Transfer] = []
    for rel, entry in sorted(wanted.items()):
        other = present.get(rel)
        if other is None or _differs(entry, other, checksum):
            copies.append(Transfer(entry, src, dst, _tree_target(rel, dst)))
    deletes = sorted(set(present) - set(wanted)) if delete else []
    if deletes and len(present) >= MIN_ENTRIES_FOR_SAFETY and not force and (
        len(deletes) / len(present) > max_delete
    ):
        raise Refused(
            f"refusing to delete {len(deletes)} of the {len(present)} entries of {dst.text} "
            f"({len(deletes) / len(present):.0%}; the limit is {max_delete:.0%}): "
            "pass --force to delete them")
    actions = [{"action": "copy", "name": t.source.rel, "size": t.source.size,
                "to": t.label()} for t in copies]
    actions += [{"action": "delete", "name": rel, "size": present[rel].size,
                 "to": _tree_target(rel, dst) if dst.is_local else dst.url(
                     _tree_target(rel, dst))} for rel in deletes]
    if not dry_run:
        if missing_container and copies and dst.driver is not None and dst.container:
            dst.driver.create_container(dst.container)
        _part_size(current, dst, part_size, jobs)
        if copies:
            _execute(current, copies, jobs, resume)
        for rel in deletes:
            _delete_entry(dst, rel, present[rel])
    if current.json:
        current.emit([{**a, "done": not dry_run} for a in actions], [])
    else:
        verb = "would " if dry_run else ""
        for action in actions:
            print(f"{verb}{action['action']} {action['to']}")
    current.note(f"{'dry run: ' if dry_run else ''}{len(copies)} to copy, {len(deletes)} to "
                 f"delete, {len(wanted) - len(copies)} unchanged")


def _differs(src: Entry, dst: Entry, checksum: bool) -> bool:
    if src.size != dst.size:
        return True
    if checksum:
        theirs = dst.checksum() if dst.path is not None or dst.md5 else None
        if theirs is not None:
            ours = src.checksum()
            if ours is not None:
                return ours != theirs
    if src.mtime is None or dst.mtime is None:
        return False
    return src.mtime > dst.mtime + _MTIME_SLACK


def _delete_entry(dst: Location, rel: str, entry: Entry) -> None:
    if dst.is_local:
        assert entry.path is not None
        os.unlink(entry.path)
    else:
        assert dst.driver is not None and entry.obj is not None
        dst.driver.delete_object(entry.obj)


def rm(
    ctx: typer.Context,
    locations: Annotated[list[str], typer.Argument(help="Objects (or prefixes with -r).")],
    recursive: Annotated[bool, typer.Option("--recursive", "-r",
                                            help="Every object under the prefix.")] = False,
    profile: ProfileOpt = None,
) -> None:
    """Delete objects (every object under a prefix with --recursive)."""
    current = state(ctx)
    resolver = current.resolver(profile)
    for text in locations:
        loc = resolver.location(text)
        driver, container = _need_container(loc)
        if recursive:
            for obj in list(driver.iterate_container_objects(container, loc.key or None)):
                driver.delete_object(obj)
                print(loc.url(obj.name))
        else:
            if not loc.key or loc.key.endswith("/"):
                raise InvalidInput(f"{text} is a prefix: delete under it with --recursive")
            driver.delete_object(driver.get_object(container, loc.key))
            print(loc.url())


def cat(
    ctx: typer.Context,
    location: Annotated[str, typer.Argument(help="The object to print.")],
    profile: ProfileOpt = None,
) -> None:
    """Write an object's bytes to stdout (checked against its size and hash)."""
    current = state(ctx)
    loc = current.resolver(profile).location(location)
    driver, container = _need_container(loc)
    obj = driver.get_object(container, loc.key)
    out = sys.stdout.buffer
    for chunk in driver.download_object_as_stream(obj):
        out.write(chunk)
    out.flush()


def stat(
    ctx: typer.Context,
    location: Annotated[str, typer.Argument(help="The object.")],
    profile: ProfileOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """An object's size, hash, content type, date and metadata."""
    current = state(ctx, json_output)
    loc = current.resolver(profile).location(location)
    driver, container = _need_container(loc)
    obj = driver.get_object(container, loc.key)
    row: dict[str, Any] = {"name": obj.name, "container": container, "size": obj.size,
                           "hash": obj.hash, "content_type": obj.content_type,
                           "modified": obj.last_modified}
    if current.json:
        row["meta_data"] = obj.meta_data
    else:
        row.update({f"meta {k}": v for k, v in sorted(obj.meta_data.items())})
    current.emit_one(row)


def mb(
    ctx: typer.Context,
    location: Annotated[str, typer.Argument(help="The container to make.")],
    profile: ProfileOpt = None,
) -> None:
    """Make a container (bucket)."""
    current = state(ctx)
    loc = current.resolver(profile).location(location, container_level=True)
    driver, container = _need_container(loc)
    driver.create_container(container)
    print(loc.url("").rstrip("/"))


def rb(
    ctx: typer.Context,
    location: Annotated[str, typer.Argument(help="The container to remove.")],
    force: Annotated[bool, typer.Option("--force", help="Delete its objects first.")] = False,
    profile: ProfileOpt = None,
) -> None:
    """Remove a container (it must be empty, unless --force)."""
    current = state(ctx)
    loc = current.resolver(profile).location(location, container_level=True)
    driver, container = _need_container(loc)
    if force:
        for obj in list(driver.iterate_container_objects(container)):
            driver.delete_object(obj)
    driver.delete_container(container)
    print(loc.url("").rstrip("/"))


def presign(
    ctx: typer.Context,
    location: Annotated[str, typer.Argument(help="The object.")],
    expires: Annotated[int, typer.Option(help="Seconds the URL is valid.")] = 3600,
    method: Annotated[str, typer.Option(help="GET or PUT.")] = "GET",
    profile: ProfileOpt = None,
) -> None:
    """A URL that grants GET (or PUT) on an object for a while, made offline.
    It carries a signature: treat it as a secret."""
    from overcast.storage.base import Container
    from overcast.storage.base import Object

    current = state(ctx)
    loc = current.resolver(profile).location(location)
    driver, container = _need_container(loc)
    if not loc.key or loc.key.endswith("/"):
        raise InvalidInput(f"{location}: name an object")
    obj = Object(loc.key, 0, None, container=Container(container, driver=driver), driver=driver)
    print(driver.get_object_presigned_url(obj, method=method, expires=expires))


def register(app: typer.Typer) -> None:
    """Add the storage commands to ``app``."""
    for command in (ls, cp, sync, rm, cat, stat, mb, rb, presign):
        app.command(command.__name__)(command)

