"""Profiles: the TOML config, secrets kept apart (0600 file or the keyring),
never printed; errors as one line and an exit code."""

from __future__ import annotations

import json
import os
import stat
import sys
import tomllib
import types
from pathlib import Path
from typing import Any

import pytest

from overcast.cli.config import dumps
from overcast.cli.config import parse_option
from servers.cli_runner import SECRET
from servers.cli_runner import Invoke


def test_add_list_show_remove(cli: Invoke, config_path: Path, tmp_path: Path) -> None:
    cli("profile", "add", "store", "--driver", "s3", "--endpoint", "http://127.0.0.1:9",
        "--key", "AKIDCLI", "--secret-stdin", "-o", "region=eu-west-1", "-o", "page_size=10",
        input=SECRET + "\n")
    cli("profile", "add", "files", "--driver", "local", "--key", str(tmp_path / "root"))
    data = tomllib.loads(config_path.read_text())
    assert data["profiles"]["store"] == {
        "area": "storage", "driver": "s3", "endpoint": "http://127.0.0.1:9", "key": "AKIDCLI",
        "secret": "file", "options": {"region": "eu-west-1", "page_size": 10}}
    assert SECRET not in config_path.read_text()
    secrets = config_path.parent / "secrets.toml"
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    assert tomllib.loads(secrets.read_text()) == {"store": SECRET}

    listed = json.loads(cli("profile", "list", "--json").stdout)
    assert [(p["name"], p["driver"]) for p in listed] == [("files", "local"), ("store", "s3")]
    shown = cli("profile", "show", "store")
    assert SECRET not in shown.stdout + shown.stderr
    assert "***" in shown.stdout and "AKIDCLI" in shown.stdout
    as_json = json.loads(cli("profile", "show", "store", "--json").stdout)
    assert as_json["options"] == {"region": "eu-west-1", "page_size": 10}
    assert as_json["secret"].startswith("***")
    assert as_json["credentials from"] == "explicit"  # the key and secret the profile holds
    cli("profile", "rm", "store")
    assert "store" not in tomllib.loads(config_path.read_text())["profiles"]
    assert tomllib.loads(secrets.read_text()) == {}


