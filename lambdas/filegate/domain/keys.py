"""Object keys: built from a rule's template and verified claims only; client filenames neutralised.

A key is ``<template with claims filled in>/<file id>.<ext>`` where the file id is 32 lowercase
hex characters chosen by the server and the extension comes from the declared (and allowed)
content type. The client's filename never reaches the key: it is sanitised and kept only as
object metadata and in the ``Content-Disposition`` header.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from urllib.parse import quote

from filegate.domain.errors import Reason, Refusal
from filegate.domain.identity import Identity
from filegate.domain.rules import CONTENT_TYPE_EXTENSIONS, MAX_CLAIM_CHARS, Action, Disposition, Rule, Segment

#: Claim values usable in a key: RFC 3986 unreserved characters plus a few that identity
#: providers put in subjects (``auth0|123``, ``user@example.org``). Never ``/``, ``\``, ``*``, ``?``.
CLAIM_VALUE = re.compile(rf"[A-Za-z0-9._~@+:|=-]{{1,{MAX_CLAIM_CHARS}}}")
FILE_ID = re.compile(r"[0-9a-f]{32}")
_FILE_NAME = re.compile(r"([0-9a-f]{32})\.([a-z0-9]{1,8})")
#: What a key (or key prefix) sent by a client may contain at all; anything else is refused.
KEY_CHARACTERS = re.compile(r"[A-Za-z0-9._~@+:|=/-]{1,1024}")
MAX_KEY_CHARS = 1024
_SEGMENT_CHARACTER = "[A-Za-z0-9._~@+:|=-]"
_NOT_DOT = "[A-Za-z0-9_~@+:|=-]"
#: One key segment that ``well_formed_key`` accepts (not empty, ``.`` or ``..``), as a regular
#: expression without look-around, so that the OpenAPI document (ECMA-262), pydantic (Rust regex)
#: and Python's ``re`` read it alike. The request models carry these patterns.
SEGMENT_PATTERN = rf"(?:{_NOT_DOT}{_SEGMENT_CHARACTER}*|\.{_NOT_DOT}{_SEGMENT_CHARACTER}*|\.\.{_SEGMENT_CHARACTER}+)"
#: ``well_formed_key`` (with at most ``MAX_KEY_CHARS`` characters).
KEY_PATTERN = rf"^{SEGMENT_PATTERN}(?:/{SEGMENT_PATTERN})*$"
#: ``well_formed_prefix``: well-formed segments, each followed by ``/``.
PREFIX_PATTERN = rf"^(?:{SEGMENT_PATTERN}/)+$"
#: ``usable_claim`` (with at most ``MAX_CLAIM_CHARS`` characters): a claim value is one segment.
CLAIM_VALUE_PATTERN = rf"^{SEGMENT_PATTERN}$"
MAX_FILENAME_CHARS = 120
_FILENAME_REPLACE = re.compile(r'[/\\:*?"<>|]')
_SPACES = re.compile(r"\s+")
#: What ``ascii_fallback`` replaces by ``_`` in the ASCII it keeps: controls, DEL, and ``"\\%;``.
_ASCII_FALLBACK_REPLACED = dict.fromkeys((*range(0x20), 0x7F, *map(ord, '"\\%;')), "_")


def usable_claim(value: str | None) -> bool:
    return value is not None and CLAIM_VALUE.fullmatch(value) is not None and value not in {".", ".."}


def claim_value(identity: Identity, name: str) -> str:
    """A claim the rule names, checked; refuses when missing or unusable in a key."""
    value = identity.claim(name)
    if value is None or value == "":
        raise Refusal(Reason.CLAIM_MISSING, f"this rule needs the '{name}' claim, which the caller does not have")
    if not usable_claim(value):
        raise Refusal(Reason.CLAIM_UNUSABLE, f"the caller's '{name}' claim cannot be used in a file key")
    return value


def key_prefix(rule: Rule, identity: Identity) -> str:
    """The rule's template up to ``{file}``, with the caller's claims filled in (ends with ``/``)."""
    parts = [segment.value if segment.kind == "literal" else claim_value(identity, segment.value)
             for segment in rule.segments[:-1]]
    return "/".join(parts) + "/"


def build_key(rule: Rule, identity: Identity, *, file_id: str, content_type: str) -> str:
    """The key an upload under ``rule`` gets: claims from the identity, file name from the server."""
    if not FILE_ID.fullmatch(file_id):
        raise ValueError("file_id must be 32 lowercase hex characters")
    extension = rule.extension_for(content_type)
    if extension is None:
        raise Refusal(Reason.CONTENT_TYPE_NOT_ALLOWED, f"content type not allowed by rule {rule.name!r}")
    return f"{key_prefix(rule, identity)}{file_id}.{extension}"


def well_formed_key(key: str) -> bool:
    """Plain ASCII, relative, no empty, ``.`` or ``..`` segments: the only keys worth looking up."""
    if not KEY_CHARACTERS.fullmatch(key):
        return False
    return all(segment not in {"", ".", ".."} for segment in key.split("/"))


def well_formed_prefix(prefix: str) -> bool:
    """A key prefix for cookies: well-formed segments, ending with ``/``."""
    return prefix.endswith("/") and well_formed_key(prefix[:-1])


def _segment_matches(segment: Segment, part: str, identity: Identity) -> bool:
    if segment.kind == "literal":
        return part == segment.value
    if segment.kind == "claim":
        value = identity.claim(segment.value)
        return usable_claim(value) and part == value
    return False  # the file segment is checked by the caller


def key_in_rule(rule: Rule, identity: Identity, key: str) -> bool:
    """True when ``key`` is one that ``rule`` produces for exactly this identity's claims."""
    parts = key.split("/")
    if len(parts) != len(rule.segments):
        return False
    for segment, part in zip(rule.segments[:-1], parts[:-1], strict=True):
        if not _segment_matches(segment, part, identity):
            return False
    file_name = _FILE_NAME.fullmatch(parts[-1])
    return file_name is not None and file_name.group(2) in rule.extensions


