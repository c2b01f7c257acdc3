"""``POST /downloads``, ``POST /downloads/cookies`` (JWT) and ``POST /backend/downloads`` (IAM).

Deployed as ``filegate.handlers.downloads.handler``. CloudFront signed URLs (canned policy,
or custom when an IP range or start time is asked for) and signed cookies for a prefix the
caller owns. A URL is minted only for a key whose file record is ``clean`` (409 ``not_ready``
while it is being verified, 403 ``rejected``, 404 without a record); cookies cover a prefix, and
only verified files ever exist at final keys. The cookies are in the body and also set with
``Set-Cookie`` (``set_cookies``): behind the front door (docs/front-door.md) the API is served
from the files domain, so the browser keeps them for the files it then fetches. Its role may
only ``kms:Sign`` (or read the signing secret), ``dynamodb:GetItem`` the files table and read the
origin-verify secret its user routes check. ``cryptography`` is imported only when the secret
signer is configured.

``POST /backend/downloads`` takes either ``on_behalf_of`` (the rules decide for that user) or a
``viewer`` with a ``reason`` (docs/lifecycle.md, "Grants that name the viewer"): the backend
decided the relation, the key must have the shape of a rule that allows ``download``, the record
must be ``clean``, and the audit record names owner, viewer, reason and principal. An optional
``grant_lifetime`` caps the URL's lifetime either way.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote

import boto3
from aws_lambda_powertools.shared.cookies import Cookie, SameSite

from filegate.adapters.dependency_config import dependency_config
from filegate.adapters.files_table import FilesTable
from filegate.adapters.kms_signer import KmsSigner
from filegate.adapters.origin_secret import OriginSecret, origin_secret
from filegate.adapters.signature_cache import CachingSigner, SignatureCache
from filegate.adapters.signer import Signer
from filegate.domain.cloudfront import (
    SigningKey,
    normalize_ip_range,
    resource_url,
    rounded_expiry,
    signed_cookies,
    signed_url,
    url_lifetime,
)
from filegate.domain.errors import Reason, Refusal
from filegate.domain.identity import Identity
from filegate.domain.keys import key_shape_in_rule, rule_for_key, rules_for_prefix, well_formed_key
from filegate.domain.quarantine import file_id_of
from filegate.domain.records import downloadable
from filegate.domain.rules import Rule
from filegate.handlers.common import (
    allowed_backend_principal,
    current_audit,
    identify,
    lambda_entry_point,
    new_resolver,
    success,
)
from filegate.handlers.models import (
    BackendDownloadRequest,
    CookiesRequest,
    CookiesResponse,
    DownloadRequest,
    DownloadResponse,
)
from filegate.handlers.openapi_docs import error_responses, success_response
from filegate.handlers.routing import Response
from filegate.handlers.snapshot import after_restore
from filegate.settings import Settings

app = new_resolver()
clock: Callable[[], float] = time.time
SECRET_CACHE_SECONDS = 300


@dataclass(frozen=True)
class DownloadRuntime:
    settings: Settings
    rules: tuple[Rule, ...]
    signer: Signer
    signing_key: SigningKey
    files: FilesTable
    origin: OriginSecret


def build_signer(settings: Settings, session: boto3.session.Session | None = None) -> Signer:
    """The active slot's signer, wrapped in the per-environment signature cache when enabled.

    Its client comes from ``session``, the runtime's one session: each new session loads
    botocore's endpoint data again (tens of milliseconds of every cold start)."""
    slot = settings.slot
    session = session or boto3.session.Session()
    base: Signer
    if settings.signer == "kms":
        assert slot.kms_key_id is not None  # checked by Settings
        client = session.client("kms", region_name=settings.region, config=dependency_config())
        base = KmsSigner(client, key_id=slot.kms_key_id, key_pair_id=slot.public_key_id)
    else:
        from filegate.adapters.secret_signer import (  # noqa: PLC0415 - lazy: cryptography
            SecretKeySigner,
            powertools_secret_reader,
            secrets_provider,
        )

        assert slot.secret_name is not None  # checked by Settings
        base = SecretKeySigner(secret_name=slot.secret_name, key_pair_id=slot.public_key_id,
                               read_secret=powertools_secret_reader(SECRET_CACHE_SECONDS,
                                                                    secrets_provider(settings.region, session)))
    if settings.signature_cache_seconds > 0:
        return CachingSigner(base, SignatureCache(settings.signature_cache_seconds))
    return base


