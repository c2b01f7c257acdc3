"""POST /uploads and /backend/uploads through the real handler, in moto.

What these tests prove is the policy the handler *mints*: its conditions are read back from the
signed ``policy`` field and asserted one by one. They cannot prove that a policy is *enforced*:
moto does not enforce presigned POST policies (a bad signature, a ``text/html`` Content-Type and
an extra ``x-amz-meta-*`` field are all accepted with 201), so a POST to moto succeeding says
nothing about what S3 would refuse. Enforcement is proven against Ceph radosgw, which checks
signatures and every condition: tests/e2e/test_s3_conformance.py (the "minted policy" section
alters one property of a handler-minted POST at a time) and tests/e2e/test_flows.py.
"""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
import requests
from botocore.credentials import Credentials, RefreshableCredentials
from conftest import (
    BACKEND_ARN,
    BUCKET,
    FILES_TABLE,
    REGION,
    Minting,
    api_event,
    body,
    careers,
    create_kms_key,
    filegate_env,
    get_item,
)

CV = {"rule": "cv", "content_type": "application/pdf", "size": 48213, "filename": "My CV.pdf"}
NOW = 1_800_000_000.0


def _policy(fields: dict[str, str]) -> dict[str, Any]:
    policy: dict[str, Any] = json.loads(base64.b64decode(fields["policy"]))
    return policy


def _conditions(policy: dict[str, Any]) -> tuple[dict[str, str], list[list[Any]]]:
    exact: dict[str, str] = {}
    other: list[list[Any]] = []
    for condition in policy["conditions"]:
        if isinstance(condition, dict):
            ((name, value),) = condition.items()
            exact[name] = value
        else:
            other.append(condition)
    return exact, other


def test_presigned_post_pins_every_condition(minting: Minting) -> None:
    # Given a careers user / When they ask to upload a CV
    response = minting.upload(api_event("/uploads", CV, claims=careers("alice")))
    # Then the answer is 201 with the documented fields
    assert response["statusCode"] == 201, response["body"]
    result = body(response)
    assert set(result) == {"file_id", "key", "url", "fields", "expires_at", "max_bytes"}
    assert result["key"].startswith("private/users/alice/cv/") and result["key"].endswith(".pdf")
    assert result["key"].rpartition("/")[2] == f"{result['file_id']}.pdf"
    assert result["max_bytes"] == 10 * 1024 * 1024
    assert result["url"] == f"https://{BUCKET}.s3.{REGION}.amazonaws.com/"  # virtual-hosted, regional
    # And the signed policy (S3 enforces it; moto does not) pins the key, type, size range,
    # metadata, disposition and status
    exact, other = _conditions(_policy(result["fields"]))
    # (the POST writes the quarantine key; only the verifier writes the final key)
    assert exact["key"] == "incoming/" + result["key"] and exact["bucket"] == BUCKET
    assert exact["Content-Type"] == "application/pdf"
    assert exact["Content-Disposition"] == ("attachment; filename=\"My CV.pdf\"; filename*=UTF-8''My%20CV.pdf")
    assert exact["x-amz-meta-original-filename"] == "My CV.pdf"
    assert exact["x-amz-meta-uploader"] == "alice"
    assert exact["x-amz-meta-rule"] == "cv"
    assert exact["success_action_status"] == "201"
    assert exact["x-amz-algorithm"] == "AWS4-HMAC-SHA256"  # SigV4, never SigV2
    assert f"/{REGION}/s3/aws4_request" in exact["x-amz-credential"]
    assert other == [["content-length-range", 1, 10 * 1024 * 1024]]
    assert "x-amz-server-side-encryption" not in exact
    assert not any("starts-with" in json.dumps(condition) for condition in other)
    # And no tagging field is ever part of the policy or the fields (only the scanner tags)
    assert not any(name.lower() == "tagging" for name in [*exact, *result["fields"]])
    # And every pinned field is also sent, with the same value
    for name, value in exact.items():
        if name != "bucket":
            assert result["fields"][name] == value


