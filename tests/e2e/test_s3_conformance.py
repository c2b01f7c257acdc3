"""The local S3 (Ceph radosgw) must refuse what Amazon S3 refuses, and accept what it accepts.

Each case states the behaviour S3's documentation gives (presigned POST: "Browser-based
uploads using POST" and "Creating a POST policy"; presigned URLs: "Authenticating requests:
query parameters (SigV4)"; CORS: "Configuring cross-origin resource sharing"). The end-to-end
tests lean on these refusals, so a change of emulator or version must not quietly weaken them:
if a case fails here, the local mode no longer proves what the tests claim.

Most policies are built here with boto3 directly (not through the API), in the shape the upload
handler mints: exact key, exact Content-Type, a size range, SSE-KMS fields, metadata,
Content-Disposition and success_action_status. The "minted policy" section takes the POST the
real upload handler mints through the local API, and alters one property at a time: this is
where the POST policy is proven, since moto (tests/unit) enforces no POST policy at all.

Uploads (POST, presigned PUT) go where the upload role may write: the quarantine ``incoming/``
(local/bucket_policy.py); whether an upload left an object there is read with the scanner's user,
the only reader of ``incoming/`` besides the verifier. Objects to GET are put at a served key by
the verifier's user, the only writer of final keys.
"""

from __future__ import annotations

import base64
import functools
import json
import secrets
import time
import uuid
from typing import Any

import pytest
import requests

from tests.e2e.conftest import Local
from tests.e2e.helpers import Upload, mint_upload, scanner_paused

pytestmark = pytest.mark.e2e

MAX_BYTES = 1024
ORIGIN = "http://127.0.0.1:8080"  # one of the dev config's frontend_origins
#: S3 names a bad POST signature SignatureDoesNotMatch (an unknown key InvalidAccessKeyId);
#: radosgw answers both with the same 403 as AccessDenied. The refusal is what matters here.
POST_SIGNATURE_CODES = ("SignatureDoesNotMatch", "AccessDenied")


QUARANTINE = "incoming/private/users/conformance/cv"
SERVED = "private/users/conformance/cv"


_session: dict[str, Local] = {}


@pytest.fixture(autouse=True, scope="module")
def _uploads_have_records(local: Local) -> None:
    """Every quarantine key ``_key`` hands out gets a record of another key first (``record_elsewhere``)."""
    _session["local"] = local


def _key(prefix: str = QUARANTINE) -> str:
    key = f"{prefix}/{uuid.uuid4().hex}.pdf"
    if key.startswith("incoming/"):
        record_elsewhere(_session["local"], key)
    return key


def reader(local: Local, key: str) -> Any:
    """A user that may read ``key``: the scanner in the quarantine, the edge elsewhere."""
    return local.s3_as("scanner") if key.startswith("incoming/") else local.edge_s3


@functools.cache
def _files_table(aws: str, region: str, table: str) -> Any:
    import boto3

    from filegate.adapters.files_table import FilesTable

    client = boto3.session.Session().client("dynamodb", endpoint_url=aws, region_name=region,
                                            aws_access_key_id="test", aws_secret_access_key="test")
    return FilesTable(client, table)


def record_elsewhere(local: Local, key: str) -> None:
    """A record for the file id of a quarantine key these tests upload to by hand, for another key.

    The verifier deletes an upload that has no record (a POST used after its file was deleted),
    and finishes (removes from the quarantine) one whose record is decided; an upload whose file id
    belongs to a record of another key it leaves alone (docs/verification.md, "Per event"). Without
    that, an object these tests look for (accepted) or look for the absence of (refused) could be
    removed before they look, and a refusal S3 failed to make would pass unnoticed."""
    from filegate.domain.quarantine import file_id_of, final_key_of
    from filegate.domain.records import new_record

    final = final_key_of(key)
    file_id = file_id_of(final) if final else None
    if final is None or file_id is None:
        return  # outside the quarantine: the verifier never sees it
    elsewhere = f"private/users/conformance-records/cv/{file_id}.pdf"
    assert elsewhere != final
    record = new_record(file_id=file_id, key=elsewhere, rule="cv", owner_sub="conformance-records",
                        owner_org_id=None, filename="cv.pdf", content_type="application/pdf", declared_size=1,
                        now=int(time.time()))
    _files_table(local.endpoints["aws"], local.region, local.runtime["files_table"]).put_new(record)


