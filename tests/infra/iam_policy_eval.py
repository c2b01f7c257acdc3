"""A small IAM policy evaluator for the synthesized templates (tests only, shares no code with stacks/).

It reads a policy the way IAM does for a caller in the policy's own account: explicit Deny first,
then an Allow from the resource policy or (where the resource policy delegates to the account,
or for S3 in any case) from the caller's identity policies. Anything it does not understand (an
operator, a principal form, an intrinsic function, a policy variable) raises, so a test fails
closed instead of passing on a statement it skipped.

Simplifications, all on the safe side for these tests: one account, no SCPs, permission
boundaries or session policies, no cross-account rules, no KMS grants (the key policy under
test must make grants impossible, and the tests assert exactly that).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import botocore.session

PSEUDO_URL_SUFFIX = "amazonaws.com"

#: Botocore operation names that IAM authorizes under other action names.
_KMS_OPERATION_ACTIONS = {"ReEncrypt": ("ReEncryptFrom", "ReEncryptTo")}


@cache
def kms_actions() -> tuple[str, ...]:
    """Every KMS action, from botocore's service model (``kms:`` + operation name)."""
    operations = botocore.session.get_session().get_service_model("kms").operation_names
    actions: list[str] = []
    for operation in operations:
        actions.extend(f"kms:{name}" for name in _KMS_OPERATION_ACTIONS.get(operation, (operation,)))
    return tuple(sorted(actions))


class Decision(enum.Enum):
    ALLOW = "Allow"
    EXPLICIT_DENY = "ExplicitDeny"
    IMPLICIT_DENY = "ImplicitDeny"


@dataclass(frozen=True)
class Caller:
    """An IAM principal (named by its ``aws:PrincipalArn``) or an AWS service principal."""

    arn: str | None = None
    service: str | None = None

    @classmethod
    def role(cls, arn: str) -> Caller:
        if not re.fullmatch(r"arn:aws[a-z-]*:iam::\d{12}:(role|user)/\S+", arn):
            raise ValueError(f"not an IAM principal ARN: {arn!r}")
        return cls(arn=arn)

    @classmethod
    def aws_service(cls, name: str) -> Caller:
        return cls(service=name)

    @property
    def account(self) -> str | None:
        return self.arn.split(":")[4] if self.arn else None


@dataclass(frozen=True)
class Request:
    caller: Caller
    action: str
    resource: str
    context: Mapping[str, Any] = field(default_factory=dict)

    def full_context(self) -> dict[str, Any]:
        """The request context, with the keys IAM derives from an IAM caller (lower-cased names)."""
        context = {key.lower(): value for key, value in self.context.items()}
        if self.caller.arn:
            context.setdefault("aws:principalarn", self.caller.arn)
            context.setdefault("aws:principalaccount", self.caller.account)
        return context


