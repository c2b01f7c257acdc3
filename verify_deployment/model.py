"""What the checks work with: the ``Target`` (everything a check needs to reach a deployment),
the ``Result`` of one check, and the redaction every detail goes through.

No check prints or returns a secret: a detail never carries credentials, form fields or a signed
URL's query string (``redact`` removes the query of every URL in a text, so a URL that slipped
into an exception message loses its signature before anything shows it).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import requests

    from stacks.config import EnvironmentConfig

#: The checks, in the contract's order (docs/deployment.md); the names are the contract's.
S3_PRESIGNED_GET_REFUSED = "s3-presigned-get-refused"
S3_ANONYMOUS_GET_REFUSED = "s3-anonymous-get-refused"
EDGE_UNSIGNED_PRIVATE_REFUSED = "edge-unsigned-private-refused"
EDGE_PUBLIC_HEADERS = "edge-public-headers"
EDGE_TLS_BELOW_12_REFUSED = "edge-tls-below-1.2-refused"
WAF_BLOCKS = "waf-blocks"
ROUND_TRIP = "round-trip"
CHECK_NAMES: tuple[str, ...] = (
    S3_PRESIGNED_GET_REFUSED, S3_ANONYMOUS_GET_REFUSED, EDGE_UNSIGNED_PRIVATE_REFUSED, EDGE_PUBLIC_HEADERS,
    EDGE_TLS_BELOW_12_REFUSED, WAF_BLOCKS, ROUND_TRIP,
)

#: Exit codes: every check passed or was skipped; a check failed; the command line or the
#: target's configuration is wrong (nothing was checked).
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

#: Any http(s) URL with a query string: the query (a signature, a policy, credentials) goes.
_URL_WITH_QUERY = re.compile(r"(?P<base>\bhttps?://[^\s?#'\"<>]+)\?[^\s#'\"<>]*", re.IGNORECASE)
REDACTED = "<redacted>"
#: Longest detail printed (an exception's message can be long).
MAX_DETAIL_CHARS = 600


def redact(text: str) -> str:
    """``text`` with the query string of every URL replaced by ``<redacted>``, shortened to
    ``MAX_DETAIL_CHARS``: what a detail may show of a signed or presigned URL is its path."""
    cleaned = _URL_WITH_QUERY.sub(lambda match: f"{match.group('base')}?{REDACTED}", text)
    cleaned = " ".join(cleaned.split())  # one line per check: no newline inside a detail
    if len(cleaned) > MAX_DETAIL_CHARS:
        cleaned = cleaned[:MAX_DETAIL_CHARS - 3] + "..."
    return cleaned


def url_path(url: str) -> str:
    """A URL without its query string (the part of a signed URL a detail may name)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


class ConfigurationError(Exception):
    """The target cannot be built (a missing output, an unreadable file, no credentials): exit 2."""


class Status(StrEnum):
    PASS = "PASS"  # noqa: S105 - a status, not a password
    FAIL = "FAIL"
    SKIP = "SKIP"


@dataclass(frozen=True)
class Result:
    """One check's outcome; ``detail`` is redacted when the result is made."""

    name: str
    status: Status
    detail: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "detail", redact(self.detail))

    def line(self) -> str:
        """The printed line: ``PASS <check>: <detail>`` (``FAIL``, ``SKIP`` likewise)."""
        return f"{self.status.value} {self.name}: {self.detail}"


def passed(name: str, detail: str) -> Result:
    return Result(name, Status.PASS, detail)


def failed(name: str, detail: str) -> Result:
    return Result(name, Status.FAIL, detail)


def skipped(name: str, detail: str) -> Result:
    return Result(name, Status.SKIP, detail)


class Backend(Protocol):
    """How ``/backend/*`` calls are authorised: SigV4 (AWS) or the local backend key."""

    def request(self, method: str, path: str, body: Any = None) -> requests.Response:
        """``method`` ``{backend_api_url}{path}`` with ``body`` as JSON (None: no body)."""
        ...


@dataclass(frozen=True)
class Target:
    """Everything the checks need to reach one deployment (AWS) or one local mode."""

    kind: Literal["aws", "local"]
    env: str
    config: EnvironmentConfig
    #: The frontend's base (``ApiUrl``: ``https://<files domain>/api``, through the edge and its WAF).
    api_url: str
    #: The backend's base (``BackendApiUrl``: execute-api itself; ``/backend/*`` is added).
    backend_api_url: str
    #: Where files are served (``DownloadBaseUrl``: the distribution or the files domain).
    download_base_url: str
    bucket: str
    region: str
    backend: Backend
    #: An S3 client with the caller's own credentials (AWS: those the verifier started with,
    #: before it assumed its role; local: the bucket owner's keys).
    operator_s3: Callable[[], Any]
    #: An S3 client that signs nothing (anonymous requests).
    anonymous_s3: Callable[[], Any]
    #: Upper bound on each wait (a file becoming clean, an erasure finishing).
    wait_seconds: float = 300.0
    #: Upper bound on the wait for a deleted file's signed URL to be refused at the edge.
    revocation_wait_seconds: float = 120.0
    #: Seconds between polls (grows up to ``max_poll_seconds``).
    poll_seconds: float = 0.2
    max_poll_seconds: float = 2.0
    #: HTTP timeout per request.
    http_timeout: float = 30.0
    #: The TLS check's host and port (None: derived from the download base and ``domain``).
    tls_host: str | None = None
    tls_port: int = 443
    #: What the target was built from (printed nowhere secret: a path, a stack name).
    source: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def files_host(self) -> str:
        """The download base's host name (the files domain, or the distribution's domain)."""
        return urlsplit(self.download_base_url).hostname or ""

    @property
    def domain(self) -> str | None:
        """The configured files domain (``EnvironmentConfig.domain``), if any."""
        return self.config.domain.domain_name if self.config.domain is not None else None