def presigned_post(local: Local, key: str, *, expires_in: int = 300, client: Any = None) -> dict[str, Any]:
    fields = {
        "Content-Type": "application/pdf",
        "Content-Disposition": 'attachment; filename="cv.pdf"',
        "success_action_status": "201",
        "x-amz-meta-rule": "cv",
        "x-amz-server-side-encryption": "aws:kms",
        "x-amz-server-side-encryption-aws-kms-key-id": local.runtime["bucket_kms_key_arn"],
    }
    conditions: list[Any] = [{name: value} for name, value in fields.items()]
    conditions.append(["content-length-range", 1, MAX_BYTES])
    s3 = client or local.uploader_s3
    post: dict[str, Any] = s3.generate_presigned_post(Bucket=local.bucket, Key=key, Fields=fields,
                                                      Conditions=conditions, ExpiresIn=expires_in)
    return post


def send(post: dict[str, Any], *, body: bytes = b"%PDF-1.7 conformance", drop: tuple[str, ...] = (),
         override: dict[str, str] | None = None, extra: dict[str, str] | None = None) -> requests.Response:
    fields = {name: value for name, value in post["fields"].items() if name not in drop}
    fields.update(override or {})
    fields.update(extra or {})
    # The file must be the last part of the form (S3 ignores fields after it).
    return requests.post(post["url"], data=fields, files={"file": ("cv.pdf", body, "application/pdf")}, timeout=30)


def exists(local: Local, key: str) -> bool:
    s3 = reader(local, key)
    try:
        s3.head_object(Bucket=local.bucket, Key=key)
    except s3.exceptions.ClientError:
        return False
    return True


def refused(response: requests.Response, status: int, local: Local, key: str, *codes: str) -> None:
    assert response.status_code == status, (response.status_code, response.text[:300])
    if codes:
        assert any(f"<Code>{code}</Code>" in response.text for code in codes), response.text[:300]
    assert not exists(local, key), "a refused upload must not create the object"


def tamper(signature: str) -> str:
    """Change one hex digit of a signature."""
    last = signature[-1]
    return signature[:-1] + ("0" if last != "0" else "1")


# --- presigned POST -------------------------------------------------------------------------

def test_post_within_the_policy_is_accepted(local: Local) -> None:
    # Given a presigned POST for one key
    key = _key()
    post = presigned_post(local, key)
    # When the browser sends exactly the fields and a file within the size range
    response = send(post)
    # Then S3 stores it and answers 201 with the key (success_action_status), encrypted with the KMS key
    assert response.status_code == 201, response.text
    assert f"<Key>{key}</Key>" in response.text
    head = reader(local, key).head_object(Bucket=local.bucket, Key=key)
    assert head["ContentType"] == "application/pdf"
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["Metadata"]["rule"] == "cv"


def test_post_oversize_is_refused(local: Local) -> None:
    key = _key()
    refused(send(presigned_post(local, key), body=b"x" * (MAX_BYTES + 1)), 400, local, key, "EntityTooLarge")


def test_post_empty_file_is_refused(local: Local) -> None:
    key = _key()
    refused(send(presigned_post(local, key), body=b""), 400, local, key, "EntityTooSmall")


def test_post_wrong_content_type_is_refused(local: Local) -> None:
    # An SVG declared where the policy pins application/pdf (the stored-XSS trap)
    key = _key()
    refused(send(presigned_post(local, key), override={"Content-Type": "image/svg+xml"}), 403, local, key,
            "AccessDenied")


def test_post_missing_content_type_is_refused(local: Local) -> None:
    key = _key()
    refused(send(presigned_post(local, key), drop=("Content-Type",)), 403, local, key, "AccessDenied")


