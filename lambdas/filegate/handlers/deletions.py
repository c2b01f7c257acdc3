"""Deleting files, revoking at the edge and erasing subjects (docs/lifecycle.md).

Deployed as ``filegate.handlers.deletions.handler``:

- ``DELETE /files/{file_id}`` (JWT): the owner deletes, where the rule allows ``delete``; 404 for
  anyone who may not see the file, 403 ``not_allowed`` for one who may see it but not delete it,
  409 ``not_ready`` while it is being verified. ``DELETE /backend/files/{file_id}`` (IAM): any file.
  Both run ``filegate.domain.lifecycle.delete_file`` and answer 204 (a tombstone too: a retry).
- ``POST /backend/revocations``: one key or prefix refused at the edge for ``urls.max_seconds``.
- ``POST /backend/erasures``: starts (or re-runs) the erasure of a ``sub`` or an ``org_id``; the
  erasure worker does the work. ``GET /backend/erasures/{erasure_id}``: its state and counts.

Every dependency failure is a 503 (each step is safe to repeat, so the client retries). The user
route is served through the front door (docs/front-door.md): without CloudFront's
``x-origin-verify`` value it is 403 ``origin_not_verified``; the backend routes ignore the header.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any

import boto3

from filegate.adapters.origin_secret import OriginSecret, origin_secret
from filegate.domain.errors import Reason, Refusal
from filegate.domain.identity import Identity
from filegate.domain.keys import well_formed_key, well_formed_prefix
from filegate.domain.lifecycle import (
    DeletedBy,
    Deletion,
    Erasure,
    delete_file,
    erasure_id,
    first_message,
    new_erasure,
    rerun,
    subject_of,
)
from filegate.domain.quarantine import FILE_ID
from filegate.domain.records import FileRecord, may_delete, may_read, visible
from filegate.domain.rules import Rule
from filegate.handlers.common import (
    audited_backend_principal,
    current_audit,
    identify_reader,
    lambda_entry_point,
    new_resolver,
    no_content,
    query,
    success,
)
from filegate.handlers.lifecycle_wiring import Lifecycle, build_lifecycle
from filegate.handlers.models import (
    MAX_REVOCATION_NAME_BYTES,
    MIN_REVOKED_PREFIX_SEGMENTS,
    ErasureAccepted,
    ErasureRequest,
    ErasureResponse,
    RevocationRequest,
    RevocationResponse,
)
from filegate.handlers.openapi_docs import error_responses, success_response
from filegate.handlers.routing import PathParameter, Response
from filegate.handlers.snapshot import after_restore
from filegate.settings import LifecycleSettings

app = new_resolver()
clock: Callable[[], float] = time.time
_NOT_FOUND = "no such file"
#: A running erasure whose chain made no progress for this long is re-sent by the next POST (its
#: message was lost: a send that failed after the item was written, a dead-lettered step). Above
#: the queue's whole retry budget (visibility 720 s x 5 receives = 3600 s), so a step still being
#: retried is not taken for lost. Even so a re-sent chain is harmless: it carries the item's
#: current ``seq``, and of two messages with one seq only the first step write wins; the other
#: chain stops (docs/lifecycle.md, "Erasure").
STALE_ERASURE_SECONDS = 2 * 3600
#: What ``POST /backend/erasures`` returns: anything else is 404 (the document's path pattern).
ERASURE_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class DeletionsRuntime:
    settings: LifecycleSettings
    rules: dict[str, Rule]
    lifecycle: Lifecycle
    origin: OriginSecret


@lru_cache(maxsize=1)
def runtime() -> DeletionsRuntime:
    """Settings, every lifecycle adapter and the origin secret's client: built once per execution environment."""
    settings = LifecycleSettings.from_environ()
    session = boto3.session.Session()
    return DeletionsRuntime(settings=settings, rules=settings.rules_by_name,
                            lifecycle=build_lifecycle(settings, session),
                            origin=origin_secret(session, settings.origin_secret, region=settings.region))


def _now() -> int:
    return int(clock())


def caller() -> Identity:
    return identify_reader(app.current_event.raw_event, runtime().settings)


