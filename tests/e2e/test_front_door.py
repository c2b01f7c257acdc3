"""One front door (DESIGN.md decision 13, docs/front-door.md), end to end.

A frontend calls ``{api}`` = the edge's ``/api``: the local edge forwards to the local API (stage
``api``) with the distribution's ``x-origin-verify`` header, and the handlers accept user routes
only with it; ``{backend_api}`` is the local API itself, where ``/backend/*`` works (the backend key
stands in for SigV4) and every user route is refused with 403 ``origin_not_verified``. The edge
applies the WebACL's ``ApiBodySize`` rule; the local API answers anything it has no route for as
API Gateway does. The rotation of the secret with no failed request is in test_origin_rotation.py.
"""

from __future__ import annotations

import errno
import functools
import secrets
import socket
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
import requests

from filegate.domain.front_door import ORIGIN_VERIFY_HEADER, waf_response_body
from local.edge import ORIGIN_FINGERPRINT_HEADER, origin_fingerprint
from stacks.edge_headers import REMOVED_ORIGIN_HEADERS, SECURITY_HEADERS
from tests.e2e.conftest import Local
from tests.e2e.helpers import Upload, mint_upload, post_file, upload_file, wait_until_decided
from tests.unit import samples

pytestmark = pytest.mark.e2e

PDF = samples.pdf(text="through the front door")
CLOUDFRONT_COOKIES = {"CloudFront-Policy", "CloudFront-Signature", "CloudFront-Key-Pair-Id",
                      "CloudFront-Hash-Algorithm"}


@pytest.fixture(scope="module")
def users(local: Local) -> dict[str, Any]:
    demo = {user["id"]: user for user in requests.get(f"{local.issuer}/demo-users", timeout=10).json()["users"]}
    return {name: {**demo[name], "token": local.token(user=name)} for name in ("alice", "carol")}


@pytest.fixture(scope="module")
def alice_file(local: Local, users: dict[str, Any]) -> dict[str, str]:
    """A clean file of Alice's (uploaded through the front door)."""
    content = samples.pdf(text="alice's file behind the front door")
    upload = mint_upload(local, users["alice"]["token"], "cv", "application/pdf", len(content), filename="door.pdf")
    assert post_file(upload, content).status_code == 201
    assert wait_until_decided(local, users["alice"]["token"], upload.file_id)["status"] == "clean"
    return {"key": upload.key, "file_id": upload.file_id}


@functools.cache
def _secrets_client(endpoint: str, region: str) -> Any:
    return boto3.session.Session().client("secretsmanager", endpoint_url=endpoint, region_name=region,
                                          aws_access_key_id="test", aws_secret_access_key="test")


def origin_secret(local: Local) -> str:
    """The secret's AWSCURRENT value, read from (moto's) Secrets Manager as the handlers read it."""
    client = _secrets_client(local.endpoints["aws"], local.region)
    return str(client.get_secret_value(SecretId=local.runtime["origin_secret"])["SecretString"])


