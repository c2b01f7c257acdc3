"""Which IAM callers may use the ``/backend/`` routes: an explicit list of IAM role ARNs.

API Gateway verifies the SigV4 signature and reports the caller as
``requestContext.authorizer.iam.userArn``. A server running under a role signs with that
role's session credentials, so API Gateway reports an STS assumed-role ARN:
``arn:<partition>:sts::<account>:assumed-role/<RoleName>/<session>``. That ARN carries no role
path, but role names are unique within an account whatever their path, so it matches the
listed role ``arn:<partition>:iam::<account>:role/<optional/path/><RoleName>`` when partition,
account and name are equal. Any other caller, and every caller when the list is empty, is
refused. No wildcards: a listed ARN names exactly one role.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_NAME = r"[A-Za-z0-9_+=,.@-]{1,64}"
ROLE_ARN = re.compile(
    rf"^arn:(?P<partition>aws[a-z-]*):iam::(?P<account>\d{{12}}):role/(?P<path>(?:[A-Za-z0-9_+=,.@-]+/)*)"
    rf"(?P<name>{_NAME})$")
ASSUMED_ROLE_ARN = re.compile(
    rf"^arn:(?P<partition>aws[a-z-]*):sts::(?P<account>\d{{12}}):assumed-role/(?P<name>{_NAME})"
    r"/(?P<session>[A-Za-z0-9_+=,.@-]{2,64})$")


def is_role_arn(value: str) -> bool:
    return ROLE_ARN.fullmatch(value) is not None


def principal_allowed(caller_arn: str | None, allowed_roles: Iterable[str]) -> bool:
    """True when ``caller_arn`` is a listed role, or a session of one (see the module docstring)."""
    if not caller_arn:
        return False
    roles = tuple(allowed_roles)
    if caller_arn in roles:
        return True
    session = ASSUMED_ROLE_ARN.fullmatch(caller_arn)
    if session is None:
        return False
    for role_arn in roles:
        role = ROLE_ARN.fullmatch(role_arn)
        if role is not None and (role["partition"], role["account"], role["name"]) == (
                session["partition"], session["account"], session["name"]):
            return True
    return False
