"""The typer application of the ``overcast`` command, its global options, the
error handling every command shares, and the ``profile`` commands."""

from __future__ import annotations

import os
import sys
import traceback
from typing import Annotated
from typing import Any

import typer

# typer (0.29 on) carries its own copy of click.
from typer._click import ClickException
from typer._click import Context as ClickContext
from typer.core import TyperGroup

from overcast.cli.config import Profile
from overcast.cli.config import check_name
from overcast.cli.config import parse_option
from overcast.cli.output import EXIT_CODES
from overcast.cli.output import State
from overcast.cli.output import exit_code
from overcast.cli.output import one_line
from overcast.errors import InvalidInput
from overcast.runtime.redact import Secret

__all__ = ["ProfileOpt", "app", "run", "state"]


class _Group(TyperGroup):
    """The top-level group: every command's failure becomes one line on stderr
    and an exit code (a traceback only with ``--debug``)."""

    def invoke(self, ctx: ClickContext) -> Any:
        """Run the chosen command; map its failure to a line and an exit code."""
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, ClickException):
            raise
        except BrokenPipeError:  # `overcast cat ... | head`: the reader left
            with open(os.devnull, "w") as devnull:
                os.dup2(devnull.fileno(), sys.stdout.fileno())
            raise typer.Exit(0) from None
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
        except Exception as exc:
            obj = ctx.obj if isinstance(ctx.obj, State) else State()
            if obj.debug:
                traceback.print_exc(file=sys.stderr)
            print(f"overcast: error: {one_line(exc)}", file=sys.stderr)
            raise typer.Exit(exit_code(exc)) from None
        finally:
            if isinstance(ctx.obj, State):
                ctx.obj.close()


app = typer.Typer(
    name="overcast",
    cls=_Group,
    help="One command over every cloud overcast drives: storage, DNS and compute.",
    epilog="Exit codes: " + "; ".join(f"{c} {t.split(' (')[0].split(':')[0]}"
                                      for c, t in EXIT_CODES.items()),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)

#: The ``--profile`` option every command takes (repeatable where a command
#: spans several profiles).
ProfileOpt = Annotated[
    list[str] | None,
    typer.Option("--profile", "-p", metavar="NAME",
                 help="Profile(s) to use (see 'overcast profile list')."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="JSON on stdout, for scripts.")]


def state(ctx: typer.Context, json_output: bool = False) -> State:
    """The run's :class:`State` (``json_output``: the command's own ``--json``)."""
    root = ctx.find_root()
    if not isinstance(root.obj, State):
        root.obj = State()
    current: State = root.obj
    if json_output:
        current.json = True
    return current


@app.callback()
def _main(
    ctx: typer.Context,
    json_output: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Tracebacks on errors.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress or notes.")] = False,
    profile: ProfileOpt = None,
) -> None:
    """One command over every cloud overcast drives: storage, DNS and compute."""
    current = state(ctx)
    current.json = json_output
    current.debug = debug or os.environ.get("OVERCAST_DEBUG", "") not in ("", "0")
    current.quiet = quiet
    current.profiles = list(profile or [])


# -- profiles ----------------------------------------------------------------------------

profile_app = typer.Typer(help="Add, list, show and remove profiles.", no_args_is_help=True)
app.add_typer(profile_app, name="profile")


def _area_of(driver: str, area: str | None) -> str:
    from overcast.registry import AREAS
    from overcast.registry import driver_table
    from overcast.registry import get_driver

    if area is not None:
        if area not in AREAS:
            raise InvalidInput(f"unknown area {area!r}; areas are: {', '.join(AREAS)}")
        get_driver(area, driver)  # NotSupported naming the drivers there
        return area
    found = []
    for candidate in AREAS:
        if driver in driver_table(candidate) or driver in _plugin_names(candidate):
            found.append(candidate)
    if not found:
        raise InvalidInput(f"no driver named {driver!r} in any area ({', '.join(AREAS)})")
    if len(found) > 1:
        raise InvalidInput(f"{driver!r} is a driver of {', '.join(found)}: choose with --area")
    return found[0]


def _plugin_names(area: str) -> set[str]:
    from importlib.metadata import entry_points

    return {ep.name for ep in entry_points(group=f"overcast.drivers.{area}")}


