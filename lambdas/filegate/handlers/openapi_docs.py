"""OpenAPI response declarations shared by the routes (plain data: nothing OpenAPI is built at run time)."""

from __future__ import annotations

from typing import Any

from filegate.handlers.models import ErrorResponse

#: One OpenAPI response as Powertools' resolver takes it (``filegate.openapi`` hands these over).
OpenAPIResponse = dict[str, Any]

#: ``GET /files/{file_id}`` never answers 403: a file's existence never leaks.
FILE_READ_ERRORS = (401, 404, 503)
#: ``GET /files``: 400 for a bad query or cursor; never 403 (a caller lists only what it may see).
FILE_LIST_ERRORS = (400, 401, 503)

_ERRORS = {
    400: "Invalid request (`invalid_request`)",
    401: "No verified identity (`unauthenticated`)",
    403: "No rule allows it (`not_allowed`); on `/backend/` routes, an IAM caller that is not a listed "
         "backend principal (`backend_not_allowed`); for a download, the file was rejected by verification "
         "(`rejected`)",
    404: "No such file or erasure (`not_found`): no record of it, or (user routes) not one the caller may see",
    409: "The file is not verified yet, or being verified (`not_ready`); retry later. For uploads: the owner's "
         "quota for the rule is used up (`quota_exceeded`)",
    413: "Declared size over the rule's maximum (`payload_too_large`)",
    415: "Content type not allowed by the rule (`unsupported_media_type`)",
    503: "A dependency (signing, file records, the edge, storage) is unavailable; retry (`temporarily_unavailable`)",
}


def success_response(model: type[Any], description: str) -> OpenAPIResponse:
    return {"description": description, "content": {"application/json": {"model": model}}}


def error_responses(*extra: int, base: tuple[int, ...] = (400, 401, 403, 503)) -> dict[int, OpenAPIResponse]:
    codes = sorted({*base, *extra})
    return {code: {"description": _ERRORS[code], "content": {"application/json": {"model": ErrorResponse}}}
            for code in codes}