@lru_cache(maxsize=1)
def runtime() -> DownloadRuntime:
    """Settings, signer, the files table's and the origin secret's clients: built once per
    execution environment."""
    settings = Settings.from_environ()
    session = boto3.session.Session()  # one per runtime: every client below shares its loaded data
    signer = build_signer(settings, session)
    dynamodb = session.client("dynamodb", region_name=settings.region, config=dependency_config())
    return DownloadRuntime(settings=settings, rules=settings.rules, signer=signer,
                           signing_key=SigningKey(sign=signer.sign, key_pair_id=signer.key_pair_id,
                                                  hash_algorithm=signer.hash_algorithm),
                           files=FilesTable(dynamodb, settings.files_table),
                           origin=origin_secret(session, settings.origin_secret, region=settings.region))


def _cap(settings: Settings, rule_lifetime: int | None) -> int:
    return min(rule_lifetime, settings.url_max_seconds) if rule_lifetime is not None else settings.url_max_seconds


def _grant_rule(rules: tuple[Rule, ...], key: str) -> Rule:
    """The rule whose shape ``key`` has and that allows ``download`` (the backend named the viewer:
    no identity's claims to match)."""
    if not well_formed_key(key):
        raise Refusal(Reason.INVALID_KEY, "key is not a well-formed file key")
    for rule in rules:
        if key_shape_in_rule(rule, key) and rule.allows("download"):
            return rule
    raise Refusal(Reason.KEY_OUTSIDE_RULES, "no rule allows downloading that key")


def mint_download(request: DownloadRequest, identity: Identity | None) -> Response[DownloadResponse]:
    """A signed URL for ``identity`` (the rules decide), or, with ``identity`` None, for the
    ``viewer`` of a backend grant (``BackendDownloadRequest``)."""
    state = runtime()
    settings = state.settings
    audit = current_audit()
    audit.key = request.key
    rule = rule_for_key(state.rules, identity, request.key) if identity is not None else _grant_rule(
        state.rules, request.key)
    audit.rule = rule.name
    grant_lifetime = request.grant_lifetime if isinstance(request, BackendDownloadRequest) else None
    ip_range: str | None = None
    if request.ip is not None:
        if not settings.allow_ip_restriction:
            raise Refusal(Reason.IP_RESTRICTION_DISABLED, "IP restrictions are not enabled")
        try:
            ip_range = normalize_ip_range(request.ip)
        except ValueError as error:
            raise Refusal(Reason.INVALID_IP, "ip must be an IPv4 address or CIDR range") from error
        audit.ip_range = ip_range
    if request.starts_at is not None and not settings.allow_start_time:
        raise Refusal(Reason.START_TIME_DISABLED, "start times are not enabled")
    audit.starts_at = request.starts_at
    now = clock()
    lifetime = url_lifetime(requested=request.expires_in, rule_lifetime=rule.url_lifetime_seconds,
                            default=settings.url_default_seconds, maximum=settings.url_max_seconds)
    cap = _cap(settings, rule.url_lifetime_seconds)
    if grant_lifetime is not None:
        lifetime, cap = min(lifetime, grant_lifetime), min(cap, grant_lifetime)
    expires = rounded_expiry(now, lifetime, window=settings.signature_cache_seconds, maximum=cap)
    if request.starts_at is not None and request.starts_at >= expires:
        raise Refusal(Reason.START_AFTER_EXPIRY, "starts_at must be before the URL's expiry")
    # The rules allowed the key; the record says whether the file behind it may be served.
    file_id = file_id_of(request.key)
    record = downloadable(state.files.get(file_id) if file_id else None, request.key)
    if record.rule != rule.name:
        raise Refusal(Reason.NO_SUCH_FILE, "no such file")  # a record under another rule: fail closed
    audit.file_id, audit.owner_sub, audit.owner_org_id = record.file_id, record.owner_sub, record.owner_org_id
    url = signed_url(resource_url(settings.download_base_url, request.key), expires=expires,
                     key=state.signing_key, starts=request.starts_at, ip_range=ip_range)
    audit.expires_at = expires
    return success(200, DownloadResponse(url=url, expires_at=expires))