def backend_caller() -> str:
    return audited_backend_principal(app.current_event.raw_event, runtime().settings.backend_principals)


def _delete(file_id: str, authorize: Callable[[FileRecord], None], deleted_by: DeletedBy) -> Response[Any]:
    state = runtime()
    query()
    audit = current_audit()
    if not FILE_ID.fullmatch(file_id):
        raise Refusal(Reason.NO_SUCH_FILE, _NOT_FOUND)
    audit.file_id = file_id
    lifecycle = state.lifecycle
    deletion: Deletion = delete_file(
        file_id, records=lifecycle.files, revocations=lifecycle.revocations, objects=lifecycle.objects,
        invalidations=lifecycle.invalidations, events=lifecycle.events, rules=state.rules, authorize=authorize,
        deleted_by=deleted_by, now=_now(), url_max_seconds=state.settings.url_max_seconds)
    record = deletion.record
    if record is not None:
        audit.key, audit.rule = record.key, record.rule
        audit.owner_sub, audit.owner_org_id = record.owner_sub, record.owner_org_id
    elif deletion.published is not None:  # a tombstone whose event a stopped delete left pending
        audit.key, audit.rule = str(deletion.published["key"]), str(deletion.published["rule"])
    return no_content()


def delete_own(file_id: str, identity: Identity) -> Response[Any]:
    rules = runtime().rules
    now = _now()

    def authorize(record: FileRecord) -> None:
        if not may_read(record, rules, identity, now=now):
            raise Refusal(Reason.NO_SUCH_FILE, _NOT_FOUND)
        if not may_delete(record, rules, identity):
            current_audit().rule = record.rule
            raise Refusal(Reason.ACTION_NOT_ALLOWED, f"rule {record.rule!r} does not allow delete")

    return _delete(file_id, authorize, "owner")


def delete_any(file_id: str) -> Response[Any]:
    now = _now()

    def authorize(record: FileRecord) -> None:
        if not visible(record, now=now):
            raise Refusal(Reason.NO_SUCH_FILE, _NOT_FOUND)

    return _delete(file_id, authorize, "backend")


def revoke(request: RevocationRequest) -> Response[RevocationResponse]:
    state = runtime()
    audit = current_audit()
    name = request.key if request.key is not None else request.prefix
    assert name is not None
    audit.key = name
    well_formed = well_formed_key(name) if request.key is not None else well_formed_prefix(name)
    if not well_formed or not name.startswith("private/") or len(name.encode()) > MAX_REVOCATION_NAME_BYTES:
        raise Refusal(Reason.INVALID_KEY, "a well-formed key or prefix (ending with '/') under private/ is required; "
                                          "public/ files are invalidated, not revoked")
    if request.prefix is not None and name.count("/") < MIN_REVOKED_PREFIX_SEGMENTS:
        # Nothing lifts a revocation before its `until`: `private/` or `private/users/` would close
        # every private download for the longest URL lifetime. Signing-key rotation is the tool for that.
        raise Refusal(Reason.INVALID_KEY, f"a revoked prefix needs at least {MIN_REVOKED_PREFIX_SEGMENTS} segments "
                                          "(e.g. private/users/<sub>/ or private/orgs/<org_id>/)")
    until = _now() + state.settings.url_max_seconds
    state.lifecycle.revocations.revoke([name], until=until)
    audit.expires_at = until
    return success(200, RevocationResponse(revoked=name, kind="key" if request.key is not None else "prefix",
                                           until=until))


