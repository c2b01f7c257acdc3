"""Group membership from a verified token claim, read so that no name can turn into another.

API Gateway's HTTP API JWT authorizer hands array claims to the integration as one string,
``[careers org]``: names joined by a space, with no quoting. That form cannot represent a
name that contains a space, a bracket or a quote (``["no careers access"]`` arrives exactly as
``["no", "careers", "access"]`` would), so it is only safe for issuers whose group names can
contain none of them. Two claim formats follow (``GroupsClaim.format``):

* ``array``: a JSON array whose names the issuer guarantees are free of white space. Cognito's
  ``cognito:groups`` is one (its GroupName pattern is ``[\\p{L}\\p{M}\\p{S}\\p{N}\\p{P}]+``: no
  white space, but brackets and quotes are allowed); so are Entra ID group object ids and
  app-role values. The stringified form is parsed strictly: every name must be a rule group
  name (``GROUP_NAME``), or the whole claim is refused, because a name outside that charset
  means the string may not say what the token said.
* ``json_string``: a *string* claim holding a JSON array (an issuer-side claim mapper writes
  it). API Gateway passes strings through unchanged, so every name survives, spaces and all;
  names no rule can name are simply never matched.

A missing claim means no groups. Anything else refuses the request: fail closed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Literal

from filegate.domain.errors import Reason, Refusal

GroupsFormat = Literal["array", "json_string"]
GROUPS_FORMATS: tuple[GroupsFormat, ...] = ("array", "json_string")

#: Group names a rule may name: no white space (the stringified claim separates names with
#: it), and no comma, quote or bracket, so that no claim value can be read as another name.
GROUP_NAME = re.compile(r"[A-Za-z0-9_.:@-]{1,128}")
#: JWT claim names a deployment may configure (what issuers use: ``cognito:groups``,
#: ``groups``, ``roles``, ``https://example.org/groups``...).
CLAIM_NAME = re.compile(r"[A-Za-z0-9_.:/@-]{1,128}")
MAX_GROUPS = 200


@dataclass(frozen=True, slots=True)
class GroupsClaim:
    """Which claim carries the caller's groups, and in which format."""

    name: str = "cognito:groups"
    format: GroupsFormat = "array"


COGNITO_GROUPS = GroupsClaim()


def is_group_name(value: str) -> bool:
    return GROUP_NAME.fullmatch(value) is not None


def _unusable(why: str) -> Refusal:
    return Refusal(Reason.GROUPS_UNUSABLE, f"the token's groups claim cannot be read safely ({why})")


def _names(values: list[object]) -> frozenset[str]:
    if len(values) > MAX_GROUPS:
        raise _unusable(f"more than {MAX_GROUPS} groups")
    if not all(isinstance(value, str) for value in values):
        raise _unusable("a group name is not a string")
    return frozenset(values)  # type: ignore[arg-type] # every value is a str (checked above)


def _stringified_array(text: str) -> frozenset[str]:
    """API Gateway's ``[a b]`` (or a string claim holding one name): every name must be a rule
    group name. An empty list is no groups; a bare string with a space is not this form."""
    if text.startswith("[") and text.endswith("]"):
        if text == "[]":
            return frozenset()
        names = text[1:-1].split(" ")
    else:
        names = [text]
    if not all(is_group_name(name) for name in names):
        raise _unusable("a name holds white space, a bracket, a quote or another character group names cannot")
    return _names(list(names))


def groups_from_claim(value: object, claim_format: GroupsFormat) -> frozenset[str]:
    """The caller's groups, or a ``Refusal`` (403) when the claim could say something else."""
    if value is None:
        return frozenset()
    if isinstance(value, list):  # a real JSON array (payloads that keep JSON types): unambiguous
        return _names(value)
    if not isinstance(value, str):
        raise _unusable("neither a string nor an array")
    if claim_format == "array":
        return _stringified_array(value)
    try:
        parsed = json.loads(value)
    except (ValueError, RecursionError):
        raise _unusable("not a JSON array") from None
    if not isinstance(parsed, list):
        raise _unusable("not a JSON array")
    return _names(parsed)
