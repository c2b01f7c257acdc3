"""The local edge refuses what CloudFront refuses for this distribution, and serves the rest.

URLs come from the API (the minting Lambda's signer) or, where the API would never mint one
(already expired), from the active slot's KMS key directly; the edge checks them with its own,
independent verifier (local/cloudfront_verify.py).
"""

from __future__ import annotations

import http.client
import time
from typing import Any

import pytest
import requests

from filegate.domain.cloudfront import resource_url, signed_url
from tests.e2e.conftest import Local
from tests.e2e.helpers import api, download_url, kms_signing_key, upload_file, with_param

pytestmark = pytest.mark.e2e

PDF = b"%PDF-1.7 edge test\n%%EOF\n"


@pytest.fixture(scope="module")
def alice(local: Local) -> dict[str, Any]:
    users = {user["id"]: user for user in requests.get(f"{local.issuer}/demo-users", timeout=10).json()["users"]}
    token = local.token(user="alice")
    keys = [upload_file(local, token, "cv", PDF + bytes([n]), "application/pdf") for n in range(2)]
    return {**users["alice"], "token": token, "keys": keys}


def get(url: str, **kwargs: Any) -> requests.Response:
    return requests.get(url, timeout=30, **kwargs)


def assert_denied(response: requests.Response, reason: str, code: str = "AccessDenied") -> None:
    assert response.status_code == 403, response.text
    assert f"<Code>{code}</Code>" in response.text
    assert response.headers["X-Local-Edge-Reason"] == reason
    assert response.headers["X-Content-Type-Options"] == "nosniff"  # security headers on errors too


def test_a_valid_signed_url_is_served(local: Local, alice: dict[str, Any]) -> None:
    response = get(download_url(local, alice["token"], alice["keys"][0]))
    assert response.status_code == 200
    assert response.content == PDF + b"\0"


def test_a_private_file_without_signature_is_refused(local: Local, alice: dict[str, Any]) -> None:
    assert_denied(get(f"{local.edge}/{alice['keys'][0]}"), "missing-key-pair-id", "MissingKey")


def test_an_expired_signed_url_is_refused(local: Local, alice: dict[str, Any]) -> None:
    # Given a URL signed by the active slot's key that expired a minute ago
    key = kms_signing_key(local)
    url = signed_url(resource_url(local.edge, alice["keys"][0]), expires=int(time.time()) - 60, key=key)
    # Then the edge refuses it although the signature is good
    assert_denied(get(url), "expired")
    # While the same key signing a future expiry is served (so the refusal is the expiry)
    fresh = signed_url(resource_url(local.edge, alice["keys"][0]), expires=int(time.time()) + 60, key=key)
    assert get(fresh).status_code == 200


def test_a_tampered_signature_is_refused(local: Local, alice: dict[str, Any]) -> None:
    url = download_url(local, alice["token"], alice["keys"][0])
    signature = url.split("Signature=", 1)[1].split("&", 1)[0]
    tampered = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    assert_denied(get(url.replace(signature, tampered)), "bad-signature")


def test_a_tampered_expiry_is_refused(local: Local, alice: dict[str, Any]) -> None:
    url = download_url(local, alice["token"], alice["keys"][0])
    expires = url.split("Expires=", 1)[1].split("&", 1)[0]
    assert_denied(get(url.replace(f"Expires={expires}", f"Expires={int(expires) + 86400}")), "bad-signature")


def test_an_unknown_key_pair_id_is_refused(local: Local, alice: dict[str, Any]) -> None:
    url = download_url(local, alice["token"], alice["keys"][0])
    assert_denied(get(with_param(url, "Key-Pair-Id", "K0000000000000")), "unknown-key-pair-id", "InvalidKey")


def test_a_signed_url_used_on_another_path_is_refused(local: Local, alice: dict[str, Any]) -> None:
    # Given a URL for Alice's first file, When used for her second file, Then it is refused
    url = download_url(local, alice["token"], alice["keys"][0])
    assert_denied(get(url.replace(alice["keys"][0], alice["keys"][1])), "bad-signature")


def test_a_url_restricted_to_another_ip_is_refused(local: Local, alice: dict[str, Any]) -> None:
    elsewhere = download_url(local, alice["token"], alice["keys"][0], ip="203.0.113.0/24")
    assert "Policy=" in elsewhere
    assert_denied(get(elsewhere), "ip-mismatch")
    here = download_url(local, alice["token"], alice["keys"][0], ip="127.0.0.1")
    assert get(here).status_code == 200


def test_a_url_before_its_start_time_is_refused(local: Local, alice: dict[str, Any]) -> None:
    later = download_url(local, alice["token"], alice["keys"][0], starts_at=int(time.time()) + 120,
                         expires_in=900)
    assert_denied(get(later), "not-yet-valid")


def test_signed_cookies_open_the_owners_prefix_only(local: Local, alice: dict[str, Any]) -> None:
    prefix = f"private/users/{alice['sub']}/"
    response = api(local, "/downloads/cookies", {"prefix": prefix}, token=alice["token"])
    assert response.status_code == 200, response.text
    cookies = response.json()["cookies"]
    for key in alice["keys"]:
        assert get(f"{local.edge}/{key}", cookies=cookies).status_code == 200
    # Another user's file is outside the cookie's resource pattern
    carol = local.token(user="carol")
    carols = upload_file(local, carol, "cv", PDF, "application/pdf")
    assert_denied(get(f"{local.edge}/{carols}", cookies=cookies), "resource-mismatch")


def test_public_files_are_served_unsigned_and_missing_ones_are_403(local: Local) -> None:
    mia = local.token(user="mia")
    png = bytes.fromhex("89504e470d0a1a0a")
    key = upload_file(local, mia, "marketing", png, "image/png")
    response = get(f"{local.edge}/{key}")
    assert response.status_code == 200 and response.content == png
    head = requests.head(f"{local.edge}/{key}", timeout=10)
    assert head.status_code == 200 and head.headers["Content-Length"] == str(len(png))
    partial = get(f"{local.edge}/{key}", headers={"Range": "bytes=0-3"})
    assert partial.status_code == 206 and partial.content == png[:4]
    # As S3 answers CloudFront's OAC (no s3:ListBucket): 403, not 404
    assert_denied(get(f"{local.edge}/public/marketing/no-such-file.png"), "origin-denied")


def test_only_get_and_head_are_allowed(local: Local) -> None:
    response = requests.post(f"{local.edge}/public/marketing/x.png", data=b"x", timeout=10)
    assert response.status_code == 403
    assert response.headers["X-Local-Edge-Reason"] == "method"


def test_dot_segments_never_reach_the_bucket(local: Local, alice: dict[str, Any]) -> None:
    # Given paths that climb out of public/ (sent raw: HTTP clients would normalise them away)
    host, port = local.edge.removeprefix("http://").split(":")
    for path in (f"/public/../{alice['keys'][0]}", f"/public/%2e%2e/{alice['keys'][0]}",
                 f"/public/marketing/%2E%2E/%2e%2e/{alice['keys'][0]}"):
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        connection.close()
        # Then the edge itself refuses them as bad paths, before any signature question
        assert response.status == 400, path
        assert response.getheader("X-Local-Edge-Reason") == "bad-path", path
        assert PDF not in body