def test_the_mint_writes_the_record_before_answering(minting: Minting, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a careers user at a known time
    from filegate.handlers import uploads
    monkeypatch.setattr(uploads, "clock", lambda: NOW)
    # When they ask to upload a CV
    result = body(minting.upload(api_event("/uploads", CV, claims=careers("alice", org_id="acme"))))
    # Then the file's record is in the table, awaiting the upload, with what the mint knew
    item = get_item(result["file_id"])
    assert item is not None
    assert {name: item[name] for name in ("file_id", "key", "rule", "owner_sub", "owner_org_id", "filename",
                                          "content_type", "declared_size", "status", "created_at", "updated_at")} == {
        "file_id": result["file_id"], "key": result["key"], "rule": "cv", "owner_sub": "alice",
        "owner_org_id": "acme", "filename": "My CV.pdf", "content_type": "application/pdf",
        "declared_size": 48213, "status": "awaiting_upload", "created_at": int(NOW), "updated_at": int(NOW)}
    # And an upload that never happens is forgotten (TTL) after a day; it is not in the sweep's index
    assert item["expires_at"] == int(NOW) + 24 * 3600 and "pending_status" not in item


def test_no_record_no_post(minting: Minting) -> None:
    # Given a files table that cannot be written
    boto3.client("dynamodb", region_name=REGION).delete_table(TableName=FILES_TABLE)
    # When an upload is asked for / Then a retryable 503, and no presigned POST in the answer
    response = minting.upload(api_event("/uploads", CV, claims=careers("alice")))
    assert response["statusCode"] == 503, response["body"]
    assert body(response) == {"error": {"code": "temporarily_unavailable",
                                        "message": "file records are temporarily unavailable; retry shortly"}}
    assert response["headers"]["Retry-After"] == "1"


def test_expiry_is_the_default_and_within_the_max(minting: Minting, monkeypatch: pytest.MonkeyPatch) -> None:
    from filegate.handlers import uploads
    monkeypatch.setattr(uploads, "clock", lambda: NOW)
    result = body(minting.upload(api_event("/uploads", CV, claims=careers("alice"))))
    assert result["expires_at"] == int(NOW) + 300
    asked = body(minting.upload(api_event("/uploads", {**CV, "expires_in": 86400}, claims=careers("alice"))))
    assert asked["expires_at"] == int(NOW) + 900
    expiration = datetime.fromisoformat(_policy(asked["fields"])["expiration"].replace("Z", "+00:00"))
    assert timedelta(seconds=890) < expiration - datetime.now(UTC) <= timedelta(seconds=901)


def test_upload_with_the_minted_fields_succeeds(minting: Minting) -> None:
    # Only that the fields a browser sends are complete and map to the object headers; moto
    # would accept a broken policy too (see the module docstring), radosgw proves the refusals.
    # Given a minted presigned POST
    result = body(minting.upload(api_event("/uploads", {**CV, "size": 11}, claims=careers("alice"))))
    # When the browser posts the fields and the file
    posted = requests.post(result["url"], data=result["fields"],
                           files={"file": ("ignored.pdf", b"%PDF-1.7 hi", "application/pdf")}, timeout=10)
    # Then moto stores it in quarantine under the minted key, with the headers the fields name
    assert int(posted.status_code) == 201, posted.text  # moto reports it as a string
    s3 = boto3.client("s3", region_name=REGION)
    head = s3.head_object(Bucket=BUCKET, Key="incoming/" + result["key"])
    assert head["ContentType"] == "application/pdf"
    assert head["ContentDisposition"].startswith("attachment; ")
    assert head["Metadata"] == {"original-filename": "My CV.pdf", "uploader": "alice", "rule": "cv"}
    # And nothing is at the final key: only the verifier puts a file there
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix=result["key"]).get("KeyCount") == 0


def test_kms_bucket_adds_encryption_fields_and_conditions(configure: Any) -> None:
    key_arn = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["Arn"]
    minting = configure(**filegate_env(kms_key_id=create_kms_key(), FILEGATE_BUCKET_KMS_KEY_ARN=key_arn))
    result = body(minting.upload(api_event("/uploads", {**CV, "size": 4}, claims=careers("alice"))))
    exact, _ = _conditions(_policy(result["fields"]))
    assert exact["x-amz-server-side-encryption"] == "aws:kms"
    assert exact["x-amz-server-side-encryption-aws-kms-key-id"] == key_arn
    posted = requests.post(result["url"], data=result["fields"], files={"file": ("f", b"%PDF")}, timeout=10)
    assert int(posted.status_code) == 201, posted.text  # moto reports it as a string
    # (moto stores the object but neither applies SSE from POST fields nor checks the SSE
    # conditions; radosgw does both: test_s3_conformance.py "SSE missing", "SSE AES256", ...)
    head = boto3.client("s3", region_name=REGION).head_object(Bucket=BUCKET, Key="incoming/" + result["key"])
    assert head["ContentLength"] == 4


def test_path_style_for_the_local_s3(configure: Any) -> None:
    minting = configure(**filegate_env(kms_key_id=create_kms_key(), FILEGATE_S3_ADDRESSING_STYLE="path"))
    result = body(minting.upload(api_event("/uploads", CV, claims=careers("alice"))))
    assert result["url"] == f"https://s3.{REGION}.amazonaws.com/{BUCKET}"