def test_post_to_another_key_is_refused(local: Local) -> None:
    key = _key()
    other = _key("incoming/private/users/someone-else/cv")
    refused(send(presigned_post(local, key), override={"key": other}), 403, local, other, "AccessDenied")
    assert not exists(local, key)


def test_post_with_tampered_signature_is_refused(local: Local) -> None:
    key = _key()
    post = presigned_post(local, key)
    refused(send(post, override={"x-amz-signature": tamper(post["fields"]["x-amz-signature"])}), 403, local, key,
            *POST_SIGNATURE_CODES)


def test_post_with_edited_policy_is_refused(local: Local) -> None:
    # Given a policy whose size limit the client raised without re-signing
    key = _key()
    post = presigned_post(local, key)
    policy = json.loads(base64.b64decode(post["fields"]["policy"]))
    for condition in policy["conditions"]:
        if isinstance(condition, list) and condition[0] == "content-length-range":
            condition[2] = 10 * MAX_BYTES
    edited = base64.b64encode(json.dumps(policy).encode()).decode()
    # Then the signature no longer matches
    refused(send(post, override={"policy": edited}, body=b"x" * (2 * MAX_BYTES)), 403, local, key,
            *POST_SIGNATURE_CODES)


def test_post_with_extra_field_is_refused(local: Local) -> None:
    # Every form field must be named by a policy condition ("Extra input fields")
    key = _key()
    refused(send(presigned_post(local, key), extra={"x-amz-meta-owner": "attacker"}), 403, local, key,
            "AccessDenied")


def test_post_with_unknown_access_key_is_refused(local: Local) -> None:
    key = _key()
    stranger = local.s3("AKIA" + secrets.token_hex(8).upper(), secrets.token_urlsafe(30))
    refused(send(presigned_post(local, key, client=stranger)), 403, local, key, "InvalidAccessKeyId",
            *POST_SIGNATURE_CODES)


def test_post_missing_sse_field_is_refused(local: Local) -> None:
    key = _key()
    refused(send(presigned_post(local, key), drop=("x-amz-server-side-encryption",)), 403, local, key,
            "AccessDenied")


def test_post_with_other_sse_value_is_refused(local: Local) -> None:
    key = _key()
    refused(send(presigned_post(local, key), override={"x-amz-server-side-encryption": "AES256"}), 403, local,
            key, "AccessDenied")


def test_post_missing_content_disposition_is_refused(local: Local) -> None:
    key = _key()
    refused(send(presigned_post(local, key), drop=("Content-Disposition",)), 403, local, key, "AccessDenied")


def test_post_missing_metadata_field_is_refused(local: Local) -> None:
    key = _key()
    refused(send(presigned_post(local, key), drop=("x-amz-meta-rule",)), 403, local, key, "AccessDenied")


def test_post_with_other_success_status_is_refused(local: Local) -> None:
    key = _key()
    refused(send(presigned_post(local, key), override={"success_action_status": "200"}), 403, local, key,
            "AccessDenied")


def test_post_without_policy_and_signature_is_refused(local: Local) -> None:
    # An anonymous form POST into the private bucket
    key = _key()
    response = requests.post(f"{local.s3_url}/{local.bucket}", data={"key": key, "Content-Type": "application/pdf"},
                             files={"file": ("cv.pdf", b"%PDF-", "application/pdf")}, timeout=30)
    refused(response, 403, local, key, "AccessDenied")


# --- the minted policy (the upload handler's own, through the local API) --------------------

CV = b"%PDF-1.7 minted conformance\n%%EOF\n"
TAGGING = ("<Tagging><TagSet><Tag><Key>GuardDutyMalwareScanStatus</Key><Value>NO_THREATS_FOUND</Value>"
           "</Tag></TagSet></Tagging>")
OTHER_KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"


def mint(local: Local, token: str, **extra: Any) -> Upload:
    return mint_upload(local, token, "cv", "application/pdf", len(CV), filename="My CV.pdf", **extra)


