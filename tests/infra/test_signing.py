"""Signing key slots, the public-key custom resource and the key group (DESIGN.md decision 4)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from aws_cdk.assertions import Match
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.infra import iam_policy_eval
from tests.infra.conftest import Synthesized


def test_each_slot_is_an_ecc_p256_signing_key_only_the_download_role_may_use(app: Synthesized) -> None:
    config = app.environments["prod"].config
    template = app.template("prod", "FileStore")
    keys = template.find_resources("AWS::KMS::Key", {"Properties": {"KeySpec": "ECC_NIST_P256"}})
    assert len(keys) == len(config.signing.slots)
    for key in keys.values():
        properties = key["Properties"]
        assert properties["KeyUsage"] == "SIGN_VERIFY"
        statements = {s["Sid"]: s for s in properties["KeyPolicy"]["Statement"]}
        assert set(statements) == {"KeyInspectionByTheAccount", "KeyAdministrationWithoutUseByNamedRoles",
                                   "DenyAnyGrantOnTheSigningKey", "DenySignGrantsToEveryone",
                                   "SignOnlyAsTheDownloadRole"}
        for sid in ("KeyInspectionByTheAccount", "KeyAdministrationWithoutUseByNamedRoles"):
            admin = statements[sid]
            assert "kms:Sign" not in admin["Action"] and not any("*" in action for action in admin["Action"])
        named = statements["KeyAdministrationWithoutUseByNamedRoles"]["Condition"]["ArnEquals"]["aws:PrincipalArn"]
        assert "cfn-exec-role" in json.dumps(named)
        sign = statements["SignOnlyAsTheDownloadRole"]
        assert sign["Action"] == "kms:Sign"
        assert config.download_role_name in str(sign["Condition"]["ArnEquals"]["aws:PrincipalArn"])
        assert sign["Condition"]["StringEquals"] == {"kms:SigningAlgorithm": "ECDSA_SHA_256", "kms:MessageType": "RAW"}


def test_a_custom_resource_feeds_each_slot_public_key_into_the_key_group(app: Synthesized) -> None:
    config = app.environments["prod"].config
    template = app.template_json("prod", "FileStore")
    readers = {k: r for k, r in template["Resources"].items() if r["Type"] == "Custom::KmsPublicKeyPem"}
    public_keys = {k: r for k, r in template["Resources"].items() if r["Type"] == "AWS::CloudFront::PublicKey"}
    assert len(readers) == len(public_keys) == len(config.signing.slots)
    for public_key in public_keys.values():
        encoded = public_key["Properties"]["PublicKeyConfig"]["EncodedKey"]
        assert encoded["Fn::GetAtt"][0] in readers and encoded["Fn::GetAtt"][1] == "Pem"
    (group,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::CloudFront::KeyGroup"]
    assert sorted(item["Ref"] for item in group["Properties"]["KeyGroupConfig"]["Items"]) == sorted(public_keys)


def test_public_key_logical_ids_are_per_slot_so_rotation_never_edits_a_key(app: Synthesized) -> None:
    # AWS::CloudFront::PublicKey cannot change its key in place (aws-cdk#15301).
    config = app.environments["prod"].config
    template = app.template_json("prod", "FileStore")
    ids = [k for k, r in template["Resources"].items() if r["Type"] == "AWS::CloudFront::PublicKey"]
    for slot in config.signing.slot_names:
        assert any(f"PublicKey{slot}" in logical_id for logical_id in ids)


def test_public_key_reader_is_python_313_arm64_and_may_only_read_public_keys(app: Synthesized) -> None:
    template = app.template("prod", "FileStore")
    template.has_resource_properties("AWS::Lambda::Function", {
        "Handler": "kms_public_key.handler.on_event", "Runtime": "python3.13", "Architectures": ["arm64"],
    })
    template.has_resource_properties("AWS::IAM::Policy", {
        "PolicyDocument": {"Statement": Match.array_with([Match.object_like({
            "Action": "kms:GetPublicKey", "Effect": "Allow",
        })])},
    })


def test_secret_signer_slots_use_configured_public_keys_and_no_kms_keys(variant: Synthesized) -> None:
    template = variant.template("edge", "FileStore")
    template.resource_count_is("AWS::CloudFront::PublicKey", 2)
    template.resource_count_is("Custom::KmsPublicKeyPem", 0)
    assert not template.find_resources("AWS::KMS::Key", {"Properties": {"KeySpec": "ECC_NIST_P256"}})
    policies = variant.template("edge", "FileApi").find_resources("AWS::IAM::Policy")
    secret_reads = [s for p in policies.values() for s in p["Properties"]["PolicyDocument"]["Statement"]
                    if "secretsmanager:GetSecretValue" in s["Action"]]
    resources = json.dumps([s["Resource"] for s in secret_reads])
    assert "secret:filegate/edge/old-" in resources and "secret:filegate/edge/new-" in resources


# --- Finding 1 (issue 7): nobody but the download role may sign, and nobody may grant Sign -------

FAKE_ACCOUNT = "111122223333"
#: What any of the account's principals may do with a signing key: look, never change or use.
KEY_INSPECTION = {
    "kms:DescribeKey", "kms:GetKeyPolicy", "kms:ListKeyPolicies", "kms:GetPublicKey", "kms:GetKeyRotationStatus",
    "kms:ListKeyRotations", "kms:ListResourceTags", "kms:ListGrants",
}
#: What CloudFormation's execution role (and configured key administrators) may do besides.
KEY_CHANGES = {
    "kms:PutKeyPolicy", "kms:EnableKeyRotation", "kms:DisableKeyRotation", "kms:EnableKey", "kms:DisableKey",
    "kms:UpdateKeyDescription", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion", "kms:TagResource",
    "kms:UntagResource", "kms:CreateAlias", "kms:UpdateAlias", "kms:DeleteAlias", "kms:RevokeGrant",
    "kms:RetireGrant",
}
KEY_ADMINISTRATION = KEY_INSPECTION | KEY_CHANGES
SIGNING_ALGORITHMS = ["ECDSA_SHA_256", "ECDSA_SHA_384", "ECDSA_SHA_512", "RSASSA_PSS_SHA_256",
                      "RSASSA_PKCS1_V1_5_SHA_256", "SM2DSA", "ML_DSA_SHAKE_256"]
GRANT_OPERATIONS = ["Sign", "Verify", "GetPublicKey", "DescribeKey", "CreateGrant", "RetireGrant", "Decrypt"]


@dataclass(frozen=True)
class SlotKeyPolicy:
    env: str
    account: str
    key_arn: str
    policy: dict[str, Any]
    download_role_arn: str
    deploy_role_arn: str


def _slot_key_policies(synth: Synthesized, env: str) -> list[SlotKeyPolicy]:
    config = synth.environments[env].config
    template = synth.template_json(env, "FileStore")
    fakes = iam_policy_eval.Fakes(template, account=config.account or FAKE_ACCOUNT, region=config.region)
    return [
        SlotKeyPolicy(env=env, account=fakes.account, key_arn=fakes.get_att(logical_id, "Arn"),
                      policy=fakes.resolve(resource["Properties"]["KeyPolicy"]),
                      download_role_arn=f"arn:aws:iam::{fakes.account}:role/{config.download_role_name}",
                      deploy_role_arn=f"arn:aws:iam::{fakes.account}:role/cdk-hnb659fds-cfn-exec-role-"
                                      f"{fakes.account}-{config.region}")
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::KMS::Key" and resource["Properties"].get("KeyUsage") == "SIGN_VERIFY"
    ]


@pytest.fixture(scope="module")
def slot_key_policies(app: Synthesized) -> list[SlotKeyPolicy]:
    keys = [key for env in ("dev", "prod") for key in _slot_key_policies(app, env)]
    assert len(keys) >= 2, "every environment in cdk.json signs with KMS"
    return keys


def _decide(key: SlotKeyPolicy, caller_arn: str, action: str, context: dict[str, Any] | None = None, *,
            identity: dict[str, Any] = iam_policy_eval.POWER_USER,
            policy: dict[str, Any] | None = None) -> iam_policy_eval.Decision:
    request = iam_policy_eval.Request(iam_policy_eval.Caller.role(caller_arn), action, key.key_arn,
                                      {"aws:SecureTransport": "true", **(context or {})})
    return iam_policy_eval.evaluate(request, resource_policy=policy or key.policy, identity_policies=[identity],
                                    policy_account=key.account, key_policy=True)


SIGN_CONTEXT = {"kms:SigningAlgorithm": "ECDSA_SHA_256", "kms:MessageType": "RAW"}


def test_finding1_no_principal_but_the_download_role_can_sign_or_grant_sign(
        slot_key_policies: list[SlotKeyPolicy]) -> None:
    allow = iam_policy_eval.Decision.ALLOW
    for key in slot_key_policies:
        power_user = f"arn:aws:iam::{key.account}:role/PowerUser"
        # Every KMS action (botocore's list), wildcards expanded, Deny before Allow.
        allowed = {action for action in iam_policy_eval.kms_actions()
                   if _decide(key, power_user, action, SIGN_CONTEXT) is allow}
        assert allowed == KEY_INSPECTION, (key.env, sorted(allowed ^ KEY_INSPECTION))
        # A grant ignores the key policy's conditions: no grant of Sign, in any form, for anyone.
        for caller in (power_user, key.download_role_arn):
            for operations in (["Sign"], ["Sign", "Verify"], None):
                context = {} if operations is None else {"kms:GrantOperations": operations,
                                                         "kms:GranteePrincipal": power_user}
                decision = _decide(key, caller, "kms:CreateGrant", context, identity=iam_policy_eval.allow_all())
                assert decision is iam_policy_eval.Decision.EXPLICIT_DENY, (key.env, caller, operations)
        # Sign: the download role only, ECDSA_SHA_256 over a RAW message only.
        sign_only = iam_policy_eval.allow_all("kms:Sign")
        assert _decide(key, key.download_role_arn, "kms:Sign", SIGN_CONTEXT, identity=sign_only) is allow
        for context in ({**SIGN_CONTEXT, "kms:MessageType": "DIGEST"},
                        {**SIGN_CONTEXT, "kms:SigningAlgorithm": "ECDSA_SHA_384"}, {}):
            assert _decide(key, key.download_role_arn, "kms:Sign", context, identity=sign_only) is not allow
        administrator = iam_policy_eval.allow_all()
        assert _decide(key, f"arn:aws:iam::{key.account}:role/Admin", "kms:Sign", SIGN_CONTEXT,
                       identity=administrator) is not allow
        # Key administration stays possible, for CloudFormation's execution role only: a PowerUser
        # who could PutKeyPolicy could rewrite who signs (two calls: put, then sign)
        for action in sorted(KEY_ADMINISTRATION):
            assert _decide(key, key.deploy_role_arn, action, identity=administrator) is allow, (key.env, action)
        for action in sorted(KEY_CHANGES):
            assert _decide(key, power_user, action, identity=administrator) is not allow, (key.env, action)
        for action in sorted(KEY_INSPECTION):
            assert _decide(key, power_user, action, identity=administrator) is allow, (key.env, action)


def test_finding1_sign_grants_stay_denied_even_if_grant_creation_is_reopened(
        slot_key_policies: list[SlotKeyPolicy]) -> None:
    # Two layers: the blanket CreateGrant Deny, and a Deny of any grant that includes Sign. Drop the
    # first and allow kms:* to the account: a Sign grant is still refused, other grants are not.
    for key in slot_key_policies:
        statements = [s for s in key.policy["Statement"]
                      if not (s["Effect"] == "Deny" and "Condition" not in s)]
        assert len(statements) == len(key.policy["Statement"]) - 1, "exactly one unconditional Deny"
        statements.append({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{key.account}:root"},
                           "Action": "kms:*", "Resource": "*"})
        reopened = {**key.policy, "Statement": statements}
        admin = f"arn:aws:iam::{key.account}:role/Admin"
        for operations, expected in ((["Sign"], iam_policy_eval.Decision.EXPLICIT_DENY),
                                     (["Verify", "Sign"], iam_policy_eval.Decision.EXPLICIT_DENY),
                                     (["DescribeKey"], iam_policy_eval.Decision.ALLOW)):
            decision = _decide(key, admin, "kms:CreateGrant", {"kms:GrantOperations": operations},
                               identity=iam_policy_eval.allow_all(), policy=reopened)
            assert decision is expected, (key.env, operations)


_ROLE_NAMES = st.from_regex(r"[A-Za-z0-9+=,.@_-]{1,64}", fullmatch=True)
_ROLE_PATHS = st.sampled_from(["", "service-role/", "filegate/", "a/b/"])


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_finding1_property_only_the_download_role_signs_and_nobody_creates_grants(
        slot_key_policies: list[SlotKeyPolicy], data: st.DataObject) -> None:
    key = data.draw(st.sampled_from(slot_key_policies))
    download_name = key.download_role_arn.rsplit("/", 1)[1]
    deploy_name = key.deploy_role_arn.rsplit("/", 1)[1]
    name = data.draw(st.just(download_name) | st.just(deploy_name) | _ROLE_NAMES)
    caller = f"arn:aws:iam::{key.account}:role/{data.draw(_ROLE_PATHS)}{name}"
    action = data.draw(st.sampled_from(iam_policy_eval.kms_actions()))
    algorithm = data.draw(st.sampled_from(SIGNING_ALGORITHMS))
    message_type = data.draw(st.sampled_from(["RAW", "DIGEST"]))
    grant_operations = data.draw(st.none() | st.lists(st.sampled_from(GRANT_OPERATIONS), unique=True, max_size=4))
    context: dict[str, Any] = {"kms:SigningAlgorithm": algorithm, "kms:MessageType": message_type}
    if grant_operations is not None:
        context["kms:GrantOperations"] = grant_operations
    decision = _decide(key, caller, action, context, identity=iam_policy_eval.allow_all())
    if action == "kms:Sign":
        expected = caller == key.download_role_arn and algorithm == "ECDSA_SHA_256" and message_type == "RAW"
        assert (decision is iam_policy_eval.Decision.ALLOW) == expected
    elif action == "kms:CreateGrant":
        assert decision is iam_policy_eval.Decision.EXPLICIT_DENY
    else:
        allowed = KEY_ADMINISTRATION if caller == key.deploy_role_arn else KEY_INSPECTION
        assert (decision is iam_policy_eval.Decision.ALLOW) == (action in allowed)


def test_evaluator_reads_policies_as_iam_does() -> None:
    # The evaluator itself, on hand-written cases whose IAM answer is documented.
    account = "111122223333"
    user = iam_policy_eval.Caller.role(f"arn:aws:iam::{account}:role/U")
    root_allow = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                                 "Action": "kms:Create*", "Resource": "*"}]}

    def decide(policy: dict[str, Any], action: str, context: dict[str, Any] | None = None,
               identity: tuple[dict[str, Any], ...] = (iam_policy_eval.allow_all(),), **kw: Any) -> str:
        request = iam_policy_eval.Request(user, action, "arn:aws:kms:eu-west-1:111122223333:key/k", context or {})
        return iam_policy_eval.evaluate(request, resource_policy=policy, identity_policies=identity,
                                        policy_account=account, **kw).value

    assert decide(root_allow, "kms:CreateGrant", key_policy=True) == "Allow"
    assert decide(root_allow, "kms:creategrant", key_policy=True) == "Allow"  # actions are case-insensitive
    assert decide(root_allow, "kms:CreateGrant", identity=(), key_policy=True) == "ImplicitDeny"
    assert decide(root_allow, "kms:Sign", key_policy=True) == "ImplicitDeny"
    assert decide({"Statement": []}, "kms:Sign", key_policy=True) == "ImplicitDeny"  # IAM alone cannot use a key
    assert decide({"Statement": []}, "s3:GetObject") == "Allow"  # ...but can for S3 in the same account
    deny_sign_grants = {"Statement": [*root_allow["Statement"], {
        "Effect": "Deny", "Principal": "*", "Action": "kms:CreateGrant", "Resource": "*",
        "Condition": {"ForAnyValue:StringEquals": {"kms:GrantOperations": "Sign"}}}]}
    assert decide(deny_sign_grants, "kms:CreateGrant", {"kms:GrantOperations": ["Verify", "Sign"]},
                  key_policy=True) == "ExplicitDeny"
    assert decide(deny_sign_grants, "kms:CreateGrant", {"kms:GrantOperations": ["Verify"]}, key_policy=True) == "Allow"
    assert decide(deny_sign_grants, "kms:CreateGrant", key_policy=True) == "Allow"  # ForAnyValue: missing key, false
    negated = {"Statement": [{"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:*", "Resource": "*",
                              "Condition": {"ArnNotEquals": {"aws:PrincipalArn": "arn:aws:iam::*:role/X"}}}]}
    assert decide(negated, "s3:GetObject") == "ExplicitDeny"  # negated operator, key present, no match
    service = iam_policy_eval.Request(iam_policy_eval.Caller.aws_service("cloudfront.amazonaws.com"),
                                      "s3:GetObject", "arn:aws:s3:::b/k")
    assert iam_policy_eval.evaluate(service, resource_policy=negated, policy_account=account).value == \
        "ExplicitDeny"  # the key is missing for a service: a negated operator holds
    with pytest.raises(NotImplementedError):
        decide({"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*",
                               "Condition": {"DateLessThan": {"aws:CurrentTime": "2030-01-01"}}}]}, "kms:Sign")
    assert set(iam_policy_eval.expand_actions(["kms:Create*"], iam_policy_eval.kms_actions())) == {
        "kms:CreateAlias", "kms:CreateCustomKeyStore", "kms:CreateGrant", "kms:CreateKey"}
