"""Access rules: which principals may upload or download under which key templates.

This module is imported by the CDK app at synthesis time, so it depends on the standard
library and pydantic only. ``parse_rules`` is the one entry point for configuration; it
raises ``RuleConfigError`` whose message starts with the setting's path, e.g.
``rules[2].content_types[0]: 'image/svg+xml' is not allowed (SVG carries script)``.

Key templates are ``/``-separated segments. Each segment is a literal, a claim placeholder
(``{sub}``, ``{org_id}``: filled from verified token claims only) or, last and exactly once,
``{file}`` (a server-chosen random id plus the extension of the declared content type).
Placeholders fill whole segments, so two claim values can never run together and a claim
value can never extend into a neighbouring prefix.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from filegate.domain.errors import Reason, Refusal
from filegate.domain.groups import CLAIM_NAME, is_group_name
from filegate.domain.identity import Identity

Action = Literal["upload", "download", "delete"]
Disposition = Literal["attachment", "inline"]
ACTIONS: tuple[Action, ...] = ("upload", "download", "delete")

MAX_OBJECT_BYTES = 5 * 1024**3  # a single S3 PUT/POST tops out at 5 GiB
MAX_URL_LIFETIME_SECONDS = 7 * 24 * 3600
MAX_TEMPLATE_LENGTH = 512
#: The longest key a rule may produce: a CloudFront KeyValueStore name (the edge's deny list,
#: docs/lifecycle.md) is at most 512 bytes, and every deletable key must be revocable.
MAX_KEY_BYTES = 512
#: Claim values filling a key are at most this long (``filegate.domain.keys.CLAIM_VALUE``).
MAX_CLAIM_CHARS = 128
#: ``{file}`` becomes ``<32 hex>.<extension of at most 8>``.
_FILE_SEGMENT_CHARS = 32 + 1 + 8
#: The largest ``max_files_per_owner`` a rule may set (docs/lifecycle.md, "Quotas").
MAX_FILES_PER_OWNER = 100_000

#: Content types a rule may name, with the extension the server gives the stored object
#: (first) and the extensions a client's filename may keep (all).
CONTENT_TYPE_EXTENSIONS: Mapping[str, tuple[str, ...]] = {
    "application/pdf": ("pdf",),
    "application/msword": ("doc",),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ("docx",),
    "application/vnd.ms-excel": ("xls",),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ("xlsx",),
    "application/vnd.ms-powerpoint": ("ppt",),
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": ("pptx",),
    "application/vnd.oasis.opendocument.text": ("odt",),
    "application/vnd.oasis.opendocument.spreadsheet": ("ods",),
    "application/zip": ("zip",),
    "text/plain": ("txt",),
    "text/csv": ("csv",),
    "image/png": ("png",),
    "image/jpeg": ("jpg", "jpeg", "jpe"),
    "image/gif": ("gif",),
    "image/webp": ("webp",),
    "image/avif": ("avif",),
    "image/heic": ("heic",),
    "image/tiff": ("tif", "tiff"),
    "audio/mpeg": ("mp3",),
    "video/mp4": ("mp4",),
}

#: Raster images browsers render without running anything: the only types allowed ``inline``.
SAFE_INLINE_TYPES: frozenset[str] = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})

_FORBIDDEN_TYPES: Mapping[str, str] = {
    "image/svg+xml": "SVG carries script",
    "text/html": "HTML runs script in our origin",
    "application/xhtml+xml": "XHTML runs script in our origin",
    "text/xml": "XML can render as script-bearing XHTML",
    "application/xml": "XML can render as script-bearing XHTML",
}

_LITERAL_SEGMENT = re.compile(r"[A-Za-z0-9._-]{1,128}")
_PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]{0,39})\}")
_RESERVED_CLAIMS = frozenset({"file", "groups"})
#: Claims a key template may name unless the deployment lists others: both are set by the
#: issuer or an administrator, never by the user (DESIGN.md decision 6).
DEFAULT_PLACEHOLDER_CLAIMS: tuple[str, ...] = ("sub", "org_id")
#: Standard OpenID Connect claims that users can change themselves at most issuers (profile
#: self-service): a key built from one would follow whatever the user typed last.
USER_EDITABLE_CLAIMS = frozenset({
    "email", "email_verified", "preferred_username", "username", "name", "nickname", "given_name",
    "family_name", "middle_name", "profile", "picture", "website", "gender", "birthdate",
    "zoneinfo", "locale", "phone_number", "phone_number_verified", "address", "upn", "unique_name",
})
FILE_PLACEHOLDER = "{file}"


class RuleConfigError(ValueError):
    """A rule set that must not be deployed; the message starts with the setting's path."""