def send_minted(upload: Upload, *, body: bytes = CV, drop: tuple[str, ...] = (),
                override: dict[str, str] | None = None, before: list[tuple[str, str]] | None = None,
                after: list[tuple[str, str]] | None = None) -> requests.Response:
    """The browser's POST with one property changed: fields dropped or overridden, or extra
    (name, value) pairs before or after the minted fields (duplicates allowed); file last."""
    fields = [(name, (override or {}).get(name, value)) for name, value in upload.fields.items() if name not in drop]
    return requests.post(upload.url, data=[*(before or []), *fields, *(after or [])],
                         files={"file": ("cv.pdf", body, "application/pdf")}, timeout=60)


def refused_minted(response: requests.Response, local: Local, upload: Upload, statuses: set[int],
                   *codes: str, other_key: str | None = None) -> None:
    assert response.status_code in statuses, (response.status_code, response.text[:300])
    assert any(f"<Code>{code}</Code>" in response.text for code in codes), response.text[:300]
    assert not exists(local, upload.fields["key"]), "a refused upload must not create the object"
    assert not exists(local, upload.key), "nor its final key"
    if other_key:
        assert not exists(local, other_key), "a refused upload must not create the object"


@pytest.fixture(scope="module")
def alice(local: Local) -> str:
    return local.token(user="alice")


def _other_user(key: str) -> str:
    parts = key.split("/")  # private/users/<sub>/cv/<file>
    return "/".join([*parts[:2], "someone-else", *parts[3:]])


def _other_rule(key: str) -> str:
    return key.replace("/cv/", "/certificates/")


