"""DNS commands: ``dns zones``, ``records``, ``export``, ``import``, and ``plan``
/ ``apply`` over :func:`overcast.dns.sync` (its safety limit kept), the plan
shown as a coloured diff."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from contextlib import contextmanager
from typing import TYPE_CHECKING
from typing import Annotated
from typing import Any

import typer

from overcast.cli.app import JsonOpt
from overcast.cli.app import ProfileOpt
from overcast.cli.app import state
from overcast.cli.output import State
from overcast.errors import InvalidInput
from overcast.errors import ZoneNotFound

if TYPE_CHECKING:
    from overcast.dns.base import DNSDriver
    from overcast.dns.base import Zone
    from overcast.dns.zone_sync import Change
    from overcast.dns.zone_sync import Plan

__all__ = ["register"]

dns_app = typer.Typer(help="DNS zones and records; plan and apply one zone onto another.",
                      no_args_is_help=True)


def _driver(current: State, profile: list[str] | None, name: str | None = None) -> DNSDriver:
    from overcast.dns.base import DNSDriver

    _, driver = current.resolver(profile).area_driver("dns", name)
    assert isinstance(driver, DNSDriver)
    return driver


def find_zone(driver: DNSDriver, text: str) -> Zone:
    """The zone whose domain (or id) is ``text``; ZoneNotFound if none."""
    from overcast.dns.names import same_name

    if not text:
        raise InvalidInput("name a zone")
    for zone in driver.iterate_zones():
        if zone.id == text or (zone.domain and same_name(zone.domain, text)):
            return zone
    raise ZoneNotFound(text, f"no zone {text!r} on {driver.name}")


@dns_app.command("zones")
def zones(ctx: typer.Context, profile: ProfileOpt = None, json_output: JsonOpt = False) -> None:
    """List the zones."""
    current = state(ctx, json_output)
    driver = _driver(current, profile)
    rows = [{"id": z.id, "domain": z.domain, "type": z.type, "ttl": z.ttl}
            for z in driver.iterate_zones()]
    current.emit(rows, ["domain", "id", "type", "ttl"])


@dns_app.command("records")
def records(ctx: typer.Context, zone: Annotated[str, typer.Argument(help="Domain or zone id.")],
            profile: ProfileOpt = None, json_output: JsonOpt = False) -> None:
    """List a zone's record sets."""
    current = state(ctx, json_output)
    driver = _driver(current, profile)
    found = find_zone(driver, zone)
    rows = [{"name": r.name or "@", "type": str(r.type), "ttl": r.ttl,
             "values": r.values if current.json else " ".join(r.values)}
            for r in driver.iterate_record_sets(found)]
    current.emit(rows, ["name", "type", "ttl", "values"])


@dns_app.command("export")
def export(ctx: typer.Context, zone: Annotated[str, typer.Argument(help="Domain or zone id.")],
           profile: ProfileOpt = None) -> None:
    """Print a zone as master-file text (redirect it to a file)."""
    current = state(ctx)
    driver = _driver(current, profile)
    text = driver.export_zone_to_bind_format(find_zone(driver, zone))
    print(text, end="" if text.endswith("\n") else "\n")


@dns_app.command("import")
def import_(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="A master file ('-': stdin).")],
    zone: Annotated[str | None, typer.Option("--zone", help="The domain (default: $ORIGIN).")
                    ] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Replace sets that exist.")
                       ] = False,
    profile: ProfileOpt = None,
) -> None:
    """Load a master file into a zone (created if missing and the driver can)."""
    import sys

    current = state(ctx)
    driver = _driver(current, profile)
    text = sys.stdin.read() if file == "-" else _read(file)
    made = driver.import_zone_from_bind_format(text, zone, replace=replace)
    print(made.domain)


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as source:
            return source.read()
    except UnicodeDecodeError:
        raise InvalidInput(f"{path} is not UTF-8 text") from None


@contextmanager
def _source_zone(current: State, text: str, domain: str | None) -> Iterator[Zone]:
    """The zone ``PROFILE:ZONE`` names, or a zone file's (loaded into a temporary
    zone-file directory)."""
    name, sep, rest = text.partition(":")
    if sep and name in current.config.profiles:
        driver = _driver(current, None, name)
        yield find_zone(driver, rest or (domain or ""))
        return
    if not os.path.isfile(text):
        raise InvalidInput(f"{text}: neither PROFILE:ZONE nor a zone file")
    from overcast.dns.drivers.zonefile import ZoneFileDNSDriver

    with (tempfile.TemporaryDirectory(prefix="overcast-zone-") as directory,
          ZoneFileDNSDriver(directory) as driver):
        yield driver.import_zone_from_bind_format(_read(text), domain)


