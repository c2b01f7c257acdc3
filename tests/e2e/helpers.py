"""Small clients for the end-to-end tests: the API, the browser's POST to S3, the edge, the
verification flow (file status, the scanner's local control, the events URL)."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import boto3
import requests

from tests.e2e.conftest import Local

#: How long a small file may take from its POST to a decided record (scan + checks + promotion;
#: typically 0.1-0.3 s locally). Polled with short sleeps; never a fixed wait.
VERIFY_TIMEOUT = 20.0
DECIDED = ("clean", "rejected")


@dataclass
class Upload:
    key: str
    url: str
    fields: dict[str, str]
    max_bytes: int
    file_id: str = ""


def base_for(local: Local, path: str) -> str:
    """Where a route is called (docs/front-door.md): ``/backend/*`` on the backend's base (the
    local API; SigV4 cannot pass CloudFront), every user route through the front door (the edge)."""
    return local.backend_api if path.startswith("/backend/") else local.api


def api(local: Local, path: str, body: Any, *, token: str | None = None, backend: bool = False,
        headers: dict[str, str] | None = None) -> requests.Response:
    sent = dict(headers or {})
    if token:
        sent["Authorization"] = f"Bearer {token}"
    if backend:
        sent[local.endpoints["backend_key_header"]] = local.endpoints["backend_key"]
    return requests.post(f"{base_for(local, path)}{path}", json=body, headers=sent, timeout=30)


def call(local: Local, method: str, path: str, *, token: str | None = None, backend: bool = False,
         body: Any = None, params: dict[str, Any] | list[tuple[str, Any]] | None = None) -> requests.Response:
    """Any route (``GET /files``, ``DELETE /files/{id}`` through the edge, ``/backend/*`` on the
    backend's base)."""
    sent: dict[str, str] = {}
    if token:
        sent["Authorization"] = f"Bearer {token}"
    if backend:
        sent[local.endpoints["backend_key_header"]] = local.endpoints["backend_key"]
    return requests.request(method, f"{base_for(local, path)}{path}", json=body, params=params, headers=sent,
                            timeout=30)


def mint_upload(local: Local, token: str, rule: str, content_type: str, size: int, *, filename: str = "file",
                **extra: Any) -> Upload:
    response = api(local, "/uploads", {"rule": rule, "content_type": content_type, "size": size,
                                        "filename": filename, **extra}, token=token)
    assert response.status_code == 201, response.text
    body = response.json()
    return Upload(key=body["key"], url=body["url"], fields=body["fields"], max_bytes=body["max_bytes"],
                  file_id=body["file_id"])


def post_file(upload: Upload, content: bytes, *, override: dict[str, str] | None = None,
              extra: dict[str, str] | None = None) -> requests.Response:
    """What the browser does with a minted upload: the fields, then the file, as multipart/form-data."""
    fields = {**upload.fields, **(override or {}), **(extra or {})}
    return requests.post(upload.url, data=fields, files={"file": ("upload", content, fields.get("Content-Type"))},
                         timeout=60)


def upload_file(local: Local, token: str, rule: str, content: bytes, content_type: str, *,
                filename: str = "file", wait: bool = True) -> str:
    """Upload as the browser does and (by default) wait until the verifier made the file ``clean``:
    only then does its final key exist and may a download be minted."""
    upload = mint_upload(local, token, rule, content_type, len(content), filename=filename)
    response = post_file(upload, content)
    assert response.status_code == 201, response.text
    if wait:
        record = wait_until_decided(local, token, upload.file_id)
        assert record["status"] == "clean", f"{filename} ({content_type}) was not verified clean: {record}"
    return upload.key


def file_record(local: Local, token: str, file_id: str) -> requests.Response:
    return requests.get(f"{local.api}/files/{file_id}", headers={"Authorization": f"Bearer {token}"}, timeout=30)


def wait_for_status(local: Local, token: str, file_id: str, statuses: tuple[str, ...], *,
                    timeout: float = VERIFY_TIMEOUT) -> dict[str, Any]:
    """Poll ``GET /files/{file_id}`` (short sleeps, bounded) until the status is one of ``statuses``."""
    deadline = time.monotonic() + timeout
    last: dict[str, Any] = {}
    while True:
        response = file_record(local, token, file_id)
        assert response.status_code == 200, response.text
        last = response.json()
        if last["status"] in statuses:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"file {file_id} still {last.get('status')!r} after {timeout:.0f} s "
                                 f"(wanted {statuses}): {last}")
        time.sleep(0.05)


def wait_until_decided(local: Local, token: str, file_id: str, *, timeout: float = VERIFY_TIMEOUT) -> dict[str, Any]:
    return wait_for_status(local, token, file_id, DECIDED, timeout=timeout)


def scanner_control(local: Local, action: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """The local GuardDuty stand-in's local-only control: ``pause``, ``resume``, ``faults``."""
    response = requests.post(f"{local.scanner_url}/{action}", json=body or {}, timeout=10)
    assert response.status_code == 200, response.text
    return dict(response.json())


@contextmanager
def scanner_paused(local: Local) -> Iterator[None]:
    """Scans wait (S3's Object Created notifications still go out) until the block ends."""
    scanner_control(local, "pause")
    try:
        yield
    finally:
        scanner_control(local, "resume")


def events(local: Local, detail_type: str | None = None) -> list[dict[str, Any]]:
    params = {"detail-type": detail_type} if detail_type else None
    response = requests.get(local.events_url, params=params, timeout=30)
    assert response.status_code == 200, response.text
    return list(response.json()["events"])


def download_url(local: Local, token: str, key: str, **extra: Any) -> str:
    response = api(local, "/downloads", {"key": key, **extra}, token=token)
    assert response.status_code == 200, response.text
    return str(response.json()["url"])


def with_param(url: str, name: str, value: str) -> str:
    parts = urlsplit(url)
    params = [(k, value if k == name else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit(parts._replace(query=urlencode(params, safe="~-_")))


@functools.cache
def _kms_client(endpoint: str, region: str) -> Any:
    return boto3.session.Session().client("kms", endpoint_url=endpoint, region_name=region,
                                          aws_access_key_id="test", aws_secret_access_key="test")


def kms_signing_key(local: Local) -> Any:
    """A ``SigningKey`` that signs with the active slot's KMS key (moto), for URLs the API would not mint."""
    from filegate.domain.cloudfront import SigningKey

    slot = local.runtime["signing_slots"][local.runtime["active_slot"]]
    kms = _kms_client(local.endpoints["aws"], local.region)

    def sign(message: bytes) -> bytes:
        response = kms.sign(KeyId=slot["kms_key_id"], Message=message, MessageType="RAW",
                            SigningAlgorithm="ECDSA_SHA_256")
        return bytes(response["Signature"])

    return SigningKey(sign=sign, key_pair_id=slot["public_key_id"])


def now() -> int:
    return int(time.time())


def same_pixels(served: bytes, original: bytes) -> bool:
    """Whether two lossless images (PNG, lossless WebP) decode to the same size and pixels: the
    verifier re-encodes images, so their bytes differ."""
    import io

    from PIL import Image

    def decoded(data: bytes) -> tuple[tuple[int, int], bytes]:
        with Image.open(io.BytesIO(data)) as image:
            return image.size, image.convert("RGBA").tobytes()

    return decoded(served) == decoded(original)
