"""Typed, validated environment configuration.

Every environment lives in ``cdk.json`` under ``context.filegate``: ``defaults`` holds the shared
values and ``environments.<name>`` overrides them (a shallow merge per top-level key, with nested
objects such as ``urls`` merged one level deeper). A wrong value fails synthesis with a
``ConfigError`` whose message names the setting, e.g. ``environments.prod.urls.max_seconds``.
The access rules are parsed by the same function the Lambdas use at start-up, so a rule that
would be refused at run time is refused at synthesis first.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "lambdas") not in sys.path:
    sys.path.insert(0, str(ROOT / "lambdas"))

from filegate.domain.groups import COGNITO_GROUPS, GroupsClaim, GroupsFormat  # noqa: E402
from filegate.domain.principals import is_role_arn  # noqa: E402
from filegate.domain.rules import (  # noqa: E402
    DEFAULT_PLACEHOLDER_CLAIMS,
    Rule,
    RuleConfigError,
    check_groups_claim,
    check_placeholder_claims,
    parse_rules,
)
from filegate.settings import MAX_VERIFYING_TIMEOUT_SECONDS  # noqa: E402

DEFAULT_CONTEXT_FILE = ROOT / "cdk.json"
CONTEXT_KEY = "filegate"
EDGE_REGION = "us-east-1"  # CloudFront reads its WebACL and certificate from here only.

# CloudWatch Logs accepts only these retention values.
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
    2922, 3288, 3653,
)
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$")
_ACCOUNT = re.compile(r"^\d{12}$")
_ENV_NAME = re.compile(r"^[a-z][a-z0-9-]{1,15}$")
_SLOT = re.compile(r"^[a-z][a-z0-9]{0,19}$")
_DOMAIN = re.compile(r"^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_ORIGIN = re.compile(r"^(https://[a-z0-9.-]+(:\d{1,5})?|http://(localhost|127\.0\.0\.1)(:\d{1,5})?)$")
#: What Cognito accepts as an app client's callback or sign-out URL: HTTPS, or plain HTTP to
#: localhost only (for testing); absolute, no fragment, at most 1,024 characters.
_COGNITO_URL = re.compile(r"(https://[A-Za-z0-9.-]+|http://localhost)(:\d{1,5})?(/[^\s#\x00-\x1f\x7f]*)?")
#: What WAF accepts as a WebACL name (CreateWebACL ``Name``, ``^[\w-]{1,128}$``: 1-128 ASCII word
#: characters or hyphens), matched whole (``$`` would let a trailing newline through).
_WEB_ACL_NAME = re.compile(r"[\w-]{1,128}", re.ASCII)
#: The most of a request body WAF inspects for a CloudFront WebACL by default (AWS WAF ``Body``,
#: ``OversizeHandling``): ``waf_api_max_body_bytes`` cannot be checked beyond it.
CLOUDFRONT_BODY_INSPECTION_LIMIT = 16 * 1024


_NAMED_SETTING = re.compile(r"^[a-z_]+(\.[a-z_]+|\[\d+\])*: ")


def _checked_account(value: str) -> str:
    if not _ACCOUNT.match(value):
        raise ValueError("must be a 12-digit AWS account id")
    return value


def _checked_region(value: str) -> str:
    if not _REGION.match(value):
        raise ValueError(f"{value!r} is not an AWS region name")
    return value


class ConfigError(ValueError):
    """A configuration value is wrong; the message starts with the setting's path."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UrlSettings(_Strict):
    """Lifetimes of minted URLs, in seconds."""

    upload_expiry_seconds: int = Field(300, ge=10, le=3600)
    upload_max_expiry_seconds: int = Field(900, ge=10, le=3600)
    default_seconds: int = Field(300, ge=10, le=7 * 24 * 3600)
    max_seconds: int = Field(3600, ge=10, le=7 * 24 * 3600)
    # Off by default: CloudFront's custom policies take IPv4 `AWS:SourceIp` only, so an IP-bound
    # URL fails for a dual-stack viewer unless the distribution's IPv6 is off (`ipv6: false`).
    allow_ip_restriction: bool = False
    allow_start_time: bool = True
    signature_cache_seconds: int = Field(60, ge=0, le=3600)

    @model_validator(mode="after")
    def _defaults_within_max(self) -> UrlSettings:
        if self.upload_expiry_seconds > self.upload_max_expiry_seconds:
            raise ValueError("upload_expiry_seconds must not exceed upload_max_expiry_seconds")
        if self.default_seconds > self.max_seconds:
            raise ValueError("default_seconds must not exceed max_seconds")
        if self.signature_cache_seconds >= self.max_seconds:
            raise ValueError("signature_cache_seconds must be shorter than max_seconds")
        return self