class _FieldError(ValueError):
    """A cross-field check failed; ``field`` says which field to blame in the setting path."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class Segment:
    """One ``/``-separated piece of a key template."""

    kind: Literal["literal", "claim", "file"]
    value: str  # the literal text, or the claim name ("file" for the file segment)


def forbidden_reason(content_type: str) -> str | None:
    """Why a content type may never be served from our origin, or None."""
    if content_type in _FORBIDDEN_TYPES:
        return _FORBIDDEN_TYPES[content_type]
    if "javascript" in content_type or "ecmascript" in content_type:
        return "script"
    if content_type.endswith("+xml"):
        return "XML types can carry script"
    if content_type.startswith("text/html"):
        return "HTML runs script in our origin"
    return None


def _check_content_type(value: str) -> str:
    reason = forbidden_reason(value.lower())
    if reason is not None:
        raise ValueError(f"{value!r} is not allowed ({reason})")
    if value != value.strip().lower():
        raise ValueError(f"{value!r} must be a lowercase MIME type without spaces")
    if value not in CONTENT_TYPE_EXTENSIONS:
        raise ValueError(f"{value!r} is not a known content type; known: {', '.join(sorted(CONTENT_TYPE_EXTENSIONS))}")
    return value


def _check_group(value: str) -> str:
    if not is_group_name(value):
        raise ValueError(f"{value!r} is not a group name (1-128 of A-Z a-z 0-9 _ . : @ -)")
    return value


def parse_template(template: str) -> tuple[Segment, ...]:
    """Split and check a key template; raises ValueError with a readable message."""
    if len(template) > MAX_TEMPLATE_LENGTH:
        raise ValueError(f"must be at most {MAX_TEMPLATE_LENGTH} characters")
    if not template.startswith(("private/", "public/")):
        raise ValueError(f"{template!r} must start with 'private/' or 'public/'")
    if "//" in template:
        raise ValueError(f"{template!r} must not contain '//'")
    if ".." in template:
        raise ValueError(f"{template!r} must not contain '..'")
    if template.count(FILE_PLACEHOLDER) != 1 or not template.endswith("/" + FILE_PLACEHOLDER):
        raise ValueError(f"{template!r} must end with '/{{file}}', and name {{file}} exactly once")
    segments: list[Segment] = []
    claims: set[str] = set()
    parts = template.split("/")
    for part in parts[:-1]:
        placeholder = _PLACEHOLDER.fullmatch(part)
        if placeholder:
            name = placeholder.group(1)
            if name in _RESERVED_CLAIMS:
                raise ValueError(f"{template!r}: {{{name}}} cannot name a claim")
            if name in claims:
                raise ValueError(f"{template!r}: {{{name}}} appears twice")
            claims.add(name)
            segments.append(Segment("claim", name))
        elif _LITERAL_SEGMENT.fullmatch(part) and part not in {".", ".."}:
            segments.append(Segment("literal", part))
        else:
            raise ValueError(
                f"{template!r}: segment {part!r} must be a whole placeholder like {{sub}} "
                "or literal text of letters, digits, '.', '_' and '-'")
    segments.append(Segment("file", "file"))
    return tuple(segments)


def _check_template(value: str) -> str:
    parse_template(value)
    return value


class Rule(BaseModel):
    """One access rule. Build rule sets with ``parse_rules``, which also checks them together."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, defer_build=True)

    name: Annotated[str, Field(pattern=r"^[a-z0-9-]{1,40}$")]
    key_template: Annotated[str, AfterValidator(_check_template)]
    groups: Annotated[tuple[Annotated[str, AfterValidator(_check_group)], ...], Field(min_length=1)]
    actions: Annotated[tuple[Action, ...], Field(min_length=1)]
    content_types: Annotated[tuple[Annotated[str, AfterValidator(_check_content_type)], ...], Field(min_length=1)]
    max_bytes: Annotated[int, Field(ge=1, le=MAX_OBJECT_BYTES)]
    url_lifetime_seconds: Annotated[int, Field(ge=1, le=MAX_URL_LIFETIME_SECONDS)] | None = None
    disposition: Disposition = "attachment"
    #: Uploads one owner scope may hold under this rule (docs/lifecycle.md, "Quotas"); None: no quota.
    max_files_per_owner: Annotated[int, Field(ge=1, le=MAX_FILES_PER_OWNER)] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        repeatable: tuple[tuple[str, tuple[str, ...]], ...] = (
            ("groups", self.groups), ("actions", self.actions), ("content_types", self.content_types))
        for field, values in repeatable:
            if len(set(values)) != len(values):
                raise _FieldError(field, "must not repeat a value")
        if self.longest_key_bytes > MAX_KEY_BYTES:
            raise _FieldError("key_template", f"its keys can be {self.longest_key_bytes} bytes long (each claim up "
                                              f"to {MAX_CLAIM_CHARS} characters); the edge's deny list names keys "
                                              f"of at most {MAX_KEY_BYTES} bytes")
        if self.is_public and "download" in self.actions:
            raise _FieldError("actions", "a public/ rule cannot have 'download': public files are served unsigned")
        if self.disposition == "inline":
            unsafe = sorted(set(self.content_types) - SAFE_INLINE_TYPES)
            if unsafe:
                raise _FieldError(
                    "disposition",
                    f"'inline' is only allowed for safe raster images ({', '.join(sorted(SAFE_INLINE_TYPES))}); "
                    f"not for {', '.join(unsafe)}")
        return self

    @cached_property
    def segments(self) -> tuple[Segment, ...]:
        return parse_template(self.key_template)

    @cached_property
    def claim_names(self) -> tuple[str, ...]:
        return tuple(segment.value for segment in self.segments if segment.kind == "claim")

    @property
    def org_scoped(self) -> bool:
        """True when the template names ``{org_id}``: its files belong to the org (GSI ``org``)."""
        return "org_id" in self.claim_names

    @property
    def longest_key_bytes(self) -> int:
        """The longest key this rule can produce (all ASCII): literals, claims at their longest,
        the file segment, the slashes."""
        lengths = {"literal": 0, "claim": MAX_CLAIM_CHARS, "file": _FILE_SEGMENT_CHARS}
        return (sum(len(segment.value) if segment.kind == "literal" else lengths[segment.kind]
                    for segment in self.segments) + len(self.segments) - 1)

    @property
    def is_public(self) -> bool:
        return self.key_template.startswith("public/")

    @property
    def key_prefix_pattern(self) -> str:
        """The template with every placeholder replaced by ``*`` (an IAM resource pattern)."""
        return _PLACEHOLDER.sub("*", self.key_template)

    @property
    def inline(self) -> bool:
        return self.disposition == "inline"

    def allows(self, action: Action) -> bool:
        return action in self.actions

    def admits(self, groups: Iterable[str]) -> bool:
        """True when the caller belongs to one of the rule's groups."""
        return not set(self.groups).isdisjoint(groups)

    def extension_for(self, content_type: str) -> str | None:
        """The stored object's extension for an allowed content type, else None."""
        if content_type not in self.content_types:
            return None
        return CONTENT_TYPE_EXTENSIONS[content_type][0]

    @cached_property
    def extensions(self) -> frozenset[str]:
        return frozenset(CONTENT_TYPE_EXTENSIONS[content_type][0] for content_type in self.content_types)


