"""The seed flows end to end: token → local API (real handlers) → radosgw → local edge.

Every request goes over HTTP to the local mode's servers, as a browser or a backend would send
it; nothing is called in-process.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import pytest
import requests

from tests.e2e.conftest import Local
from tests.e2e.helpers import api, download_url, mint_upload, post_file, same_pixels, upload_file, wait_until_decided
from tests.unit import samples

pytestmark = pytest.mark.e2e

# Real files (the verifier checks the bytes against the declared type before anything is served).
PDF = samples.pdf(text="filegate e2e")
PNG = samples.png(8, 8, seed=7)


@pytest.fixture(scope="module")
def users(local: Local) -> dict[str, Any]:
    demo = {user["id"]: user for user in requests.get(f"{local.issuer}/demo-users", timeout=10).json()["users"]}
    return {name: {**user, "token": local.token(user=name)} for name, user in demo.items()}


def fetch(url: str, **kwargs: Any) -> requests.Response:
    return requests.get(url, timeout=30, **kwargs)


# --- seed flows -------------------------------------------------------------------------------

def test_careers_user_uploads_and_downloads_a_cv(local: Local, users: dict[str, Any]) -> None:
    alice = users["alice"]
    # Given Alice's presigned POST for a CV
    upload = mint_upload(local, alice["token"], "cv", "application/pdf", len(PDF), filename="My CV.pdf")
    assert upload.key.startswith(f"private/users/{alice['sub']}/cv/") and upload.key.endswith(".pdf")
    # When her browser POSTs the file straight to S3 (into quarantine)
    response = post_file(upload, PDF)
    assert response.status_code == 201, response.text
    # And the verifier has passed it
    assert wait_until_decided(local, alice["token"], upload.file_id)["status"] == "clean"
    # And she asks for a download URL
    url = download_url(local, alice["token"], upload.key)
    # Then the edge serves exactly her bytes, with the security headers
    served = fetch(url)
    assert served.status_code == 200, served.text
    assert hashlib.sha256(served.content).digest() == hashlib.sha256(PDF).digest()
    assert served.headers["Content-Type"] == "application/pdf"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert served.headers["X-Frame-Options"] == "DENY"
    assert "sandbox" in served.headers["Content-Security-Policy"]
    assert served.headers["Strict-Transport-Security"].startswith("max-age=")
    # And the stored metadata and encryption details (read here from the bucket) never reach a
    # viewer (issue 7, finding 5; tests/e2e/test_edge.py::test_finding5_no_internal_header_reaches_a_viewer)
    assert not any(name.lower().startswith(("x-amz-meta-", "x-amz-server-side-encryption", "x-amz-version-id"))
                   for name in served.headers)
    stored = local.edge_s3.head_object(Bucket=local.bucket, Key=upload.key)
    assert stored["ServerSideEncryption"] == "aws:kms" and stored["Metadata"]["original-filename"] == "My CV.pdf"


def test_careers_user_uploads_and_downloads_a_certificate(local: Local, users: dict[str, Any]) -> None:
    alice = users["alice"]
    key = upload_file(local, alice["token"], "certificate", PNG, "image/png", filename="degree.png")
    assert key.startswith(f"private/users/{alice['sub']}/certificates/") and key.endswith(".png")
    served = fetch(download_url(local, alice["token"], key))
    assert served.status_code == 200
    assert same_pixels(served.content, PNG)  # re-encoded by the verifier: the same image, new bytes
    assert served.headers["Content-Type"] == "image/png"


def test_org_user_registers_the_organisation(local: Local, users: dict[str, Any]) -> None:
    bob = users["bob"]
    # Given Bob of org "acme" uploads the business registration
    key = upload_file(local, bob["token"], "business-registration", PDF, "application/pdf", filename="registration.pdf")
    # Then it lands under the org's prefix, from the verified org_id claim
    assert key.startswith("private/orgs/acme/registration/")
    assert fetch(download_url(local, bob["token"], key)).content == PDF
    # And a user of another org cannot get a URL for it
    globex = local.token(sub="globex-admin", groups=["org"], org_id="globex")
    refused = api(local, "/downloads", {"key": key}, token=globex)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "not_allowed"


def test_org_views_a_certificate_through_a_backend_grant(local: Local, users: dict[str, Any]) -> None:
    alice, bob = users["alice"], users["bob"]
    # Given Alice's certificate
    key = upload_file(local, alice["token"], "certificate", PDF, "application/pdf", filename="certificate.pdf")
    # When Bob (org) asks with his own token, the rules refuse: the file is Alice's
    assert api(local, "/downloads", {"key": key}, token=bob["token"]).status_code == 403
    # And the backend route refuses callers without IAM credentials (here: the local backend key)
    body = {"key": key, "on_behalf_of": {"sub": alice["sub"], "groups": ["careers"]}}
    no_iam = api(local, "/backend/downloads", body, token=bob["token"])
    assert no_iam.status_code == 403 and no_iam.json() == {"message": "Forbidden"}
    # But the trusted backend, which knows Alice applied to Bob's org, mints a URL on her behalf
    granted = api(local, "/backend/downloads", body, backend=True)
    assert granted.status_code == 200, granted.text
    # Then Bob's browser downloads the certificate through the edge
    assert fetch(granted.json()["url"]).content == PDF


def test_marketing_uploads_a_public_image_served_unsigned(local: Local, users: dict[str, Any]) -> None:
    mia = users["mia"]
    key = upload_file(local, mia["token"], "marketing", PNG, "image/png", filename="banner.png")
    assert key.startswith("public/marketing/") and key.endswith(".png")
    # Public files need no signature
    served = fetch(f"{local.edge}/{key}")
    assert served.status_code == 200
    assert same_pixels(served.content, PNG)
    assert served.headers["Content-Type"] == "image/png"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    # And marketing may not mint download URLs (the rule allows upload only)
    assert api(local, "/downloads", {"key": key}, token=mia["token"]).status_code == 403


def test_backend_uploads_on_behalf_of_a_user(local: Local, users: dict[str, Any]) -> None:
    alice = users["alice"]
    body = {"rule": "cv", "content_type": "application/pdf", "size": len(PDF),
            "on_behalf_of": {"sub": alice["sub"], "groups": ["careers"]}}
    response = api(local, "/backend/uploads", body, backend=True)
    assert response.status_code == 201, response.text
    assert response.json()["key"].startswith(f"private/users/{alice['sub']}/cv/")


# --- refusals by the API ------------------------------------------------------------------------

def test_another_users_file_is_refused(local: Local, users: dict[str, Any]) -> None:
    key = upload_file(local, users["alice"]["token"], "cv", PDF, "application/pdf")
    refused = api(local, "/downloads", {"key": key}, token=users["carol"]["token"])
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "not_allowed"
    cookies = api(local, "/downloads/cookies", {"prefix": f"private/users/{users['alice']['sub']}/"},
                  token=users["carol"]["token"])
    assert cookies.status_code == 403


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"rule": "cv", "content_type": "application/pdf", "size": 10 * 1024 * 1024 + 1}, 413, "payload_too_large"),
    ({"rule": "cv", "content_type": "image/svg+xml", "size": 10}, 415, "unsupported_media_type"),
    ({"rule": "marketing", "content_type": "image/png", "size": 10}, 403, "not_allowed"),
    ({"rule": "cv", "content_type": "application/pdf", "size": 10, "surprise": 1}, 400, "invalid_request"),
])
def test_the_api_refuses_uploads_outside_the_rules(local: Local, users: dict[str, Any], body: dict[str, Any],
                                                   status: int, code: str) -> None:
    response = api(local, "/uploads", body, token=users["alice"]["token"])
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


def test_the_authorizer_refuses_bad_tokens(local: Local) -> None:
    body = {"rule": "cv", "content_type": "application/pdf", "size": 10}
    # no token, expired token, a token for another audience: 401 from the authorizer
    assert api(local, "/uploads", body).json() == {"message": "Unauthorized"}
    expired = local.token(sub="x", groups=["careers"], expires_in=-60)
    assert api(local, "/uploads", body, token=expired).status_code == 401
    other_audience = local.token(sub="x", groups=["careers"], aud="someone-else")
    assert api(local, "/uploads", body, token=other_audience).status_code == 401
    # a token without the required scope (an ID token, say): 403
    no_scope = local.token(sub="x", groups=["careers"], scope="openid")
    response = api(local, "/uploads", body, token=no_scope)
    assert response.status_code == 403 and response.json() == {"message": "Forbidden"}
    # a forged token (signed by another key): 401
    forged = local.token(sub="x", groups=["careers"])[:-8] + "AAAAAAAA"
    assert api(local, "/uploads", body, token=forged).status_code == 401
    # an unknown route: API Gateway's 404
    assert api(local, "/nope", body).status_code == 404


def test_cors_as_the_deployed_api(local: Local) -> None:
    origin = "http://127.0.0.1:8080"
    preflight = requests.options(f"{local.api}/uploads", timeout=10, headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type"})
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == origin
    assert preflight.headers["Access-Control-Allow-Credentials"] == "true"
    evil = requests.options(f"{local.api}/uploads", timeout=10, headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in evil.headers


# --- refusals by the local S3 (with API-minted POSTs) -------------------------------------------

@pytest.fixture
def alice_upload(local: Local, users: dict[str, Any]) -> Any:
    return mint_upload(local, users["alice"]["token"], "cv", "application/pdf", len(PDF))


def test_s3_refuses_a_file_larger_than_declared_rule_max(local: Local, users: dict[str, Any]) -> None:
    # Given a POST minted for a small declared size (the policy allows up to the rule's max)
    upload = mint_upload(local, users["mia"]["token"], "marketing", "image/png", 100)
    response = post_file(upload, b"\0" * (upload.max_bytes + 1))
    assert response.status_code == 400 and "EntityTooLarge" in response.text


def test_s3_refuses_a_wrong_type(alice_upload: Any) -> None:
    response = post_file(alice_upload, b"<svg onload=alert(1)>", override={"Content-Type": "image/svg+xml"})
    assert response.status_code == 403


def test_s3_refuses_a_wrong_key(local: Local, alice_upload: Any, users: dict[str, Any]) -> None:
    other = alice_upload.key.replace(users["alice"]["sub"], users["carol"]["sub"])
    response = post_file(alice_upload, PDF, override={"key": other})
    assert response.status_code == 403


def test_s3_refuses_an_extra_field(alice_upload: Any) -> None:
    response = post_file(alice_upload, PDF, extra={"x-amz-meta-owner": "mallory"})
    assert response.status_code == 403


def test_s3_refuses_a_tampered_upload(alice_upload: Any) -> None:
    signature = alice_upload.fields["x-amz-signature"]
    tampered = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    response = post_file(alice_upload, PDF, override={"x-amz-signature": tampered})
    assert response.status_code == 403


def test_s3_refuses_an_expired_upload(local: Local, users: dict[str, Any]) -> None:
    upload = mint_upload(local, users["alice"]["token"], "cv", "application/pdf", len(PDF), expires_in=1)
    time.sleep(2.1)
    response = post_file(upload, PDF)
    assert response.status_code == 403 and "AccessDenied" in response.text


def test_the_authorizer_refuses_unknown_keys_and_other_algorithms(local: Local) -> None:
    import jwt as pyjwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    body = {"rule": "cv", "content_type": "application/pdf", "size": 10}
    good = local.token(sub="x", groups=["careers"])
    claims = pyjwt.decode(good, options={"verify_signature": False})
    header = pyjwt.get_unverified_header(good)
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = {
        "a key id not in the JWKS": pyjwt.encode(claims, other_key, algorithm="RS256", headers={"kid": "not-ours"}),
        "HS256 with the key id": pyjwt.encode(claims, "a-shared-secret-of-32-bytes-long!", algorithm="HS256",
                                              headers={"kid": header["kid"]}),
        "alg none": pyjwt.encode(claims, None, algorithm="none", headers={"kid": header["kid"]}),
    }
    for name, token in forged.items():
        response = api(local, "/uploads", body, token=token)
        assert response.status_code == 401, name
        assert response.json() == {"message": "Unauthorized"}, name
    assert api(local, "/uploads", body, token=good).status_code == 201


def test_the_file_list_shows_only_the_callers_own_files(local: Local, users: dict[str, Any]) -> None:
    # Given a CV of Alice's, verified
    alice, carol = users["alice"], users["carol"]
    key = upload_file(local, alice["token"], "cv", PDF, "application/pdf")

    def listing(token: str | None) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.get(f"{local.api}/files", params={"limit": 100}, headers=headers, timeout=10)

    # When Alice lists her files (GET /files, docs/lifecycle.md), Then her CV is there, and only hers
    mine = listing(alice["token"])
    assert mine.status_code == 200, mine.text
    keys = [item["key"] for item in mine.json()["files"]]
    assert key in keys
    assert all(k.startswith(f"private/users/{alice['sub']}/") for k in keys)
    # When Carol lists, Then she never sees Alice's keys
    assert key not in [item["key"] for item in listing(carol["token"]).json()["files"]]
    # And without a token the route is closed, as the JWT authorizer closes it
    assert listing(None).status_code == 401
