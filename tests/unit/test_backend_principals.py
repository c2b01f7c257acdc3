"""Who may call the ``/backend/`` routes: only the IAM roles in ``FILEGATE_BACKEND_PRINCIPALS``."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import (
    BACKEND_ARN,
    BACKEND_SESSION_ARN,
    Minting,
    api_event,
    body,
    create_kms_key,
    filegate_env,
    put_record,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from filegate.domain.principals import principal_allowed
from filegate.settings import Settings, SettingsError

UPLOAD = {"rule": "cv", "content_type": "application/pdf", "size": 10,
          "on_behalf_of": {"sub": "alice", "groups": ["careers"]}}
DOWNLOAD = {"key": "private/users/alice/cv/0123456789abcdef0123456789abcdef.pdf",
            "on_behalf_of": {"sub": "alice", "groups": ["careers"]}}
PATH_ROLE = "arn:aws:iam::123456789012:role/service/rails/rails-app"


@pytest.mark.parametrize(("caller", "allowed", "expected"), [
    (BACKEND_ARN, [BACKEND_ARN], True),
    (BACKEND_SESSION_ARN, [BACKEND_ARN], True),
    ("arn:aws:sts::123456789012:assumed-role/rails-app/web-1", [PATH_ROLE], True),  # sessions carry no path
    ("arn:aws-cn:sts::123456789012:assumed-role/rails-app/s1", ["arn:aws-cn:iam::123456789012:role/rails-app"], True),
    (BACKEND_SESSION_ARN, [], False),
    (BACKEND_ARN, [], False),
    ("arn:aws:sts::999999999999:assumed-role/rails-app/s1", [BACKEND_ARN], False),
    ("arn:aws-cn:sts::123456789012:assumed-role/rails-app/s1", [BACKEND_ARN], False),
    ("arn:aws:sts::123456789012:assumed-role/rails-app-evil/s1", [BACKEND_ARN], False),
    ("arn:aws:sts::123456789012:assumed-role/rails-ap/s1", [BACKEND_ARN], False),
    ("arn:aws:sts::123456789012:assumed-role/Rails-App/s1", [BACKEND_ARN], False),
    ("arn:aws:sts::123456789012:assumed-role/rails-app", [BACKEND_ARN], False),
    ("arn:aws:sts::123456789012:assumed-role/rails-app/s1/extra", [BACKEND_ARN], False),
    ("arn:aws:sts::123456789012:federated-user/rails-app", [BACKEND_ARN], False),
    ("arn:aws:iam::123456789012:user/rails-app", [BACKEND_ARN], False),
    ("arn:aws:iam::123456789012:role/other", [BACKEND_ARN], False),
    ("arn:aws:iam::123456789012:role/service/rails/rails-app", [BACKEND_ARN], False),  # a different role
    ("AROAEXAMPLE:rails", [BACKEND_ARN], False),
    ("", [BACKEND_ARN], False),
    (None, [BACKEND_ARN], False),
])
def test_principal_matching(caller: str | None, allowed: list[str], expected: bool) -> None:
    # Given a caller ARN and the listed roles / Then only a listed role or its session passes
    assert principal_allowed(caller, allowed) is expected


_partitions = st.sampled_from(["aws", "aws-cn", "aws-us-gov"])
_accounts = st.sampled_from(["123456789012", "210987654321", "000000000000"])
_names = st.one_of(st.sampled_from(["rails-app", "rails", "app", "Rails-App", "rails-app2"]),
                   st.from_regex(r"[A-Za-z0-9_+=,.@-]{1,64}", fullmatch=True))
_paths = st.sampled_from(["", "service/", "a/b/"])
_sessions = st.from_regex(r"[A-Za-z0-9_+=,.@-]{2,64}", fullmatch=True)
Role = tuple[str, str, str, str]  # partition, account, path, name


def _role_arn(role: Role) -> str:
    partition, account, path, name = role
    return f"arn:{partition}:iam::{account}:role/{path}{name}"


@st.composite
def callers(draw: st.DrawFn, listed: list[Role]) -> tuple[str, bool]:
    """A caller ARN and, computed from how it was generated, whether it must pass."""
    kind = draw(st.sampled_from(["listed-session", "listed-role", "session", "role", "text"]))
    if kind in {"listed-session", "listed-role"} and listed:
        role = draw(st.sampled_from(listed))
        if kind == "listed-role":
            return _role_arn(role), True
        return f"arn:{role[0]}:sts::{role[1]}:assumed-role/{role[3]}/{draw(_sessions)}", True
    partition, account, name = draw(_partitions), draw(_accounts), draw(_names)
    if kind == "role":
        arn = _role_arn((partition, account, draw(_paths), name))
        return arn, arn in {_role_arn(role) for role in listed}
    if kind == "session":
        arn = f"arn:{partition}:sts::{account}:assumed-role/{name}/{draw(_sessions)}"
        return arn, (partition, account, name) in {(p, a, n) for p, a, _, n in listed}
    text = draw(st.text(max_size=120))
    return text, text in {_role_arn(role) for role in listed}


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), listed=st.lists(st.tuples(_partitions, _accounts, _paths, _names), max_size=3))
def test_only_listed_roles_and_their_sessions_pass(data: st.DataObject, listed: list[Role]) -> None:
    # Given random listed roles and a random caller ARN (whether it must pass is known by construction)
    caller, expected = data.draw(callers(listed))
    # When matched / Then it passes exactly when it is a listed role or a session of one
    assert principal_allowed(caller, [_role_arn(role) for role in listed]) is expected


@pytest.mark.parametrize("caller", [
    "arn:aws:sts::123456789012:assumed-role/other-app/s1",
    "arn:aws:sts::999999999999:assumed-role/rails-app/s1",
    "arn:aws:iam::123456789012:user/admin",
])
@pytest.mark.parametrize(("route", "request_body"), [("/backend/uploads", UPLOAD), ("/backend/downloads", DOWNLOAD)])
def test_unlisted_callers_get_403_and_nothing_is_minted(*, minting: Minting, logs: list[str],
                                                        capfd: pytest.CaptureFixture[str], caller: str, route: str,
                                                        request_body: dict[str, Any]) -> None:
    # Given an IAM caller that is not a listed backend principal
    capfd.readouterr()
    handle = minting.upload if route == "/backend/uploads" else minting.download
    # When it asks for a mint on a user's behalf
    response = handle(api_event(route, request_body, iam_arn=caller))
    # Then 403 backend_not_allowed, one refusal audit naming the caller, no URL, no UrlsMinted metric
    assert response["statusCode"] == 403, response["body"]
    assert body(response)["error"]["code"] == "backend_not_allowed"
    assert set(body(response)) == {"error"}
    output = capfd.readouterr().out
    audits = [record["audit"] for record in map(json.loads, logs) if "audit" in record]
    assert len(audits) == 1 and audits[0]["event"] == "refusal" and audits[0]["reason"] == "backend_not_allowed"
    assert audits[0]["principal"] == caller and audits[0]["status"] == 403
    assert "UrlsMinted" not in output


def test_unlisted_callers_are_refused_before_their_body_is_read(minting: Minting) -> None:
    # Given an unlisted caller sending an invalid body / Then 403, not a 400 about the body
    response = minting.upload(api_event("/backend/uploads", raw_body="{oops",
                                        iam_arn="arn:aws:sts::123456789012:assumed-role/other/s1"))
    assert response["statusCode"] == 403 and body(response)["error"]["code"] == "backend_not_allowed"


def test_empty_list_refuses_everyone(configure: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given no backend principals configured (the default)
    env = filegate_env(kms_key_id=create_kms_key())
    del env["FILEGATE_BACKEND_PRINCIPALS"]
    monkeypatch.delenv("FILEGATE_BACKEND_PRINCIPALS", raising=False)
    minting = configure(**env)
    # When even the otherwise trusted role calls / Then it is refused on both routes
    for handle, route, request_body in ((minting.upload, "/backend/uploads", UPLOAD),
                                        (minting.download, "/backend/downloads", DOWNLOAD)):
        response = handle(api_event(route, request_body, iam_arn=BACKEND_SESSION_ARN))
        assert response["statusCode"] == 403 and body(response)["error"]["code"] == "backend_not_allowed"


def test_a_session_of_a_listed_role_mints(minting: Minting) -> None:
    # Given the listed role's session (as API Gateway reports it), and Alice's CV verified
    put_record(DOWNLOAD["key"])
    # Then both routes mint
    upload = minting.upload(api_event("/backend/uploads", UPLOAD, iam_arn=BACKEND_SESSION_ARN))
    download = minting.download(api_event("/backend/downloads", DOWNLOAD, iam_arn=BACKEND_SESSION_ARN))
    assert upload["statusCode"] == 201 and download["statusCode"] == 200, (upload["body"], download["body"])


def test_user_routes_ignore_the_backend_list(minting: Minting) -> None:
    # Given a JWT caller on a user route / Then the backend list plays no part
    response = minting.upload(api_event("/uploads", {k: v for k, v in UPLOAD.items() if k != "on_behalf_of"},
                                        claims={"sub": "alice", "cognito:groups": "[careers]"}))
    assert response["statusCode"] == 201


@pytest.mark.parametrize(("value", "message"), [
    ('"arn:aws:iam::123456789012:role/rails-app"', r"^FILEGATE_BACKEND_PRINCIPALS: .*JSON list"),
    ('["*"]', r"^FILEGATE_BACKEND_PRINCIPALS: \[0\]: '\*' is not an IAM role ARN"),
    ('["arn:aws:iam::123456789012:role/*"]', r"^FILEGATE_BACKEND_PRINCIPALS: \[0\]: "),
    ('["arn:aws:sts::123456789012:assumed-role/rails-app/s1"]', r"^FILEGATE_BACKEND_PRINCIPALS: \[0\]: "),
    (f'["{BACKEND_ARN}", "arn:aws:iam::123456789012:user/bob"]', r"^FILEGATE_BACKEND_PRINCIPALS: \[1\]: "),
    ("[1]", r"^FILEGATE_BACKEND_PRINCIPALS: \[0\]: "),
])
def test_bad_backend_principals_name_the_variable(value: str, message: str) -> None:
    # Given a wrong FILEGATE_BACKEND_PRINCIPALS / Then the settings refuse it, naming the variable
    with pytest.raises(SettingsError, match=message):
        Settings.from_environ({**filegate_env(kms_key_id="k"), "FILEGATE_BACKEND_PRINCIPALS": value})


def test_backend_principals_default_to_none() -> None:
    env = filegate_env(kms_key_id="k")
    del env["FILEGATE_BACKEND_PRINCIPALS"]
    assert Settings.from_environ(env).backend_principals == ()
    listed = Settings.from_environ({**env, "FILEGATE_BACKEND_PRINCIPALS": json.dumps([BACKEND_ARN, PATH_ROLE])})
    assert listed.backend_principals == (BACKEND_ARN, PATH_ROLE)
