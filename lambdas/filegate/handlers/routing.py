"""The API handlers' router: a route table matched by method and path, request bodies validated
by their pydantic models, replies built as API Gateway HTTP API (payload 2.0) responses.

Why not Powertools' ``APIGatewayHttpResolver`` at run time: with ``enable_validation`` it costs
most of a download mint (its OpenAPI validation middleware and dependency resolution ran about
10x the rest of the handler, benchmarks/results/minting.json ``hot_path_*``), and importing it
builds Powertools' pydantic OpenAPI models in every cold start. What it did for a request is
small: match a route, validate a body against its model, call the route, serialize the reply.
That is done here, with Powertools' own path rules (``<name>`` segments, static routes before
dynamic ones, first match wins) and the same validation (the model's ``model_validate`` on the
parsed JSON, as its ``TypeAdapter`` did).

The routes keep their OpenAPI metadata (``Route.openapi``): ``filegate.openapi`` registers them
on Powertools' resolver, which still writes the document, offline and never in a Lambda.
"""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.shared.cookies import Cookie
from pydantic import BaseModel, ValidationError

#: Powertools' dynamic segment (``/files/<file_id>``) and the characters it matches
#: (``aws_lambda_powertools.event_handler.api_gateway``: RFC 3986's safe set, its unsafe set, ``\w``).
_DYNAMIC_SEGMENT = re.compile(r"(<\w+>)")
_SEGMENT_CHARACTERS = r"-._~()'!*:@,;=+&$" + r"%<> \[\]{}|^"
_NAMED_SEGMENT = rf"(?P\1[{_SEGMENT_CHARACTERS}\\w]+)"
_compact_json = json.JSONEncoder(separators=(",", ":")).encode
#: Characters ``json`` (``ensure_ascii``) escapes (as ``\u007f``, ``\u00e9``...) but pydantic-core writes as they are.
_ESCAPED_BY_JSON = re.compile(r"[^\x20-\x7e]")


@dataclass
class Response[T]:
    """What a route returns: status, headers, a JSON body (a model, a dict or None) and cookies."""

    status_code: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    cookies: list[Cookie] = field(default_factory=list)


@dataclass(frozen=True)
class PathParameter:
    """``Annotated[str, PathParameter("...")]``: a path segment's OpenAPI description."""

    description: str


@dataclass(frozen=True)
class Route:
    """One route: where it is, what it calls, its body model, and its OpenAPI metadata."""

    method: str
    path: str
    function: Callable[..., Response[Any]]
    body: type[BaseModel] | None
    pattern: re.Pattern[str] | None
    openapi: Mapping[str, Any]