class ApiThrottle(_Strict):
    rate_limit: int = Field(50, ge=1, le=10_000)
    burst_limit: int = Field(100, ge=1, le=5_000)


class JwtSettings(_Strict):
    """An external OpenID issuer; without one a Cognito user pool is provisioned."""

    issuer: str
    audience: tuple[str, ...] = Field(min_length=1)
    # Scopes the access token must carry on every user route: without them ID tokens (which
    # carry no scope) would pass where access tokens are meant.
    scopes: tuple[str, ...] = Field(min_length=1)
    # The claim holding the caller's groups, and its format (see filegate/domain/groups.py):
    # "array" only if this issuer cannot put white space in those names (API Gateway passes an
    # array as "[a b]"), else "json_string" (a string claim holding a JSON array). No default:
    # the operator must know which one the issuer sends.
    groups_claim: str  # checked with the placeholder claims: EnvironmentConfig._groups_claim
    groups_format: GroupsFormat

    @field_validator("issuer")
    @classmethod
    def _https_issuer(cls, value: str) -> str:
        if not re.match(r"^https://[^\s/]+(/[^\s]*)?$", value) or value.endswith("/"):
            raise ValueError("must be an https URL without a trailing slash")
        return value


class DomainSettings(_Strict):
    domain_name: str
    hosted_zone_id: str = Field(pattern=r"^Z[A-Z0-9]{1,31}$")
    hosted_zone_name: str

    @field_validator("domain_name", "hosted_zone_name")
    @classmethod
    def _valid_domain(cls, value: str) -> str:
        if not _DOMAIN.match(value):
            raise ValueError(f"{value!r} is not a lower-case DNS name")
        return value

    @model_validator(mode="after")
    def _inside_zone(self) -> DomainSettings:
        if not (self.domain_name == self.hosted_zone_name
                or self.domain_name.endswith("." + self.hosted_zone_name)):
            raise ValueError("domain_name must lie inside hosted_zone_name")
        return self