# ---------------------------------------------------------------------------------------------
# CloudFormation intrinsics, resolved with fixed fake values
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Fakes:
    """Fixed values for one template's pseudo parameters and resource attributes."""

    template: Mapping[str, Any]
    account: str
    region: str
    partition: str = "aws"
    #: (stack name, output name) -> the value another stack's output resolves to; an output not
    #: listed stays the symbolic ``output:<stack>:<output>``.
    stack_outputs: Mapping[tuple[str, str], str] = field(default_factory=dict)

    def _resource(self, logical_id: str) -> Mapping[str, Any]:
        try:
            return self.template["Resources"][logical_id]
        except KeyError:
            raise ValueError(f"unknown logical id {logical_id!r}") from None

    def ref(self, name: str) -> str:
        pseudo = {"AWS::AccountId": self.account, "AWS::Region": self.region, "AWS::Partition": self.partition,
                  "AWS::URLSuffix": PSEUDO_URL_SUFFIX}
        if name in pseudo:
            return pseudo[name]
        resource = self._resource(name)
        kind = resource["Type"]
        if kind == "AWS::S3::Bucket":
            configured = resource.get("Properties", {}).get("BucketName")
            return self.resolve(configured) if configured is not None else f"bucket-{name.lower()}"
        if kind == "AWS::CloudFront::Distribution":
            return "E" + re.sub(r"[^A-Z0-9]", "", name.upper())[:13]
        if kind in {"AWS::KMS::Key", "AWS::IAM::Role", "AWS::Lambda::Function", "AWS::ApiGatewayV2::Api"}:
            return name  # (an API's Ref is its id)
        named = {"AWS::DynamoDB::Table": "TableName", "AWS::Events::EventBus": "Name",
                 "AWS::SecretsManager::Secret": "Name"}
        if kind in named:
            configured = resource.get("Properties", {}).get(named[kind])
            resolved = self.resolve(configured) if configured is not None else name
            # A secret's Ref is its full ARN, with Secrets Manager's 6-character suffix.
            return (f"arn:{self.partition}:secretsmanager:{self.region}:{self.account}:secret:{resolved}-AbCdEf"
                    if kind == "AWS::SecretsManager::Secret" else resolved)
        if kind == "AWS::SQS::Queue":  # Ref is the queue URL
            return f"https://sqs.{self.region}.{PSEUDO_URL_SUFFIX}/{self.account}/{name}"
        raise NotImplementedError(f"Ref to a {kind} ({name})")

    def get_att(self, logical_id: str, attribute: str) -> str:
        resource = self._resource(logical_id)
        kind = resource["Type"]
        if attribute != "Arn":
            raise NotImplementedError(f"Fn::GetAtt {logical_id}.{attribute}")
        if kind == "AWS::S3::Bucket":
            return f"arn:{self.partition}:s3:::{self.ref(logical_id)}"
        if kind == "AWS::IAM::Role":
            name = resource.get("Properties", {}).get("RoleName")
            return f"arn:{self.partition}:iam::{self.account}:role/{self.resolve(name) if name else logical_id}"
        if kind == "AWS::KMS::Key":
            return f"arn:{self.partition}:kms:{self.region}:{self.account}:key/{logical_id}"
        if kind == "AWS::Lambda::Function":
            return f"arn:{self.partition}:lambda:{self.region}:{self.account}:function:{logical_id}"
        prefix = f"arn:{self.partition}"
        regional = {
            "AWS::DynamoDB::Table": f"dynamodb:{self.region}:{self.account}:table/",
            "AWS::Events::EventBus": f"events:{self.region}:{self.account}:event-bus/",
            "AWS::Events::Rule": f"events:{self.region}:{self.account}:rule/",
            "AWS::Events::ApiDestination": f"events:{self.region}:{self.account}:api-destination/",
            "AWS::Events::Connection": f"events:{self.region}:{self.account}:connection/",
            "AWS::SQS::Queue": f"sqs:{self.region}:{self.account}:",
            "AWS::GuardDuty::MalwareProtectionPlan": f"guardduty:{self.region}:{self.account}:malware-protection-plan/",
        }
        if kind in regional:
            name = self.ref(logical_id) if kind in {"AWS::DynamoDB::Table", "AWS::Events::EventBus"} else logical_id
            return f"{prefix}:{regional[kind]}{name}"
        if kind == "AWS::Logs::LogGroup":
            return f"{prefix}:logs:{self.region}:{self.account}:log-group:{logical_id}:*"
        raise NotImplementedError(f"Fn::GetAtt on a {kind} ({logical_id})")

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((name, argument),) = value.items()
            if name == "Ref" or name.startswith("Fn::") or name == "Condition":
                return self._intrinsic(name, argument)
        return {key: self.resolve(item) for key, item in value.items()}

    def _intrinsic(self, name: str, argument: Any) -> str:
        if name == "Ref":
            return self.ref(argument)
        if name == "Fn::GetAtt":
            logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
            return self.get_att(logical_id, attribute)
        if name == "Fn::Join":
            separator, parts = argument
            resolved = [self.resolve(part) for part in self.resolve(parts)]
            if not all(isinstance(part, str) for part in resolved):
                raise ValueError(f"Fn::Join of non-strings: {resolved!r}")
            return separator.join(resolved)
        if name == "Fn::Sub":
            return self._sub(argument)
        if name == "Fn::GetStackOutput":  # another stack's output (CDK's weak cross-stack reference)
            key = (argument["StackName"], argument["OutputName"])
            return self.stack_outputs.get(key, f"output:{key[0]}:{key[1]}")
        raise NotImplementedError(f"intrinsic {name}")

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(self.resolve(variables[name]))
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return self.get_att(logical_id, attribute)
            return self.ref(name)

        return re.sub(r"\$\{([^}!]+)\}", replace, text)