def _target(current: State, text: str | None, profile: list[str] | None
            ) -> tuple[DNSDriver, str | None]:
    """The target's driver and domain: ``PROFILE`` or ``PROFILE:DOMAIN`` (the
    documented positional form), else the DNS profile chosen with ``--profile``
    (the command's or the global one) and ``text`` as the domain (``None``: the
    source's)."""
    if text is not None:
        name, sep, domain = text.partition(":")
        if name in current.config.profiles:
            return _driver(current, None, name), domain or None
        if sep:
            raise InvalidInput(f"{text}: no profile named {name!r} (the target is PROFILE, "
                               "PROFILE:DOMAIN, or DOMAIN with --profile)")
        if not (profile or current.profiles):
            raise InvalidInput(f"{text}: no profile of that name; name the target profile "
                               "with --profile, or write PROFILE:DOMAIN")
        if not text.strip():
            raise InvalidInput("an empty target domain")
    elif not (profile or current.profiles):
        raise InvalidInput("name the target: --profile NAME, or TARGET as PROFILE or "
                           "PROFILE:DOMAIN")
    return _driver(current, profile), text


def _show(current: State, plan: Plan) -> None:
    if current.json:
        print_json(plan)
        return
    from rich.text import Text

    out = current.out()
    out.print(Text(str(plan).splitlines()[0], style="bold"))
    for change in plan.changes:
        for sign, ttl, value in _diff_lines(change):
            style = {"-": "red", "+": "green", " ": "dim"}[sign]
            out.print(Text(f"{sign} {change.name or '@'} {'' if ttl is None else ttl} "
                           f"{change.type} {value}", style=style))


def _diff_lines(change: Change) -> list[tuple[str, int | None, str]]:
    """The lines of one change: ``(sign, ttl, value)``; an update keeps the values
    both sides hold as context when its TTL stays."""
    old = change.existing
    before = list(old.values) if old is not None and change.action != "create" else []
    after = list(change.values) if change.action != "delete" else []
    old_ttl = old.ttl if old is not None else None
    if change.action == "update" and old_ttl == change.ttl:
        return ([(" ", old_ttl, v) for v in before if v in after]
                + [("-", old_ttl, v) for v in before if v not in after]
                + [("+", change.ttl, v) for v in after if v not in before])
    return [("-", old_ttl, v) for v in before] + [("+", change.ttl, v) for v in after]


def print_json(plan: Plan) -> None:
    """The plan as one JSON object on stdout."""
    import json

    changes: list[dict[str, Any]] = [
        {"action": c.action, "name": c.name, "type": c.type, "ttl": c.ttl,
         "values": list(c.values),
         "old_values": list(c.existing.values) if c.existing is not None else None,
         "old_ttl": c.existing.ttl if c.existing is not None else None}
        for c in plan.changes]
    print(json.dumps({"source": plan.source, "target": plan.target, "existing": plan.existing,
                      "target_exists": plan.target_exists, "applied": plan.applied,
                      "changes": changes}))


SrcArg = Annotated[str, typer.Argument(help="PROFILE:ZONE or a zone file.")]
DstArg = Annotated[str | None, typer.Argument(
    help="PROFILE or PROFILE:DOMAIN; with --profile, a DOMAIN or nothing (the source's).")]
ZoneOpt = Annotated[str | None, typer.Option("--zone", help="The source's domain (zone files "
                                                            "default to $ORIGIN).")]


@dns_app.command("plan")
def plan(ctx: typer.Context, source: SrcArg, target: DstArg = None, zone: ZoneOpt = None,
         profile: ProfileOpt = None, json_output: JsonOpt = False) -> None:
    """Show what 'apply' would change in TARGET (or the --profile's zone) to make
    it equal SOURCE."""
    from overcast.dns.zone_sync import sync

    current = state(ctx, json_output)
    driver, domain = _target(current, target, profile)
    with ExitStack() as stack:
        source_zone = stack.enter_context(_source_zone(current, source, zone))
        _show(current, sync(source_zone, driver, target_domain=domain, dry_run=True))


@dns_app.command("apply")
def apply(
    ctx: typer.Context, source: SrcArg, target: DstArg = None, zone: ZoneOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Past the safety limit.")] = False,
    max_change_share: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="The share of the target's sets a change may touch unforced.")
    ] = 0.3,
    profile: ProfileOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Make TARGET (or the --profile's zone) equal SOURCE; refused (exit 7) when
    the plan changes more than --max-change-share of a target of 10 or more sets,
    unless --force."""
    from overcast.dns.zone_sync import UnsafePlan
    from overcast.dns.zone_sync import sync

    current = state(ctx, json_output)
    driver, domain = _target(current, target, profile)
    with ExitStack() as stack:
        source_zone = stack.enter_context(_source_zone(current, source, zone))
        try:
            done = sync(source_zone, driver, target_domain=domain, dry_run=False, force=force,
                        max_change_share=max_change_share)
        except UnsafePlan as refused:
            _show(current, refused.plan)
            raise
        _show(current, done)
        current.note("applied" if done.applied else "nothing to change")


def register(app: typer.Typer) -> None:
    """Add the ``dns`` commands to ``app``."""
    app.add_typer(dns_app, name="dns")