def test_show_says_which_source_supplied_the_credentials(
    cli: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A profile without a key gets its credentials where the AWS CLI would; `profile
    show` names that source, and never the secret."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    cli("profile", "add", "envstore", "--driver", "s3", "--endpoint", "http://127.0.0.1:9")
    shown = cli("profile", "show", "envstore", "--json")
    found = json.loads(shown.stdout)
    assert found["credentials from"] == "environment"
    assert found["identity"] == "AKIDENV"
    assert SECRET not in shown.stdout + shown.stderr


def test_secret_goes_to_a_usable_keyring(
    cli: Invoke, config_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored: dict[tuple[str, str], str] = {}

    class Backend:
        priority = 1

    fail = types.ModuleType("keyring.backends.fail")

    class FailKeyring:
        pass

    fail.Keyring = FailKeyring  # type: ignore[attr-defined]
    ring: Any = types.ModuleType("keyring")
    ring.get_keyring = Backend
    ring.set_password = lambda service, user, value: stored.__setitem__((service, user), value)
    ring.get_password = lambda service, user: stored.get((service, user))
    ring.delete_password = lambda service, user: stored.pop((service, user))
    monkeypatch.setitem(sys.modules, "keyring", ring)
    monkeypatch.setitem(sys.modules, "keyring.backends", types.ModuleType("keyring.backends"))
    monkeypatch.setitem(sys.modules, "keyring.backends.fail", fail)
    monkeypatch.setenv("OVERCAST_SECRET_STORE", "auto")

    cli("profile", "add", "ringed", "--driver", "s3", "--key", "AKID", "--secret-stdin",
        input=SECRET + "\n")
    assert stored == {("overcast", "ringed"): SECRET}
    assert tomllib.loads(config_path.read_text())["profiles"]["ringed"]["secret"] == "keyring"
    assert not (config_path.parent / "secrets.toml").exists()
    assert "(keyring)" in cli("profile", "show", "ringed").stdout
    cli("profile", "rm", "ringed")
    assert stored == {}


def test_a_keyring_without_a_usable_backend_is_not_used(
    cli: Invoke, config_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fail = types.ModuleType("keyring.backends.fail")

    class FailKeyring:
        priority = 0

    fail.Keyring = FailKeyring  # type: ignore[attr-defined]
    ring: Any = types.ModuleType("keyring")
    ring.get_keyring = FailKeyring
    monkeypatch.setitem(sys.modules, "keyring", ring)
    monkeypatch.setitem(sys.modules, "keyring.backends", types.ModuleType("keyring.backends"))
    monkeypatch.setitem(sys.modules, "keyring.backends.fail", fail)
    monkeypatch.setenv("OVERCAST_SECRET_STORE", "auto")
    cli("profile", "add", "plain", "--driver", "s3", "--secret-stdin", input=SECRET + "\n")
    assert (config_path.parent / "secrets.toml").exists()


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["profile", "add", "bad name", "--driver", "s3"], 2, "invalid profile name"),
        (["profile", "add", "x", "--driver", "no-such-driver"], 2, "no driver named"),
        (["profile", "add", "x", "--driver", "s3", "-o", "secret=1"], 2, "--secret-stdin"),
        (["profile", "add", "x", "--driver", "s3", "-o", "not an option"], 2, "KEY=VALUE"),
        (["profile", "add", "x", "--driver", "s3", "--secret-stdin"], 2, "no secret"),
        (["profile", "show", "missing"], 3, "no profile 'missing'"),
        (["profile", "rm", "missing"], 3, "no profile 'missing'"),
        (["ls", "missing:bucket"], 3, "no profile 'missing'"),
        (["profile", "add", "x", "--driver", "s3", "--area", "nowhere"], 2, "unknown area"),
    ],
)
def test_errors_are_one_line_with_their_exit_code(
    cli: Invoke, config_path: Path, args: list[str], code: int, says: str
) -> None:
    result = cli(*args, input="", ok=False)
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("overcast: error: ")
    assert says in lines[0]
    assert "Traceback" not in result.stderr
    assert not config_path.exists()


def test_debug_shows_the_traceback(cli: Invoke) -> None:
    result = cli("--debug", "profile", "show", "missing", ok=False)
    assert result.exit_code == 3
    assert "Traceback" in result.stderr


def test_a_usage_error_is_exit_2(cli: Invoke) -> None:
    assert cli("profile", "add", ok=False).exit_code == 2


def test_the_secret_is_in_no_error(cli: Invoke, tmp_path: Path) -> None:
    # A profile whose driver rejects its settings: the message names the keys, not the secret.
    cli("profile", "add", "odd", "--driver", "local", "--key", str(tmp_path / "r"),
        "--secret-stdin", "-o", "unknown_option=1", input=SECRET + "\n")
    result = cli("ls", "odd:box", ok=False)
    assert result.exit_code == 2
    assert "unknown_option" in result.stderr
    assert SECRET not in result.stdout + result.stderr


def test_config_writer_round_trips() -> None:
    data = {"profiles": {"a": {"area": "storage", "driver": "s3", "key": 'q"uo\\te\n',
                               "options": {"n": 3, "f": 1.5, "b": False, "s": "x y"}},
                         "b.c": {"driver": "local"}}}
    assert tomllib.loads(dumps(data)) == data


def test_option_values_are_typed() -> None:
    assert parse_option("n=10") == ("n", 10)
    assert parse_option("f=0.5") == ("f", 0.5)
    assert parse_option("secure=false") == ("secure", False)
    assert parse_option("uri=test:///default") == ("uri", "test:///default")


def test_config_is_private(cli: Invoke, config_path: Path) -> None:
    cli("profile", "add", "p", "--driver", "s3")
    assert stat.S_IMODE(os.stat(config_path).st_mode) == 0o600
