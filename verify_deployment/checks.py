"""The checks (docs/deployment.md, "The verifier"): one function per check, each returning a
``Result`` and never raising (an unexpected exception is a FAIL naming its type).

The round trip runs first, internally: it makes the private object the S3 and edge checks read
(``start_round_trip``), and ends after them (``finish_round_trip``: deletions, the signed URL
refused, the test identity erased). A check whose object the round trip could not make FAILs
saying so; nothing passes vacuously. ``run_checks`` runs them all in that order and hands each
result over in the contract's order.

Details name keys, statuses and error codes, never a credential, a form field or a signed URL's
query string (``model.redact``).
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import secrets
import socket
import ssl
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

import requests

from stacks.edge_headers import REMOVED_ORIGIN_HEADERS, SECURITY_HEADERS
from verify_deployment.model import (
    CHECK_NAMES,
    EDGE_PUBLIC_HEADERS,
    EDGE_TLS_BELOW_12_REFUSED,
    EDGE_UNSIGNED_PRIVATE_REFUSED,
    ROUND_TRIP,
    S3_ANONYMOUS_GET_REFUSED,
    S3_PRESIGNED_GET_REFUSED,
    WAF_BLOCKS,
    Result,
    Target,
    failed,
    passed,
    skipped,
    url_path,
)
from verify_deployment.samples import PRIVATE_PREFERENCE, PUBLIC_PREFERENCE, Sample, make_sample, same_content

if TYPE_CHECKING:
    from filegate.domain.rules import Rule
    from stacks.config import EnvironmentConfig

SUBJECT_PREFIX = "filegate-verify-"
DOWNLOAD_REASON = "deployment verification"
#: The WAF's answers (docs/front-door.md; ``filegate.domain.front_door.WAF_RESPONSES``).
BLOCKED = (403, "request_blocked")
TOO_LARGE = (413, "request_too_large")
#: How far past ``waf_api_max_body_bytes`` the oversized body goes.
OVERSIZE_MARGIN = 1024
TLS_TIMEOUT_SECONDS = 10.0
_CLAIM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_XML_CODE = re.compile(rb"<Code>([A-Za-z0-9.]{1,64})</Code>")
_SUPPORTED_CLAIMS = frozenset({"sub", "org_id"})


class StepFailed(Exception):
    """A round-trip step did not get the answer it needs (its message says which and why)."""


# --- the round trip's state -------------------------------------------------------------------


@dataclass
class StoredFile:
    """A file the verification run minted (its id is known from the mint on, for clean-up)."""

    file_id: str
    key: str
    rule: str
    sample: Sample
    clean: bool = False
    deleted: bool = False


@dataclass
class RoundTrip:
    """The synthetic subject and what the run made for it."""

    subject: str
    org_id: str | None = None
    private: StoredFile | None = None
    public: StoredFile | None = None
    signed_url: str | None = None
    #: Why the round trip did not complete (None: every step of the first part passed).
    failure: str | None = None
    steps: list[str] = field(default_factory=list)
    minted_any: bool = False

    @property
    def private_ready(self) -> bool:
        """Whether the private object is clean at its final key (what the S3 checks read)."""
        return self.private is not None and self.private.clean and not self.private.deleted

    def why_no_private(self) -> str:
        return f"no private object to test: the round trip failed before one was clean ({self.failure})"

    def on_behalf_of(self, rule: Rule) -> dict[str, Any]:
        subject: dict[str, Any] = {"sub": self.subject, "groups": list(rule.groups)}
        if "org_id" in template_claims(rule.key_template):
            subject["org_id"] = self.org_id
        return subject


def new_round_trip() -> RoundTrip:
    return RoundTrip(subject=f"{SUBJECT_PREFIX}{secrets.token_hex(8)}")


# --- small helpers ----------------------------------------------------------------------------


def guarded(name: str) -> Callable[[Callable[..., Result]], Callable[..., Result]]:
    """A check that never raises: an unexpected exception is a FAIL with its type and message."""

    def wrap(check: Callable[..., Result]) -> Callable[..., Result]:
        @functools.wraps(check)
        def run(*args: Any, **kwargs: Any) -> Result:
            try:
                return check(*args, **kwargs)
            except Exception as error:
                return failed(name, f"unexpected {type(error).__name__}: {error}")
        return run
    return wrap


def template_claims(template: str) -> set[str]:
    """The claims a key template names (``{file}`` is the server's, not a claim)."""
    return {name for name in _CLAIM.findall(template) if name != "file"}


def _rule_type(rule: Rule, preference: tuple[str, ...]) -> str | None:
    allowed = {content_type.lower() for content_type in rule.content_types}
    return next((content_type for content_type in preference if content_type in allowed), None)


def choose_rule(config: EnvironmentConfig, *, prefix: str, actions: set[str],
                preference: tuple[str, ...]) -> tuple[Rule, str] | None:
    """The first rule under ``prefix`` allowing ``actions`` whose template needs only ``sub`` and
    ``org_id`` and which takes a type the verifier can produce (rules that need no org first)."""
    candidates: list[tuple[int, int, int, Rule, str]] = []
    for index, rule in enumerate(config.rules):
        claims = template_claims(rule.key_template)
        content_type = _rule_type(rule, preference)
        if (not rule.key_template.startswith(prefix) or not actions <= set(rule.actions)
                or not claims <= _SUPPORTED_CLAIMS or content_type is None):
            continue
        candidates.append((int("org_id" in claims), preference.index(content_type), index, rule, content_type))
    if not candidates:
        return None
    _, _, _, rule, content_type = min(candidates, key=lambda item: item[:3])
    return rule, content_type


def private_rule(config: EnvironmentConfig) -> tuple[Rule, str] | None:
    return choose_rule(config, prefix="private/", actions={"upload", "download", "delete"},
                       preference=PRIVATE_PREFERENCE)


def public_rule(config: EnvironmentConfig) -> tuple[Rule, str] | None:
    return choose_rule(config, prefix="public/", actions={"upload", "delete"}, preference=PUBLIC_PREFERENCE)


def error_code(response: requests.Response) -> str:
    """What a refusal says, safely: our ``error.code``, API Gateway's ``message``, S3's XML
    ``<Code>``, else the content type and length (never a body that could echo a request)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("code"), str):
            return str(error["code"])
        if isinstance(body.get("message"), str):
            return repr(body["message"][:80])
    match = _XML_CODE.search(response.content[:4096])
    if match:
        return match.group(1).decode()
    kind = response.headers.get("Content-Type", "no content type").split(";")[0]
    return f"({kind}, {len(response.content)} bytes)"


def answer(response: requests.Response) -> str:
    return f"HTTP {response.status_code} {error_code(response)}"


def object_url(base: str, key: str) -> str:
    return f"{base.rstrip('/')}/{quote(key, safe='/~')}"


def poll(target: Target, fetch: Callable[[], Any], done: Callable[[Any], bool], *,
         seconds: float | None = None) -> tuple[Any, float, bool]:
    """Call ``fetch`` until ``done`` holds or the bound passes: (last value, seconds, done?)."""
    bound = target.wait_seconds if seconds is None else seconds
    started = time.monotonic()
    interval = target.poll_seconds
    while True:
        value = fetch()
        if done(value):
            return value, time.monotonic() - started, True
        if time.monotonic() - started >= bound:
            return value, time.monotonic() - started, False
        time.sleep(interval)
        interval = min(interval * 1.5, target.max_poll_seconds)


# --- uploads through the backend routes -------------------------------------------------------


def upload(target: Target, trip: RoundTrip, rule: Rule, content_type: str,
           keep: Callable[[StoredFile], None]) -> StoredFile:
    """Mint (``POST /backend/uploads`` on behalf of the subject), POST the form to S3 with a
    fresh sample, and wait (bounded) until the file is ``clean``; ``keep`` gets the file as soon
    as it is minted, so a failure later still leaves it for the clean-up."""
    sample = make_sample(content_type)
    response = target.backend.request("POST", "/backend/uploads", {
        "rule": rule.name, "content_type": content_type, "size": len(sample.data),
        "filename": sample.filename, "on_behalf_of": trip.on_behalf_of(rule)})
    if response.status_code != 201:
        raise StepFailed(f"POST /backend/uploads (rule {rule.name}): {answer(response)}, want 201")
    minted = response.json()
    stored = StoredFile(file_id=str(minted["file_id"]), key=str(minted["key"]), rule=rule.name, sample=sample)
    trip.minted_any = True
    keep(stored)
    form = requests.post(str(minted["url"]), data=dict(minted["fields"]),
                         files={"file": (sample.filename, sample.data, content_type)}, timeout=target.http_timeout)
    if form.status_code not in {200, 201, 204}:
        raise StepFailed(f"POST of the upload form to S3 ({url_path(str(minted['url']))}): {answer(form)}")

    def record() -> dict[str, Any]:
        got = target.backend.request("GET", f"/backend/files/{stored.file_id}")
        if got.status_code != 200:
            raise StepFailed(f"GET /backend/files/{stored.file_id}: {answer(got)}, want 200")
        return dict(got.json())

    last, seconds, decided = poll(target, record, lambda body: body.get("status") in {"clean", "rejected"})
    if not decided:
        raise StepFailed(f"file {stored.file_id} still {last.get('status')!r} after {seconds:.0f} s "
                         f"(bound {target.wait_seconds:.0f} s)")
    if last["status"] != "clean":
        raise StepFailed(f"file {stored.file_id} ({content_type}) was rejected: reason {last.get('reason')!r}")
    stored.clean = True
    trip.steps.append(f"{rule.name} ({content_type}, {len(sample.data)} bytes) clean in {seconds:.1f} s")
    return stored


def start_round_trip(target: Target, trip: RoundTrip | None = None) -> RoundTrip:
    """The round trip's first part: a private file uploaded, verified clean, downloaded through
    the edge with a signed URL and compared. Never raises: a failure is kept in ``failure``."""
    trip = trip or new_round_trip()
    choice = private_rule(target.config)
    if choice is None:
        trip.failure = (f"the {target.env} config has no rule under private/ allowing upload, download and delete "
                        f"with a template of sub/org_id and a type of {', '.join(PRIVATE_PREFERENCE)}")
        return trip
    rule, content_type = choice
    if "org_id" in template_claims(rule.key_template):
        trip.org_id = f"{SUBJECT_PREFIX}org-{secrets.token_hex(6)}"
    try:
        stored = upload(target, trip, rule, content_type, keep=lambda file: setattr(trip, "private", file))
        viewer: dict[str, Any] = {"sub": trip.subject}
        if trip.org_id:
            viewer["org_id"] = trip.org_id
        minted = target.backend.request("POST", "/backend/downloads",
                                        {"key": stored.key, "viewer": viewer, "reason": DOWNLOAD_REASON})
        if minted.status_code != 200:
            raise StepFailed(f"POST /backend/downloads: {answer(minted)}, want 200")
        trip.signed_url = str(minted.json()["url"])
        served = requests.get(trip.signed_url, timeout=target.http_timeout)
        if served.status_code != 200:
            raise StepFailed(f"signed GET of {stored.key} through the edge: {answer(served)}, want 200")
        same, how = same_content(content_type, served.content, stored.sample.data)
        if not same:
            raise StepFailed(f"signed GET of {stored.key} through the edge: {how}")
        trip.steps.append(f"served through the edge with a signed URL, {how}")
    except StepFailed as error:
        trip.failure = str(error)
    except Exception as error:
        trip.failure = f"unexpected {type(error).__name__}: {error}"
    return trip


# --- the S3 and edge checks on the private object ---------------------------------------------


@guarded(S3_PRESIGNED_GET_REFUSED)
def s3_presigned_get_refused(target: Target, trip: RoundTrip) -> Result:
    """A presigned GET of the private object, made with the caller's own credentials: 403."""
    if not trip.private_ready or trip.private is None:
        return failed(S3_PRESIGNED_GET_REFUSED, trip.why_no_private())
    key = trip.private.key
    url = target.operator_s3().generate_presigned_url(
        "get_object", Params={"Bucket": target.bucket, "Key": key}, ExpiresIn=300)
    response = requests.get(url, timeout=target.http_timeout)
    if response.status_code == 403:
        return passed(S3_PRESIGNED_GET_REFUSED, f"presigned GET of s3://{target.bucket}/{key} with the caller's "
                                                f"own credentials: {answer(response)}")
    served = " and served the object" if response.status_code == 200 else ""
    return failed(S3_PRESIGNED_GET_REFUSED, f"presigned GET of s3://{target.bucket}/{key} with the caller's own "
                                            f"credentials: {answer(response)}{served}, want 403")


@guarded(S3_ANONYMOUS_GET_REFUSED)
def s3_anonymous_get_refused(target: Target, trip: RoundTrip) -> Result:
    """An unsigned GET of the private object straight from S3: 403."""
    if not trip.private_ready or trip.private is None:
        return failed(S3_ANONYMOUS_GET_REFUSED, trip.why_no_private())
    key = trip.private.key
    url = target.anonymous_s3().generate_presigned_url("get_object", Params={"Bucket": target.bucket, "Key": key})
    response = requests.get(url, timeout=target.http_timeout)
    if response.status_code == 403:
        return passed(S3_ANONYMOUS_GET_REFUSED, f"unsigned GET of s3://{target.bucket}/{key}: {answer(response)}")
    served = " and served the object" if response.status_code == 200 else ""
    return failed(S3_ANONYMOUS_GET_REFUSED,
                  f"unsigned GET of s3://{target.bucket}/{key}: {answer(response)}{served}, want 403")


@guarded(EDGE_UNSIGNED_PRIVATE_REFUSED)
def edge_unsigned_private_refused(target: Target, trip: RoundTrip) -> Result:
    """An unsigned GET of the private key through the download base: 403."""
    if not trip.private_ready or trip.private is None:
        return failed(EDGE_UNSIGNED_PRIVATE_REFUSED, trip.why_no_private())
    url = object_url(target.download_base_url, trip.private.key)
    response = requests.get(url, timeout=target.http_timeout)
    if response.status_code == 403:
        return passed(EDGE_UNSIGNED_PRIVATE_REFUSED, f"unsigned GET of {url}: {answer(response)}")
    served = " and served the object" if response.status_code == 200 else ""
    return failed(EDGE_UNSIGNED_PRIVATE_REFUSED, f"unsigned GET of {url}: {answer(response)}{served}, want 403")


@guarded(EDGE_PUBLIC_HEADERS)
def edge_public_headers(target: Target, trip: RoundTrip) -> Result:
    """A public object (uploaded, verified) through the edge unsigned: 200, every security header
    with its value, none of the origin headers the distribution removes."""
    choice = public_rule(target.config)
    if choice is None:
        return skipped(EDGE_PUBLIC_HEADERS, f"the {target.env} config has no rule under public/ allowing upload "
                                            f"and delete with a type of {', '.join(PUBLIC_PREFERENCE)}")
    rule, content_type = choice
    try:
        stored = upload(target, trip, rule, content_type, keep=lambda file: setattr(trip, "public", file))
    except StepFailed as error:
        return failed(EDGE_PUBLIC_HEADERS, f"no public object to test: {error}")
    url = object_url(target.download_base_url, stored.key)
    response = requests.get(url, timeout=target.http_timeout)
    problems = [] if response.status_code == 200 else [f"{answer(response)}, want 200"]
    for name, value in SECURITY_HEADERS.items():
        got = response.headers.get(name)
        if got is None:
            problems.append(f"{name} missing")
        elif got != value:
            problems.append(f"{name} is {got!r}, want {value!r}")
    leaked = [name for name in REMOVED_ORIGIN_HEADERS if name in response.headers]
    leaked += [name for name in response.headers
               if name.lower().startswith("x-amz-meta-") and name.lower() not in {n.lower() for n in leaked}]
    if leaked:
        problems.append(f"origin headers present: {', '.join(sorted(set(leaked)))}")
    if problems:
        return failed(EDGE_PUBLIC_HEADERS, f"unsigned GET of {url}: " + "; ".join(problems))
    return passed(EDGE_PUBLIC_HEADERS, f"unsigned GET of {url}: 200, all {len(SECURITY_HEADERS)} security headers "
                                       f"with their values, none of the {len(REMOVED_ORIGIN_HEADERS)} removed origin "
                                       "headers (nor any x-amz-meta-*)")


# --- TLS --------------------------------------------------------------------------------------

LEGACY_VERSIONS: tuple[tuple[str, ssl.TLSVersion, int], ...] = (
    ("TLS 1.0", ssl.TLSVersion.TLSv1, 0x0301),
    ("TLS 1.1", ssl.TLSVersion.TLSv1_1, 0x0302),
)
Probe = Literal["accepted", "refused", "unreachable"]


def legacy_context(version: ssl.TLSVersion) -> ssl.SSLContext:
    """A client context that offers ``version`` only, with every cipher OpenSSL has
    (``@SECLEVEL=0``: OpenSSL 3 otherwise refuses to offer TLS 1.0/1.1 at all); the certificate
    is not checked (the question is only which versions the server accepts)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.minimum_version = version
        context.maximum_version = version
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


def cannot_offer(version: ssl.TLSVersion, wire_version: int) -> str | None:
    """Why this Python/OpenSSL cannot send a ClientHello for ``version`` (None: it can). The
    hello is made in memory, with no server: its ``client_version`` must be ``wire_version``."""
    try:
        context = legacy_context(version)
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        client = context.wrap_bio(incoming, outgoing, server_side=False, server_hostname="verify.invalid")
        with contextlib.suppress(ssl.SSLWantReadError):
            client.do_handshake()
        hello = outgoing.read()
    except (ssl.SSLError, ValueError, OSError) as error:
        return f"{type(error).__name__}: {error}"
    if len(hello) < 11 or hello[0] != 0x16 or int.from_bytes(hello[9:11], "big") != wire_version:
        return "OpenSSL made no ClientHello for it"
    return None


def probe_tls(host: str, port: int, context: ssl.SSLContext, *, timeout: float) -> tuple[Probe, str]:
    """One handshake: accepted (and the version negotiated), refused (how), or unreachable (TCP)."""
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as error:
        return "unreachable", f"{type(error).__name__}: {error}"
    try:
        with context.wrap_socket(sock, server_hostname=host) as tls:
            return "accepted", f"{tls.version()} {(tls.cipher() or ('?',))[0]}"
    except ssl.SSLError as error:
        return "refused", str(error.reason or type(error).__name__)
    except TimeoutError:
        return "refused", "no answer to the ClientHello"
    except OSError as error:
        return "refused", type(error).__name__
    finally:
        sock.close()


def tls_below_12_refused(host: str, port: int = 443, *, timeout: float = TLS_TIMEOUT_SECONDS) -> Result:
    """TLS 1.0 and 1.1 handshakes to ``host:port`` are refused, while a TLS 1.2+ one succeeds (so
    that a host that speaks no TLS at all cannot pass). SKIP when this client cannot offer a
    version (never PASS); FAIL when one is accepted or the host cannot be reached."""
    name = EDGE_TLS_BELOW_12_REFUSED
    outcomes: list[str] = []
    unavailable: list[str] = []
    for label, version, wire in LEGACY_VERSIONS:
        reason = cannot_offer(version, wire)
        if reason is not None:
            unavailable.append(f"this client ({ssl.OPENSSL_VERSION}) cannot offer {label}: {reason}")
            continue
        probe, how = probe_tls(host, port, legacy_context(version), timeout=timeout)
        if probe == "accepted":
            return failed(name, f"{host}:{port} accepted a {label} handshake ({how})")
        if probe == "unreachable":
            return failed(name, f"cannot connect to {host}:{port}: {how}")
        outcomes.append(f"{label} refused ({how})")
    modern = ssl.create_default_context()
    modern.check_hostname = False
    modern.verify_mode = ssl.CERT_NONE
    modern.minimum_version = ssl.TLSVersion.TLSv1_2
    probe, how = probe_tls(host, port, modern, timeout=timeout)
    if probe != "accepted":
        return failed(name, f"{host}:{port}: a TLS 1.2+ handshake failed too ({how}), so the refusals prove nothing")
    if unavailable:
        return skipped(name, "; ".join([*unavailable, *outcomes]))
    return passed(name, f"{host}:{port}: {'; '.join(outcomes)}; TLS 1.2+ accepted ({how})")


@guarded(EDGE_TLS_BELOW_12_REFUSED)
def edge_tls_below_12_refused(target: Target) -> Result:
    """With ``domain`` set: the files host refuses TLS 1.0 and 1.1 (``tls_below_12_refused``)."""
    if target.domain is None and target.tls_host is None:
        return skipped(EDGE_TLS_BELOW_12_REFUSED,
                       f"the {target.env} config sets no domain: *.cloudfront.net's TLS policy is CloudFront's")
    if target.tls_host is None and not target.download_base_url.lower().startswith("https://"):
        return skipped(EDGE_TLS_BELOW_12_REFUSED, f"the download base {target.download_base_url} serves no TLS")
    return tls_below_12_refused(target.tls_host or target.files_host, target.tls_port)


# --- WAF --------------------------------------------------------------------------------------


@guarded(WAF_BLOCKS)
def waf_blocks(target: Target) -> Result:
    """Through the edge: ``/api/backend/files`` is 403 ``request_blocked``; a body over
    ``waf_api_max_body_bytes`` to ``/api/uploads`` is 413 ``request_too_large``."""
    seen: list[str] = []
    problems: list[str] = []
    backend_url = f"{target.api_url}/backend/files"
    response = requests.get(backend_url, timeout=target.http_timeout)
    status, code = response.status_code, error_code(response)
    (seen if (status, code) == BLOCKED else problems).append(
        f"GET {backend_url}: {status} {code}" + ("" if (status, code) == BLOCKED else ", want 403 request_blocked"))
    limit = target.config.waf_api_max_body_bytes
    body = json.dumps({"rule": "verify", "content_type": "application/pdf", "size": 1,
                       "filename": "x" * (limit + OVERSIZE_MARGIN)}).encode()
    uploads_url = f"{target.api_url}/uploads"
    response = requests.post(uploads_url, data=body, headers={"Content-Type": "application/json"},
                             timeout=target.http_timeout)
    status, code = response.status_code, error_code(response)
    (seen if (status, code) == TOO_LARGE else problems).append(
        f"POST {uploads_url} with {len(body)} bytes (limit {limit}): {status} {code}"
        + ("" if (status, code) == TOO_LARGE else ", want 413 request_too_large"))
    if problems:
        return failed(WAF_BLOCKS, "; ".join(problems + seen))
    return passed(WAF_BLOCKS, "; ".join(seen))


# --- the round trip's end ---------------------------------------------------------------------


def _delete(target: Target, stored: StoredFile, label: str, problems: list[str], trip: RoundTrip) -> None:
    """``DELETE /backend/files/{id}`` until 204 (a file still being verified is 409 for a while)."""
    response, _, _ = poll(
        target, lambda: target.backend.request("DELETE", f"/backend/files/{stored.file_id}"),
        lambda got: got.status_code != 409)
    if response.status_code == 204:
        stored.deleted = True
        trip.steps.append(f"{label} file deleted (204)")
    else:
        problems.append(f"DELETE /backend/files/{stored.file_id} ({label}): {answer(response)}, want 204")


def _refused_after_delete(target: Target, trip: RoundTrip, problems: list[str]) -> None:
    assert trip.signed_url is not None
    url = trip.signed_url
    response, seconds, done = poll(target, lambda: requests.get(url, timeout=target.http_timeout),
                                   lambda got: got.status_code == 403, seconds=target.revocation_wait_seconds)
    if done:
        trip.steps.append(f"the private file's signed URL then refused ({answer(response)}) after {seconds:.1f} s")
    else:
        problems.append(f"the deleted file's signed URL still answers {answer(response)} after {seconds:.0f} s, "
                        "want 403")


def _erase(target: Target, subject: dict[str, str], problems: list[str], trip: RoundTrip) -> None:
    started = target.backend.request("POST", "/backend/erasures", subject)
    if started.status_code != 202:
        problems.append(f"POST /backend/erasures: {answer(started)}, want 202")
        return
    erasure_id = str(started.json()["erasure_id"])

    def state() -> dict[str, Any]:
        got = target.backend.request("GET", f"/backend/erasures/{erasure_id}")
        if got.status_code != 200:
            raise StepFailed(f"GET /backend/erasures/{erasure_id}: {answer(got)}, want 200")
        return dict(got.json())

    try:
        last, seconds, done = poll(target, state, lambda body: body.get("status") == "done")
    except StepFailed as error:
        problems.append(str(error))
        return
    if not done:
        problems.append(f"erasure {erasure_id} still {last.get('status')!r} after {seconds:.0f} s")
        return
    trip.steps.append(f"test identity erased ({'sub' if 'sub' in subject else 'org'}: erasure done in "
                      f"{seconds:.1f} s, {last.get('deleted_files', 0)} further files deleted)")


@guarded(ROUND_TRIP)
def finish_round_trip(target: Target, trip: RoundTrip) -> Result:
    """The round trip's end, run whatever happened before: both files deleted (204), the
    deleted file's signed URL refused (bounded retry: the edge's revocation), the subject erased
    (``POST /backend/erasures`` until done). PASS only if the first part passed too."""
    problems: list[str] = []
    for label, stored in (("private", trip.private), ("public", trip.public)):
        if stored is not None and not stored.deleted:
            try:
                _delete(target, stored, label, problems, trip)
            except Exception as error:
                problems.append(f"deleting the {label} file: {type(error).__name__}: {error}")
    if trip.signed_url and trip.private is not None and trip.private.deleted:
        try:
            _refused_after_delete(target, trip, problems)
        except Exception as error:
            problems.append(f"the signed URL after the deletion: {type(error).__name__}: {error}")
    if trip.minted_any:
        subjects = [{"sub": trip.subject}] + ([{"org_id": trip.org_id}] if trip.org_id else [])
        for subject in subjects:
            try:
                _erase(target, subject, problems, trip)
            except Exception as error:
                problems.append(f"erasing the test identity: {type(error).__name__}: {error}")
    summary = f"subject {trip.subject}: " + "; ".join(trip.steps) if trip.steps else f"subject {trip.subject}"
    if trip.failure is not None:
        return failed(ROUND_TRIP, f"{trip.failure}" + (f" (then: {'; '.join(problems)})" if problems else "")
                      + f" [{summary}]")
    if problems:
        return failed(ROUND_TRIP, "; ".join(problems) + f" [{summary}]")
    return passed(ROUND_TRIP, summary)


# --- all of them ------------------------------------------------------------------------------


def run_checks(target: Target, emit: Callable[[Result], None] = lambda result: None) -> list[Result]:
    """Every check: the round trip's first part, the six others, the round trip's end (always).
    Each result goes to ``emit`` as it comes, in the contract's order; the list is in that order."""
    trip = start_round_trip(target)
    steps: list[tuple[str, Callable[[], Result]]] = [
        (S3_PRESIGNED_GET_REFUSED, lambda: s3_presigned_get_refused(target, trip)),
        (S3_ANONYMOUS_GET_REFUSED, lambda: s3_anonymous_get_refused(target, trip)),
        (EDGE_UNSIGNED_PRIVATE_REFUSED, lambda: edge_unsigned_private_refused(target, trip)),
        (EDGE_PUBLIC_HEADERS, lambda: edge_public_headers(target, trip)),
        (EDGE_TLS_BELOW_12_REFUSED, lambda: edge_tls_below_12_refused(target)),
        (WAF_BLOCKS, lambda: waf_blocks(target)),
    ]
    results: list[Result] = []
    try:
        for _name, check in steps:
            results.append(check())
            emit(results[-1])
    finally:
        results.append(finish_round_trip(target, trip))
        emit(results[-1])
    assert tuple(result.name for result in results) == CHECK_NAMES
    return results
