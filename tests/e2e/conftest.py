"""End-to-end fixtures: one local mode per test session, started and stopped here.

The session fixture starts ``python -m local`` on free ports in a temporary data folder, waits
for ``endpoints.json`` (the tooling contract of DESIGN.md decision 8), and on teardown sends
SIGTERM and checks that every process it started is gone. To iterate quickly against a local
mode that is already running, set ``FILEGATE_LOCAL_DATA_DIR`` to its data folder (e.g.
``.local``): the tests then use it and leave it running.

Every API response is checked against docs/openapi.json (``tests/e2e/contract.py``): the
session wraps ``requests.Session.send``, and the browser tests pass their pages to
``watch_page``. A response that does not match fails the test that received it (at teardown) and
the session; the terminal summary shows how many were validated, and a session that started the
local mode but validated none fails too, so the check cannot be silently inert.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config

from local.launcher import LaunchError, launched, load
from tests.e2e.contract import ContractCheck

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
START_TIMEOUT = 180


@functools.cache
def _s3_client(endpoint: str, region: str, access_key: str, secret_key: str) -> Any:
    """One client per S3 user (building a boto3 client costs tens of milliseconds)."""
    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint, region_name=region, aws_access_key_id=access_key,
        aws_secret_access_key=secret_key, config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))


@dataclass(frozen=True)
class Local:
    """What a test needs to drive the local mode."""

    endpoints: dict[str, Any]
    runtime: dict[str, Any]
    data_dir: Path

    @property
    def api(self) -> str:
        """What a frontend uses: the edge's ``/api`` (docs/front-door.md)."""
        return str(self.endpoints["api"])

    @property
    def backend_api(self) -> str:
        """The local API's stage ``api`` itself: ``/backend/*`` (the backend key for SigV4); user
        routes here need the origin header the edge adds."""
        return str(self.endpoints["backend_api"])

    @property
    def edge(self) -> str:
        return str(self.endpoints["edge"])

    @property
    def s3_url(self) -> str:
        return str(self.endpoints["s3"])

    @property
    def issuer(self) -> str:
        return str(self.endpoints["issuer"])

    @property
    def bucket(self) -> str:
        return str(self.endpoints["bucket"])

    @property
    def region(self) -> str:
        return str(self.endpoints["region"])

    @property
    def demo(self) -> str:
        return str(self.endpoints["demo"])

    def token(self, **claims: Any) -> str:
        response = requests.post(f"{self.issuer}/token", json=claims, timeout=10)
        response.raise_for_status()
        return str(response.json()["access_token"])

    def s3(self, access_key: str, secret_key: str) -> Any:
        return _s3_client(self.s3_url, self.region, access_key, secret_key)

    @property
    def uploader_s3(self) -> Any:
        return self.s3(self.runtime["uploader_access_key"], self.runtime["uploader_secret_key"])

    @property
    def edge_s3(self) -> Any:
        return self.s3(self.runtime["edge_access_key"], self.runtime["edge_secret_key"])

    @property
    def s3_users(self) -> dict[str, dict[str, str]]:
        """Every S3 user the local mode hands out, by role (admin, uploader, edge, scanner, verifier)."""
        return dict(self.runtime["s3_users"])

    def s3_as(self, role: str) -> Any:
        user = self.runtime["s3_users"][role]
        return self.s3(user["access_key"], user["secret_key"])

    @property
    def verifier_s3(self) -> Any:
        """The verifier's user: the only one that writes final keys."""
        return self.s3_as("verifier")

    @property
    def events_url(self) -> str:
        return str(self.endpoints["events"])

    @property
    def scanner_url(self) -> str:
        return str(self.endpoints["scanner"])


# --- the OpenAPI contract check (tests/e2e/contract.py) ---------------------------------------

CONTRACT = ContractCheck.load()
_original_send = requests.Session.send


def _checked_send(self: requests.Session, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
    response = _original_send(self, request, **kwargs)
    if CONTRACT.base_of(str(request.url)) is not None:
        body = request.body.encode() if isinstance(request.body, str) else request.body
        CONTRACT.check(method=str(request.method), url=str(request.url), request_headers=dict(request.headers),
                       request_body=body if isinstance(body, bytes) else None, status=response.status_code,
                       headers=dict(response.headers), body=response.content)
    return response


def watch_page(page: Any) -> None:
    """Check every response a Playwright page receives from the API against the document."""

    def on_response(response: Any) -> None:
        request = response.request
        if CONTRACT.base_of(response.url) is None:
            return
        try:
            body = b"" if request.method == "HEAD" else response.body()
        except Exception as error:  # a body Chromium no longer holds is a failure, not a skip
            body = f"<body unavailable: {error}>".encode()
        CONTRACT.check(method=request.method, url=response.url, request_headers=request.headers,
                       request_body=request.post_data_buffer, status=response.status,
                       headers=[(header["name"], header["value"]) for header in response.headers_array()],
                       body=body)

    page.on("response", on_response)


def pytest_configure(config: pytest.Config) -> None:
    requests.Session.send = _checked_send  # type: ignore[method-assign]


def pytest_unconfigure(config: pytest.Config) -> None:
    requests.Session.send = _original_send  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _responses_match_the_document() -> Iterator[None]:
    """Fails the test during which an API response did not match docs/openapi.json."""
    before = len(CONTRACT.failures)
    yield
    new = CONTRACT.failures[before:]
    if new:
        pytest.fail("API responses that do not match docs/openapi.json:\n" + "\n".join(new), pytrace=False)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if not CONTRACT.used:
        return
    terminalreporter.write_sep("-", "OpenAPI contract")
    terminalreporter.write_line(CONTRACT.summary())
    for failure in CONTRACT.failures[:20]:
        terminalreporter.write_line(f"  {failure}")
    if CONTRACT.total == 0:
        terminalreporter.write_line("  no API response was validated: the contract hook is inert (session failed)")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if CONTRACT.used and (CONTRACT.failures or CONTRACT.total == 0):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# --- the local mode ---------------------------------------------------------------------------

def _register(local: Local) -> Local:
    CONTRACT.register(local.api, local.backend_api)
    CONTRACT.used = True
    return local


@pytest.fixture(scope="session")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Local]:
    existing = os.environ.get("FILEGATE_LOCAL_DATA_DIR")
    if existing:
        run = load(Path(existing).resolve())
        yield _register(Local(endpoints=run.endpoints, runtime=run.runtime, data_dir=run.data_dir))
        return
    # Given a local mode of our own, on free ports, in a fresh data folder
    data_dir = tmp_path_factory.mktemp("filegate-local")
    try:
        with launched(data_dir, timeout=START_TIMEOUT) as run:
            yield _register(Local(endpoints=run.endpoints, runtime=run.runtime, data_dir=run.data_dir))
    except LaunchError as error:
        pytest.fail(str(error))
    # Then stopping it stops every process it started, and takes endpoints.json away
    assert not run.leftovers, f"processes left running after local mode stopped: {run.leftovers}"
    assert not (data_dir / "endpoints.json").exists(), "endpoints.json must go when local mode stops"


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