def bearer(user: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {user['token']}"}


def set_cookies(response: requests.Response) -> list[str]:
    """Every Set-Cookie header, one each (requests would join them)."""
    return list(response.raw.headers.getlist("Set-Cookie"))


def assert_passed_by_the_edge(response: requests.Response, local: Local) -> None:
    """An answer of the local API through the /api/* behaviour: the response headers policy's
    security headers (the distribution's values), no removed origin header, not cached, and the
    value the edge sent is the secret's."""
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, name
    for name in REMOVED_ORIGIN_HEADERS:
        assert name not in response.headers, name
    assert response.headers["X-Cache"] == "Miss from cloudfront"
    assert "CloudFront" in response.headers["Via"]
    assert "apigw-requestid" in response.headers  # the local API answered, not the edge
    assert ORIGIN_VERIFY_HEADER not in response.headers
    assert response.headers[ORIGIN_FINGERPRINT_HEADER] == origin_fingerprint(origin_secret(local))


# --- every user route through {api} ---------------------------------------------------------------

def test_every_user_route_works_through_the_front_door(local: Local, users: dict[str, Any]) -> None:
    alice = users["alice"]
    # Given the front door's base URL: the edge's /api
    assert local.api == f"{local.edge}/api"
    # When Alice mints an upload through it
    minted = requests.post(f"{local.api}/uploads", headers=bearer(alice), timeout=30, json={
        "rule": "cv", "content_type": "application/pdf", "size": len(PDF), "filename": "front door.pdf"})
    # Then the real upload handler answered through the edge, with the response headers policy applied
    assert minted.status_code == 201, minted.text
    assert_passed_by_the_edge(minted, local)
    body = minted.json()
    upload = Upload(key=body["key"], url=body["url"], fields=body["fields"], max_bytes=body["max_bytes"],
                    file_id=body["file_id"])
    prefix = f"private/users/{alice['sub']}/"
    assert upload.key.startswith(prefix + "cv/")

    # When her browser POSTs the file to the bucket, Then it is verified clean (GET {api}/files/{id})
    assert post_file(upload, PDF).status_code == 201
    assert wait_until_decided(local, alice["token"], upload.file_id)["status"] == "clean"

    # When she asks {api}/downloads for a signed URL, Then the edge serves exactly her bytes
    download = requests.post(f"{local.api}/downloads", json={"key": upload.key}, headers=bearer(alice), timeout=30)
    assert download.status_code == 200, download.text
    assert_passed_by_the_edge(download, local)
    served = requests.get(download.json()["url"], timeout=30)
    assert served.status_code == 200 and served.content == PDF

    # When she asks {api}/downloads/cookies for her prefix
    cookies = requests.post(f"{local.api}/downloads/cookies", json={"prefix": prefix}, headers=bearer(alice),
                            timeout=30)
    assert cookies.status_code == 200, cookies.text
    assert_passed_by_the_edge(cookies, local)
    # Then the answer sets CloudFront's four cookies, one Set-Cookie each, session cookies for the
    # files host only, scoped to the prefix, out of reach of scripts
    jar: dict[str, str] = {}
    for header in set_cookies(cookies):
        parsed = SimpleCookie()
        parsed.load(header)
        (name, morsel), = parsed.items()
        jar[name] = morsel.value
        assert morsel["path"] == f"/{prefix}", header
        assert morsel["secure"] and morsel["httponly"], header
        assert morsel["samesite"].lower() == "lax", header
        assert not morsel["expires"] and not morsel["max-age"] and not morsel["domain"], header
    assert set(jar) == CLOUDFRONT_COOKIES
    assert jar == {name: value for name, value in cookies.json()["cookies"].items() if name in CLOUDFRONT_COOKIES}
    # And with only those cookies the edge serves the file at its plain URL (no query string)
    plain = requests.get(f"{local.edge}/{upload.key}", cookies=jar, timeout=30)
    assert plain.status_code == 200, plain.text
    assert plain.content == PDF
    # (and without them it is refused: the cookies are what authorizes it)
    assert requests.get(f"{local.edge}/{upload.key}", timeout=30).status_code == 403
    # And the same cookies open nothing outside the prefix, such as Carol's files
    carol = users["carol"]
    carols = upload_file(local, carol["token"], "cv", samples.pdf(text="carol's"), "application/pdf")
    outside = requests.get(f"{local.edge}/{carols}", cookies=jar, timeout=30)
    assert outside.status_code == 403 and outside.headers["X-Local-Edge-Reason"] != "origin-denied"

    # When she lists her files and reads the record, Then the file is there, clean
    listed = requests.get(f"{local.api}/files", params={"limit": 100}, headers=bearer(alice), timeout=30)
    assert listed.status_code == 200, listed.text
    assert_passed_by_the_edge(listed, local)
    assert upload.file_id in {record["file_id"] for record in listed.json()["files"]}
    record = requests.get(f"{local.api}/files/{upload.file_id}", headers=bearer(alice), timeout=30)
    assert record.status_code == 200 and record.json()["status"] == "clean"
    assert_passed_by_the_edge(record, local)

    # When she deletes it through the front door, Then it is gone
    deleted = requests.delete(f"{local.api}/files/{upload.file_id}", headers=bearer(alice), timeout=30)
    assert deleted.status_code == 204, deleted.text
    assert_passed_by_the_edge(deleted, local)
    assert requests.get(f"{local.api}/files/{upload.file_id}", headers=bearer(alice), timeout=30).status_code == 404


def test_a_viewers_own_origin_header_is_replaced_by_the_edge(local: Local, users: dict[str, Any],
                                                            alice_file: dict[str, str]) -> None:
    # Given a viewer who sends an x-origin-verify header of their own through the edge
    forged = {**bearer(users["alice"]), ORIGIN_VERIFY_HEADER: "forged-by-the-viewer"}
    # When the request passes the edge, Then the edge's value replaced it and the route works
    response = requests.get(f"{local.api}/files/{alice_file['file_id']}", headers=forged, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers[ORIGIN_FINGERPRINT_HEADER] == origin_fingerprint(origin_secret(local))
    # While the same forged value sent straight to the API is refused
    direct = requests.get(f"{local.backend_api}/files/{alice_file['file_id']}", headers=forged, timeout=30)
    assert direct.status_code == 403 and direct.json()["error"]["code"] == "origin_not_verified"


# --- {backend_api}: user routes refused, backend routes served --------------------------------------

def user_routes(alice: dict[str, Any], key: str, file_id: str) -> list[tuple[str, str, Any]]:
    """(method, path, JSON body) of every user route, each a request that would succeed."""
    return [
        ("POST", "/uploads", {"rule": "cv", "content_type": "application/pdf", "size": 100, "filename": "x.pdf"}),
        ("POST", "/downloads", {"key": key}),
        ("POST", "/downloads/cookies", {"prefix": f"private/users/{alice['sub']}/"}),
        ("GET", "/files", None),
        ("GET", f"/files/{file_id}", None),
        ("DELETE", f"/files/{file_id}", None),
    ]


@pytest.mark.parametrize("header", ["missing", "wrong", "empty"])
def test_user_routes_straight_to_the_backend_api_are_refused(local: Local, users: dict[str, Any],
                                                             alice_file: dict[str, str], header: str) -> None:
    alice = users["alice"]
    sent = {"missing": {}, "wrong": {ORIGIN_VERIFY_HEADER: secrets.token_urlsafe(48)},
            "empty": {ORIGIN_VERIFY_HEADER: ""}}[header]
    for method, path, body in user_routes(alice, alice_file["key"], alice_file["file_id"]):
        # Given a valid token (the JWT authorizer passes) but no valid origin header
        # When the route is called on execute-api's stand-in, bypassing the edge
        response = requests.request(method, f"{local.backend_api}{path}", json=body, timeout=30,
                                    headers={**bearer(alice), **sent})
        # Then the handler refuses it before doing anything
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["error"]["code"] == "origin_not_verified", (method, path, response.text)
        assert not set_cookies(response), (method, path)
    # And nothing happened: the file the DELETE named is still there
    still = requests.get(f"{local.api}/files/{alice_file['file_id']}", headers=bearer(alice), timeout=30)
    assert still.status_code == 200 and still.json()["status"] == "clean"


def test_the_backend_api_serves_user_routes_only_with_the_distributions_value(
        local: Local, users: dict[str, Any], alice_file: dict[str, str]) -> None:
    # Given the value the distribution's api origin carries (what the edge sends)
    value = origin_secret(local)
    # When a request straight to the API carries it, Then the route works: the header is the whole difference
    response = requests.get(f"{local.backend_api}/files/{alice_file['file_id']}", timeout=30,
                            headers={**bearer(users["alice"]), ORIGIN_VERIFY_HEADER: value})
    assert response.status_code == 200, response.text
    # But a token is still required (the JWT authorizer runs first): API Gateway's 401
    anonymous = requests.get(f"{local.backend_api}/files/{alice_file['file_id']}", timeout=30,
                             headers={ORIGIN_VERIFY_HEADER: value})
    assert anonymous.status_code == 401 and anonymous.json() == {"message": "Unauthorized"}


def test_backend_routes_work_on_the_backend_api(local: Local, users: dict[str, Any],
                                                alice_file: dict[str, str]) -> None:
    alice = users["alice"]
    key_header = {local.endpoints["backend_key_header"]: local.endpoints["backend_key"]}
    # When the backend lists Alice's files on its own base (no origin header: backend routes ignore it)
    listed = requests.get(f"{local.backend_api}/backend/files", params={"owner": alice["sub"]}, headers=key_header,
                          timeout=30)
    # Then it is served
    assert listed.status_code == 200, listed.text
    assert alice_file["file_id"] in {record["file_id"] for record in listed.json()["files"]}
    one = requests.get(f"{local.backend_api}/backend/files/{alice_file['file_id']}", headers=key_header, timeout=30)
    assert one.status_code == 200 and one.json()["key"] == alice_file["key"]
    # And a download on a viewer's behalf is minted there too
    granted = requests.post(f"{local.backend_api}/backend/downloads", headers=key_header, timeout=30, json={
        "key": alice_file["key"], "viewer": {"sub": alice["sub"]}, "reason": "front door e2e"})
    assert granted.status_code == 200, granted.text
    # And an origin header, right or wrong, changes nothing on a backend route
    wrong = requests.get(f"{local.backend_api}/backend/files/{alice_file['file_id']}", timeout=30,
                         headers={**key_header, ORIGIN_VERIFY_HEADER: "not-the-secret"})
    assert wrong.status_code == 200
    # While without the backend's credentials it is IAM's 403
    refused = requests.get(f"{local.backend_api}/backend/files", params={"owner": alice["sub"]}, timeout=30)
    assert refused.status_code == 403 and refused.json() == {"message": "Forbidden"}


# --- the WebACL's ApiBodySize rule at the edge ---------------------------------------------------

def upload_body(size: int) -> bytes:
    """A POST /uploads body of exactly ``size`` bytes (the file name pads it)."""
    template = b'{"rule":"cv","content_type":"application/pdf","size":100,"filename":"%s.pdf"}'
    padding = size - len(template % b"")
    assert padding > 0
    return template % (b"a" * padding)


def test_a_body_over_the_limit_is_refused_at_the_edge(local: Local, users: dict[str, Any]) -> None:
    limit = int(local.runtime["waf_api_max_body_bytes"])
    headers = {**bearer(users["alice"]), "Content-Type": "application/json"}
    # When a body one byte over the WebACL's limit is sent through the edge
    over = requests.post(f"{local.api}/uploads", data=upload_body(limit + 1), headers=headers, timeout=30)
    # Then the WAF blocks it with exactly its JSON answer, and the API never saw it
    assert over.status_code == 413
    assert over.content == waf_response_body("api-body-too-large").encode()
    assert over.headers["Content-Type"] == "application/json"
    assert over.json()["error"]["code"] == "request_too_large"
    assert "apigw-requestid" not in over.headers
    assert over.headers["X-Content-Type-Options"] == "nosniff"
    # And so is a chunked body that grows over the limit (no Content-Length to judge by)
    chunks = iter([upload_body(limit + 1)[:4096], upload_body(limit + 1)[4096:]])
    chunked = requests.post(f"{local.api}/uploads", data=chunks, headers=headers, timeout=30)
    assert chunked.status_code == 413 and chunked.content == over.content
    # While a body of exactly the limit passes the edge and reaches the handler
    at_limit = requests.post(f"{local.api}/uploads", data=upload_body(limit), headers=headers, timeout=30)
    assert at_limit.status_code != 413 and "apigw-requestid" in at_limit.headers, at_limit.text
    # And the same over-limit body straight to the API (no WAF there) is the handler's to judge
    direct = requests.post(f"{local.backend_api}/uploads", data=upload_body(limit + 1), headers=headers, timeout=30)
    assert direct.status_code == 403 and direct.json()["error"]["code"] == "origin_not_verified"


def _raw(local: Local, request: bytes) -> tuple[int, bytes]:
    """Send ``request`` as bytes to the edge (framing ``requests`` would never produce); the status
    line's code and the whole answer."""
    parts = urlsplit(local.edge)
    with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=15) as connection:
        connection.sendall(request)
        try:
            connection.shutdown(socket.SHUT_WR)
        except OSError as error:  # the edge answered and closed first: its answer is already queued here
            if error.errno != errno.ENOTCONN:
                raise
        answer = b""
        try:
            while chunk := connection.recv(65536):
                answer += chunk
        except ConnectionResetError:  # closed with our unread body: a reset after the answer
            if not answer:
                raise
    return int(answer.split(b" ", 2)[1]), answer


@pytest.mark.parametrize(("framing", "status"), [
    (b"Content-Length: -1\r\n\r\n" + b"x" * 20000, 400),
    (b"Content-Length: abc\r\n\r\n{}", 400),
    (b"Content-Length: 100\r\n\r\n{}", 400),                                  # cut short
    (b"Transfer-Encoding: chunked\r\n\r\n-1\r\n" + b"x" * 20000, 400),
    (b"Transfer-Encoding: chunked\r\n\r\n0x10\r\n0123456789abcdef\r\n0\r\n\r\n", 400),
    (b"Transfer-Encoding: chunked\r\n\r\n10\r\n012", 400),                      # cut mid-chunk
    (b"Transfer-Encoding: gzip\r\nContent-Length: 2\r\n\r\n{}", 400),
])
def test_unreadable_framing_is_refused_at_the_edge_never_forwarded(local: Local, users: dict[str, Any],
                                                                   framing: bytes, status: int) -> None:
    # Given a request to a user route whose body framing is malformed (a way around ApiBodySize)
    host = urlsplit(local.edge).netloc.encode()
    token = users["alice"]["token"].encode()
    request = (b"POST /api/uploads HTTP/1.1\r\nHost: " + host + b"\r\nAuthorization: Bearer " + token
               + b"\r\nContent-Type: application/json\r\nConnection: close\r\n" + framing)
    # When it reaches the edge / Then the edge answers it itself; the API never sees it
    code, answer = _raw(local, request)
    assert code == status, answer[:300]
    assert b"apigw-requestid" not in answer.lower() and b"X-Cache: Error from cloudfront" in answer


def test_backend_routes_are_refused_through_the_edge(local: Local, users: dict[str, Any]) -> None:
    # Given a backend call (with the local backend key, which stands in for SigV4) sent to the files domain
    headers = {local.endpoints["backend_key_header"]: local.endpoints["backend_key"]}
    body = {"key": "private/users/x/cv/y.pdf", "on_behalf_of": {"sub": "alice", "groups": ["careers"]}}
    # (encoded forms such as /api/%62ackend/ are the WebACL's too: tests/infra/test_edge_security.py)
    for path in ("/backend/downloads", "/backend/files?owner=alice"):
        method = "GET" if "files" in path else "POST"
        response = requests.request(method, f"{local.api}{path}", json=body if method == "POST" else None,
                                    headers=headers, timeout=30)
        # Then the WebACL's BackendNotThroughCloudFront refuses it, with its JSON, before the API sees it
        assert response.status_code == 403, (path, response.text)
        assert response.content == waf_response_body("api-blocked").encode()
        assert "apigw-requestid" not in response.headers
    # While the same call on backend_api (execute-api) is served
    direct = requests.get(f"{local.backend_api}/backend/files", params={"owner": "alice"}, headers=headers,
                          timeout=30)
    assert direct.status_code == 200, direct.text


@pytest.mark.parametrize("path", ["/api/uploads", "/private/x.pdf", "/a/../b"])
def test_a_refused_method_or_path_with_unreadable_framing_is_still_answered(local: Local, path: str) -> None:
    # Given a request the edge refuses anyway (TRACE, or a dot-segment path) whose Content-Length is no number
    host = urlsplit(local.edge).netloc.encode()
    method = b"GET" if ".." in path else b"TRACE"
    request = method + b" " + path.encode() + b" HTTP/1.1\r\nHost: " + host + b"\r\nContent-Length: abc\r\n\r\n"
    # When it reaches the edge / Then it is refused with an answer (403 method, 400 path), never a dropped connection
    code, answer = _raw(local, request)
    assert code == (400 if ".." in path else 403), answer[:300]


def test_a_get_with_a_body_is_refused_as_cloudfront_does(local: Local, users: dict[str, Any]) -> None:
    # Given a GET to a user route that carries a body
    host = urlsplit(local.edge).netloc.encode()
    token = users["alice"]["token"].encode()
    request = (b"GET /api/files HTTP/1.1\r\nHost: " + host + b"\r\nAuthorization: Bearer " + token
               + b"\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
    # When it reaches the edge / Then CloudFront's 403, and the API never sees it
    code, answer = _raw(local, request)
    assert code == 403 and b"apigw-requestid" not in answer.lower()
    # While the same GET without a body is the API's
    assert requests.get(f"{local.api}/files", headers=bearer(users["alice"]), timeout=30).status_code == 200


# --- what the local API has no route for --------------------------------------------------------

@pytest.mark.parametrize("method", ["TRACE", "HEAD", "PATCH", "PUT", "CONNECTX", "PROPFIND"])
def test_methods_without_a_route_are_api_gateways_404(local: Local, method: str) -> None:
    # When a method no route has is sent to a route's path on the local API
    for path in ("/uploads", "/files/abc", "/backend/uploads"):
        response = requests.request(method, f"{local.backend_api}{path}", timeout=30)
        # Then it is API Gateway's JSON 404, never http.server's 501 page
        assert response.status_code == 404, (method, path, response.text)
        assert response.headers["Content-Type"] == "application/json"
        if method != "HEAD":
            assert response.json() == {"message": "Not Found"}
        else:
            # (a HEAD answer has no body; its length is the GET's)
            assert int(response.headers["Content-Length"]) == len(b'{"message":"Not Found"}')


@pytest.mark.parametrize("path", ["/uploads", "/", "/api", "/apiuploads", "/v1/api/uploads", "/backend/files"])
def test_paths_outside_the_stage_are_api_gateways_404(local: Local, users: dict[str, Any], path: str) -> None:
    root = local.backend_api.removesuffix("/api")
    # Given a route that exists under the stage
    assert requests.get(f"{local.backend_api}/files", headers=bearer(users["alice"]), timeout=30).status_code == 403
    # When it is asked for outside the stage "api", Then API Gateway's 404: there is no other stage
    for method in ("GET", "POST", "DELETE"):
        response = requests.request(method, f"{root}{path}", headers=bearer(users["alice"]), timeout=30)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json() == {"message": "Not Found"}
        assert response.headers["Content-Type"] == "application/json"


def test_methods_through_the_edge(local: Local, users: dict[str, Any]) -> None:
    # When PATCH (one of CloudFront's seven) goes through the edge, Then it reaches the API: its 404
    patched = requests.patch(f"{local.api}/uploads", json={}, headers=bearer(users["alice"]), timeout=30)
    assert patched.status_code == 404 and patched.json() == {"message": "Not Found"}
    assert patched.headers["X-Cache"] == "Miss from cloudfront"
    # And HEAD too (forwarded as HEAD: no route, no body)
    head = requests.head(f"{local.api}/files", headers=bearer(users["alice"]), timeout=30)
    assert head.status_code == 404 and head.headers["Content-Type"] == "application/json"
    assert "apigw-requestid" in head.headers
    # But TRACE is none of them: CloudFront itself refuses it, the API never sees it
    traced = requests.request("TRACE", f"{local.api}/uploads", timeout=30)
    assert traced.status_code == 403 and "<Code>MethodNotAllowed</Code>" in traced.text
    assert "apigw-requestid" not in traced.headers
    # And the file behaviours keep GET/HEAD only
    assert requests.post(f"{local.edge}/private/x.pdf", timeout=30).status_code == 403


# --- CORS with credentials, through the edge -----------------------------------------------------

def test_cors_allows_credentials_for_the_frontend_origins(local: Local, users: dict[str, Any]) -> None:
    demo_origin = local.demo
    # When the demo page's origin preflights a credentialed POST /downloads/cookies through the edge
    preflight = requests.options(f"{local.api}/downloads/cookies", timeout=10, headers={
        "Origin": demo_origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type"})
    # Then the API's CORS answers it, credentials allowed, for that origin only
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == demo_origin
    assert preflight.headers["Access-Control-Allow-Credentials"] == "true"
    # And the actual response carries them too (else the browser drops its Set-Cookie)
    actual = requests.post(f"{local.api}/downloads/cookies", timeout=10, json={
        "prefix": f"private/users/{users['alice']['sub']}/"}, headers={**bearer(users["alice"]), "Origin": demo_origin})
    assert actual.status_code == 200
    assert actual.headers["Access-Control-Allow-Origin"] == demo_origin
    assert actual.headers["Access-Control-Allow-Credentials"] == "true"
    # While another origin gets neither
    evil = requests.options(f"{local.api}/downloads/cookies", timeout=10, headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in evil.headers
    assert "Access-Control-Allow-Credentials" not in evil.headers
    other = requests.get(f"{local.api}/files", timeout=10,
                         headers={**bearer(users["alice"]), "Origin": "https://evil.example"})
    assert other.status_code == 200 and "Access-Control-Allow-Credentials" not in other.headers