class InvalidBody(ValueError):
    """A request body its route's model refuses; ``errors`` as pydantic lists them."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("invalid request body")
        self.details = errors

    def errors(self) -> list[dict[str, Any]]:
        return self.details


class RouteNotFound(LookupError):
    """No route has this method and path."""


class CurrentEvent:
    """The event being served (``Router.current_event.raw_event``, as Powertools names it)."""

    def __init__(self, raw_event: dict[str, Any]) -> None:
        self.raw_event = raw_event


class Router:
    """Routes declared with ``@router.post(path, **openapi)``; ``resolve`` serves one event.

    A route function's ``body`` parameter (annotated with a pydantic model) receives the validated
    body; its other parameters are path segments. Exceptions are left to the caller
    (``filegate.handlers.common.serve`` shapes every one into an answer).
    """

    def __init__(self) -> None:
        self.routes: list[Route] = []
        self._static: dict[tuple[str, str], Route] = {}
        self._dynamic: list[Route] = []
        # Per request: a context variable, so that requests served on threads (the local mode) never
        # see each other's event; Lambda serves one at a time.
        self._event: ContextVar[CurrentEvent | None] = ContextVar(f"router_event_{id(self)}", default=None)

    def route(self, method: str, path: str, **openapi: Any) -> Callable[[Callable[..., Response[Any]]],
                                                                       Callable[..., Response[Any]]]:
        def register(function: Callable[..., Response[Any]]) -> Callable[..., Response[Any]]:
            hints = typing.get_type_hints(function)
            body = hints.get("body")
            if body is not None and not (isinstance(body, type) and issubclass(body, BaseModel)):
                raise TypeError(f"{function.__name__}: body must be annotated with a pydantic model")
            dynamic = _DYNAMIC_SEGMENT.search(path) is not None
            pattern = re.compile("^" + _DYNAMIC_SEGMENT.sub(_NAMED_SEGMENT, path) + "$") if dynamic else None
            route = Route(method=method.upper(), path=path, function=function, body=body, pattern=pattern,
                          openapi=openapi)
            self.routes.append(route)
            if dynamic:
                self._dynamic.append(route)
            elif (route.method, path) not in self._static:
                self._static[(route.method, path)] = route
            return function
        return register

    def post(self, path: str, **openapi: Any) -> Callable[[Callable[..., Response[Any]]],
                                                          Callable[..., Response[Any]]]:
        return self.route("POST", path, **openapi)

    def get(self, path: str, **openapi: Any) -> Callable[[Callable[..., Response[Any]]],
                                                         Callable[..., Response[Any]]]:
        return self.route("GET", path, **openapi)

    def delete(self, path: str, **openapi: Any) -> Callable[[Callable[..., Response[Any]]],
                                                            Callable[..., Response[Any]]]:
        return self.route("DELETE", path, **openapi)

    def prepare(self) -> None:
        """Build the validators of this router's body models now (the init phase, which SnapStart
        snapshots) rather than on their first request; models no route here uses stay unbuilt."""
        for route in self.routes:
            if route.body is not None:
                route.body.model_rebuild(force=True)

    @property
    def current_event(self) -> CurrentEvent:
        event = self._event.get()
        if event is None:
            raise RuntimeError("no request in progress")
        return event

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        """The route for ``method`` and ``path`` and its path segments; ``RouteNotFound`` if none."""
        method = method.upper()
        static = self._static.get((method, path))
        if static is not None:
            return static, {}
        for route in self._dynamic:
            if route.method == method and route.pattern is not None:
                matched = route.pattern.match(path)
                if matched:
                    return route, matched.groupdict()
        raise RouteNotFound(f"{method} {path}")

    def call(self, route: Route, arguments: dict[str, str], event: dict[str, Any], body: Any) -> Response[Any]:
        """Call ``route`` (from ``match``) with its path ``arguments`` and ``body`` (parsed JSON,
        None when absent), validated by the route's model."""
        kwargs: dict[str, Any] = dict(arguments)
        if route.body is not None:
            kwargs["body"] = validated_body(route.body, body)
        token = self._event.set(CurrentEvent(event))
        try:
            return route.function(**kwargs)
        finally:
            self._event.reset(token)


def validated_body(model: type[BaseModel], body: Any) -> BaseModel:
    """``body`` as ``model``, or ``InvalidBody`` with pydantic's errors (a missing body is
    ``missing``, as Powertools reported it)."""
    if body is None:
        raise InvalidBody([{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}])
    try:
        return model.model_validate(body)
    except ValidationError as error:
        raise InvalidBody([dict(detail) for detail in error.errors(include_url=False)]) from None


def encoded_body(body: Any) -> str:
    """The reply's JSON text: a model as ``model_dump(mode="json", by_alias=True)``, as Powertools'
    ``jsonable_encoder`` wrote it, compact; no body (a 204) is empty."""
    if body is None:
        return ""
    if isinstance(body, BaseModel):
        # The model's own serializer writes the same text several times faster whenever that text
        # is printable ASCII (what ``json`` escapes, it escapes alike); anything else, as before.
        text: str = body.__pydantic_serializer__.to_json(body, by_alias=True).decode()
        if _ESCAPED_BY_JSON.search(text) is None:
            return text
        body = body.model_dump(mode="json", by_alias=True)
    return _compact_json(body)


def http_response(response: Response[Any]) -> dict[str, Any]:
    """The payload 2.0 response API Gateway expects."""
    return {
        "statusCode": response.status_code,
        "body": encoded_body(response.body),
        "isBase64Encoded": False,
        "headers": dict(response.headers),
        "cookies": [str(cookie) for cookie in response.cookies],
    }