#: One property changed per case: (what is changed, how, expected status, accepted error codes).
#: Every case must be refused and leave no object.
MINTED_REFUSALS: list[tuple[str, dict[str, Any], set[int], tuple[str, ...]]] = [
    ("tampered signature", {"override": lambda u: {"x-amz-signature": tamper(u.fields["x-amz-signature"])}},
     {403}, POST_SIGNATURE_CODES),
    ("no signature", {"drop": ("x-amz-signature",)}, {400, 403}, ("InvalidArgument", "AccessDenied")),
    ("signing date changed", {"override": lambda u: {"x-amz-date": "20200101T000000Z"}}, {403}, POST_SIGNATURE_CODES),
    ("Content-Type text/html", {"override": lambda u: {"Content-Type": "text/html"}}, {403}, ("AccessDenied",)),
    ("Content-Type image/svg+xml", {"override": lambda u: {"Content-Type": "image/svg+xml"}}, {403}, ("AccessDenied",)),
    ("Content-Type with a parameter", {"override": lambda u: {"Content-Type": "application/pdf; charset=utf-8"}},
     {403}, ("AccessDenied",)),
    ("Content-Type in upper case", {"override": lambda u: {"Content-Type": "APPLICATION/PDF"}}, {403},
     ("AccessDenied",)),
    ("Content-Type missing", {"drop": ("Content-Type",)}, {403}, ("AccessDenied",)),
    ("a second Content-Type text/html after the pinned one", {"after": [("Content-Type", "text/html")]},
     {403}, ("AccessDenied",)),
    ("an extra x-amz-meta-* field", {"after": [("x-amz-meta-owner", "mallory")]}, {403}, ("AccessDenied",)),
    ("an extra X-AMZ-META-* field", {"after": [("X-AMZ-META-OWNER", "mallory")]}, {403}, ("AccessDenied",)),
    ("the uploader metadata changed", {"override": lambda u: {"x-amz-meta-uploader": "mallory"}}, {403},
     ("AccessDenied",)),
    ("a second uploader metadata field", {"after": [("x-amz-meta-uploader", "mallory")]}, {403}, ("AccessDenied",)),
    ("the rule metadata changed", {"override": lambda u: {"x-amz-meta-rule": "marketing"}}, {403}, ("AccessDenied",)),
    ("the filename metadata changed", {"override": lambda u: {"x-amz-meta-original-filename": "cv.html"}}, {403},
     ("AccessDenied",)),
    ("a tagging field (an uploader must never write tags)", {"after": [("tagging", TAGGING)]}, {403},
     ("AccessDenied",)),
    ("an acl field", {"after": [("acl", "public-read")]}, {403}, ("AccessDenied",)),
    ("a Cache-Control field", {"after": [("Cache-Control", "max-age=31536000")]}, {403}, ("AccessDenied",)),
    ("a Content-Encoding field", {"after": [("Content-Encoding", "gzip")]}, {403}, ("AccessDenied",)),
    ("an Expires field", {"after": [("Expires", "Thu, 01 Dec 2094 16:00:00 GMT")]}, {403}, ("AccessDenied",)),
    ("a website redirect field", {"after": [("x-amz-website-redirect-location", "https://evil.example/")]},
     {403}, ("AccessDenied",)),
    ("a storage class field", {"after": [("x-amz-storage-class", "STANDARD")]}, {403}, ("AccessDenied",)),
    ("a checksum field", {"after": [("x-amz-checksum-sha256", "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")]},
     {403}, ("AccessDenied",)),
    ("an SSE-C field", {"after": [("x-amz-server-side-encryption-customer-algorithm", "AES256")]}, {403},
     ("AccessDenied",)),
    ("a success_action_redirect field", {"after": [("success_action_redirect", "https://evil.example/")]},
     {403}, ("AccessDenied",)),
    ("Content-Disposition inline", {"override": lambda u: {"Content-Disposition": "inline"}}, {403},
     ("AccessDenied",)),
    ("Content-Disposition missing", {"drop": ("Content-Disposition",)}, {403}, ("AccessDenied",)),
    ("a second Content-Disposition", {"after": [("Content-Disposition", "inline")]}, {403}, ("AccessDenied",)),
    ("SSE missing", {"drop": ("x-amz-server-side-encryption",)}, {403}, ("AccessDenied",)),
    ("SSE AES256", {"override": lambda u: {"x-amz-server-side-encryption": "AES256"}}, {403}, ("AccessDenied",)),
    ("SSE with another KMS key", {"override": lambda u: {"x-amz-server-side-encryption-aws-kms-key-id": OTHER_KMS_KEY}},
     {403}, ("AccessDenied",)),
    ("SSE KMS key missing", {"drop": ("x-amz-server-side-encryption-aws-kms-key-id",)}, {403}, ("AccessDenied",)),
    ("success_action_status 200", {"override": lambda u: {"success_action_status": "200"}}, {403}, ("AccessDenied",)),
    ("success_action_status missing", {"drop": ("success_action_status",)}, {403}, ("AccessDenied",)),
    ("zero-byte body (the range starts at 1)", {"body": b""}, {400}, ("EntityTooSmall",)),
    ("body one byte over the rule's maximum", {"body": "oversize"}, {400}, ("EntityTooLarge",)),
]
MINTED_KEY_REFUSALS: list[tuple[str, Any]] = [
    ("another user's key", _other_user),
    ("another rule's prefix", _other_rule),
    ("a key under public/", lambda key: "public/marketing/" + key.rsplit("/", 1)[1]),
    ("a suffix after the key", lambda key: key + ".html"),
    ("the key in upper case", str.upper),
    ("${filename} in the key", lambda key: key.rsplit("/", 1)[0] + "/${filename}"),
]


def test_minted_post_is_accepted(local: Local, alice: str) -> None:
    # Given the POST the upload handler mints, When sent unchanged, Then S3 stores exactly it, in
    # the quarantine (observed before the verifier decides it: the scan is held meanwhile)
    upload = mint(local, alice)
    assert upload.fields["key"] == f"incoming/{upload.key}"
    with scanner_paused(local):
        response = send_minted(upload)
        assert response.status_code == 201, response.text
        head = reader(local, upload.fields["key"]).head_object(Bucket=local.bucket, Key=upload.fields["key"])
    assert head["ContentType"] == "application/pdf" and head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] == upload.fields["x-amz-server-side-encryption-aws-kms-key-id"]
    assert head["Metadata"] == {name.removeprefix("x-amz-meta-"): value for name, value in upload.fields.items()
                                if name.startswith("x-amz-meta-")}


def test_minted_post_at_the_size_limit_is_accepted(local: Local, alice: str) -> None:
    # (so that the oversize refusal is the limit, nothing else)
    upload = mint(local, alice)
    assert send_minted(upload, body=b"x" * upload.max_bytes).status_code == 201