def _path(setting: str, index: int, loc: tuple[int | str, ...]) -> str:
    path = f"{setting}[{index}]"
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def templates_overlap(first: tuple[Segment, ...], second: tuple[Segment, ...]) -> bool:
    """True when two different templates could produce the same key for different claims."""
    if first == second or len(first) != len(second):
        return False
    for a, b in zip(first, second, strict=True):
        if a.kind == "literal" and b.kind == "literal" and a.value != b.value:
            return False
    return True


def check_groups_claim(name: str, placeholder_claims: Iterable[str]) -> str:
    """The claim the caller's groups come from: a claim name, and none that also fills keys or
    that users edit themselves (a user who can write the claim would choose their groups)."""
    if not CLAIM_NAME.fullmatch(name):
        raise ValueError(f"{name[:40]!r} is not a claim name (1-128 of A-Z a-z 0-9 _ . : / @ -)")
    if name == "sub" or name in tuple(placeholder_claims) or name in USER_EDITABLE_CLAIMS:
        raise ValueError(f"{name!r} cannot carry groups: it is the subject, a placeholder claim, or a claim "
                         "users can change themselves")
    return name


def check_placeholder_claims(raw: object, *, setting: str = "placeholder_claims") -> tuple[str, ...]:
    """The claims key templates may name: placeholder names, none a user can edit."""
    if isinstance(raw, tuple):
        raw = list(raw)
    if not isinstance(raw, list) or not raw or not all(isinstance(name, str) for name in raw):
        raise RuleConfigError(f"{setting}: must be a non-empty list of claim names")
    for index, name in enumerate(raw):
        if not _PLACEHOLDER.fullmatch("{" + name + "}") or name in _RESERVED_CLAIMS:
            raise RuleConfigError(f"{setting}[{index}]: {name!r} cannot be a placeholder claim")
        if name in USER_EDITABLE_CLAIMS:
            raise RuleConfigError(
                f"{setting}[{index}]: {name!r} is a claim users can change themselves at most issuers; "
                "a key built from it would follow whatever the user typed last")
    if len(set(raw)) != len(raw):
        raise RuleConfigError(f"{setting}: must not repeat a claim")
    return tuple(raw)


