"""``python -m overcast.pricing``: rebuild the bundled price snapshots.

``refresh`` fetches them from the providers' price APIs, ``from-libcloud``
converts an Apache Libcloud ``pricing.json``. Progress goes to stderr; a
failure is one line on stderr and an exit code as the ``overcast`` command
gives it (2 invalid input, 4 the provider or the connection failed, ...).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Final

from overcast.errors import InvalidInput
from overcast.errors import OvercastError

__all__ = ["main", "run"]

PROVIDERS: Final = ("aws", "azure", "gcp")
#: Environment variables read for the GCP API key when ``--gcp-api-key`` is not given.
GCP_KEY_VARIABLES: Final = ("OVERCAST_GCP_API_KEY", "GOOGLE_API_KEY")


def _parser() -> argparse.ArgumentParser:
    from overcast.pricing import refresh

    parser = argparse.ArgumentParser(
        prog="python -m overcast.pricing",
        description="Rebuild overcast's bundled price snapshots.")
    commands = parser.add_subparsers(dest="command", required=True)
    fetch = commands.add_parser(
        "refresh", help="fetch the snapshots from AWS, Azure and GCP's price APIs")
    fetch.add_argument("--only", default=",".join(PROVIDERS),
                       help="providers to refresh, comma-separated (default: aws,azure,gcp)")
    fetch.add_argument("--aws-url", default=refresh.AWS_URL,
                       help="AWS Price List Bulk API base URL")
    fetch.add_argument("--aws-regions", default=None,
                       help="only these AWS regions, comma-separated (default: every region)")
    fetch.add_argument("--azure-url", default=refresh.AZURE_URL,
                       help="Azure Retail Prices URL")
    fetch.add_argument("--gcp-url", default=refresh.GCP_URL,
                       help="Cloud Billing Catalog API base URL")
    fetch.add_argument("--gcp-api-key", default=None,
                       help="a Google API key (default: $OVERCAST_GCP_API_KEY or "
                            "$GOOGLE_API_KEY)")
    fetch.add_argument("--out", default=None,
                       help="directory of the snapshots (default: overcast's own)")
    convert = commands.add_parser(
        "from-libcloud", help="convert an Apache Libcloud pricing.json into the snapshots")
    convert.add_argument("path", help="the pricing.json")
    convert.add_argument("--out", default=None,
                         help="directory of the snapshots (default: overcast's own)")
    return parser


def _refresh(args: argparse.Namespace, out: str) -> None:
    from overcast.pricing import refresh

    chosen = [p.strip() for p in str(args.only).split(",") if p.strip()]
    unknown = sorted(set(chosen) - set(PROVIDERS))
    if unknown or not chosen:
        raise InvalidInput(f"--only takes {', '.join(PROVIDERS)}: {', '.join(unknown) or '-'}")
    key = args.gcp_api_key or next((os.environ[v] for v in GCP_KEY_VARIABLES
                                    if os.environ.get(v)), None)
    if "gcp" in chosen and not key:
        raise InvalidInput("the GCP Cloud Billing Catalog needs an API key: --gcp-api-key "
                           "or $OVERCAST_GCP_API_KEY")
    regions = [r.strip() for r in args.aws_regions.split(",")] if args.aws_regions else None
    apis = {"aws": refresh.PriceApi(args.aws_url), "azure": refresh.PriceApi(args.azure_url),
            "gcp": refresh.PriceApi(args.gcp_url, api_key=key)}
    for name in PROVIDERS:
        if name not in chosen:
            continue
        api = apis[name]
        with api:
            if name == "aws":
                op = refresh.aws_snapshot(api, regions)
            elif name == "azure":
                op = refresh.azure_snapshot(api)
            else:
                op = refresh.gcp_snapshot(api)
            snapshot = api._sync_runner.run(op)
        path = refresh.write_snapshot(snapshot, out)
        print(f"{name}: wrote {path} ({len(snapshot.prices)} entries, {snapshot.date})",
              file=sys.stderr)


def _from_libcloud(args: argparse.Namespace, out: str) -> None:
    from overcast.pricing.convert import from_libcloud
    from overcast.pricing.refresh import write_snapshot

    for snapshot in from_libcloud(args.path):
        path = write_snapshot(snapshot, out)
        print(f"{snapshot.table}: wrote {path} ({len(snapshot.prices)} entries, "
              f"{snapshot.date})", file=sys.stderr)


def run(argv: Sequence[str] | None = None) -> int:
    """Run the command with ``argv`` (default: ``sys.argv[1:]``); its exit code."""
    from overcast.cli.output import exit_code
    from overcast.cli.output import one_line
    from overcast.pricing.refresh import default_directory

    args = _parser().parse_args(argv)
    out = args.out or default_directory()
    try:
        if not os.path.isdir(out):
            raise InvalidInput(f"--out: no directory {out}")
        if args.command == "refresh":
            _refresh(args, out)
        else:
            _from_libcloud(args, out)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # one line, never a traceback
        if isinstance(exc, ValueError) and not isinstance(exc, OvercastError):
            exc = InvalidInput(str(exc))  # a file that is not what it should be
        print(f"overcast pricing: error: {one_line(exc)}", file=sys.stderr)
        return exit_code(exc)
    return 0


def main() -> None:
    """Entry point of ``python -m overcast.pricing``."""
    raise SystemExit(run())


if __name__ == "__main__":
    main()