@pytest.mark.parametrize("case", MINTED_REFUSALS, ids=[case[0] for case in MINTED_REFUSALS])
def test_minted_post_with_one_property_changed_is_refused(
        local: Local, alice: str, case: tuple[str, dict[str, Any], set[int], tuple[str, ...]]) -> None:
    _, how, statuses, codes = case
    upload = mint(local, alice)
    arguments = dict(how)
    if callable(arguments.get("override")):
        arguments["override"] = arguments["override"](upload)
    if arguments.get("body") == "oversize":
        arguments["body"] = b"x" * (upload.max_bytes + 1)
    refused_minted(send_minted(upload, **arguments), local, upload, statuses, *codes)


@pytest.mark.parametrize(("change", "other"), MINTED_KEY_REFUSALS, ids=[case[0] for case in MINTED_KEY_REFUSALS])
def test_minted_post_to_another_key_is_refused(local: Local, alice: str, change: str, other: Any) -> None:
    upload = mint(local, alice)
    other_key = other(upload.key)
    assert other_key != upload.key
    refused_minted(send_minted(upload, override={"key": other_key}), local, upload, {403}, "AccessDenied",
                   other_key=other_key)
    # Nor does a second key field after the pinned one take effect
    refused_minted(send_minted(upload, after=[("key", other_key)]), local, upload, {403}, "AccessDenied",
                   other_key=other_key)


def test_minted_post_missing_any_metadata_field_is_refused(local: Local, alice: str) -> None:
    names = [name for name in mint(local, alice).fields if name.startswith("x-amz-meta-")]
    assert len(names) >= 3
    for name in names:
        upload = mint(local, alice)
        refused_minted(send_minted(upload, drop=(name,)), local, upload, {403}, "AccessDenied")


def test_minted_post_stores_the_pinned_type_whatever_else_is_sent(local: Local, alice: str) -> None:
    # What S3 documents as ignored stays ignored, and never changes what is stored: the file
    # part's own type, fields after the file, a second file, x-ignore-* fields. A text/html
    # Content-Type *before* the pinned one is the one duplicate radosgw accepts (it keeps the
    # last value): the stored type is still the pinned one.
    upload = mint(local, alice)
    quarantined = upload.fields["key"]
    with scanner_paused(local):  # observed in the quarantine, before the verifier decides it
        response = requests.post(upload.url, timeout=60, files=[
            ("Content-Type", (None, "text/html")), ("x-ignore-note", (None, "ignored")),
            *[(name, (None, value)) for name, value in upload.fields.items()],
            ("file", ("cv.html", CV, "text/html")),
            ("x-amz-meta-owner", (None, "mallory")), ("Content-Type", (None, "text/html")),
            ("file", ("second.html", b"<script>alert(1)</script>", "text/html"))])
        if response.status_code == 201:
            s3 = reader(local, quarantined)
            head = s3.head_object(Bucket=local.bucket, Key=quarantined)
            assert head["ContentType"] == "application/pdf" and "owner" not in head["Metadata"]
            stored = s3.get_object(Bucket=local.bucket, Key=quarantined)["Body"].read()
            assert stored == CV
        else:
            refused_minted(response, local, upload, {400, 403}, "AccessDenied", "InvalidArgument")


# --- expiry (one wait for every expired case) ------------------------------------------------

@pytest.fixture(scope="module")
def expired(local: Local) -> dict[str, Any]:
    # Given credentials minted to live one second, then a wait past their expiry
    post_key = _key()
    get_key = _key(SERVED)
    local.verifier_s3.put_object(Bucket=local.bucket, Key=get_key, Body=b"expired-get",
                                 ContentType="application/pdf")
    put_key = _key()
    artifacts = {
        "post": (post_key, presigned_post(local, post_key, expires_in=1)),
        "minted": mint(local, local.token(user="alice"), expires_in=1),
        "get": local.edge_s3.generate_presigned_url("get_object", Params={"Bucket": local.bucket, "Key": get_key},
                                                    ExpiresIn=1),
        "put": (put_key, local.uploader_s3.generate_presigned_url(
            "put_object", Params={"Bucket": local.bucket, "Key": put_key, "ContentType": "application/pdf"},
            ExpiresIn=1)),
    }
    time.sleep(2.2)
    return artifacts