def key_shape_in_rule(rule: Rule, key: str) -> bool:
    """True when some identity's claims would put ``key`` in ``rule`` (for refusal reasons only)."""
    parts = key.split("/")
    if len(parts) != len(rule.segments):
        return False
    for segment, part in zip(rule.segments[:-1], parts[:-1], strict=True):
        if segment.kind == "literal" and part != segment.value:
            return False
        if segment.kind == "claim" and not usable_claim(part):
            return False
    file_name = _FILE_NAME.fullmatch(parts[-1])
    return file_name is not None and file_name.group(2) in rule.extensions


def sanitize_filename(name: str | None, content_type: str) -> str:
    """A display name safe for metadata and ``Content-Disposition``; never used in a key.

    NFKC first (so full-width solidus and full stop, U+FF0F and U+FF0E, become the ASCII they
    imitate), then drop every
    control, format (bidi overrides, zero-width), surrogate, private-use or unassigned
    character, replace path separators and reserved characters by ``_``, collapse white space,
    strip leading dots and spaces, shorten, and make the extension the one the content type
    implies (``evil.html`` declared as PDF becomes ``evil.html.pdf``).
    """
    extensions = CONTENT_TYPE_EXTENSIONS.get(content_type, ("bin",))
    text = _clean_name(name or "")
    stem, dot, extension = text.rpartition(".")
    if dot and extension.lower() in extensions and stem.strip(" ."):
        stem, extension = stem.strip(" ."), extension.lower()
    else:
        stem, extension = text, extensions[0]
    stem = _clean_name(stem[: MAX_FILENAME_CHARS - len(extension) - 1]) or "file"
    return f"{stem}.{extension}"


def _clean_name(text: str) -> str:
    """Normalise and filter until nothing changes: dropping a character can make a new
    composable pair (``A``, control, combining grave), so one pass is not always enough."""
    for _ in range(4):
        if text.isascii() and text.isprintable():
            cleaned = text  # NFKC keeps printable ASCII as it is, and none of it is in a C* category
        else:
            cleaned = unicodedata.normalize("NFKC", text)
            cleaned = "".join(char for char in cleaned if not unicodedata.category(char).startswith("C"))
        cleaned = _FILENAME_REPLACE.sub("_", cleaned)
        cleaned = _SPACES.sub(" ", cleaned).strip(" .")
        if cleaned == text:
            break
        text = cleaned
    return text


