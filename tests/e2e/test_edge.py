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
from tests.e2e.helpers import (
    Upload,
    api,
    download_url,
    kms_signing_key,
    mint_upload,
    post_file,
    same_pixels,
    upload_file,
    wait_until_decided,
    with_param,
)
from tests.unit import samples

pytestmark = pytest.mark.e2e

PDF = samples.pdf(text="edge test")


@pytest.fixture(scope="module")
def alice(local: Local) -> dict[str, Any]:
    users = {user["id"]: user for user in requests.get(f"{local.issuer}/demo-users", timeout=10).json()["users"]}
    token = local.token(user="alice")
    keys = [upload_file(local, token, "cv", pdf_number(n), "application/pdf") for n in range(2)]
    return {**users["alice"], "token": token, "keys": keys}


def pdf_number(n: int) -> bytes:
    return samples.pdf(text=f"edge test {n}")


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
    assert response.content == pdf_number(0)


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
    # Given the dev config (IP restriction off: the distribution is dual-stack) / Then the API
    # refuses to bind a URL to an IP range, with a clear 400 (review finding 3)
    response = api(local, "/downloads", {"key": alice["keys"][0], "ip": "203.0.113.0/24"}, token=alice["token"])
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_request"
    # And the edge still enforces an IP condition signed with the slot key (an IPv4-only deployment)
    key = kms_signing_key(local)
    resource = resource_url(local.edge, alice["keys"][0])
    elsewhere = signed_url(resource, expires=int(time.time()) + 60, key=key, ip_range="203.0.113.0/24")
    assert "Policy=" in elsewhere
    assert_denied(get(elsewhere), "ip-mismatch")
    here = signed_url(resource, expires=int(time.time()) + 60, key=key, ip_range="127.0.0.1/32")
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
    original = samples.png(6, 4, seed=11)
    key = upload_file(local, mia, "marketing", original, "image/png")
    response = get(f"{local.edge}/{key}")
    assert response.status_code == 200 and same_pixels(response.content, original)
    png = response.content  # the verifier's re-encoding: what the bucket holds
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


# --- issue 7, finding 5: no internal header reaches a viewer ---------------------------------

#: What a viewer must never see, as prefixes (independent of the list the edge removes):
#: object metadata (the uploader's id, the original filename, the rule), SSE details (the KMS
#: key ARN names the account) and version ids.
INTERNAL_HEADER_PREFIXES = ("x-amz-meta-", "x-amz-server-side-encryption", "x-amz-version-id")
PNG = samples.png(8, 8, seed=12)


def internal_headers(response: requests.Response) -> list[str]:
    return [name for name in response.headers if name.lower().startswith(INTERNAL_HEADER_PREFIXES)]


def restore_as_s3_would(local: Local, upload: Upload, content: bytes) -> None:
    """Store ``content`` under the upload's final key with exactly the headers its POST fields set.

    S3 stores a POST's ``Content-Disposition`` field on the object; radosgw (Ceph 16) enforces
    the policy condition on it but keeps no value (local/README.md). A PUT with the same
    fields (by the verifier's user: the only one that writes final keys) gives the object S3
    would hold had the POST's object been served as is, so the edge's handling of it is observed.
    """
    fields = upload.fields
    local.verifier_s3.put_object(
        Bucket=local.bucket, Key=upload.key, Body=content, ContentType=fields["Content-Type"],
        ContentDisposition=fields["Content-Disposition"],
        Metadata={name.removeprefix("x-amz-meta-"): value for name, value in fields.items()
                  if name.startswith("x-amz-meta-")},
        ServerSideEncryption=fields["x-amz-server-side-encryption"],
        SSEKMSKeyId=fields["x-amz-server-side-encryption-aws-kms-key-id"])


def test_finding5_no_internal_header_reaches_a_viewer(local: Local, alice: dict[str, Any]) -> None:
    # Given a public marketing image and a private CV, minted and POSTed as a browser does
    # (metadata: uploader id, original filename, rule; SSE-KMS with the bucket's key)
    mia = local.token(user="mia")
    public = mint_upload(local, mia, "marketing", "image/png", len(PNG), filename="Banner of Mia.png")
    private = mint_upload(local, alice["token"], "cv", "application/pdf", len(PDF), filename="Alice CV.pdf")
    for upload, content in ((public, PNG), (private, PDF)):
        assert post_file(upload, content).status_code == 201
    for upload, token in ((public, mia), (private, alice["token"])):
        assert wait_until_decided(local, token, upload.file_id)["status"] == "clean"
    signed = download_url(local, alice["token"], private.key)

    def viewed() -> dict[str, requests.Response]:
        return {
            "public GET": get(f"{local.edge}/{public.key}"),
            "public HEAD": requests.head(f"{local.edge}/{public.key}", timeout=30),
            "public range": get(f"{local.edge}/{public.key}", headers={"Range": "bytes=0-3"}),
            "signed GET": get(signed),
            "signed HEAD": requests.head(signed, timeout=30),
        }

    for stage in ("as the verifier promoted it", "as S3 stores a POST"):
        if stage == "as S3 stores a POST":
            for upload, content in ((public, PNG), (private, PDF)):
                restore_as_s3_would(local, upload, content)
        # (the origin really holds them: the edge's own read of the bucket sees metadata and SSE)
        stored = local.edge_s3.head_object(Bucket=local.bucket, Key=public.key)
        assert stored["Metadata"]["uploader"] and stored["ServerSideEncryption"] == "aws:kms"
        served = viewed()
        for what, response in served.items():
            assert response.status_code in {200, 206}, (stage, what, response.status_code, response.text[:200])
            # Then the viewer sees no metadata, no SSE detail and no version id
            assert internal_headers(response) == [], (stage, what, internal_headers(response))
            others = [value for name, value in response.headers.items() if name.lower() != "content-disposition"]
            assert not any(stored["Metadata"]["uploader"] in value for value in others), (stage, what, others)
            assert response.headers["X-Content-Type-Options"] == "nosniff", (stage, what)
        assert same_pixels(served["public GET"].content, PNG) and served["signed GET"].content == PDF
        assert served["public GET"].headers["Content-Type"] == "image/png"
    # And Content-Disposition, which the browser needs, is kept
    for what in ("public GET", "public HEAD", "signed GET", "signed HEAD"):
        assert served[what].headers["Content-Disposition"] == (public if what.startswith("public") else private
                                                               ).fields["Content-Disposition"], what
    assert served["signed GET"].headers["Content-Disposition"].startswith("attachment; ")


