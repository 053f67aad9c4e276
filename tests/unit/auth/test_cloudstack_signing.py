"""CloudStack request signing against the API documentation's example and
against Apache Libcloud 3.9.1's signer (``libcloud.common.cloudstack``)."""

from __future__ import annotations

from types import SimpleNamespace
from urllib.parse import parse_qsl
from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from libcloud.common.cloudstack import CloudStackConnection

from overcast.auth.cloudstack import CloudStackCredentials
from overcast.auth.cloudstack import canonical_string
from overcast.auth.cloudstack import expires_at
from overcast.auth.cloudstack import sign_params
from overcast.auth.cloudstack import sign_request
from overcast.auth.cloudstack import signature
from overcast.errors import InvalidInput
from overcast.runtime.effects import Request
from overcast.runtime.redact import Secret

# "Signing API Requests" in the CloudStack developer's guide.
DOC_KEY = "plgWJfZK4gyS3mOMTVmjUVg-X-jlWlnfaUJ9GAbBbf9EdM-kAYMmAiLqzzq1ElZLYq_u38zCm0bewzGUdP66mg"
DOC_SECRET = Secret(
    "VDaACYb0LV9eNjTetIOElcVQkvJck_J_QljX_FcHRj87ZKiy0z0ty0ZsYBkoXkY9b7eq1EhwJaw7FF3akA3KBQ")


def libcloud_signature(params: dict[str, str], secret: Secret) -> str:
    conn = SimpleNamespace(key=secret.reveal())
    signed: bytes = CloudStackConnection._make_signature(conn, dict(params))  # type: ignore[arg-type]
    return signed.decode("ascii")


def test_the_documentation_example() -> None:
    params = {"command": "listUsers", "response": "json", "apiKey": DOC_KEY}
    assert canonical_string(params) == f"apikey={DOC_KEY.lower()}&command=listusers&response=json"
    assert signature(params, DOC_SECRET) == "TTpdDq/7j/J58XCRHomKoQXEQds="


def test_a_deploy_with_spaces_stars_brackets_and_userdata_matches_libcloud() -> None:
    params = {"command": "deployVirtualMachine", "response": "json", "apiKey": "KEY",
              "name": "web 1", "displayname": "Web *one* + two", "userdata": "IyEvYmluL3NoCg==",
              "details[0].cpuNumber": "2", "securitygroupnames": "default,web/ssh",
              "zoneid": "1a2b-3c"}
    assert signature(params, Secret("s3cr3t")) == libcloud_signature(params, Secret("s3cr3t"))
    assert "web%201" in canonical_string(params) and "+" not in canonical_string(params)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(st.characters(codec="utf-8", exclude_characters="\x00"),
                               min_size=1, max_size=12),
                       st.text(st.characters(codec="utf-8", exclude_characters="\x00"),
                               max_size=30),
                       min_size=1, max_size=8).filter(
    lambda d: len({k.lower() for k in d}) == len(d) and "signature" not in {k.lower() for k in d}),
       st.text(st.characters(codec="ascii", exclude_characters="\x00"), min_size=1, max_size=40))
def test_any_parameters_sign_as_libcloud_signs_them(params: dict[str, str], secret: str) -> None:
    assert signature(params, Secret(secret)) == libcloud_signature(params, Secret(secret))


def test_sign_request_adds_the_key_and_signature_last_and_replaces_old_ones() -> None:
    creds = CloudStackCredentials("KEY", Secret("s3cr3t"))
    request = Request("GET", "http://cs.example/client/api",
                      params=(("command", "listZones"), ("apikey", "OLD"), ("signature", "OLD")))
    signed = sign_request(request, creds, 0.0)
    names = [k for k, _ in signed.params]  # type: ignore[misc]
    assert names == ["command", "apiKey", "signature"]
    query = dict(parse_qsl(urlsplit(signed.full_url).query))
    expected = libcloud_signature({"command": "listZones", "apiKey": "KEY"}, Secret("s3cr3t"))
    assert query["signature"] == expected


def test_version_3_signs_expires_and_the_version() -> None:
    creds = CloudStackCredentials("KEY", Secret("s3cr3t"), expires=600)
    pairs = dict(sign_params({"command": "listZones"}, creds, 1_700_000_000.0))
    assert pairs["signatureVersion"] == "3"
    assert pairs["expires"] == expires_at(1_700_000_600.0) == "2023-11-14T22:23:20+0000"
    unsigned = {k: v for k, v in pairs.items() if k != "signature"}
    assert pairs["signature"] == libcloud_signature(unsigned, Secret("s3cr3t"))


def test_credentials_are_checked_and_never_shown() -> None:
    with pytest.raises(InvalidInput):
        CloudStackCredentials("", Secret("x"))
    with pytest.raises(InvalidInput):
        CloudStackCredentials("KEY", Secret(""))
    with pytest.raises(InvalidInput):
        CloudStackCredentials("KEY", Secret("x"), expires=0)
    assert "s3cr3t" not in repr(CloudStackCredentials("KEY", Secret("s3cr3t")))


def test_form_body_parameters_are_signed_not_added() -> None:
    creds = CloudStackCredentials("KEY", Secret("s3cr3t"))
    request = Request("POST", "http://cs.example/client/api",
                      headers={"Content-Type": "application/x-www-form-urlencoded"},
                      params=(("command", "deployVirtualMachine"),),
                      body=b"userdata=IyEvYmluL3NoCg%3D%3D")
    signed = sign_request(request, creds, 0.0)
    query = dict(signed.params)  # type: ignore[arg-type]
    assert "userdata" not in query and signed.body == request.body
    expected = libcloud_signature({"command": "deployVirtualMachine", "apiKey": "KEY",
                                   "userdata": "IyEvYmluL3NoCg=="}, Secret("s3cr3t"))
    assert query["signature"] == expected
