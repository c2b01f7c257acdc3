"""Records and requests for the lifecycle tests (docs/lifecycle.md), written independently of the code.

``put_file`` writes a record in the documented layout, lifecycle attributes included
(``listed_at`` = ``f"{created_at:011d}#{file_id}"``, ``org_scope`` only for ``{org_id}`` rules,
``upload_expires_at``), straight to DynamoDB, and the object at the key its status implies.
"""

from __future__ import annotations

import secrets
from typing import Any

import boto3
from conftest import BACKEND_ARN, BUCKET, REGION, api_event, put_record

#: The seed rules' templates, by hand (DESIGN.md decision 6), plus which name {org_id}.
TEMPLATES = {"cv": "private/users/{sub}/cv/{file}.pdf", "certificate": "private/users/{sub}/certificates/{file}.pdf",
             "business-registration": "private/orgs/{org_id}/registration/{file}.pdf",
             "marketing": "public/marketing/{file}.png"}
ORG_RULES = {"business-registration"}
LIFECYCLE_RULES: list[dict[str, Any]] = [
    {"name": "cv", "key_template": "private/users/{sub}/cv/{file}", "groups": ["careers"],
     "actions": ["upload", "download", "delete"], "content_types": ["application/pdf"], "max_bytes": 10485760,
     "max_files_per_owner": 3},
    {"name": "certificate", "key_template": "private/users/{sub}/certificates/{file}", "groups": ["careers"],
     "actions": ["upload", "download"], "content_types": ["application/pdf"], "max_bytes": 10485760},
    {"name": "business-registration", "key_template": "private/orgs/{org_id}/registration/{file}",
     "groups": ["org"], "actions": ["upload", "download", "delete"], "content_types": ["application/pdf"],
     "max_bytes": 20971520, "max_files_per_owner": 2},
    {"name": "marketing", "key_template": "public/marketing/{file}", "groups": ["marketing"],
     "actions": ["upload", "delete"], "content_types": ["image/png"], "max_bytes": 5242880},
]


def new_id() -> str:
    return secrets.token_hex(16)


def key_for(rule: str, *, sub: str, org_id: str | None, file_id: str) -> str:
    return TEMPLATES[rule].replace("{sub}", sub).replace("{org_id}", org_id or "").replace("{file}", file_id)


def put_file(rule: str, *, sub: str, org_id: str | None = None, status: str = "clean", created_at: int = 1_800_000_000,
             file_id: str | None = None, with_object: bool = True, **extra: Any) -> dict[str, Any]:
    file_id = file_id or new_id()
    key = key_for(rule, sub=sub, org_id=org_id, file_id=file_id)
    attributes: dict[str, Any] = {"listed_at": f"{created_at:011d}#{file_id}", **extra}
    if org_id is not None:
        attributes["owner_org_id"] = org_id
    if rule in ORG_RULES and org_id is not None:
        attributes["org_scope"] = org_id
    item = put_record(key, status=status, rule=rule, owner_sub=sub, created_at=created_at,
                      content_type="image/png" if rule == "marketing" else "application/pdf", **attributes)
    if with_object:
        s3 = boto3.client("s3", region_name=REGION)
        where = {"clean": key, "rejected": "rejected/" + key}.get(status, "incoming/" + key)
        s3.put_object(Bucket=BUCKET, Key=where, Body=b"%PDF-1.7 test")
    return item


def user(sub: str, *groups: str, org_id: str | None = None) -> dict[str, Any]:
    claims: dict[str, Any] = {"sub": sub, "cognito:groups": "[" + " ".join(groups) + "]"}
    if org_id is not None:
        claims["org_id"] = org_id
    return claims


def get(path: str, claims: dict[str, Any] | None = None, *, query: str = "", iam: str | None = None) -> dict[str, Any]:
    event = api_event(path, claims=claims, iam_arn=iam, method="GET")
    event["rawQueryString"] = query
    return event


def delete(path: str, claims: dict[str, Any] | None = None, *, iam: str | None = None) -> dict[str, Any]:
    return api_event(path, claims=claims, iam_arn=iam, method="DELETE")


def backend_post(path: str, payload: Any, *, iam: str = BACKEND_ARN) -> dict[str, Any]:
    return api_event(path, payload, iam_arn=iam)


def versions_under(prefix: str) -> list[dict[str, Any]]:
    """Every version and delete marker under ``prefix``."""
    s3 = boto3.client("s3", region_name=REGION)
    found: list[dict[str, Any]] = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=BUCKET, Prefix=prefix):
        found.extend([*page.get("Versions", []), *page.get("DeleteMarkers", [])])
    return found