def test_post_after_expiry_is_refused(local: Local, expired: dict[str, Any]) -> None:
    key, post = expired["post"]
    refused(send(post), 403, local, key, "AccessDenied")


def test_minted_post_after_expiry_is_refused(local: Local, expired: dict[str, Any]) -> None:
    upload = expired["minted"]
    refused_minted(send_minted(upload), local, upload, {403}, "AccessDenied")


def test_presigned_get_after_expiry_is_refused(expired: dict[str, Any]) -> None:
    response = requests.get(expired["get"], timeout=30)
    assert response.status_code == 403, response.text
    assert "<Code>AccessDenied</Code>" in response.text


def test_presigned_put_after_expiry_is_refused(local: Local, expired: dict[str, Any]) -> None:
    key, url = expired["put"]
    response = requests.put(url, data=b"%PDF-", headers={"Content-Type": "application/pdf"}, timeout=30)
    refused(response, 403, local, key, "AccessDenied")


# --- presigned GET ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def stored(local: Local) -> str:
    key = _key(SERVED)
    local.verifier_s3.put_object(Bucket=local.bucket, Key=key, Body=b"stored-object", ContentType="application/pdf")
    return key


def presigned_get(local: Local, key: str, client: Any = None) -> str:
    s3 = client or local.edge_s3
    return str(s3.generate_presigned_url("get_object", Params={"Bucket": local.bucket, "Key": key}, ExpiresIn=300))


def test_presigned_get_is_accepted(local: Local, stored: str) -> None:
    response = requests.get(presigned_get(local, stored), timeout=30)
    assert response.status_code == 200
    assert response.content == b"stored-object"


def test_presigned_get_with_tampered_signature_is_refused(local: Local, stored: str) -> None:
    url = presigned_get(local, stored)
    signature = url.rsplit("X-Amz-Signature=", 1)[1]
    response = requests.get(url.replace(signature, tamper(signature)), timeout=30)
    assert response.status_code == 403
    assert "<Code>SignatureDoesNotMatch</Code>" in response.text


def test_presigned_get_signature_reused_on_another_key_is_refused(local: Local, stored: str) -> None:
    other = _key(SERVED)
    local.verifier_s3.put_object(Bucket=local.bucket, Key=other, Body=b"other", ContentType="application/pdf")
    url = presigned_get(local, stored)
    response = requests.get(url.replace(stored, other), timeout=30)
    assert response.status_code == 403
    assert "<Code>SignatureDoesNotMatch</Code>" in response.text


def test_presigned_get_with_unknown_access_key_is_refused(local: Local, stored: str) -> None:
    stranger = local.s3("AKIA" + secrets.token_hex(8).upper(), secrets.token_urlsafe(30))
    response = requests.get(presigned_get(local, stored, stranger), timeout=30)
    assert response.status_code == 403
    assert "<Code>InvalidAccessKeyId</Code>" in response.text


def test_presigned_get_by_the_uploader_is_refused_by_the_bucket_policy(local: Local, stored: str) -> None:
    # DESIGN.md decision 3: reads only through the distribution; the upload role signing a GET
    # must fail. radosgw enforces the local bucket policy that says so.
    response = requests.get(presigned_get(local, stored, local.uploader_s3), timeout=30)
    assert response.status_code == 403
    assert "<Code>AccessDenied</Code>" in response.text


# --- presigned PUT ---------------------------------------------------------------------------

def presigned_put(local: Local, key: str, client: Any = None) -> str:
    s3 = client or local.uploader_s3
    return str(s3.generate_presigned_url(
        "put_object", Params={"Bucket": local.bucket, "Key": key, "ContentType": "application/pdf"}, ExpiresIn=300))