def test_finding5_the_local_edge_removes_the_distributions_list() -> None:
    # The local edge filters origin headers exactly as the response headers policy does: every
    # name of REMOVED_ORIGIN_HEADERS goes (whatever its case) and nothing else, so a metadata name
    # missing from the list shows here as it would in AWS; other headers pass as CloudFront passes them.
    from local.edge import viewer_headers
    from stacks.edge_headers import REMOVED_ORIGIN_HEADERS

    origin = {name.lower(): "internal" for name in REMOVED_ORIGIN_HEADERS}
    origin |= {"x-amz-meta-not-in-any-list": "x", "X-Amz-Meta-Mixed-Case": "x",
               "X-AMZ-SERVER-SIDE-ENCRYPTION": "aws:kms", "content-type": "image/png",
               "content-disposition": 'inline; filename="a.png"', "etag": '"abc"', "content-length": "4"}
    passed = dict(viewer_headers(origin))
    assert passed == {"Content-Type": "image/png", "Content-Disposition": 'inline; filename="a.png"',
                      "ETag": '"abc"', "Content-Length": "4",
                      "x-amz-meta-not-in-any-list": "x", "x-amz-meta-mixed-case": "x"}


# --- issue 7, local edge path normalisation --------------------------------------------------

def raw_get(local: Local, path: str) -> tuple[int, str | None, bytes]:
    """Status, edge reason and body of a GET sent with exactly this path (HTTP clients would
    re-encode or normalise it)."""
    host, port = local.edge.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.getheader("X-Local-Edge-Reason"), response.read()
    finally:
        connection.close()


#: Spellings of a public key that CloudFront does not match with ``public/*``: it normalises the
#: path per RFC 3986 before matching, which decodes escaped *unreserved* characters only; ``%2F``
#: (reserved) stays an escape, so the default, signed behaviour applies, although S3 decodes the
#: raw path it gets to the public key. ``{f}`` is the file name.
NOT_PUBLIC_SPELLINGS = (
    "/public%2Fmarketing/{f}",                 # the slash after public, encoded
    "/public%2fmarketing/{f}",                 # ... with lower-case hex
    "/pub%6cic%2Fmarketing/{f}",               # an unreserved escape (decoded) and %2F (kept)
    "/%70%75%62%6c%69%63%2f%6d%61%72%6b%65%74%69%6e%67%2f{f}",  # everything encoded
    "/public%2Fmarketing%2F{f}",               # every slash encoded
    "/%2Fpublic/marketing/{f}",                # %2F in front
    "/public%252Fmarketing/{f}",               # double encoding (S3: key "public%2Fmarketing/...")
    "/public%25%32%46marketing/{f}",           # double encoding spelt with unreserved escapes
    "/PUBLIC/marketing/{f}",                   # path patterns are case-sensitive
    "/%50ublic/marketing/{f}",                 # ... also after decoding ("Public")
    "/Public%2Fmarketing/{f}",
)
#: Spellings CloudFront normalises to public/marketing/{f}: served unsigned there, as here (the
#: same public object; S3 decodes the raw path to the same key).
PUBLIC_SPELLINGS = ("/pub%6Cic/marketing/{f}", "/%70ublic/marketing/{f}", "/public/%6Darketing/{f}",
                    "/public/marketing%2F{f}")


def test_issue7_edge_path_normalisation_encoded_slash_needs_a_signature(local: Local) -> None:
    # Given a public image (served unsigned at its plain path)
    mia = local.token(user="mia")
    key = upload_file(local, mia, "marketing", PNG, "image/png")
    name = key.removeprefix("public/marketing/")
    status, _, served = raw_get(local, f"/{key}")
    assert status == 200 and same_pixels(served, PNG)
    # When the public/ prefix is spelt so that CloudFront's normalised path is not public/*
    for spelling in NOT_PUBLIC_SPELLINGS:
        path = spelling.format(f=name)
        status, reason, body = raw_get(local, path)
        # Then the edge refuses it for the missing signature, before any origin read
        assert (status, reason) == (403, "missing-key-pair-id"), (path, status, reason)
        assert PNG not in body and served not in body, path
    # While the spellings CloudFront normalises into public/* are served as CloudFront serves them
    for spelling in PUBLIC_SPELLINGS:
        path = spelling.format(f=name)
        status, reason, body = raw_get(local, path)
        assert (status, body) == (200, served), (path, status, reason)