def start_erasure(request: ErasureRequest, principal: str) -> Response[ErasureAccepted]:
    state = runtime()
    audit = current_audit()
    subject = subject_of(sub=request.sub, org_id=request.org_id)
    audit.erasure_id = erasure_id(subject)
    lifecycle = state.lifecycle
    now = _now()
    existing = lifecycle.erasures.get(audit.erasure_id)
    started: Erasure | None = None
    if existing is None:
        candidate = new_erasure(subject, requested_by=principal, now=now)
        started = candidate if lifecycle.erasures.create(candidate) else None
    elif existing.status == "done":
        candidate = rerun(existing, requested_by=principal, now=now)
        started = candidate if lifecycle.erasures.start_run(existing, candidate) else None
    elif existing.updated_at < now - STALE_ERASURE_SECONDS and lifecycle.erasures.touch(existing, now=now):
        started = existing  # its chain was lost: send its first step again (every step is safe to repeat)
    if started is not None:
        lifecycle.queue.send(first_message(started).as_dict())
    current = started or lifecycle.erasures.get(audit.erasure_id) or existing
    status = current.status if current is not None else "running"
    return success(202, ErasureAccepted(erasure_id=audit.erasure_id, status=status))


def read_erasure(erasure: str) -> Response[dict[str, Any]]:
    query()
    audit = current_audit()
    found = runtime().lifecycle.erasures.get(erasure) if ERASURE_ID.fullmatch(erasure) else None
    if found is None:
        raise Refusal(Reason.NO_SUCH_ERASURE, "no such erasure")
    audit.erasure_id = found.erasure_id
    return success(200, found.public())


@app.delete(
    "/files/<file_id>", operation_id="deleteFile", tags=["files"], security=[{"jwt": []}], status_code=204,
    summary="Delete one of the caller's files (where its rule allows delete)",
    description="Removes every stored version, drops cached copies and refuses every URL issued for it at the "
                "edge. 404 for anyone who may not see the file; 409 while it is being verified. A repeat is a 204.",
    responses={204: {"description": "Deleted"}, **error_responses(404, 409)},
)
def delete_file_route(file_id: Annotated[str, PathParameter("The file's id")]) -> Response[Any]:
    return delete_own(file_id, caller())


@app.delete(
    "/backend/files/<file_id>", operation_id="deleteBackendFile", tags=["backend"], security=[{"iam": []}],
    status_code=204, summary="Delete any file (trusted servers, IAM-authorised; no rule check)",
    responses={204: {"description": "Deleted"}, **error_responses(404, 409)},
)
def delete_backend_file(file_id: Annotated[str, PathParameter("The file's id")]) -> Response[Any]:
    backend_caller()
    return delete_any(file_id)


@app.post(
    "/backend/revocations", operation_id="createRevocation", tags=["backend"], security=[{"iam": []}],
    summary="Refuse every request for a key or prefix at the edge, for the longest URL lifetime",
    responses={200: success_response(RevocationResponse, "Revoked"), **error_responses()},
)
def create_revocation(body: RevocationRequest) -> Response[RevocationResponse]:
    backend_caller()
    return revoke(body)


@app.post(
    "/backend/erasures", operation_id="createErasure", tags=["backend"], security=[{"iam": []}], status_code=202,
    summary="Erase every file and record of a user (`sub`) or an org (`org_id`)",
    description="One erasure per subject: asking again while it runs changes nothing; asking after it is done "
                "starts a new run, which erases whatever came back.",
    responses={202: success_response(ErasureAccepted, "Erasure running"), **error_responses()},
)
def create_erasure(body: ErasureRequest) -> Response[ErasureAccepted]:
    return start_erasure(body, backend_caller())


@app.get(
    "/backend/erasures/<erasure_id>", operation_id="getErasure", tags=["backend"], security=[{"iam": []}],
    summary="An erasure's state and cumulative counts",
    responses={200: success_response(ErasureResponse, "The erasure"), **error_responses(404)},
)
def get_erasure(erasure_id: Annotated[str, PathParameter("The id `POST /backend/erasures` returned")]
                ) -> Response[dict[str, Any]]:
    backend_caller()
    return read_erasure(erasure_id)


def _backend_principals() -> tuple[str, ...]:
    return runtime().settings.backend_principals


def _origin() -> OriginSecret:
    return runtime().origin


handler = lambda_entry_point(app, backend_principals=_backend_principals, origin=_origin)
"""Lambda entry point."""


after_restore(runtime)  # SnapStart: each restored environment rebuilds what init built (snapshot.py)

if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):  # build clients during the init phase
    app.prepare()
    runtime()
