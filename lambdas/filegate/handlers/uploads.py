"""``POST /uploads`` (JWT) and ``POST /backend/uploads`` (IAM): presigned POSTs into the bucket.

Deployed as ``filegate.handlers.uploads.handler``. Its role may only ``s3:PutObject`` under
the quarantine prefix of the upload rules' prefixes (``incoming/<rule prefix>``): the presigned
POST carries that authority, and the policy pins everything S3 must check. It also writes the
file's record (``dynamodb:PutItem`` on the files table) before it answers: no record, no POST
(503). A rule with ``max_files_per_owner`` is checked first (``dynamodb:Query`` on the ``owner``
or ``org`` index, docs/lifecycle.md "Quotas"): 409 ``quota_exceeded``, no record, nothing minted.
``POST /uploads`` is served through the front door (docs/front-door.md): without CloudFront's
``x-origin-verify`` value it is 403 before the body is read, so the role also reads the
origin-verify secret. This module never imports ``cryptography``.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import boto3

from filegate.adapters.dependency_config import dependency_config
from filegate.adapters.files_table import ORG_INDEX, OWNER_INDEX, FilesTable
from filegate.adapters.origin_secret import OriginSecret, origin_secret
from filegate.adapters.s3_presigner import S3Presigner, s3_client
from filegate.domain.errors import Reason, Refusal
from filegate.domain.identity import Identity
from filegate.domain.records import new_record
from filegate.domain.rules import Rule, authorize
from filegate.domain.uploads import plan_upload, upload_expiry
from filegate.handlers.common import (
    current_audit,
    identify,
    lambda_entry_point,
    new_resolver,
    success,
)
from filegate.handlers.models import BackendUploadRequest, UploadRequest, UploadResponse
from filegate.handlers.openapi_docs import error_responses, success_response
from filegate.handlers.routing import Response
from filegate.handlers.snapshot import after_restore
from filegate.settings import Settings

app = new_resolver()
clock: Callable[[], float] = time.time


def new_file_id() -> str:
    return secrets.token_hex(16)


@dataclass(frozen=True)
class UploadRuntime:
    settings: Settings
    rules: dict[str, Rule]
    presigner: S3Presigner
    files: FilesTable
    origin: OriginSecret


@lru_cache(maxsize=1)
def runtime() -> UploadRuntime:
    """Settings, session, S3, DynamoDB and Secrets Manager (the origin secret) clients: built once
    per execution environment."""
    settings = Settings.from_environ()
    session = boto3.session.Session()
    client = s3_client(session, region=settings.region, addressing_style=settings.s3_addressing_style)
    dynamodb = session.client("dynamodb", region_name=settings.region, config=dependency_config())
    return UploadRuntime(settings=settings, rules=settings.rules_by_name,
                         presigner=S3Presigner(session, client, settings.bucket),
                         files=FilesTable(dynamodb, settings.files_table),
                         origin=origin_secret(session, settings.origin_secret, region=settings.region))


def check_quota(files: FilesTable, rule: Rule, identity: Identity, *, now: int) -> None:
    """409 when the owner scope (the org for ``{org_id}`` rules, else the uploader) holds the
    rule's ``max_files_per_owner`` already. Not a lock: concurrent mints can both pass."""
    if rule.max_files_per_owner is None:
        return
    if rule.org_scoped:
        org = identity.org_id
        assert org is not None  # the key was built from it
        held = files.count_for_quota(ORG_INDEX, org, rule=rule.name, now=now, stop_at=rule.max_files_per_owner)
    else:
        held = files.count_for_quota(OWNER_INDEX, identity.sub, rule=rule.name, now=now,
                                     stop_at=rule.max_files_per_owner)
    if held >= rule.max_files_per_owner:
        raise Refusal(Reason.QUOTA_EXCEEDED, f"rule {rule.name!r} allows at most {rule.max_files_per_owner} "
                                             "files per owner; delete some first")


def mint_upload(request: UploadRequest, identity: Identity) -> Response[UploadResponse]:
    state = runtime()
    settings = state.settings
    audit = current_audit()
    audit.rule = request.rule
    rule = authorize(state.rules, identity, "upload", request.rule)
    now = clock()
    plan = plan_upload(rule, identity, content_type=request.content_type, size=request.size,
                       filename=request.filename, file_id=new_file_id(),
                       kms_key_arn=settings.bucket_kms_key_arn)
    audit.key, audit.file_id = plan.key, plan.file_id
    expires_in = upload_expiry(requested=request.expires_in, default=settings.upload_expiry_seconds,
                               maximum=settings.upload_max_expiry_seconds, now=now,
                               credentials_expire_at=state.presigner.credentials_expire_at())
    expires_at = int(now) + expires_in
    check_quota(state.files, rule, identity, now=int(now))
    # The record first: an upload the verifier has no record for is never promoted, so a POST
    # minted without one would only ever be rejected. A failed write is a 503, nothing minted.
    state.files.put_new(new_record(file_id=plan.file_id, key=plan.key, rule=rule.name, owner_sub=identity.sub,
                                   owner_org_id=identity.org_id, filename=plan.filename,
                                   content_type=plan.content_type, declared_size=request.size, now=int(now),
                                   org_scoped=rule.org_scoped, upload_expires_at=expires_at))
    url, fields = state.presigner.presign_post(key=plan.upload_key, fields=plan.fields,
                                               conditions=plan.conditions, expires_in=expires_in)
    audit.expires_at = expires_at
    return success(201, UploadResponse(file_id=plan.file_id, key=plan.key, url=url, fields=fields,
                                       expires_at=expires_at, max_bytes=plan.max_bytes))


@app.post(
    "/uploads", operation_id="createUpload", tags=["uploads"], status_code=201, security=[{"jwt": []}],
    summary="Mint a presigned POST for one upload",
    description="The key is built from the rule's template and the caller's verified claims; the browser then "
                "POSTs `fields` and the file to `url`. The file lands in quarantine and reaches `key` only once "
                "verified: `GET /files/{file_id}` tells its status.",
    responses={201: success_response(UploadResponse, "Presigned POST"), **error_responses(409, 413, 415)},
)
def create_upload(body: UploadRequest) -> Response[UploadResponse]:
    return mint_upload(body, identify(app.current_event.raw_event, runtime().settings))


@app.post(
    "/backend/uploads", operation_id="createBackendUpload", tags=["backend"], status_code=201,
    security=[{"iam": []}],
    summary="Mint a presigned POST on behalf of a user (trusted servers, IAM-authorised)",
    responses={201: success_response(UploadResponse, "Presigned POST"), **error_responses(409, 413, 415)},
)
def create_backend_upload(body: BackendUploadRequest) -> Response[UploadResponse]:
    return mint_upload(body, identify(app.current_event.raw_event, runtime().settings, body.on_behalf_of))


def _backend_principals() -> tuple[str, ...]:
    return runtime().settings.backend_principals


def _origin() -> OriginSecret:
    return runtime().origin


handler = lambda_entry_point(app, backend_principals=_backend_principals, origin=_origin)
"""Lambda entry point."""


after_restore(runtime)  # SnapStart: each restored environment rebuilds what init built (snapshot.py)

if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):  # build clients during the init phase, not the first request
    app.prepare()
    runtime()