def test_presigned_put_is_accepted(local: Local) -> None:
    key = _key()
    response = requests.put(presigned_put(local, key), data=b"%PDF-", headers={"Content-Type": "application/pdf"},
                            timeout=30)
    assert response.status_code == 200, response.text
    assert exists(local, key)


def test_presigned_put_with_tampered_signature_is_refused(local: Local) -> None:
    key = _key()
    url = presigned_put(local, key)
    signature = url.rsplit("X-Amz-Signature=", 1)[1]
    response = requests.put(url.replace(signature, tamper(signature)), data=b"%PDF-",
                            headers={"Content-Type": "application/pdf"}, timeout=30)
    refused(response, 403, local, key, "SignatureDoesNotMatch")


def test_presigned_put_signature_reused_on_another_key_is_refused(local: Local) -> None:
    key, other = _key(), _key()
    response = requests.put(presigned_put(local, key).replace(key, other), data=b"%PDF-",
                            headers={"Content-Type": "application/pdf"}, timeout=30)
    refused(response, 403, local, other, "SignatureDoesNotMatch")


def test_presigned_put_with_unknown_access_key_is_refused(local: Local) -> None:
    key = _key()
    stranger = local.s3("AKIA" + secrets.token_hex(8).upper(), secrets.token_urlsafe(30))
    response = requests.put(presigned_put(local, key, stranger), data=b"%PDF-",
                            headers={"Content-Type": "application/pdf"}, timeout=30)
    refused(response, 403, local, key, "InvalidAccessKeyId")


def test_presigned_put_with_other_content_type_is_refused(local: Local) -> None:
    # Content-Type is a signed header of this URL
    key = _key()
    response = requests.put(presigned_put(local, key), data=b"<svg/>", headers={"Content-Type": "image/svg+xml"},
                            timeout=30)
    refused(response, 403, local, key, "SignatureDoesNotMatch")


# --- anonymous access ------------------------------------------------------------------------

def test_anonymous_get_is_refused(local: Local, stored: str) -> None:
    response = requests.get(f"{local.s3_url}/{local.bucket}/{stored}", timeout=30)
    assert response.status_code == 403
    assert "<Code>AccessDenied</Code>" in response.text


def test_anonymous_put_is_refused(local: Local) -> None:
    key = _key()
    response = requests.put(f"{local.s3_url}/{local.bucket}/{key}", data=b"%PDF-", timeout=30)
    refused(response, 403, local, key, "AccessDenied")


def test_anonymous_list_is_refused(local: Local) -> None:
    response = requests.get(f"{local.s3_url}/{local.bucket}?list-type=2", timeout=30)
    assert response.status_code == 403
    assert "<Code>AccessDenied</Code>" in response.text


# --- CORS ------------------------------------------------------------------------------------

def preflight(local: Local, origin: str, method: str = "POST", headers: str = "content-type") -> requests.Response:
    return requests.options(f"{local.s3_url}/{local.bucket}", timeout=30, headers={
        "Origin": origin, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": headers})


def test_cors_preflight_from_a_configured_origin_is_allowed(local: Local) -> None:
    response = preflight(local, ORIGIN)
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "POST" in response.headers["Access-Control-Allow-Methods"]


def test_cors_preflight_from_another_origin_is_refused(local: Local) -> None:
    response = preflight(local, "https://evil.example")
    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response.headers


def test_cors_preflight_for_another_method_is_refused(local: Local) -> None:
    response = preflight(local, ORIGIN, method="PUT")
    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response.headers


def test_cors_preflight_for_another_header_is_refused(local: Local) -> None:
    response = preflight(local, ORIGIN, headers="content-type,x-evil")
    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response.headers


def test_cors_post_response_exposes_etag_and_location(local: Local) -> None:
    key = _key()
    post = presigned_post(local, key)
    response = requests.post(post["url"], data=post["fields"], headers={"Origin": ORIGIN}, timeout=30,
                             files={"file": ("cv.pdf", b"%PDF-", "application/pdf")})
    assert response.status_code == 201
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    exposed = response.headers["Access-Control-Expose-Headers"].lower()
    assert "etag" in exposed and "location" in exposed