def mint_cookies(request: CookiesRequest, identity: Identity) -> Response[CookiesResponse]:
    state = runtime()
    settings = state.settings
    audit = current_audit()
    audit.key = request.prefix
    rules = rules_for_prefix(state.rules, identity, request.prefix)
    audit.rule = ",".join(rule.name for rule in rules)
    lifetimes = [rule.url_lifetime_seconds for rule in rules if rule.url_lifetime_seconds is not None]
    rule_lifetime = min(lifetimes) if lifetimes else None
    now = clock()
    lifetime = url_lifetime(requested=request.expires_in, rule_lifetime=rule_lifetime,
                            default=settings.url_default_seconds, maximum=settings.url_max_seconds)
    expires = rounded_expiry(now, lifetime, window=settings.signature_cache_seconds,
                             maximum=_cap(settings, rule_lifetime))
    pattern = resource_url(settings.download_base_url, request.prefix) + "*"
    cookies = signed_cookies(pattern, expires=expires, key=state.signing_key)
    audit.expires_at = expires
    response = success(200, CookiesResponse(cookies=cookies, expires_at=expires))
    response.cookies = set_cookies(cookies, prefix=request.prefix, domain=settings.cookie_domain)
    return response


def set_cookies(cookies: dict[str, str], *, prefix: str, domain: str | None) -> list[Cookie]:
    """The signed cookies as ``Set-Cookie`` headers (one each, through the HTTP API's ``cookies``).

    Behind the front door the API and the files share one origin, so the browser keeps them
    itself: host-only (no ``Domain``) unless ``cookie_domain`` names a parent domain; ``Path`` is
    the prefix as a browser requests it (percent-encoded like ``resource_url``); session cookies
    (no ``Expires``: the policy inside expires); ``Secure``, ``HttpOnly``, ``SameSite=Lax``.
    """
    return [Cookie(name=name, value=value, domain=domain or "", path="/" + quote(prefix, safe="/-._~"),
                   secure=True, http_only=True, same_site=SameSite.LAX_MODE) for name, value in cookies.items()]


@app.post(
    "/downloads", operation_id="createDownload", tags=["downloads"], security=[{"jwt": []}],
    summary="Mint a CloudFront signed URL for one file",
    description="Canned policy by default; a custom policy when `ip` or `starts_at` is given.",
    responses={200: success_response(DownloadResponse, "Signed URL"), **error_responses(404, 409)},
)
def create_download(body: DownloadRequest) -> Response[DownloadResponse]:
    return mint_download(body, identify(app.current_event.raw_event, runtime().settings))


@app.post(
    "/downloads/cookies", operation_id="createDownloadCookies", tags=["downloads"], security=[{"jwt": []}],
    summary="Mint CloudFront signed cookies for a key prefix the caller owns",
    description="The four cookies are in the body and are also set with `Set-Cookie` (host-only unless a cookie "
                "domain is configured; `Path` the prefix; `Secure`, `HttpOnly`, `SameSite=Lax`; session cookies): "
                "served from the files domain, the API's cookies go with the browser's file requests.",
    responses={200: success_response(CookiesResponse, "Signed cookies"), **error_responses()},
)
def create_download_cookies(body: CookiesRequest) -> Response[CookiesResponse]:
    return mint_cookies(body, identify(app.current_event.raw_event, runtime().settings))


@app.post(
    "/backend/downloads", operation_id="createBackendDownload", tags=["backend"], security=[{"iam": []}],
    summary="Mint a signed URL on behalf of a user, or for a viewer the backend names (IAM-authorised)",
    description="Exactly one of `on_behalf_of` (the rules decide for that user) or `viewer` with `reason` (audited "
                "as owner, viewer, reason and principal). `grant_lifetime` caps the URL's lifetime.",
    responses={200: success_response(DownloadResponse, "Signed URL"), **error_responses(404, 409)},
)
def create_backend_download(body: BackendDownloadRequest) -> Response[DownloadResponse]:
    if body.on_behalf_of is not None:
        return mint_download(body, identify(app.current_event.raw_event, runtime().settings, body.on_behalf_of))
    assert body.viewer is not None  # the model requires exactly one
    audit = current_audit()
    principal = allowed_backend_principal(app.current_event.raw_event, runtime().settings.backend_principals)
    claims = {"sub": body.viewer.sub, **({"org_id": body.viewer.org_id} if body.viewer.org_id else {})}
    audit.identity = Identity(sub=body.viewer.sub, claims=claims, principal=principal)
    audit.viewer_sub, audit.viewer_org_id, audit.grant_reason = body.viewer.sub, body.viewer.org_id, body.reason
    return mint_download(body, None)


def _backend_principals() -> tuple[str, ...]:
    return runtime().settings.backend_principals


def _origin() -> OriginSecret:
    return runtime().origin


handler = lambda_entry_point(app, backend_principals=_backend_principals, origin=_origin)
"""Lambda entry point."""


after_restore(runtime)  # SnapStart: each restored environment rebuilds what init built (snapshot.py)

if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):  # build the signer during the init phase
    app.prepare()
    runtime()
