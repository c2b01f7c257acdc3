"""``GET /files/{file_id}`` (JWT): a file record's public fields and status, for its owner only.

Deployed as ``filegate.handlers.files.handler``. The owner is the identity whose claims put the
record's key inside the record's rule (``records.owned_by``); anyone else, an unknown id and a
malformed id all get the same 404 ``not_found``, never a 403: whether a file exists never leaks.
Its role may only ``dynamodb:GetItem`` the files table.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any

import boto3
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path

from filegate.adapters.dependency_config import dependency_config
from filegate.adapters.files_table import FilesTable
from filegate.domain.errors import ErrorCode, Reason, Refusal
from filegate.domain.identity import Identity
from filegate.domain.quarantine import FILE_ID
from filegate.domain.records import owned_by
from filegate.domain.rules import Rule
from filegate.handlers.common import current_audit, identify, lambda_entry_point, new_resolver, success
from filegate.handlers.models import FileResponse
from filegate.handlers.openapi_docs import FILE_READ_ERRORS, error_responses, success_response
from filegate.settings import Settings

app = new_resolver()
#: Every answer for a file that is not the caller's to see: one message, whatever the cause.
_NOT_FOUND = "no such file"


@dataclass(frozen=True)
class FilesRuntime:
    settings: Settings
    rules: dict[str, Rule]
    files: FilesTable


@lru_cache(maxsize=1)
def runtime() -> FilesRuntime:
    """Settings and the files table's client: built once per execution environment."""
    settings = Settings.from_environ()
    dynamodb = boto3.session.Session().client("dynamodb", region_name=settings.region, config=dependency_config())
    return FilesRuntime(settings=settings, rules=settings.rules_by_name,
                        files=FilesTable(dynamodb, settings.files_table))


def caller() -> Identity:
    """The token's caller (401 without one). A groups claim that cannot be read is a 404 here,
    not a 403: this route never says whether a file exists."""
    try:
        return identify(app.current_event.raw_event, runtime().settings)
    except Refusal as refusal:
        if refusal.code is ErrorCode.UNAUTHENTICATED:
            raise
        raise Refusal(Reason.NO_SUCH_FILE, _NOT_FOUND) from refusal


def read_file(file_id: str, identity: Identity) -> Response[dict[str, Any]]:
    state = runtime()
    if not FILE_ID.fullmatch(file_id):
        raise Refusal(Reason.NO_SUCH_FILE, _NOT_FOUND)
    record = state.files.get(file_id)
    if record is None or not owned_by(record, state.rules, identity):
        raise Refusal(Reason.NO_SUCH_FILE, _NOT_FOUND)
    audit = current_audit()
    audit.rule, audit.key = record.rule, record.key
    return success(200, record.public())


@app.get(
    "/files/<file_id>", operation_id="getFile", tags=["files"], security=[{"jwt": []}],
    summary="A file's record and verification status (its owner only)",
    description="`status` moves `awaiting_upload` → `verifying` → `clean` | `rejected`; a rejected file has a "
                "`reason`. Anyone but the owner gets 404, as for an unknown id.",
    responses={200: success_response(FileResponse, "The file's public fields"),
               **error_responses(base=FILE_READ_ERRORS)},
)
def get_file(file_id: Annotated[str, Path(description="The id `POST /uploads` returned")]
             ) -> Response[dict[str, Any]]:
    return read_file(file_id, caller())


def _no_backend_principals() -> tuple[str, ...]:
    return ()  # no /backend/ route here: an IAM caller only ever reaches "no such route"


handler = lambda_entry_point(app, backend_principals=_no_backend_principals)
"""Lambda entry point."""


if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):  # build the client during the init phase
    runtime()