# ---------------------------------------------------------------------------------------------
# Matching
# ---------------------------------------------------------------------------------------------

def _glob(pattern: str, *, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern)
    return re.compile(body, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _glob_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    if "${" in pattern:
        raise NotImplementedError(f"policy variable in {pattern!r}")
    return _glob(pattern, ignore_case=ignore_case).fullmatch(value) is not None


def action_matches(pattern: str, action: str) -> bool:
    """IAM action names are case-insensitive; ``*`` and ``?`` are the only wildcards."""
    return _glob_match(pattern, action, ignore_case=True)


def expand_actions(patterns: Iterable[str], universe: Iterable[str]) -> set[str]:
    patterns = list(patterns)
    return {action for action in universe if any(action_matches(p, action) for p in patterns)}


def _arn_match(pattern: str, value: str) -> bool:
    """ArnEquals/ArnLike: each of the six colon-separated parts is matched on its own."""
    pattern_parts, value_parts = pattern.split(":", 5), value.split(":", 5)
    if len(pattern_parts) != 6 or len(value_parts) != 6:
        return False
    return all(_glob_match(p, v) for p, v in zip(pattern_parts, value_parts, strict=True))


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise ValueError(f"unresolved condition value {value!r}")


def _number(value: Any) -> float:
    return float(_string(value))


_COMPARATORS: dict[str, tuple[Callable[[Any, Any], bool], bool]] = {
    # base operator -> (positive comparison (context value, policy value), negated)
    "StringEquals": (lambda c, p: _string(c) == _string(p), False),
    "StringNotEquals": (lambda c, p: _string(c) == _string(p), True),
    "StringEqualsIgnoreCase": (lambda c, p: _string(c).lower() == _string(p).lower(), False),
    "StringNotEqualsIgnoreCase": (lambda c, p: _string(c).lower() == _string(p).lower(), True),
    "StringLike": (lambda c, p: _glob_match(_string(p), _string(c)), False),
    "StringNotLike": (lambda c, p: _glob_match(_string(p), _string(c)), True),
    "ArnEquals": (lambda c, p: _arn_match(_string(p), _string(c)), False),
    "ArnLike": (lambda c, p: _arn_match(_string(p), _string(c)), False),
    "ArnNotEquals": (lambda c, p: _arn_match(_string(p), _string(c)), True),
    "ArnNotLike": (lambda c, p: _arn_match(_string(p), _string(c)), True),
    "NumericEquals": (lambda c, p: _number(c) == _number(p), False),
    "NumericNotEquals": (lambda c, p: _number(c) == _number(p), True),
    "NumericLessThan": (lambda c, p: _number(c) < _number(p), False),
    "NumericLessThanEquals": (lambda c, p: _number(c) <= _number(p), False),
    "NumericGreaterThan": (lambda c, p: _number(c) > _number(p), False),
    "NumericGreaterThanEquals": (lambda c, p: _number(c) >= _number(p), False),
    "Bool": (lambda c, p: _string(c).lower() == _string(p).lower(), False),
}


def _condition_entry_holds(operator: str, key: str, policy_values: Any, context: Mapping[str, Any]) -> bool:
    set_operator, _, base = operator.rpartition(":")
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    values = _as_list(policy_values)
    present = key.lower() in context
    actual = context.get(key.lower())

    if base == "Null":
        if set_operator or if_exists:
            raise NotImplementedError(operator)
        return all((not present) == (_string(v).lower() == "true") for v in values)
    if base not in _COMPARATORS:
        raise NotImplementedError(f"condition operator {operator}")
    compare, negated = _COMPARATORS[base]

    def matches_any(context_value: Any) -> bool:
        return any(compare(context_value, value) for value in values)

    if set_operator == "":
        if not present:
            return if_exists or negated
        if isinstance(actual, list | tuple | set):
            raise NotImplementedError(f"single-valued {operator} on multivalued key {key}")
        return matches_any(actual) != negated
    if set_operator not in {"ForAnyValue", "ForAllValues"} or base == "Bool" or if_exists:
        raise NotImplementedError(f"condition operator {operator}")
    members = list(_as_list(actual)) if present and actual is not None else []
    if set_operator == "ForAnyValue":  # false when the key is missing or empty
        return any(matches_any(member) != negated for member in members)
    return all(matches_any(member) != negated for member in members)  # ForAllValues: true when empty


def conditions_hold(condition: Mapping[str, Mapping[str, Any]] | None, context: Mapping[str, Any]) -> bool:
    """Every operator block and every key in it must hold (AND); values within a key are ORed."""
    return all(
        _condition_entry_holds(operator, key, values, context)
        for operator, block in (condition or {}).items()
        for key, values in block.items()
    )


# ---------------------------------------------------------------------------------------------
# Statements and evaluation
# ---------------------------------------------------------------------------------------------

_STATEMENT_KEYS = {"Sid", "Effect", "Principal", "Action", "NotAction", "Resource", "NotResource", "Condition"}


class PrincipalMatch(enum.Enum):
    NONE = 0
    DIRECT = 1  # names the caller (or everyone): the resource policy alone can allow
    ACCOUNT = 2  # names the caller's account: IAM must also allow (delegation)


def _principal_match(principal: Any, caller: Caller) -> PrincipalMatch:
    if principal == "*":
        return PrincipalMatch.DIRECT
    if not isinstance(principal, dict):
        raise NotImplementedError(f"principal {principal!r}")
    unknown = set(principal) - {"AWS", "Service"}
    if unknown:
        raise NotImplementedError(f"principal types {sorted(unknown)}")
    best = PrincipalMatch.NONE
    for value in _as_list(principal.get("AWS", [])):
        if not isinstance(value, str):
            raise ValueError(f"unresolved principal {value!r}")
        if value == "*":
            return PrincipalMatch.DIRECT
        if caller.arn is None:
            continue
        if value == caller.arn:
            return PrincipalMatch.DIRECT
        root = re.fullmatch(r"(?:arn:aws[a-z-]*:iam::)?(\d{12})(?::root)?", value)
        if root and root.group(1) == caller.account:
            best = PrincipalMatch.ACCOUNT
        elif "*" in value:
            raise NotImplementedError(f"wildcard in principal {value!r}")
    for value in _as_list(principal.get("Service", [])):
        if caller.service is not None and value == caller.service:
            return PrincipalMatch.DIRECT
    return best


def _statement_applies(statement: Mapping[str, Any], request: Request, context: Mapping[str, Any]) -> bool:
    unknown = set(statement) - _STATEMENT_KEYS
    if unknown:
        raise NotImplementedError(f"statement keys {sorted(unknown)}")
    if ("Action" in statement) == ("NotAction" in statement):
        raise ValueError(f"statement needs exactly one of Action/NotAction: {statement}")
    if "Action" in statement:
        action_ok = any(action_matches(a, request.action) for a in _as_list(statement["Action"]))
    else:
        action_ok = not any(action_matches(a, request.action) for a in _as_list(statement["NotAction"]))
    if not action_ok:
        return False
    if "NotResource" in statement:
        resource_ok = not any(_glob_match(r, request.resource) for r in _as_list(statement["NotResource"]))
    else:
        resource_ok = any(_glob_match(r, request.resource) for r in _as_list(statement.get("Resource", [])))
    return resource_ok and conditions_hold(statement.get("Condition"), context)


def _statements(policy: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    if policy is None:
        return []
    statements = _as_list(policy.get("Statement", []))
    for statement in statements:
        if statement.get("Effect") not in {"Allow", "Deny"}:
            raise ValueError(f"statement without a valid Effect: {statement}")
        if "NotPrincipal" in statement:
            raise NotImplementedError("NotPrincipal")
    return statements


def _resource_policy_verdict(policy: Mapping[str, Any] | None, request: Request,
                             context: Mapping[str, Any]) -> tuple[bool, bool, bool]:
    """(explicit deny, allow naming the caller, allow delegated to the caller's account)."""
    direct = delegated = False
    for statement in _statements(policy):
        if "Principal" not in statement:
            raise ValueError(f"resource policy statement without a Principal: {statement}")
        match = _principal_match(statement["Principal"], request.caller)
        if match is PrincipalMatch.NONE or not _statement_applies(statement, request, context):
            continue
        if statement["Effect"] == "Deny":
            return True, False, False
        direct = direct or match is PrincipalMatch.DIRECT
        delegated = delegated or match is PrincipalMatch.ACCOUNT
    return False, direct, delegated


def _identity_verdict(policies: Sequence[Mapping[str, Any]], request: Request,
                      context: Mapping[str, Any]) -> tuple[bool, bool]:
    """(explicit deny, allow) from the caller's identity policies."""
    allow = False
    if request.caller.arn is None:
        return False, False
    for policy in policies:
        for statement in _statements(policy):
            if "Principal" in statement:
                raise ValueError(f"identity policy statement with a Principal: {statement}")
            if not _statement_applies(statement, request, context):
                continue
            if statement["Effect"] == "Deny":
                return True, False
            allow = True
    return False, allow


def evaluate(
    request: Request,
    *,
    resource_policy: Mapping[str, Any] | None,
    identity_policies: Sequence[Mapping[str, Any]] = (),
    policy_account: str,
    key_policy: bool = False,
) -> Decision:
    """How IAM decides ``request`` against one resource policy and the caller's identity policies.

    ``key_policy``: a KMS key policy, which IAM policies cannot bypass: an identity-policy Allow
    counts only where the key policy allows the caller's account (the root principal).
    """
    context = request.full_context()
    resource_deny, direct, delegated = _resource_policy_verdict(resource_policy, request, context)
    identity_deny, identity_allow = _identity_verdict(identity_policies, request, context)
    if resource_deny or identity_deny:
        return Decision.EXPLICIT_DENY
    if direct:
        return Decision.ALLOW
    identity_counts = request.caller.account == policy_account and identity_allow
    if key_policy:
        identity_counts = identity_counts and delegated
    return Decision.ALLOW if identity_counts else Decision.IMPLICIT_DENY


#: A request over TLS 1.3, as every bucket policy here requires.
TLS_CONTEXT = {"aws:SecureTransport": "true", "s3:TlsVersion": "1.3"}


def decide_on_bucket(caller: Caller, action: str, bucket_arn: str, key: str | None, *,
                     bucket_policy: Mapping[str, Any], account: str, identity: Mapping[str, Any] | None = None,
                     context: Mapping[str, Any] | None = None) -> Decision:
    """``action`` on the bucket (``key`` None) or one of its objects, over TLS 1.3 unless ``context``
    says otherwise, as the bucket policy and (when given) one identity policy decide."""
    resource = f"{bucket_arn}/{key}" if key is not None else bucket_arn
    request = Request(caller, action, resource, {**TLS_CONTEXT, **(context or {})})
    return evaluate(request, resource_policy=bucket_policy, policy_account=account,
                    identity_policies=[identity] if identity else [])


def allow_all(actions: str | list[str] = "*") -> dict[str, Any]:
    """An identity policy allowing ``actions`` on every resource (an administrator's, say)."""
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}


#: The main statement of AWS's PowerUserAccess managed policy: everything but IAM and accounts.
POWER_USER = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "NotAction": ["iam:*", "organizations:*", "account:*"], "Resource": "*"},
]}