class SigningSlot(_Strict):
    """One CloudFront public key in the key group.

    With the KMS signer the slot is a KMS key made by the stack (its public key is read at
    deploy time). With the secret signer the private key lives in a Secrets Manager secret the
    operator creates, and its *public* half is given here.
    """

    name: str
    public_key_pem: str | None = None
    secret_name: str | None = None

    @field_validator("name")
    @classmethod
    def _slot_name(cls, value: str) -> str:
        if not _SLOT.match(value):
            raise ValueError("must match [a-z][a-z0-9]{0,19} (it becomes part of a logical id)")
        return value

    @field_validator("public_key_pem")
    @classmethod
    def _public_only(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if "PRIVATE KEY" in value:
            raise ValueError("holds a PRIVATE key; give the public key only")
        if not value.strip().startswith("-----BEGIN PUBLIC KEY-----"):
            raise ValueError("must be a PEM 'BEGIN PUBLIC KEY' block")
        return value


class SigningSettings(_Strict):
    signer: Literal["kms", "secret"] = "kms"
    slots: tuple[SigningSlot, ...] = Field(min_length=1, max_length=5)
    active_slot: str

    @property
    def slot_names(self) -> tuple[str, ...]:
        return tuple(slot.name for slot in self.slots)

    @model_validator(mode="after")
    def _consistent(self) -> SigningSettings:
        names = self.slot_names
        if len(set(names)) != len(names):
            raise ValueError("slot names must be unique")
        if self.active_slot not in names:
            raise ValueError(f"active_slot {self.active_slot!r} is not one of the slots {list(names)}")
        for slot in self.slots:
            if self.signer == "secret" and not (slot.public_key_pem and slot.secret_name):
                raise ValueError(f"slot {slot.name!r}: the secret signer needs public_key_pem and secret_name")
            if self.signer == "kms" and (slot.public_key_pem or slot.secret_name):
                raise ValueError(f"slot {slot.name!r}: the kms signer takes no public_key_pem or secret_name")
        return self


#: How often SQS hands a message to the verifier before it moves to the dead-letter queue.
VERIFIER_MAX_RECEIVE_COUNT = 5
#: SQS visibility timeout as a multiple of the verifier's timeout (AWS's advice for Lambda
#: event sources: at least six times, so a throttled or retried batch is not delivered twice).
VISIBILITY_TIMEOUT_FACTOR = 6
#: What the verifier needs whatever the file: the runtime, boto3, Powertools, pypdf and Pillow.
VERIFIER_BASELINE_MB = 256
#: A decoded image at the content checks' pixel bound (``filegate.domain.content.MAX_IMAGE_PIXELS``,
#: 50 MP x 4 bytes, about 200 MB) and its re-encoding: a 49 MP RGBA PNG peaked at 409 MB RSS in a
#: review, whatever the size of the compressed file.
VERIFIER_DECODE_MB = 450
#: Copies of a file the verifier may hold at once: the upload, the served (re-encoded) bytes, and
#: the parsers' working sets (pypdf objects, inflated OOXML parts).
VERIFIER_COPIES_IN_MEMORY = 6


def verifier_capacity_bytes(memory_mb: int) -> int:
    """The largest file a verifier with ``memory_mb`` of memory can check in memory."""
    spare = memory_mb - VERIFIER_BASELINE_MB - VERIFIER_DECODE_MB
    return max(0, spare * 1024 * 1024 // VERIFIER_COPIES_IN_MEMORY)


class VerificationSettings(_Strict):
    """Quarantine, verifier and sweep (docs/verification.md)."""

    # rejected/ objects (kept for a security review) expire after this many days.
    rejected_retention_days: int = Field(30, ge=1, le=3650)
    # incoming/ objects no verifier promoted or rejected (an abandoned or broken flow) expire.
    quarantine_expiry_days: int = Field(3, ge=1, le=30)
    # The sweep rejects (scan_failed) a record still undecided after this long (the Lambdas' own
    # bound: well inside an unused record's one-day TTL).
    verifying_timeout_seconds: int = Field(3600, ge=300, le=MAX_VERIFYING_TIMEOUT_SECONDS)
    sweep_interval_minutes: int = Field(15, ge=1, le=1440)
    verifier_memory_mb: int = Field(1024, ge=512, le=10240)
    verifier_timeout_seconds: int = Field(60, ge=10, le=900)
    # Reserved concurrency of the verifier (also the SQS event source's maximum concurrency,
    # which cannot be below 2) and of the sweep.
    verifier_concurrency: int = Field(5, ge=2, le=1000)
    sweep_concurrency: int = Field(1, ge=1, le=10)

    @property
    def visibility_timeout_seconds(self) -> int:
        return VISIBILITY_TIMEOUT_FACTOR * self.verifier_timeout_seconds

    @property
    def retry_window_seconds(self) -> int:
        """How long SQS keeps handing one message to the verifier before dead-lettering it."""
        return self.visibility_timeout_seconds * VERIFIER_MAX_RECEIVE_COUNT

    @model_validator(mode="after")
    def _timeouts_in_order(self) -> VerificationSettings:
        if self.verifying_timeout_seconds <= self.retry_window_seconds:
            raise ValueError(
                f"verifying_timeout_seconds ({self.verifying_timeout_seconds}) must exceed the queue's retry window "
                f"({VISIBILITY_TIMEOUT_FACTOR} x verifier_timeout_seconds x {VERIFIER_MAX_RECEIVE_COUNT} receives = "
                f"{self.retry_window_seconds} s), or the sweep would act on files still being retried")
        if self.verifying_timeout_seconds >= self.quarantine_expiry_days * 24 * 3600:
            raise ValueError("verifying_timeout_seconds must be shorter than quarantine_expiry_days, or a "
                             "quarantined file could expire before the sweep decides it")
        return self


class EventsSettings(_Strict):
    """The product's own event bus and an optional webhook per environment."""

    # An HTTPS endpoint that receives every File Verified / File Rejected event (EventBridge API
    # destination); none: no destination is created.
    webhook_url: str | None = None
    # The Secrets Manager secret (name) holding the value of `webhook_auth_header`; the template
    # holds only a dynamic reference to it, never the value.
    webhook_secret_name: str | None = Field(None, pattern=r"^[A-Za-z0-9/_+=.@-]{1,512}$")
    webhook_auth_header: str = Field("Authorization", pattern=r"^[A-Za-z0-9-]{1,64}$")
    webhook_rate_limit_per_second: int = Field(10, ge=1, le=300)
    # Days the bus archive keeps events for replay (0: no archive).
    archive_retention_days: int = Field(0, ge=0, le=3650)

    @field_validator("webhook_url")
    @classmethod
    def _https_webhook(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https://[A-Za-z0-9.-]+(:\d{1,5})?(/[^\s#]*)?$", value):
            raise ValueError("must be an https URL without a fragment")
        return value

    @model_validator(mode="after")
    def _webhook_needs_a_secret(self) -> EventsSettings:
        if self.webhook_url and not self.webhook_secret_name:
            raise ValueError("webhook_secret_name: required with webhook_url (the API destination's credential "
                             "comes from Secrets Manager, never from the config)")
        if self.webhook_secret_name and not self.webhook_url:
            raise ValueError("webhook_secret_name: only with webhook_url")
        return self


class EnvironmentConfig(_Strict):
    """One deployable environment (dev, prod, ...)."""

    name: str
    account: str | None = None
    region: str = "ap-southeast-1"
    domain: DomainSettings | None = None
    frontend_origins: tuple[str, ...] = Field(min_length=1)
    price_class: Literal["PriceClass_100", "PriceClass_200", "PriceClass_All"] = "PriceClass_100"
    ipv6: bool = True
    waf_rate_limit: int = Field(2000, ge=10, le=2_000_000_000)
    # The front door (docs/front-door.md): requests per IP and 5 minutes to /api/, and the largest
    # API body the WebACL lets through (413 beyond it).
    waf_api_rate_limit: int = Field(1000, ge=10, le=2_000_000_000)
    waf_api_max_body_bytes: int = Field(8192, ge=1, le=CLOUDFRONT_BODY_INSPECTION_LIMIT)
    # The WebACL's name (default ``<prefix>-edge``); changing it replaces the WebACL.
    waf_web_acl_name: str | None = None
    # Days between rotations of the origin-verify secret (Secrets Manager's schedule).
    origin_secret_rotation_days: int = Field(30, ge=1, le=365)
    urls: UrlSettings = UrlSettings()
    api_throttle: ApiThrottle = ApiThrottle()
    jwt: JwtSettings | None = None
    # Claims a key template may name; checked before `rules`, which are validated against it.
    placeholder_claims: tuple[str, ...] = DEFAULT_PLACEHOLDER_CLAIMS
    rules: tuple[Rule, ...]
    signing: SigningSettings
    log_retention_days: int = 365
    removal_policy: Literal["retain", "destroy"] = "retain"
    lambda_reserved_concurrency: int | None = Field(None, ge=1, le=1000)
    # Lambda SnapStart on the upload and download functions (published versions): a restored
    # snapshot instead of a cold Python start on the request path. It costs: Python SnapStart bills
    # snapshot caching per GB-s while each published version is live, plus a charge per restore.
    # Strict: only a JSON boolean (pydantic would otherwise read "yes" or 1 as true).
    snap_start: bool = Field(False, strict=True)
    read_exception_role_arns: tuple[str, ...] = ()
    # Roles (a security team's) that may read rejected/ objects for review; nobody else can.
    security_role_arns: tuple[str, ...] = ()
    # guardduty: GuardDuty Malware Protection for S3 scans incoming/ and its verdict is required;
    # none: files are promoted after the content checks alone (no malware scan).
    scanning: Literal["guardduty", "none"] = "guardduty"
    verification: VerificationSettings = VerificationSettings()
    events: EventsSettings = EventsSettings()
    # Roles that may read the log bucket's objects (CloudFront logs hold replayable signed URLs).
    log_reader_role_arns: tuple[str, ...] = ()
    # Roles that may change the signing keys (policy, state, deletion) besides CloudFormation's
    # execution role; everyone else in the account may only inspect them.
    key_admin_role_arns: tuple[str, ...] = ()
    # IAM roles (trusted servers) allowed to call the /backend/ routes on behalf of users.
    backend_principal_arns: tuple[str, ...] = ()
    # Parent domain shared by the app and the file domain, for signed cookies (needs `domain`).
    cookie_domain: str | None = None
    alarm_email: str | None = Field(None, pattern=r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$")
    # The provisioned Cognito app client's callback and sign-out URLs (no `jwt` only); by
    # default each frontend origin plus "/".
    cognito_callback_urls: tuple[str, ...] | None = Field(None, min_length=1, max_length=100)
    cognito_logout_urls: tuple[str, ...] | None = Field(None, min_length=1, max_length=100)

    @field_validator("name")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not _ENV_NAME.match(value):
            raise ValueError("must match [a-z][a-z0-9-]{1,15}")
        return value

    @field_validator("account")
    @classmethod
    def _account(cls, value: str | None) -> str | None:
        return None if value is None else _checked_account(value)

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        return _checked_region(value)

    @field_validator("frontend_origins")
    @classmethod
    def _origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            if not _ORIGIN.fullmatch(origin):
                raise ValueError(
                    f"{origin!r} must be a scheme://host[:port] origin: https, or http only for "
                    "localhost/127.0.0.1; no path, no wildcard")
        return value

    @field_validator("waf_web_acl_name")
    @classmethod
    def _web_acl_name(cls, value: str | None) -> str | None:
        if value is not None and not _WEB_ACL_NAME.fullmatch(value):
            raise ValueError(f"{value!r} is not a WAF WebACL name (1-128 letters, digits, '_' or '-')")
        return value

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(f"{value} is not a CloudWatch Logs retention value {LOG_RETENTION_DAYS}")
        return value

    @field_validator("read_exception_role_arns", "backend_principal_arns", "log_reader_role_arns",
                     "key_admin_role_arns", "security_role_arns")
    @classmethod
    def _role_arns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        # The Lambdas' own check (filegate.domain.principals), so that synthesis accepts
        # exactly the ARNs the handlers start with.
        for arn in value:
            if not is_role_arn(arn):
                raise ValueError(f"{arn!r} is not an IAM role ARN (arn:aws:iam::<account>:role/<path/><name>)")
        return value

    @field_validator("placeholder_claims", mode="before")
    @classmethod
    def _placeholder_claims(cls, value: Any) -> tuple[str, ...]:
        return check_placeholder_claims(value, setting="placeholder_claims")

    @field_validator("rules", mode="before")
    @classmethod
    def _rules(cls, value: Any, info: ValidationInfo) -> tuple[Rule, ...]:
        claims = info.data.get("placeholder_claims")
        if claims is None:
            raise ValueError("not checked: placeholder_claims is invalid")
        return parse_rules(value, setting="rules", placeholder_claims=claims)

    @model_validator(mode="after")
    def _verifier_holds_every_rule(self) -> EnvironmentConfig:
        memory = self.verification.verifier_memory_mb
        capacity = verifier_capacity_bytes(memory)
        for index, rule in enumerate(self.rules):
            if rule.max_bytes > capacity:
                raise ValueError(
                    f"rules[{index}].max_bytes: {rule.max_bytes} bytes is more than the verifier can check in memory "
                    f"with verification.verifier_memory_mb = {memory} (at most {capacity} bytes); raise "
                    f"verification.verifier_memory_mb or lower the rule's max_bytes")
        return self

    @model_validator(mode="after")
    def _groups_claim(self) -> EnvironmentConfig:
        if self.jwt is not None:
            try:
                check_groups_claim(self.jwt.groups_claim, self.placeholder_claims)
            except ValueError as error:
                raise ValueError(f"jwt.groups_claim: {error}") from None
        return self

    @model_validator(mode="after")
    def _ip_restriction_needs_ipv4_only(self) -> EnvironmentConfig:
        if self.urls.allow_ip_restriction and self.ipv6:
            raise ValueError(
                "urls.allow_ip_restriction: true needs `ipv6: false`: CloudFront custom policies take IPv4 "
                "AWS:SourceIp only, so IP-restricted URLs would fail for every dual-stack viewer")
        return self

    @model_validator(mode="after")
    def _cognito_urls(self) -> EnvironmentConfig:
        if self.jwt is not None:
            if self.cognito_callback_urls or self.cognito_logout_urls:
                raise ValueError("cognito_callback_urls/cognito_logout_urls: only without `jwt` "
                                 "(they configure the provisioned user pool's app client)")
            return self
        for setting, urls in (("cognito_callback_urls", self.callback_urls), ("cognito_logout_urls", self.logout_urls)):
            source = setting if getattr(self, setting) else "frontend_origins"
            for index, url in enumerate(urls):
                if len(url) > 1024 or not _COGNITO_URL.fullmatch(url):
                    raise ValueError(
                        f"{source}[{index}]: {url!r} is not a URL Cognito accepts for {setting} (HTTPS, or "
                        f"http://localhost only; no fragment){'; set ' + setting if source != setting else ''}")
        return self

    @model_validator(mode="after")
    def _cookie_domain_covers_the_file_domain(self) -> EnvironmentConfig:
        if self.cookie_domain is None:
            return self
        if self.domain is None:
            raise ValueError("cookie_domain needs `domain`: cookies cannot be set for *.cloudfront.net")
        if not _DOMAIN.match(self.cookie_domain) or not (
                self.domain.domain_name == self.cookie_domain
                or self.domain.domain_name.endswith("." + self.cookie_domain)):
            raise ValueError(f"cookie_domain {self.cookie_domain!r} must be a parent of {self.domain.domain_name!r}")
        return self

    @property
    def is_production_like(self) -> bool:
        return self.removal_policy == "retain"

    @property
    def prefix(self) -> str:
        """Physical-name prefix, e.g. ``filegate-prod``."""
        return f"filegate-{self.name}"

    @property
    def web_acl_name(self) -> str:
        """The CLOUDFRONT-scope WebACL's name: ``waf_web_acl_name``, by default ``<prefix>-edge``."""
        return self.waf_web_acl_name or f"{self.prefix}-edge"

    @property
    def origin_secret_name(self) -> str:
        """The Secrets Manager secret whose value CloudFront sends as ``x-origin-verify``."""
        return f"{self.prefix}-origin-verify"

    @property
    def web_acl_arn_parameter(self) -> str:
        """The us-east-1 SSM parameter the edge stack writes the WebACL's ARN to."""
        return f"/{self.prefix}/edge/web-acl-arn"

    @property
    def certificate_arn_parameter(self) -> str:
        """The us-east-1 SSM parameter the edge stack writes the certificate's ARN to (with `domain`)."""
        return f"/{self.prefix}/edge/certificate-arn"

    @property
    def download_role_name(self) -> str:
        """Known name of the download Lambda's role.

        The signing keys' key policies name this role (by condition) before the API stack
        creates it, which avoids a cross-stack cycle between the keys and the role.
        """
        return f"{self.prefix}-download-signer"

    @property
    def upload_role_name(self) -> str:
        """Known name of the upload Lambda's role: the only principal the bucket lets write."""
        return f"{self.prefix}-uploader"

    @property
    def verifier_role_name(self) -> str:
        """Known name of the verifier's role: the bucket policy names it (reads incoming/, writes final keys)."""
        return f"{self.prefix}-verifier"

    @property
    def sweep_role_name(self) -> str:
        """Known name of the sweep's role: it decides stuck files as the verifier does (same bucket policy)."""
        return f"{self.prefix}-verification-sweep"

    @property
    def scanner_role_name(self) -> str:
        """Known name of the GuardDuty Malware Protection plan's role (reads and tags incoming/)."""
        return f"{self.prefix}-malware-scanner"

    @property
    def files_table_name(self) -> str:
        return f"{self.prefix}-files"

    @property
    def idempotency_table_name(self) -> str:
        return f"{self.prefix}-idempotency"

    @property
    def event_bus_name(self) -> str:
        return f"{self.prefix}-files"

    @property
    def erasures_table_name(self) -> str:
        """The erasure items (docs/lifecycle.md, "Erasure"): one per subject, keyed by ``erasure_id``."""
        return f"{self.prefix}-erasures"

    @property
    def erasure_queue_name(self) -> str:
        return f"{self.prefix}-erasures"

    @property
    def cursor_secret_name(self) -> str:
        """The Secrets Manager secret whose generated value keys the listing cursors' MAC."""
        return f"{self.prefix}-cursor-key"

    @property
    def revocation_store_name(self) -> str:
        """The CloudFront KeyValueStore the edge function checks (the deny list of deleted keys)."""
        return f"{self.prefix}-revocations"

    @property
    def deletions_role_name(self) -> str:
        """Known name of the deletions Lambda's role: the bucket policy lets it list versions."""
        return f"{self.prefix}-deletions"

    @property
    def erasure_worker_role_name(self) -> str:
        """Known name of the erasure worker's role: the bucket policy lets it list versions."""
        return f"{self.prefix}-erasure-worker"

    @property
    def callback_urls(self) -> tuple[str, ...]:
        """The Cognito app client's callback URLs."""
        return self.cognito_callback_urls or tuple(f"{origin}/" for origin in self.frontend_origins)

    @property
    def logout_urls(self) -> tuple[str, ...]:
        return self.cognito_logout_urls or self.callback_urls

    @property
    def groups_claim(self) -> GroupsClaim:
        """Where the Lambdas read the caller's groups: Cognito's claim, or the issuer's."""
        if self.jwt is None:
            return COGNITO_GROUPS
        return GroupsClaim(name=self.jwt.groups_claim, format=self.jwt.groups_format)

    @property
    def jwt_audience(self) -> tuple[str, ...]:
        return self.jwt.audience if self.jwt else ("filegate",)


def _merge(defaults: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(defaults)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def _setting_path(env: str, loc: tuple[int | str, ...]) -> str:
    path = f"environments.{env}"
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def environment_from_context(filegate_context: Any, env: str) -> EnvironmentConfig:
    """Build one environment's config from the ``filegate`` context object."""
    if not isinstance(filegate_context, dict):
        raise ConfigError("context.filegate: missing or not an object")
    environments = filegate_context.get("environments")
    if not isinstance(environments, dict) or not environments:
        raise ConfigError("context.filegate.environments: missing or empty")
    if env not in environments:
        raise ConfigError(f"env: unknown environment {env!r}; configured: {sorted(environments)}")
    defaults = filegate_context.get("defaults", {})
    if not isinstance(defaults, dict) or not isinstance(environments[env], dict):
        raise ConfigError(f"environments.{env}: must be an object")
    raw = _merge(defaults, environments[env])
    raw["name"] = env
    try:
        return EnvironmentConfig.model_validate(raw)
    except RuleConfigError as error:
        raise ConfigError(f"environments.{env}.{error}") from error
    except ValidationError as error:
        first = error.errors()[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        if isinstance(first.get("ctx", {}).get("error"), RuleConfigError):
            raise ConfigError(f"environments.{env}.{first['ctx']['error']}") from error
        loc = tuple(first["loc"])
        if _NAMED_SETTING.match(message):  # a check across settings whose message starts with the setting to blame
            raise ConfigError(f"{_setting_path(env, loc)}.{message}") from error
        raise ConfigError(f"{_setting_path(env, loc)}: {message}") from error


def environment_names(filegate_context: Any) -> list[str]:
    if not isinstance(filegate_context, dict) or not isinstance(filegate_context.get("environments"), dict):
        raise ConfigError("context.filegate.environments: missing or not an object")
    return sorted(filegate_context["environments"])


def read_context(path: Path = DEFAULT_CONTEXT_FILE) -> dict[str, Any]:
    """The whole ``context`` object of cdk.json (feature flags included)."""
    context = json.loads(path.read_text())["context"]
    assert isinstance(context, dict)
    return context


def load_environment(env: str = "dev", path: Path = DEFAULT_CONTEXT_FILE) -> EnvironmentConfig:
    """Load one environment straight from cdk.json (local mode and tests use this)."""
    return environment_from_context(read_context(path).get(CONTEXT_KEY), env)


# --- Deployment from pipelines (docs/deployment.md) ---------------------------------------------

#: The CodeBuild role of the pipeline's verifier steps (tooling account): named, so that each
#: environment's verifier role can trust it before the pipeline exists.
PIPELINE_VERIFY_ROLE_NAME = "filegate-pipeline-verify"
#: The GitHub role for pull-request ``cdk diff`` (one per account): it may assume the lookup role only.
GITHUB_DIFF_ROLE_NAME = "filegate-github-diff"
GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
_CONNECTION_ARN = re.compile(
    r"arn:aws[a-z-]*:(codeconnections|codestar-connections):[a-z0-9-]+:\d{12}:connection/[0-9a-f-]{36}")
_REPOSITORY = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}")
_BRANCH = re.compile(r"[A-Za-z0-9._/-]{1,255}")
_SCHEDULE = re.compile(r"(cron\([^()]{9,200}\)|rate\(\d{1,4} (minute|minutes|hour|hours|day|days)\))")


def _checked_repository(value: str) -> str:
    if not _REPOSITORY.fullmatch(value):
        raise ValueError(f"{value!r} is not an owner/name repository")
    return value


def github_deploy_role_name(env: str) -> str:
    """The role the GitHub workflow's job for ``env`` assumes (in that environment's account)."""
    return f"filegate-github-deploy-{env}"


def verifier_role_name(config: EnvironmentConfig) -> str:
    """The deployment verifier's role in an environment's account (output ``VerifierRoleArn``)."""
    return f"{config.prefix}-deployment-verifier"


def _check_environments(value: tuple[str, ...]) -> tuple[str, ...]:
    if len(set(value)) != len(value):
        raise ValueError(f"{list(value)} names an environment twice")
    for name in value:
        if not _ENV_NAME.match(name):
            raise ValueError(f"{name!r} is not an environment name")
    return value


class PipelineConfig(_Strict):
    """The AWS-native pipeline (CDK Pipelines) in a tooling account: absent, none is synthesized."""

    connection_arn: str
    repository: str
    branch: str = "main"
    account: str
    region: str
    stages: tuple[str, ...] = Field(min_length=1)
    approval_stages: tuple[str, ...] | None = None
    drift_schedule: str = "cron(0 6 * * ? *)"
    run_e2e: bool = True

    @field_validator("connection_arn")
    @classmethod
    def _connection(cls, value: str) -> str:
        if not _CONNECTION_ARN.fullmatch(value):
            raise ValueError(f"{value!r} is not a CodeConnections connection ARN "
                             "(arn:aws:codeconnections:<region>:<account>:connection/<uuid>)")
        return value

    @field_validator("repository")
    @classmethod
    def _repository(cls, value: str) -> str:
        return _checked_repository(value)

    @field_validator("branch")
    @classmethod
    def _branch(cls, value: str) -> str:
        if not _BRANCH.fullmatch(value) or ".." in value:
            raise ValueError(f"{value!r} is not a branch name")
        return value

    @field_validator("account")
    @classmethod
    def _account(cls, value: str) -> str:
        return _checked_account(value)

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        return _checked_region(value)

    @field_validator("stages", "approval_stages")
    @classmethod
    def _stage_names(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if value is None else _check_environments(value)

    @field_validator("drift_schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        if not _SCHEDULE.fullmatch(value):
            raise ValueError(f"{value!r} is not an EventBridge schedule (cron(...) or rate(N unit))")
        return value

    @model_validator(mode="after")
    def _approvals_are_stages(self) -> PipelineConfig:
        for name in self.approval_stages or ():
            if name not in self.stages:
                raise ValueError(f"approval_stages: {name!r} is not in stages {list(self.stages)}")
        return self

    @property
    def approvals(self) -> tuple[str, ...]:
        """Stages preceded by ConfirmPermissionsBroadening and a manual approval (default: prod)."""
        if self.approval_stages is not None:
            return self.approval_stages
        return ("prod",) if "prod" in self.stages else ()


class GithubConfig(_Strict):
    """GitHub Actions deploying with OIDC (.github/workflows/deploy.yml): the deploy roles' trust."""

    repository: str
    environments: tuple[str, ...] | None = None
    protected_environments: tuple[str, ...] | None = None
    create_oidc_provider: bool = True

    @field_validator("repository")
    @classmethod
    def _repository(cls, value: str) -> str:
        return _checked_repository(value)

    @field_validator("environments", "protected_environments")
    @classmethod
    def _names(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if value is None else _check_environments(value)


class DeploymentConfig(_Strict):
    """How environments get deployed besides ``make deploy``: a pipeline, GitHub, both or neither."""

    pipeline: PipelineConfig | None = None
    github: GithubConfig | None = None
    #: Every configured environment, in cdk.json's order (to resolve defaults).
    environment_names: tuple[str, ...] = ()

    def pipeline_stages(self) -> tuple[str, ...]:
        return self.pipeline.stages if self.pipeline else ()

    def github_environments(self) -> tuple[str, ...]:
        if self.github is None:
            return ()
        return self.github.environments if self.github.environments is not None else self.environment_names

    def github_protected(self) -> tuple[str, ...]:
        if self.github is None:
            return ()
        if self.github.protected_environments is not None:
            return self.github.protected_environments
        return ("prod",) if "prod" in self.github_environments() else ()


def deployment_from_context(filegate_context: Any) -> DeploymentConfig:
    """``pipeline`` and ``github`` of the ``filegate`` context, checked against the environments:
    every staged or listed environment exists and names its account."""
    if not isinstance(filegate_context, dict):
        raise ConfigError("context.filegate: missing or not an object")
    names = tuple(environment_names(filegate_context))
    raw = {key: filegate_context[key] for key in ("pipeline", "github") if filegate_context.get(key) is not None}
    try:
        deployment = DeploymentConfig.model_validate({**raw, "environment_names": names})
    except ValidationError as error:
        first = error.errors()[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        path = ".".join(str(part) if not isinstance(part, int) else f"[{part}]" for part in first["loc"])
        path = path.replace(".[", "[")
        if _NAMED_SETTING.match(message):
            top = path.split(".")[0]
            raise ConfigError(f"{top}.{message}") from error
        raise ConfigError(f"{path}: {message}") from error
    checks = [("pipeline.stages", deployment.pipeline_stages()),
              ("github.environments", deployment.github_environments() if deployment.github else ())]
    if deployment.github and deployment.github.protected_environments:
        for name in deployment.github.protected_environments:
            if name not in deployment.github_environments():
                raise ConfigError(f"github.protected_environments: {name!r} is not in github.environments")
    for setting, listed in checks:
        for index, name in enumerate(listed):
            if name not in names:
                raise ConfigError(f"{setting}[{index}]: unknown environment {name!r}; configured: {sorted(names)}")
            if environment_from_context(filegate_context, name).account is None:
                raise ConfigError(f"environments.{name}.account: required, because {setting} deploys it "
                                  "(a pipeline or workflow deploys to explicit accounts)")
    return deployment