def _parse_rule(item: object, *, setting: str, index: int) -> Rule:
    if isinstance(item, Rule):
        return item
    if not isinstance(item, dict):
        raise RuleConfigError(f"{setting}[{index}]: must be an object")
    try:
        return Rule.model_validate(_json_shaped(item))
    except ValidationError as error:
        first = error.errors()[0]
        cause = first.get("ctx", {}).get("error")
        loc: tuple[int | str, ...] = tuple(first["loc"])
        if isinstance(cause, _FieldError):
            loc = (cause.field,)
        message = str(first["msg"]).removeprefix("Value error, ")
        raise RuleConfigError(f"{_path(setting, index, loc)}: {message}") from error


def parse_rules(raw: object, *, setting: str = "rules",
                placeholder_claims: Iterable[str] = DEFAULT_PLACEHOLDER_CLAIMS) -> tuple[Rule, ...]:
    """Validate a rule set (a JSON list of rule objects) as a whole.

    Besides each rule's own checks: every placeholder names an allowed claim, names are
    unique, and no two templates can produce the same key for different claim values (which
    would let one identity reach another's files).
    """
    allowed_claims = tuple(placeholder_claims)
    if isinstance(raw, tuple):
        raw = list(raw)
    if not isinstance(raw, list):
        raise RuleConfigError(f"{setting}: must be a list of rule objects")
    if not raw:
        raise RuleConfigError(f"{setting}: at least one rule is required")
    rules = [_parse_rule(item, setting=setting, index=index) for index, item in enumerate(raw)]
    seen: dict[str, int] = {}
    for index, rule in enumerate(rules):
        for claim in rule.claim_names:
            if claim not in allowed_claims:
                raise RuleConfigError(
                    f"{setting}[{index}].key_template: {{{claim}}} is not an allowed placeholder; "
                    f"allowed: {', '.join(allowed_claims)} (placeholder_claims)")
        if rule.name in seen:
            raise RuleConfigError(f"{setting}[{index}].name: duplicate rule name {rule.name!r}")
        seen[rule.name] = index
        for other in rules[:index]:
            if templates_overlap(rule.segments, other.segments):
                raise RuleConfigError(
                    f"{setting}[{index}].key_template: {rule.key_template!r} can produce the same keys as rule "
                    f"{other.name!r} ({other.key_template!r}) for different claims")
    return tuple(rules)


def _json_shaped(item: dict[str, Any]) -> dict[str, Any]:
    """Lists to tuples, so strict validation accepts JSON arrays for the tuple fields."""
    return {key: tuple(value) if isinstance(value, list) else value for key, value in item.items()}


def rules_by_name(rules: Iterable[Rule]) -> dict[str, Rule]:
    return {rule.name: rule for rule in rules}


def authorize(rules: Mapping[str, Rule], identity: Identity, action: Action, rule_name: str) -> Rule:
    """The named rule when it lets this identity do ``action``; else a ``Refusal`` with the reason.

    Every refusal carries the same client-facing code (403) and a message that does not tell an
    outsider which rules exist beyond the one they named.
    """
    rule = rules.get(rule_name)
    if rule is None:
        raise Refusal(Reason.NO_SUCH_RULE, f"no rule named {rule_name[:40]!r} lets this caller {action}")
    if not rule.allows(action):
        raise Refusal(Reason.ACTION_NOT_ALLOWED, f"rule {rule.name!r} does not allow {action}")
    if not rule.admits(identity.groups):
        raise Refusal(Reason.NOT_IN_GROUP, f"the caller is not in a group that rule {rule.name!r} admits")
    return rule
