"""Only the distribution reads objects; only the upload role writes them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.infra import iam_policy_eval
from tests.infra.conftest import Synthesized


def _files_bucket_statements(app: Synthesized, env: str) -> list[dict[str, Any]]:
    template = app.template_json(env, "FileStore")
    bucket_id = next(
        logical_id for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::S3::Bucket"
        and resource["Properties"].get("OwnershipControls", {}).get("Rules")
        == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    )
    (policy,) = [
        resource for resource in template["Resources"].values()
        if resource["Type"] == "AWS::S3::BucketPolicy" and resource["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    return policy["Properties"]["PolicyDocument"]["Statement"]


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement.get("Action", [])
    return [actions] if isinstance(actions, str) else actions


def _distribution_arn_ref(app: Synthesized, env: str) -> str:
    template = app.template_json(env, "FileStore")
    return next(k for k, r in template["Resources"].items() if r["Type"] == "AWS::CloudFront::Distribution")


def test_object_reads_are_allowed_only_to_cloudfront_for_this_distribution(app: Synthesized) -> None:
    for env in ("dev", "prod"):
        distribution_id = _distribution_arn_ref(app, env)
        allows = [s for s in _files_bucket_statements(app, env)
                  if s["Effect"] == "Allow" and any(a.startswith("s3:GetObject") or a in {"s3:Get*", "s3:*", "*"}
                                                    for a in _actions(s))]
        assert len(allows) == 1
        (allow,) = allows
        assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"}
        assert _actions(allow) == ["s3:GetObject"]
        source_arn = allow["Condition"]["StringEquals"]["AWS:SourceArn"]
        assert distribution_id in str(source_arn)


def test_object_reads_are_explicitly_denied_to_every_other_principal(app: Synthesized) -> None:
    # An Allow alone would let identity policies in the account (an administrator's presigned GET) read.
    for env in ("dev", "prod"):
        distribution_id = _distribution_arn_ref(app, env)
        (deny,) = [s for s in _files_bucket_statements(app, env)
                   if s["Effect"] == "Deny" and "s3:GetObject" in _actions(s)]
        assert deny["Principal"] == {"AWS": "*"}
        assert set(_actions(deny)) == {"s3:GetObject", "s3:GetObjectVersion"}
        assert distribution_id in str(deny["Condition"]["StringNotEquals"]["aws:SourceArn"])
        assert "ArnNotEquals" not in deny["Condition"], "no read exceptions are configured in cdk.json"


def test_configured_reader_roles_are_excepted_by_condition_only(variant: Synthesized) -> None:
    (deny,) = [s for s in _files_bucket_statements(variant, "edge")
               if s["Effect"] == "Deny" and "s3:GetObject" in _actions(s)]
    assert deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"] == ["arn:aws:iam::123456789012:role/malware-scanner"]


def test_object_writes_are_denied_to_everyone_but_the_upload_role(app: Synthesized) -> None:
    # Given each environment's bucket policy / Then only the upload role writes the quarantine, and
    # every other key (final keys, rejected/) only the verifier (and the sweep)
    for env in ("dev", "prod"):
        config = app.environments[env].config
        statements = {s.get("Sid"): s for s in _files_bucket_statements(app, env)}
        quarantine = statements["DenyQuarantineWritesExceptByTheUploadRole"]
        assert _actions(quarantine) == ["s3:PutObject"] and quarantine["Principal"] == {"AWS": "*"}
        assert str(quarantine["Resource"]).endswith("'/incoming/*']]}")
        assert config.upload_role_name in str(quarantine["Condition"]["ArnNotEquals"]["aws:PrincipalArn"])
        final = statements["DenyFinalKeyWritesExceptByTheVerifier"]
        assert _actions(final) == ["s3:PutObject"] and "Resource" not in final
        excepted = str(final["Condition"]["ArnNotEquals"]["aws:PrincipalArn"])
        assert config.verifier_role_name in excepted and config.upload_role_name not in excepted


# --- Finding 9 (issue 7): no key enumeration, no copy around the read Deny ------------------------

FAKE_ACCOUNT = "111122223333"
TLS = {"aws:SecureTransport": "true", "s3:TlsVersion": "1.3"}
OBJECT_LEVEL_WITHOUT_OBJECT_IN_NAME = {"s3:ListMultipartUploadParts", "s3:InitiateReplication",
                                       "s3:ReplicateDelete", "s3:ReplicateTags", "s3:AbortMultipartUpload"}
ENUMERATION_AND_BULK_COPY = [
    "s3:ListBucket", "s3:ListBucketVersions", "s3:ListBucketMultipartUploads", "s3:ListMultipartUploadParts",
    "s3:GetObjectVersionForReplication", "s3:InitiateReplication", "s3:GetObjectTorrent",
    "s3:GetObjectVersionTorrent", "s3:PutInventoryConfiguration", "s3:PutReplicationConfiguration",
    "s3:CreateBucketMetadataTableConfiguration", "s3:ReplicateObject", "s3:ReplicateDelete",
    "s3:GetObject", "s3:GetObjectVersion",
    # Streams of every future key: server access logs or notifications to a target of one's choosing
    "s3:PutBucketLogging", "s3:PutBucketNotification",
]


@dataclass(frozen=True)
class FilesBucket:
    fakes: iam_policy_eval.Fakes
    arn: str
    policy: dict[str, Any]
    distribution_arn: str

    def decide(self, caller: iam_policy_eval.Caller, action: str, identity: dict[str, Any] | None = None,
               context: dict[str, Any] | None = None, *, key: str = "private/users/alice/cv/0123abcd.pdf",
               ) -> iam_policy_eval.Decision:
        object_level = "Object" in action or action in OBJECT_LEVEL_WITHOUT_OBJECT_IN_NAME
        resource = f"{self.arn}/{key}" if object_level else self.arn
        request = iam_policy_eval.Request(caller, action, resource, {**TLS, **(context or {})})
        return iam_policy_eval.evaluate(request, resource_policy=self.policy, policy_account=self.fakes.account,
                                        identity_policies=[identity] if identity else [])

    def role(self, name: str) -> iam_policy_eval.Caller:
        return iam_policy_eval.Caller.role(f"arn:aws:iam::{self.fakes.account}:role/{name}")


def _files_bucket(synth: Synthesized, env: str) -> FilesBucket:
    config = synth.environments[env].config
    template = synth.template_json(env, "FileStore")
    fakes = iam_policy_eval.Fakes(template, account=config.account or FAKE_ACCOUNT, region=config.region)
    bucket_id = next(k for k, r in template["Resources"].items() if r["Type"] == "AWS::S3::Bucket"
                     and r["Properties"]["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}])
    distribution = fakes.ref(_distribution_arn_ref(synth, env))
    return FilesBucket(fakes=fakes, arn=fakes.get_att(bucket_id, "Arn"),
                       policy=fakes.resolve({"Statement": _files_bucket_statements(synth, env)}),
                       distribution_arn=f"arn:aws:cloudfront::{fakes.account}:distribution/{distribution}")


def test_finding9_nobody_but_named_roles_can_enumerate_keys_or_copy_around_the_read_deny(
        app: Synthesized, variant: Synthesized) -> None:
    allow, deny = iam_policy_eval.Decision.ALLOW, iam_policy_eval.Decision.EXPLICIT_DENY
    s3_admin = iam_policy_eval.allow_all("s3:*")
    for synth, env in ((app, "dev"), (app, "prod"), (variant, "edge")):
        config = synth.environments[env].config
        bucket = _files_bucket(synth, env)
        # An administrator, and each of the app's own roles, even with s3:* in an identity policy.
        for name in ("Administrator", config.upload_role_name, config.download_role_name):
            for action in ENUMERATION_AND_BULK_COPY:
                assert bucket.decide(bucket.role(name), action, s3_admin) is deny, (env, name, action)
        # CloudFront reads through this distribution only, and lists nothing (a missing key is a 403).
        cloudfront = iam_policy_eval.Caller.aws_service("cloudfront.amazonaws.com")
        this = {"aws:SourceArn": bucket.distribution_arn, "aws:SourceAccount": bucket.fakes.account}
        other = {**this, "aws:SourceArn": f"arn:aws:cloudfront::{bucket.fakes.account}:distribution/EOTHER"}
        assert bucket.decide(cloudfront, "s3:GetObject", context=this) is allow
        assert bucket.decide(cloudfront, "s3:GetObject", context=other) is not allow
        assert bucket.decide(cloudfront, "s3:ListBucket", context=this) is not allow
        # CloudFormation's execution role still deploys the bucket (HeadBucket is s3:ListBucket) and
        # could add an inventory or replication configuration written in the template, but reads nothing.
        deployer = bucket.role(f"cdk-hnb659fds-cfn-exec-role-{bucket.fakes.account}-{config.region}")
        admin_everything = iam_policy_eval.allow_all()
        for action in ("s3:ListBucket", "s3:PutInventoryConfiguration", "s3:PutReplicationConfiguration",
                       "s3:PutLifecycleConfiguration", "s3:PutBucketPolicy", "s3:PutBucketLogging",
                       "s3:PutBucketNotification"):
            assert bucket.decide(deployer, action, admin_everything) is allow, (env, action)
        for action in ("s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectVersionForReplication"):
            assert bucket.decide(deployer, action, admin_everything) is not allow, (env, action)
        # GuardDuty's plan role may turn the bucket's EventBridge delivery on (its own policy grants
        # nothing else of these: tests/infra/test_verification.py)
        if config.scanning == "guardduty":
            plan_role = bucket.role(config.scanner_role_name)
            assert bucket.decide(plan_role, "s3:PutBucketNotification", admin_everything) is allow, env
        # Named exception roles (a scanner, a backup or replication role) may list and replicate.
        for arn in config.read_exception_role_arns:
            named = iam_policy_eval.Caller.role(arn)
            for action in ("s3:ListBucket", "s3:ListBucketVersions", "s3:GetObject",
                           "s3:GetObjectVersionForReplication", "s3:PutInventoryConfiguration"):
                assert bucket.decide(named, action, s3_admin) is allow, (env, arn, action)
            assert bucket.decide(named, "s3:ReplicateObject", s3_admin) is deny, "nothing replicates in"
        # The upload role still writes (into the quarantine only).
        assert bucket.decide(bucket.role(config.upload_role_name), "s3:PutObject",
                             iam_policy_eval.allow_all("s3:PutObject"),
                             key="incoming/private/users/alice/cv/0123abcd.pdf") is allow
    assert variant.environments["edge"].config.read_exception_role_arns


def test_finding9_cdk_auto_delete_role_still_empties_the_throwaway_bucket(app: Synthesized) -> None:
    bucket = _files_bucket(app, "dev")
    (role_id,) = [k for k, r in bucket.fakes.template["Resources"].items() if r["Type"] == "AWS::IAM::Role"
                  and k.startswith("CustomS3AutoDeleteObjectsCustomResourceProviderRole")]
    auto_delete = iam_policy_eval.Caller.role(bucket.fakes.get_att(role_id, "Arn"))
    for action in ("s3:ListBucket", "s3:ListBucketVersions", "s3:DeleteObjectVersion", "s3:DeleteObject",
                   "s3:GetBucketTagging", "s3:PutBucketPolicy"):
        assert bucket.decide(auto_delete, action) is iam_policy_eval.Decision.ALLOW, action
    assert bucket.decide(auto_delete, "s3:GetObject") is not iam_policy_eval.Decision.ALLOW
    app.template("prod", "FileStore").resource_count_is("Custom::S3AutoDeleteObjects", 0)
