"""Small clients for the end-to-end tests: the API, the browser's POST to S3, the edge."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import boto3
import requests

from tests.e2e.conftest import Local


@dataclass
class Upload:
    key: str
    url: str
    fields: dict[str, str]
    max_bytes: int


def api(local: Local, path: str, body: Any, *, token: str | None = None, backend: bool = False,
        headers: dict[str, str] | None = None) -> requests.Response:
    sent = dict(headers or {})
    if token:
        sent["Authorization"] = f"Bearer {token}"
    if backend:
        sent[local.endpoints["backend_key_header"]] = local.endpoints["backend_key"]
    return requests.post(f"{local.api}{path}", json=body, headers=sent, timeout=30)


def mint_upload(local: Local, token: str, rule: str, content_type: str, size: int, *, filename: str = "file",
                **extra: Any) -> Upload:
    response = api(local, "/uploads", {"rule": rule, "content_type": content_type, "size": size,
                                        "filename": filename, **extra}, token=token)
    assert response.status_code == 201, response.text
    body = response.json()
    return Upload(key=body["key"], url=body["url"], fields=body["fields"], max_bytes=body["max_bytes"])


def post_file(upload: Upload, content: bytes, *, override: dict[str, str] | None = None,
              extra: dict[str, str] | None = None) -> requests.Response:
    """What the browser does with a minted upload: the fields, then the file, as multipart/form-data."""
    fields = {**upload.fields, **(override or {}), **(extra or {})}
    return requests.post(upload.url, data=fields, files={"file": ("upload", content, fields.get("Content-Type"))},
                         timeout=60)


def upload_file(local: Local, token: str, rule: str, content: bytes, content_type: str, *,
                filename: str = "file") -> str:
    upload = mint_upload(local, token, rule, content_type, len(content), filename=filename)
    response = post_file(upload, content)
    assert response.status_code == 201, response.text
    return upload.key


def download_url(local: Local, token: str, key: str, **extra: Any) -> str:
    response = api(local, "/downloads", {"key": key, **extra}, token=token)
    assert response.status_code == 200, response.text
    return str(response.json()["url"])


def with_param(url: str, name: str, value: str) -> str:
    parts = urlsplit(url)
    params = [(k, value if k == name else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit(parts._replace(query=urlencode(params, safe="~-_")))


def kms_signing_key(local: Local) -> Any:
    """A ``SigningKey`` that signs with the active slot's KMS key (moto), for URLs the API would not mint."""
    from filegate.domain.cloudfront import SigningKey

    slot = local.runtime["signing_slots"][local.runtime["active_slot"]]
    kms = boto3.session.Session().client(
        "kms", endpoint_url=local.endpoints["aws"], region_name=local.region,
        aws_access_key_id="test", aws_secret_access_key="test")

    def sign(message: bytes) -> bytes:
        response = kms.sign(KeyId=slot["kms_key_id"], Message=message, MessageType="RAW",
                            SigningAlgorithm="ECDSA_SHA_256")
        return bytes(response["Signature"])

    return SigningKey(sign=sign, key_pair_id=slot["public_key_id"])


def now() -> int:
    return int(time.time())
