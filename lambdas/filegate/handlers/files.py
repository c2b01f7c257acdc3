"""File records: ``GET /files``, ``GET /files/{file_id}`` (JWT) and their ``/backend/`` twins (IAM).

Deployed as ``filegate.handlers.files.handler``. A user sees a record when it is theirs
(``records.may_read``: the record's rule still admits the caller's groups and the caller's claims
rebuild its key, so every member of an org sees the org's files); anyone else, an unknown id and a
malformed id all get the same 404 ``not_found``, never a 403: whether a file exists never leaks.

``GET /files`` merges the caller's own records (index ``owner``) with its org's (index ``org``,
when a rule keyed by ``{org_id}`` admits it), newest first, each item through the same check;
the cursor is tamper-proof and bound to the listing that issued it (``filegate.domain.listing``).
The backend routes see every record, with its owner. The user routes are served through the front
door (docs/front-door.md: 403 ``origin_not_verified`` without CloudFront's header). The role may
``dynamodb:GetItem`` the table, ``dynamodb:Query`` the ``owner`` and ``org`` indexes and read the
cursor secret and the origin-verify secret.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any

import boto3

from filegate.adapters.dependency_config import dependency_config
from filegate.adapters.files_table import ORG_INDEX, OWNER_INDEX, FilesTable
from filegate.adapters.origin_secret import OriginSecret, origin_secret
from filegate.adapters.unavailable import LifecycleUnavailable
from filegate.domain.errors import Reason, Refusal
from filegate.domain.identity import Identity
from filegate.domain.keys import usable_claim
from filegate.domain.listing import (
    Item,
    assemble_page,
    decode_cursor,
    encode_cursor,
    merge_newest_first,
    parse_limit,
    scope_digest,
)
from filegate.domain.quarantine import FILE_ID
from filegate.domain.records import FileRecord, may_read, visible
from filegate.domain.rules import Rule
from filegate.handlers.common import (
    audited_backend_principal,
    current_audit,
    identify_reader,
    lambda_entry_point,
    new_resolver,
    query,
    success,
)
from filegate.handlers.models import BackendFileListResponse, BackendFileResponse, FileListResponse, FileResponse
from filegate.handlers.openapi_docs import FILE_LIST_ERRORS, FILE_READ_ERRORS, error_responses, success_response
from filegate.handlers.routing import PathParameter, Response
from filegate.handlers.snapshot import after_restore
from filegate.settings import LifecycleSettings

app = new_resolver()
clock: Callable[[], float] = time.time
#: Every answer for a file that is not the caller's to see: one message, whatever the cause.
_NOT_FOUND = "no such file"
CURSOR_SECRET_SECONDS = 300
MIN_CURSOR_KEY_CHARACTERS = 32
#: The listings' query values (``rule``, and ``owner``/``org`` on the backend), as the document says.
RULE_NAME = re.compile(r"[a-z0-9-]{1,40}")
QUERY_VALUE = re.compile(r"[\x20-\x7e]{1,256}")


class CursorKeyUnavailable(LifecycleUnavailable):
    """The cursor secret could not be read, or is too short to key a MAC."""


@dataclass(frozen=True)
class FilesRuntime:
    settings: LifecycleSettings
    rules: dict[str, Rule]
    files: FilesTable
    cursor_key: Callable[[], bytes]
    origin: OriginSecret


def secret_cursor_key(settings: LifecycleSettings) -> Callable[[], bytes]:
    """The cursor key from the secret's SecretString, through Powertools parameters (cached 300 s).
    Fetched on the first listing, not at start: ``GET /files/{id}`` never needs it."""
    from aws_lambda_powertools.utilities import parameters  # noqa: PLC0415 - only listings need it

    provider = parameters.SecretsProvider(boto3_client=boto3.session.Session().client(
        "secretsmanager", region_name=settings.region, config=dependency_config()))

    def read() -> bytes:
        try:
            value = provider.get(settings.cursor_secret, max_age=CURSOR_SECRET_SECONDS)
        except Exception as error:  # GetParameterError and whatever botocore raised inside it
            raise CursorKeyUnavailable(f"reading the cursor secret failed: {type(error).__name__}") from error
        if not isinstance(value, str) or len(value) < MIN_CURSOR_KEY_CHARACTERS:
            raise CursorKeyUnavailable("the cursor secret must be a SecretString of at least 32 characters")
        return value.encode("utf-8")

    return read


@lru_cache(maxsize=1)
def runtime() -> FilesRuntime:
    """Settings, the files table's and the origin secret's clients: built once per execution environment."""
    settings = LifecycleSettings.from_environ()
    session = boto3.session.Session()
    dynamodb = session.client("dynamodb", region_name=settings.region, config=dependency_config())
    return FilesRuntime(settings=settings, rules=settings.rules_by_name,
                        files=FilesTable(dynamodb, settings.files_table), cursor_key=secret_cursor_key(settings),
                        origin=origin_secret(session, settings.origin_secret, region=settings.region))


def caller() -> Identity:
    return identify_reader(app.current_event.raw_event, runtime().settings)


def backend_caller() -> str:
    return audited_backend_principal(app.current_event.raw_event, runtime().settings.backend_principals)


def _now() -> int:
    return int(clock())


def _checked(value: str | None, pattern: re.Pattern[str], name: str) -> str | None:
    if value is not None and not pattern.fullmatch(value):
        raise Refusal(Reason.INVALID_QUERY, f"{name} is malformed")
    return value


def _record(file_id: str) -> FileRecord | None:
    if not FILE_ID.fullmatch(file_id):
        return None
    return runtime().files.get(file_id)


def _backend_fields(record: FileRecord) -> dict[str, Any]:
    owner: dict[str, str] = {"sub": record.owner_sub}
    if record.owner_org_id is not None:
        owner["org_id"] = record.owner_org_id
    return {**record.public(), "owner": owner}


def _page(streams: Iterable[Iterable[Item]], *, admit: Callable[[FileRecord], bool], limit: int, scope: str,
          key: bytes) -> tuple[list[FileRecord], str | None]:
    page = assemble_page(merge_newest_first(*streams), admit=admit, limit=limit)
    cursor = encode_cursor(key, boundary=page.next_boundary, scope=scope) if page.next_boundary else None
    return list(page.records), cursor


def list_own(identity: Identity) -> Response[dict[str, Any]]:
    state = runtime()
    params = query("rule", "limit", "cursor")
    rule = _checked(params.get("rule"), RULE_NAME, "rule")
    limit = parse_limit(params.get("limit"))
    audit = current_audit()
    audit.rule = rule
    org = identity.org_id if usable_claim(identity.org_id) else None
    org_listed = org is not None and any(
        candidate.org_scoped and candidate.admits(identity.groups) for candidate in state.rules.values())
    scope = scope_digest(channel="user", subject=identity.sub, org=org if org_listed and org else "", rule=rule or "")
    key = state.cursor_key()
    before = decode_cursor(key, params["cursor"], scope=scope) if "cursor" in params else None
    now = _now()
    streams = [state.files.stream(OWNER_INDEX, identity.sub, before=before, rule=rule, page_size=limit + 1)]
    if org_listed and org:
        streams.append(state.files.stream(ORG_INDEX, org, before=before, rule=rule, page_size=limit + 1))
    records, cursor = _page(streams, admit=lambda record: may_read(record, state.rules, identity, now=now),
                            limit=limit, scope=scope, key=key)
    return success(200, {"files": [record.public() for record in records], "next_cursor": cursor})


def list_backend() -> Response[dict[str, Any]]:
    state = runtime()
    params = query("owner", "org", "rule", "limit", "cursor")
    owner = _checked(params.get("owner"), QUERY_VALUE, "owner")
    org = _checked(params.get("org"), QUERY_VALUE, "org")
    rule = _checked(params.get("rule"), RULE_NAME, "rule")
    if (owner is None) == (org is None):
        raise Refusal(Reason.INVALID_QUERY, "name exactly one of owner or org")
    limit = parse_limit(params.get("limit"))
    audit = current_audit()
    audit.rule, audit.owner_sub, audit.owner_org_id = rule, owner, org
    scope = scope_digest(channel="backend", subject=owner or "", org=org or "", rule=rule or "")
    key = state.cursor_key()
    before = decode_cursor(key, params["cursor"], scope=scope) if "cursor" in params else None
    now = _now()
    index, partition = (OWNER_INDEX, owner) if owner is not None else (ORG_INDEX, org)
    assert partition is not None
    stream = state.files.stream(index, partition, before=before, rule=rule, page_size=limit + 1)
    records, cursor = _page([stream], admit=lambda record: visible(record, now=now), limit=limit, scope=scope,
                            key=key)
    return success(200, {"files": [_backend_fields(record) for record in records], "next_cursor": cursor})


def read_file(file_id: str, identity: Identity) -> Response[dict[str, Any]]:
    state = runtime()
    query()
    record = _record(file_id)
    if record is None or not may_read(record, state.rules, identity, now=_now()):
        raise Refusal(Reason.NO_SUCH_FILE, _NOT_FOUND)
    audit = current_audit()
    audit.rule, audit.key, audit.file_id = record.rule, record.key, record.file_id
    return success(200, record.public())


def read_backend_file(file_id: str) -> Response[dict[str, Any]]:
    query()
    record = _record(file_id)
    if record is None or not visible(record, now=_now()):
        raise Refusal(Reason.NO_SUCH_FILE, _NOT_FOUND)
    audit = current_audit()
    audit.rule, audit.key, audit.file_id = record.rule, record.key, record.file_id
    audit.owner_sub, audit.owner_org_id = record.owner_sub, record.owner_org_id
    return success(200, _backend_fields(record))


_LIST_DESCRIPTION = (
    "Newest first. Query: `rule` (only that rule's files), `limit` (default 50, at most 100), `cursor` (the "
    "previous page's `next_cursor`: valid only for the same listing). Unknown or repeated parameters are 400.")


@app.get(
    "/files", operation_id="listFiles", tags=["files"], security=[{"jwt": []}],
    summary="The caller's files, and its org's (newest first, paginated)",
    description=_LIST_DESCRIPTION + " Awaiting uploads whose POST expired are not listed.",
    responses={200: success_response(FileListResponse, "One page of files"),
               **error_responses(base=FILE_LIST_ERRORS)},
)
def list_files() -> Response[dict[str, Any]]:
    return list_own(caller())


@app.get(
    "/files/<file_id>", operation_id="getFile", tags=["files"], security=[{"jwt": []}],
    summary="A file's record and verification status (its owner only)",
    description="`status` moves `awaiting_upload` → `verifying` → `clean` | `rejected`; a rejected file has a "
                "`reason`. Anyone but the owner gets 404, as for an unknown id.",
    responses={200: success_response(FileResponse, "The file's public fields"),
               **error_responses(base=FILE_READ_ERRORS)},
)
def get_file(file_id: Annotated[str, PathParameter("The id `POST /uploads` returned")]
             ) -> Response[dict[str, Any]]:
    return read_file(file_id, caller())


@app.get(
    "/backend/files", operation_id="listBackendFiles", tags=["backend"], security=[{"iam": []}],
    summary="One owner's or one org's files, with their owners (trusted servers, IAM-authorised)",
    description="Exactly one of `owner` (a user's `sub`) or `org` (an `org_id`). " + _LIST_DESCRIPTION,
    responses={200: success_response(BackendFileListResponse, "One page of files"), **error_responses(400)},
)
def list_backend_files() -> Response[dict[str, Any]]:
    backend_caller()
    return list_backend()


@app.get(
    "/backend/files/<file_id>", operation_id="getBackendFile", tags=["backend"], security=[{"iam": []}],
    summary="Any file's record, with its owner (trusted servers, IAM-authorised)",
    responses={200: success_response(BackendFileResponse, "The file's fields and owner"), **error_responses(404)},
)
def get_backend_file(file_id: Annotated[str, PathParameter("The file's id")]) -> Response[dict[str, Any]]:
    backend_caller()
    return read_backend_file(file_id)


def _backend_principals() -> tuple[str, ...]:
    return runtime().settings.backend_principals


def _origin() -> OriginSecret:
    return runtime().origin


handler = lambda_entry_point(app, backend_principals=_backend_principals, origin=_origin)
"""Lambda entry point."""


after_restore(runtime)  # SnapStart: each restored environment rebuilds what init built (snapshot.py)

if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):  # build the client during the init phase
    app.prepare()
    runtime()