def ascii_fallback(filename: str) -> str:
    """An ASCII rendering of an already-sanitised filename for the plain ``filename=`` parameter."""
    decomposed = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode("ascii")
    text = decomposed.translate(_ASCII_FALLBACK_REPLACED)
    stem, _, extension = text.rpartition(".")
    return text if stem.strip("_ .") else f"file.{extension or 'bin'}"


def content_disposition(disposition: Disposition, filename: str) -> str:
    """RFC 6266 header value: ASCII ``filename`` plus UTF-8 ``filename*`` (ASCII only overall)."""
    return f"{disposition}; filename=\"{ascii_fallback(filename)}\"; filename*=UTF-8''{quote(filename, safe='')}"


def metadata_filename(filename: str) -> str:
    """The original (sanitised) filename as ASCII for ``x-amz-meta-*`` (percent-encoded UTF-8)."""
    return quote(filename, safe=" ._-()[]")


def rule_for_key(rules: Iterable[Rule], identity: Identity, key: str, action: Action = "download") -> Rule:
    """The rule that lets this identity ``action`` this exact key; else a ``Refusal``.

    A key qualifies only when every claim segment equals the caller's own claim: a key from
    another identity's space never matches, whatever the caller's groups.
    """
    if not well_formed_key(key):
        raise Refusal(Reason.INVALID_KEY, "key is not a well-formed file key")
    refusal: Refusal | None = None  # the most specific reason a matching rule gave, built only when refused
    for rule in rules:
        if not key_in_rule(rule, identity, key):
            continue
        if not rule.allows(action):
            refusal = Refusal(Reason.ACTION_NOT_ALLOWED, f"rule {rule.name!r} does not allow {action}")
        elif not rule.admits(identity.groups):
            refusal = Refusal(Reason.NOT_IN_GROUP, f"the caller is not in a group that rule {rule.name!r} admits")
        else:
            return rule
    raise refusal or Refusal(Reason.KEY_OUTSIDE_RULES, f"no rule lets this caller {action} that key")


def rules_for_prefix(rules: Iterable[Rule], identity: Identity, prefix: str) -> tuple[Rule, ...]:
    """The rules whose files lie under ``prefix``, when every such file is this identity's to read.

    A wildcard cookie for ``prefix*`` opens every object under it, so the prefix must be owned
    outright: for every rule that could put any key (for anyone) under it, the caller must be
    allowed to download from that rule and each of the rule's claim segments must already be
    fixed, inside the prefix, to the caller's own claim. ``private/users/<my sub>/`` passes;
    ``private/users/`` or another identity's prefix does not.
    """
    if not well_formed_prefix(prefix):
        raise Refusal(Reason.INVALID_KEY, "prefix must be a well-formed key prefix ending with '/'")
    parts = prefix[:-1].split("/")
    granted: list[Rule] = []
    for rule in rules:
        directories = rule.segments[:-1]
        if len(parts) > len(directories):
            continue
        if not all((segment.kind == "claim" and usable_claim(part))
                   or (segment.kind == "literal" and part == segment.value)
                   for segment, part in zip(directories, parts, strict=False)):
            continue  # this rule never puts a key under the prefix
        owned = (
            rule.allows("download")
            and rule.admits(identity.groups)
            and all(index < len(parts) and _segment_matches(segment, parts[index], identity)
                    for index, segment in enumerate(directories) if segment.kind == "claim")
        )
        if not owned:
            raise Refusal(Reason.PREFIX_NOT_OWNED, "that prefix holds files this caller may not read")
        granted.append(rule)
    if not granted:
        raise Refusal(Reason.PREFIX_NOT_OWNED, "no rule lets this caller read files under that prefix")
    return tuple(granted)