def _post_expiration(fields: dict[str, str]) -> datetime:
    return datetime.strptime(_policy(fields)["expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def test_post_never_outlives_refreshable_credentials(minting: Minting, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given environment credentials that expire in 100 seconds (botocore makes them refreshable)
    from filegate.handlers import uploads
    started = time.time()
    expires = started + 100
    monkeypatch.setenv("AWS_CREDENTIAL_EXPIRATION", datetime.fromtimestamp(expires, UTC).isoformat())
    # When an upload is minted (on the real clock: botocore dates the POST policy by it too, so
    # however long the first request takes, the policy and the credentials share one clock)
    response = minting.upload(api_event("/uploads", CV, claims=careers("alice")))
    finished = time.time()
    # Then the credentials really are botocore's refreshable kind, and the POST expires before
    # they do, less the safety margin (the default 300 s would outlive them)
    credentials = uploads.runtime().presigner._session.get_credentials()
    assert isinstance(credentials, RefreshableCredentials)
    assert response["statusCode"] == 201, response["body"]
    result = body(response)
    margin_end = int(expires) - 30  # the credentials' expiry less the 30 s margin
    assert margin_end - 1 - (finished - started) <= result["expires_at"] <= margin_end
    assert _post_expiration(result["fields"]).timestamp() <= margin_end + 1  # ISO seconds rounding


def test_credentials_about_to_expire_are_a_retryable_503(minting: Minting, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given refreshable credentials with 5 seconds left (less than the margin)
    monkeypatch.setenv("AWS_CREDENTIAL_EXPIRATION", datetime.fromtimestamp(time.time() + 5, UTC).isoformat())
    # When an upload is asked for / Then the client is told to retry, and nothing is minted
    response = minting.upload(api_event("/uploads", CV, claims=careers("alice")))
    assert response["statusCode"] == 503 and body(response)["error"]["code"] == "temporarily_unavailable"
    assert response["headers"]["Retry-After"] == "1"


def test_static_lambda_credentials_are_bounded_by_the_maximum(minting: Minting,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # Given Lambda's static execution-role environment credentials (no expiry to read)
    from filegate.handlers import uploads
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "filegate-uploads")
    now = time.time()  # botocore dates the POST policy by the real clock
    monkeypatch.setattr(uploads, "clock", lambda: now)
    presigner = uploads.runtime().presigner
    credentials = presigner._session.get_credentials()
    assert type(credentials) is Credentials and presigner.credentials_expire_at() is None
    # When an upload asks for a day / Then it gets upload_max_expiry_seconds (900) and no more
    long = body(minting.upload(api_event("/uploads", {**CV, "expires_in": 86400}, claims=careers("alice"))))
    assert long["expires_at"] == int(now) + 900
    assert abs(_post_expiration(long["fields"]).timestamp() - (now + 900)) <= 2
    # And without a wish the default applies
    default = body(minting.upload(api_event("/uploads", CV, claims=careers("alice"))))
    assert default["expires_at"] == int(now) + 300


def test_inline_rule_sets_inline_disposition(configure: Any, seed_rules: list[dict[str, Any]]) -> None:
    seed_rules[3]["disposition"] = "inline"
    minting = configure(**filegate_env(kms_key_id=create_kms_key(), rules=seed_rules))
    result = body(minting.upload(api_event("/uploads", {"rule": "marketing", "content_type": "image/png",
                                                        "size": 10, "filename": "banner.png"},
                                           claims={"sub": "m1", "cognito:groups": "[marketing]"})))
    assert result["key"].startswith("public/marketing/") and result["key"].endswith(".png")
    assert result["fields"]["Content-Disposition"].startswith("inline; filename=\"banner.png\"")


@pytest.mark.parametrize(("request_body", "claims", "status", "code"), [
    ({**CV, "size": 10 * 1024 * 1024 + 1}, careers("alice"), 413, "payload_too_large"),
    ({**CV, "content_type": "image/svg+xml"}, careers("alice"), 415, "unsupported_media_type"),
    # parameters are outside the documented content_type pattern: refused as the document says
    ({**CV, "content_type": "application/pdf; charset=utf-8"}, careers("alice"), 400, "invalid_request"),
    ({**CV, "content_type": "application/x-unknown"}, careers("alice"), 415, "unsupported_media_type"),
    ({**CV, "content_type": "text/html"}, careers("alice"), 415, "unsupported_media_type"),
    ({**CV, "rule": "marketing"}, careers("alice"), 403, "not_allowed"),
    ({**CV, "rule": "nope"}, careers("alice"), 403, "not_allowed"),
    ({**CV, "rule": "business-registration"}, {"sub": "bob", "groups": ["org"]}, 403, "not_allowed"),
    (CV, None, 401, "unauthenticated"),
    (CV, {"sub": "", "cognito:groups": "[careers]"}, 401, "unauthenticated"),
    ({**CV, "size": 0}, careers("alice"), 400, "invalid_request"),
    ({**CV, "size": "12"}, careers("alice"), 400, "invalid_request"),
    ({**CV, "size": True}, careers("alice"), 400, "invalid_request"),
    ({**CV, "rule": "../cv"}, careers("alice"), 400, "invalid_request"),
    ({**CV, "key": "private/users/bob/cv/x.pdf"}, careers("alice"), 400, "invalid_request"),
    ({**CV, "filename": "x" * 10_000}, careers("alice"), 400, "invalid_request"),
    ({k: v for k, v in CV.items() if k != "size"}, careers("alice"), 400, "invalid_request"),
])
def test_refusals(minting: Minting, request_body: dict[str, Any], claims: dict[str, Any] | None, status: int,
                  code: str) -> None:
    response = minting.upload(api_event("/uploads", request_body, claims=claims))
    assert response["statusCode"] == status, response["body"]
    assert body(response)["error"]["code"] == code


@pytest.mark.parametrize("content_type", [" Application/PDF\t", "APPLICATION/PDF", "\tapplication/pdf  "])
def test_content_types_in_any_case_with_spaces_or_tabs_around_are_the_type(minting: Minting,
                                                                            content_type: str) -> None:
    # Given a declared type in upper case, or padded (as the document's pattern allows)
    response = minting.upload(api_event("/uploads", {**CV, "content_type": content_type}, claims=careers("alice")))
    # Then it is the rule's type: minted, pinned to the canonical spelling
    assert response["statusCode"] == 201, response["body"]
    assert body(response)["fields"]["Content-Type"] == "application/pdf"


@pytest.mark.parametrize(("raw", "base64_body"), [
    ("{not json", False), ("[1, 2]", False), ("null", False), ('"cv"', False), ("", False),
    ("%%%not-base64", True), ("1" * 5000, False), ("[" * 100_000 + "]" * 100_000, False),
])
def test_malformed_bodies_are_400(minting: Minting, raw: str, base64_body: bool) -> None:
    response = minting.upload(api_event("/uploads", raw_body=raw, base64_body=base64_body, claims=careers("alice")))
    assert response["statusCode"] == 400 and body(response)["error"]["code"] == "invalid_request"


def test_base64_json_body_is_accepted(minting: Minting) -> None:
    response = minting.upload(api_event("/uploads", CV, base64_body=True, claims=careers("alice")))
    assert response["statusCode"] == 201


@pytest.mark.parametrize("content_type", ["text/plain", "multipart/form-data", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", "application/xml"])
def test_any_declared_request_type_is_read_as_json(minting: Minting, content_type: str) -> None:
    response = minting.upload(api_event("/uploads", CV, headers={"content-type": content_type},
                                        claims=careers("alice")))
    assert response["statusCode"] == 201


def test_backend_twin_uses_on_behalf_of_claims(minting: Minting) -> None:
    request = {"rule": "business-registration", "content_type": "application/pdf", "size": 10,
               "on_behalf_of": {"sub": "bob", "groups": ["org"], "org_id": "acme"}}
    response = minting.upload(api_event("/backend/uploads", request, iam_arn=BACKEND_ARN))
    assert response["statusCode"] == 201, response["body"]
    assert body(response)["key"].startswith("private/orgs/acme/registration/")
    missing_org = minting.upload(api_event("/backend/uploads", {**request, "on_behalf_of": {
        "sub": "bob", "groups": ["org"]}}, iam_arn=BACKEND_ARN))
    assert missing_org["statusCode"] == 403
    no_iam = minting.upload(api_event("/backend/uploads", request, claims=careers("bob")))
    assert no_iam["statusCode"] == 401


def test_unknown_routes_are_404(minting: Minting) -> None:
    for path in ("/", "/uploads/x", "/downloads"):
        response = minting.upload(api_event(path, CV, claims=careers("alice")))
        assert response["statusCode"] == 404 and body(response)["error"]["code"] == "not_found"
    get = minting.upload(api_event("/uploads", CV, claims=careers("alice"), method="GET"))
    assert get["statusCode"] == 404