@profile_app.command("add")
def profile_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The profile's name.")],
    driver: Annotated[str, typer.Option("--driver", "-d", help="Driver name, e.g. s3, local.")],
    area: Annotated[str | None, typer.Option(help="storage, dns, compute, ... "
                                                  "(found from the driver if only one has it)")
                    ] = None,
    endpoint: Annotated[str | None, typer.Option(help="The service's URL.")] = None,
    key: Annotated[str | None, typer.Option(help="Key id, account or user name.")] = None,
    secret_stdin: Annotated[bool, typer.Option(
        "--secret-stdin", help="Read the secret from the first line of stdin.")] = False,
    option: Annotated[list[str] | None, typer.Option(
        "--option", "-o", metavar="KEY=VALUE",
        help="Passed to the driver's constructor (repeatable).")
    ] = None,
) -> None:
    """Add (or replace) a profile. The secret is stored in the OS keyring, or in a
    0600 file beside the config; it is never printed."""
    current = state(ctx)
    check_name(name)
    chosen_area = _area_of(driver, area)
    options = dict(parse_option(o) for o in option or [])
    for reserved in ("key", "secret", "endpoint"):
        if reserved in options:
            flag = "secret-stdin" if reserved == "secret" else reserved
            raise InvalidInput(f"give {reserved} with --{flag}, not --option")
    secret = None
    if secret_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise InvalidInput("--secret-stdin: stdin gave no secret")
        secret = Secret(line)
    profile = Profile(name, driver, chosen_area, endpoint, key, None, options)
    current.config.add(profile, secret)
    current.note(f"profile {name!r} saved to {current.config.path}"
                 + (f" (secret in the {profile.secret})" if profile.secret else ""))


@profile_app.command("list")
def profile_list(ctx: typer.Context, json_output: JsonOpt = False) -> None:
    """List the profiles."""
    current = state(ctx, json_output)
    rows = [{"name": p.name, "area": p.area, "driver": p.driver, "endpoint": p.endpoint}
            for p in sorted(current.config.profiles.values(), key=lambda p: p.name)]
    current.emit(rows, ["name", "area", "driver", "endpoint"])


@profile_app.command("show")
def profile_show(ctx: typer.Context, name: str, json_output: JsonOpt = False) -> None:
    """Show a profile, its secret redacted (and where it is kept)."""
    current = state(ctx, json_output)
    profile = current.config.get(name)
    where = None
    if profile.secret == "file":
        where = f"*** (file {current.config.secrets.path})"
    elif profile.secret is not None:
        where = f"*** ({profile.secret})"
    row: dict[str, Any] = {"name": profile.name, "area": profile.area, "driver": profile.driver,
                           "endpoint": profile.endpoint, "key": profile.key, "secret": where}
    row.update(_credential_source(current, profile))
    if current.json:
        row["options"] = profile.options
    else:
        row.update({f"option {k}": v for k, v in sorted(profile.options.items())})
    current.emit_one(row)


def _credential_source(current: State, profile: Profile) -> dict[str, Any]:
    """Which source supplied the profile's credentials, as its driver found them
    (building a driver sends nothing; a driver that takes credentials only as
    given says nothing here). The secret itself is never shown."""
    from overcast.auth.sources import credential_info

    info = credential_info(current.resolver().driver(profile))
    if info is None:
        return {}
    found: dict[str, Any] = {"credentials from": info.source}
    if info.identity is not None and info.identity != profile.key:
        found["identity"] = info.identity
    return found


@profile_app.command("rm")
def profile_rm(ctx: typer.Context, name: str) -> None:
    """Remove a profile and its secret."""
    current = state(ctx)
    current.config.remove(name)
    current.note(f"profile {name!r} removed")


def _register() -> None:
    from overcast.cli import compute
    from overcast.cli import dns
    from overcast.cli import storage

    storage.register(app)
    dns.register(app)
    compute.register(app)


_register()


def run(argv: list[str] | None = None) -> int:
    """Run the command with ``argv``; its exit code."""
    try:
        app(args=argv, prog_name="overcast", standalone_mode=True)
    except SystemExit as exit_:
        code = exit_.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0
