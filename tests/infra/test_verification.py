"""Verified uploads, infrastructure side (issue 8; DESIGN.md decisions 9 to 11; docs/verification.md).

The quarantine and tag Denies are evaluated with the independent policy evaluator
(``tests/infra/iam_policy_eval.py``), each role's identity policy together with the bucket policy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from stacks.compliance_report import render_scanning, scanning_by_environment
from stacks.config import verifier_capacity_bytes
from tests.infra import iam_policy_eval
from tests.infra.conftest import Synthesized, files_bucket

ALLOW = iam_policy_eval.Decision.ALLOW
EXPLICIT_DENY = iam_policy_eval.Decision.EXPLICIT_DENY
IMPLICIT_DENY = iam_policy_eval.Decision.IMPLICIT_DENY
FAKE_ACCOUNT = "111122223333"
TLS = {"aws:SecureTransport": "true", "s3:TlsVersion": "1.3"}
FILE = "private/users/alice/cv/0123456789abcdef0123456789abcdef.pdf"
ORG_FILE = "private/orgs/acme/registration/0123456789abcdef0123456789abcdef.pdf"
VARIANTS = (("app", "dev"), ("app", "prod"), ("variant", "edge"))


def _resources(template: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == type_}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@dataclass(frozen=True)
class Store:
    """One environment's file store stack, resolved with fixed fake values."""

    synth: Synthesized
    env: str
    fakes: iam_policy_eval.Fakes
    bucket_arn: str
    bucket_policy: dict[str, Any]
    distribution_arn: str

    @property
    def config(self) -> Any:
        return self.synth.environments[self.env].config

    @property
    def template(self) -> dict[str, Any]:
        return self.synth.template_json(self.env, "FileStore")

    def role_arn(self, name: str) -> str:
        return f"arn:aws:iam::{self.fakes.account}:role/{name}"

    def role_policy(self, role_name: str, kind: str = "FileStore") -> dict[str, Any]:
        """The identity policy a named role holds (every AWS::IAM::Policy attached to it), resolved."""
        template = self.synth.template_json(self.env, kind)
        fakes = iam_policy_eval.Fakes(template, account=self.fakes.account, region=self.fakes.region)
        (role_id,) = [k for k, r in _resources(template, "AWS::IAM::Role").items()
                      if r["Properties"].get("RoleName") == role_name]
        statements = [statement for policy in _resources(template, "AWS::IAM::Policy").values()
                      if {"Ref": role_id} in policy["Properties"]["Roles"]
                      for statement in policy["Properties"]["PolicyDocument"]["Statement"]]
        return fakes.resolve({"Version": "2012-10-17", "Statement": statements})

    def decide(self, caller: iam_policy_eval.Caller, action: str, key: str | None, *,
               identity: dict[str, Any] | None = None, context: dict[str, Any] | None = None,
               ) -> iam_policy_eval.Decision:
        return iam_policy_eval.decide_on_bucket(caller, action, self.bucket_arn, key, bucket_policy=self.bucket_policy,
                                                account=self.fakes.account, identity=identity, context=context)


def _store(synth: Synthesized, env: str) -> Store:
    config = synth.environments[env].config
    template = synth.template_json(env, "FileStore")
    fakes = iam_policy_eval.Fakes(template, account=config.account or FAKE_ACCOUNT, region=config.region)
    bucket_id, policy = files_bucket(template)
    (distribution_id,) = _resources(template, "AWS::CloudFront::Distribution")
    return Store(synth=synth, env=env, fakes=fakes, bucket_arn=fakes.get_att(bucket_id, "Arn"),
                 bucket_policy=fakes.resolve(policy),
                 distribution_arn=f"arn:aws:cloudfront::{fakes.account}:distribution/{fakes.ref(distribution_id)}")


@pytest.fixture(params=VARIANTS, ids=[env for _, env in VARIANTS])
def store(request: pytest.FixtureRequest) -> Store:
    fixture, env = request.param
    return _store(request.getfixturevalue(fixture), env)


# --- quarantine: reads -------------------------------------------------------------------------

def test_the_quarantine_deny_covers_cloudfront_with_this_distributions_source_arn(store: Store) -> None:
    # Given CloudFront reading through this very distribution (the OAC Allow applies to it)
    cloudfront = iam_policy_eval.Caller.aws_service("cloudfront.amazonaws.com")
    this = {"aws:SourceArn": store.distribution_arn, "aws:SourceAccount": store.fakes.account}
    # When it asks for a quarantined or a rejected object / Then an explicit Deny refuses it
    for key in (f"incoming/{FILE}", f"rejected/{FILE}", "incoming/anything", "rejected/x"):
        for action in ("s3:GetObject", "s3:GetObjectVersion"):
            assert store.decide(cloudfront, action, key, context=this) is EXPLICIT_DENY, (store.env, key, action)
    # And a verified file under private/ (and public/) is still served
    assert store.decide(cloudfront, "s3:GetObject", FILE, context=this) is ALLOW
    assert store.decide(cloudfront, "s3:GetObject", "public/marketing/0123.png", context=this) is ALLOW


def test_an_s3_administrator_cannot_read_the_quarantine_or_rejected_files(store: Store) -> None:
    # Given an administrator with s3:* (and the app's own minting roles)
    for name in ("Administrator", store.config.upload_role_name, store.config.download_role_name):
        caller = iam_policy_eval.Caller.role(store.role_arn(name))
        for key in (f"incoming/{FILE}", f"rejected/{FILE}"):
            # When it reads (bytes, a version, tags, a torrent) / Then an explicit Deny refuses it
            for action in ("s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging", "s3:GetObjectTorrent",
                           "s3:GetObjectVersionForReplication"):
                assert store.decide(caller, action, key, identity=iam_policy_eval.allow_all("s3:*")) is \
                    EXPLICIT_DENY, (store.env, name, key, action)


def test_the_verifier_reads_the_quarantine_with_its_own_policy_and_nothing_served(store: Store) -> None:
    config = store.config
    for role_name in (config.verifier_role_name, config.sweep_role_name):
        # Given the verifier's (and the sweep's) role with exactly its synthesized identity policy
        caller = iam_policy_eval.Caller.role(store.role_arn(role_name))
        identity = store.role_policy(role_name)
        # Then it reads the scanned version of a quarantined upload
        assert store.decide(caller, "s3:GetObjectVersion", f"incoming/{FILE}", identity=identity) is ALLOW
        assert store.decide(caller, "s3:GetObjectVersion", f"incoming/{ORG_FILE}", identity=identity) is ALLOW
        # But no final key, no rejected file, no key outside the rules' templates
        for key in (FILE, f"rejected/{FILE}", "incoming/elsewhere/x.pdf"):
            assert store.decide(caller, "s3:GetObjectVersion", key, identity=identity) is not ALLOW, (role_name, key)
        # Even with s3:* the bucket policy keeps it out of final keys (only CloudFront reads those)
        assert store.decide(caller, "s3:GetObject", FILE, identity=iam_policy_eval.allow_all("s3:*")) is EXPLICIT_DENY


def test_the_scanner_reads_only_the_quarantine(app: Synthesized) -> None:
    for env in ("dev", "prod"):
        store = _store(app, env)
        # Given GuardDuty acting with the plan's role and its synthesized policy
        caller = iam_policy_eval.Caller.role(store.role_arn(store.config.scanner_role_name))
        identity = store.role_policy(store.config.scanner_role_name)
        # Then it reads and tags quarantined uploads
        for action in ("s3:GetObject", "s3:GetObjectVersion", "s3:PutObjectTagging", "s3:GetObjectTagging"):
            assert store.decide(caller, action, f"incoming/{FILE}", identity=identity) is ALLOW, action
        # And nothing else: not rejected/ (explicitly), not a served file
        assert store.decide(caller, "s3:GetObject", f"rejected/{FILE}", identity=identity) is EXPLICIT_DENY
        assert store.decide(caller, "s3:GetObject", f"rejected/{FILE}",
                            identity=iam_policy_eval.allow_all("s3:*")) is EXPLICIT_DENY
        assert store.decide(caller, "s3:GetObject", FILE, identity=identity) is not ALLOW


def test_security_roles_read_rejected_files_only(variant: Synthesized) -> None:
    store = _store(variant, "edge")
    (security,) = store.config.security_role_arns
    caller = iam_policy_eval.Caller.role(security)
    admin = iam_policy_eval.allow_all("s3:*")
    # Given a configured security role with s3:* / Then it reads rejected/ for review
    assert store.decide(caller, "s3:GetObject", f"rejected/{FILE}", identity=admin) is ALLOW
    # But neither the quarantine nor a served file
    assert store.decide(caller, "s3:GetObject", f"incoming/{FILE}", identity=admin) is EXPLICIT_DENY
    assert store.decide(caller, "s3:GetObject", FILE, identity=admin) is EXPLICIT_DENY
    # And a role excepted from the served-file read Deny (a backup) never reads the quarantine
    for reader in store.config.read_exception_role_arns:
        reader_caller = iam_policy_eval.Caller.role(reader)
        assert store.decide(reader_caller, "s3:GetObject", FILE, identity=admin) is ALLOW
        for key in (f"incoming/{FILE}", f"rejected/{FILE}"):
            assert store.decide(reader_caller, "s3:GetObject", key, identity=admin) is EXPLICIT_DENY


def test_no_role_reads_rejected_files_where_none_is_configured(app: Synthesized) -> None:
    for env in ("dev", "prod"):
        store = _store(app, env)
        assert store.config.security_role_arns == ()
        statements = {s.get("Sid"): s for s in store.bucket_policy["Statement"]}
        excepted = statements["DenyRejectedReadsExceptVerifierAndSecurityRoles"]["Condition"]["ArnNotEquals"]
        assert sorted(excepted["aws:PrincipalArn"]) == sorted(
            store.role_arn(name) for name in (store.config.verifier_role_name, store.config.sweep_role_name))


# --- writes and tags ---------------------------------------------------------------------------

def test_the_upload_role_writes_only_into_the_quarantine(store: Store) -> None:
    # Given the upload role with its synthesized identity policy (API stack) and the bucket policy
    config = store.config
    caller = iam_policy_eval.Caller.role(store.role_arn(config.upload_role_name))
    identity = store.role_policy(config.upload_role_name, kind="FileApi")
    # Then its presigned POSTs put under incoming/<rule template> only
    assert store.decide(caller, "s3:PutObject", f"incoming/{FILE}", identity=identity) is ALLOW
    assert store.decide(caller, "s3:PutObject", f"incoming/{ORG_FILE}", identity=identity) is ALLOW
    # Never a final key, rejected/, or the scanner's validation object, even with s3:* in its policy
    for key in (FILE, ORG_FILE, f"rejected/{FILE}", "public/marketing/0123.png",
                "malware-protection-resource-validation-object"):
        assert store.decide(caller, "s3:PutObject", key, identity=identity) is not ALLOW, key
        assert store.decide(caller, "s3:PutObject", key, identity=iam_policy_eval.allow_all("s3:*")) is \
            EXPLICIT_DENY, key
    # And never with tags: neither a tagged upload nor a tag write afterwards
    tagged = {"s3:RequestObjectTagKeys": ["GuardDutyMalwareScanStatus"]}
    assert store.decide(caller, "s3:PutObject", f"incoming/{FILE}", identity=identity, context=tagged) is EXPLICIT_DENY
    for action in ("s3:PutObjectTagging", "s3:PutObjectVersionTagging", "s3:DeleteObjectTagging",
                   "s3:DeleteObjectVersionTagging"):
        assert store.decide(caller, action, f"incoming/{FILE}", identity=iam_policy_eval.allow_all("s3:*")) is \
            EXPLICIT_DENY, action


def test_nobody_but_the_verifier_writes_final_keys(store: Store) -> None:
    config = store.config
    admin = iam_policy_eval.allow_all("s3:*")
    # Given an administrator, the download role, the scanner (each with s3:*)
    for name in ("Administrator", config.download_role_name, config.scanner_role_name):
        caller = iam_policy_eval.Caller.role(store.role_arn(name))
        for key in (FILE, f"rejected/{FILE}", "public/marketing/0123.png", "anything/else"):
            # Then an explicit Deny refuses any write outside the quarantine
            assert store.decide(caller, "s3:PutObject", key, identity=admin) is EXPLICIT_DENY, (name, key)
    # And the verifier's (and the sweep's) own policy writes exactly final keys and rejected/
    for name in (config.verifier_role_name, config.sweep_role_name):
        caller = iam_policy_eval.Caller.role(store.role_arn(name))
        identity = store.role_policy(name)
        for key in (FILE, ORG_FILE, f"rejected/{FILE}", "public/marketing/0123456789abcdef0123456789abcdef.png"):
            assert store.decide(caller, "s3:PutObject", key, identity=identity) is ALLOW, (name, key)
        for key in (f"incoming/{FILE}", "anything/else", "private/elsewhere/x.pdf"):
            assert store.decide(caller, "s3:PutObject", key, identity=identity) is not ALLOW, (name, key)


def test_tag_writes_are_denied_to_all_but_the_scanner_and_the_verifier(store: Store) -> None:
    config = store.config
    admin = iam_policy_eval.allow_all("s3:*")
    tag_actions = ("s3:PutObjectTagging", "s3:PutObjectVersionTagging", "s3:DeleteObjectTagging",
                   "s3:DeleteObjectVersionTagging")
    # Given anyone else with s3:* (an administrator, the sweep, the minting roles)
    for name in ("Administrator", config.sweep_role_name, config.upload_role_name, config.download_role_name):
        caller = iam_policy_eval.Caller.role(store.role_arn(name))
        for action in tag_actions:
            assert store.decide(caller, action, f"incoming/{FILE}", identity=admin) is EXPLICIT_DENY, (name, action)
        assert store.decide(caller, "s3:PutObject", f"incoming/{FILE}", identity=admin,
                            context={"s3:RequestObjectTagKeys": ["x"]}) is EXPLICIT_DENY
    # Then only the scanner (GuardDuty mode) and the verifier are not denied a tag write
    taggers = [config.verifier_role_name] + ([config.scanner_role_name] if config.scanning == "guardduty" else [])
    for name in taggers:
        caller = iam_policy_eval.Caller.role(store.role_arn(name))
        for action in tag_actions:
            assert store.decide(caller, action, f"incoming/{FILE}", identity=admin) is ALLOW, (name, action)
    if config.scanning == "guardduty":
        scanner = iam_policy_eval.Caller.role(store.role_arn(config.scanner_role_name))
        assert store.decide(scanner, "s3:PutObjectTagging", f"incoming/{FILE}",
                            identity=store.role_policy(config.scanner_role_name)) is ALLOW


# --- least privilege ---------------------------------------------------------------------------

def _statements_by_sid(policy: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {statement.get("Sid", ""): statement for statement in policy["Statement"]}


def test_the_scanner_role_is_least_privilege_and_trusts_only_this_accounts_plans(app: Synthesized) -> None:
    store = _store(app, "prod")
    account, region = store.fakes.account, store.fakes.region
    bucket = store.bucket_arn
    key_arn = store.fakes.get_att(next(k for k in _resources(store.template, "AWS::KMS::Key")
                                       if k.startswith("StorageFilesKey")), "Arn")
    # Given the plan role's policy / Then it is exactly GuardDuty's documented set, scoped to incoming/
    managed_rules = f"arn:aws:events:{region}:{account}:rule/DO-NOT-DELETE-AmazonGuardDutyMalwareProtectionS3*"
    expected = {
        "AllowManagedRuleToSendS3EventsToGuardDuty": (
            {"events:PutRule", "events:DeleteRule", "events:PutTargets", "events:RemoveTargets"}, [managed_rules],
            {"StringLike": {"events:ManagedBy": "malware-protection-plan.guardduty.amazonaws.com"}}),
        "AllowGuardDutyToMonitorEventBridgeManagedRule": (
            {"events:DescribeRule", "events:ListTargetsByRule"}, [managed_rules], None),
        "AllowPostScanTag": ({"s3:PutObjectTagging", "s3:GetObjectTagging", "s3:PutObjectVersionTagging",
                              "s3:GetObjectVersionTagging"}, [f"{bucket}/incoming/*"], None),
        "AllowEnableS3EventBridgeEvents": ({"s3:PutBucketNotification", "s3:GetBucketNotification"}, [bucket], None),
        "AllowPutValidationObject": ({"s3:PutObject"}, [f"{bucket}/malware-protection-resource-validation-object"],
                                     None),
        "AllowCheckBucketOwnership": ({"s3:ListBucket"}, [bucket], None),
        "AllowMalwareScan": ({"s3:GetObject", "s3:GetObjectVersion"}, [f"{bucket}/incoming/*"], None),
        "AllowDecryptForMalwareScan": ({"kms:GenerateDataKey", "kms:Decrypt"}, [key_arn],
                                       {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}}),
    }
    statements = _statements_by_sid(store.role_policy(store.config.scanner_role_name))
    assert set(statements) == set(expected)
    for sid, (actions, resources, condition) in expected.items():
        assert set(_as_list(statements[sid]["Action"])) == actions, sid
        assert _as_list(statements[sid]["Resource"]) == resources, sid
        assert statements[sid].get("Condition") == condition, sid
        assert statements[sid]["Effect"] == "Allow"
    # And its trust: GuardDuty's plan service only, for this account's plans in this region
    (role,) = [r for r in _resources(store.template, "AWS::IAM::Role").values()
               if r["Properties"].get("RoleName") == store.config.scanner_role_name]
    (trust,) = store.fakes.resolve(role["Properties"]["AssumeRolePolicyDocument"])["Statement"]
    assert trust["Principal"] == {"Service": "malware-protection-plan.guardduty.amazonaws.com"}
    assert trust["Action"] == "sts:AssumeRole"
    assert trust["Condition"] == {
        "StringEquals": {"aws:SourceAccount": account},
        "ArnLike": {"aws:SourceArn": f"arn:aws:guardduty:{region}:{account}:malware-protection-plan/*"},
    }


def test_the_verifier_and_sweep_roles_are_least_privilege(app: Synthesized) -> None:
    store = _store(app, "prod")
    config = store.config
    account, region = store.fakes.account, store.fakes.region
    bucket = f"arn:aws:s3:::{config.prefix}-files-{account}-{region}"
    patterns = sorted({rule.key_prefix_pattern for rule in config.rules if "upload" in rule.actions})
    template = store.template

    def arn(prefix: str, kind: str) -> str:
        (logical_id,) = [k for k, r in template["Resources"].items() if k.startswith(prefix) and r["Type"] == kind]
        return store.fakes.get_att(logical_id, "Arn")

    files_table = f"arn:aws:dynamodb:{region}:{account}:table/{config.files_table_name}"
    records_key, bucket_key = arn("FileIndexRecordsKey", "AWS::KMS::Key"), arn("StorageFilesKey", "AWS::KMS::Key")
    shared = {
        "ReadQuarantinedVersions": ({"s3:GetObjectVersion"}, [f"{bucket}/incoming/{p}" for p in patterns]),
        "WriteFinalKeysAndRejected": ({"s3:PutObject"}, [f"{bucket}/{p}" for p in patterns]
                                      + [f"{bucket}/rejected/{p}" for p in patterns]),
        "DeleteEveryVersionOfDecidedKeys": ({"s3:DeleteObject", "s3:DeleteObjectVersion"},
                                            [f"{bucket}/incoming/{p}" for p in patterns]
                                            + [f"{bucket}/{p}" for p in patterns]),
        "ListVersionsOfDecidedKeysOnly": ({"s3:ListBucketVersions"}, [bucket]),
        "UseTheBucketKeyThroughS3": ({"kms:Decrypt", "kms:GenerateDataKey"}, [bucket_key]),
        "MoveFileRecordsOn": ({"dynamodb:GetItem", "dynamodb:UpdateItem"}, [files_table]),
        "UseTheRecordsKeyThroughDynamoDB": ({"kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"},
                                            [records_key]),
        "AnnounceOutcomes": ({"events:PutEvents"},
                             [f"arn:aws:events:{region}:{account}:event-bus/{config.event_bus_name}"]),
    }
    own = {
        config.verifier_role_name: {
            "KeepIdempotencyRecords": ({"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
                                        "dynamodb:DeleteItem"},
                                       [f"arn:aws:dynamodb:{region}:{account}:table/{config.idempotency_table_name}"]),
        },
        config.sweep_role_name: {
            "FindUndecidedRecords": ({"dynamodb:Query"}, [f"{files_table}/index/pending"]),
            "FindLeftoverUploads": ({"s3:ListBucket"}, [bucket]),
        },
    }
    for role_name, extra in own.items():
        # Given the role's synthesized policy
        statements = _statements_by_sid(store.role_policy(role_name))
        named = {sid: s for sid, s in statements.items() if sid}
        # Then its named statements are exactly these actions on exactly these resources
        expected = {**shared, **extra}
        assert set(named) == set(expected), role_name
        for sid, (actions, resources) in expected.items():
            assert set(_as_list(named[sid]["Action"])) == set(actions), (role_name, sid)
            assert sorted(_as_list(named[sid]["Resource"])) == sorted(resources), (role_name, sid)
        assert named["ListVersionsOfDecidedKeysOnly"]["Condition"] == {"StringLike": {"s3:prefix": [
            *(f"incoming/{p}" for p in patterns), *patterns]}}
        if "FindLeftoverUploads" in named:
            assert named["FindLeftoverUploads"]["Condition"] == {"StringEquals": {"s3:prefix": "incoming/"}}
        # And what CDK adds is only logs, traces and its queue (consume, or send to its DLQ)
        unnamed = set().union(*(set(_as_list(s["Action"])) for sid, s in statements.items() if not sid))
        assert unnamed <= {"logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTraceSegments",
                           "xray:PutTelemetryRecords", "sqs:ReceiveMessage", "sqs:DeleteMessage",
                           "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes", "sqs:GetQueueUrl",
                           "sqs:SendMessage", "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*",
                           "kms:ReEncrypt*"}, role_name
        # And nothing grants a wildcard resource but X-Ray's
        for statement in statements.values():
            if "*" in _as_list(statement["Resource"]):
                assert set(_as_list(statement["Action"])) <= {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


# --- the pipeline: queue, DLQs, Lambdas, alarms -------------------------------------------------

def _function(template: dict[str, Any], handler: str) -> dict[str, Any]:
    (function,) = [r for r in _resources(template, "AWS::Lambda::Function").values()
                   if r["Properties"].get("Handler") == handler]
    return function["Properties"]


def test_the_queue_is_encrypted_ssl_only_with_a_dead_letter_queue(store: Store) -> None:
    template = store.template
    queues = _resources(template, "AWS::SQS::Queue")
    policies = {json.dumps(r["Properties"]["Queues"]): r["Properties"]["PolicyDocument"]["Statement"]
                for r in _resources(template, "AWS::SQS::QueuePolicy").values()}
    keys = _resources(template, "AWS::KMS::Key")
    for logical_id, queue in queues.items():
        # Every queue: a customer KMS key, and a policy refusing plain HTTP
        assert queue["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0] in keys, logical_id
        statements = policies[json.dumps([{"Ref": logical_id}])]
        assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
                   for s in statements), logical_id
    (main,) = [q for q in queues.values() if "RedrivePolicy" in q["Properties"]]
    verifier = _function(template, "filegate.handlers.verifier.handler")
    # The verifier's queue: dead letters after five receives, visibility >= 6x the verifier's timeout
    assert main["Properties"]["RedrivePolicy"]["maxReceiveCount"] == 5
    assert main["Properties"]["VisibilityTimeout"] >= 6 * verifier["Timeout"]


def test_only_the_verification_rules_can_enqueue(store: Store) -> None:
    # Given the verifier's queue policy
    template = store.template
    (main_id,) = [k for k, q in _resources(template, "AWS::SQS::Queue").items() if "RedrivePolicy" in q["Properties"]]
    (policy,) = [r["Properties"]["PolicyDocument"] for r in _resources(template, "AWS::SQS::QueuePolicy").values()
                 if r["Properties"]["Queues"] == [{"Ref": main_id}]]
    policy = store.fakes.resolve(policy)
    queue_arn = store.fakes.get_att(main_id, "Arn")
    rules = [k for k, r in _resources(template, "AWS::Events::Rule").items()
             if any(t["Arn"] == {"Fn::GetAtt": [main_id, "Arn"]} for t in r["Properties"]["Targets"])]
    assert len(rules) == (2 if store.config.scanning == "guardduty" else 1)

    def send(caller: iam_policy_eval.Caller, identity: dict[str, Any] | None = None,
             context: dict[str, Any] | None = None) -> iam_policy_eval.Decision:
        request = iam_policy_eval.Request(caller, "sqs:SendMessage", queue_arn, {**TLS, **(context or {})})
        return iam_policy_eval.evaluate(request, resource_policy=policy, policy_account=store.fakes.account,
                                        identity_policies=[identity] if identity else [])

    events = iam_policy_eval.Caller.aws_service("events.amazonaws.com")
    account = {"aws:SourceAccount": store.fakes.account}
    # Then EventBridge delivers for this stack's rules
    for rule in rules:
        assert send(events, context={**account, "aws:SourceArn": store.fakes.get_att(rule, "Arn")}) is ALLOW
    # But not for another rule of the account, and no principal (an administrator) can forge a verdict
    other = f"arn:aws:events:{store.fakes.region}:{store.fakes.account}:rule/forged"
    assert send(events, context={**account, "aws:SourceArn": other}) is EXPLICIT_DENY
    admin = iam_policy_eval.Caller.role(store.role_arn("Administrator"))
    assert send(admin, identity=iam_policy_eval.allow_all()) is EXPLICIT_DENY


def test_the_verifier_is_sized_reserved_and_reports_batch_item_failures(store: Store) -> None:
    template = store.template
    settings = store.config.verification
    verifier = _function(template, "filegate.handlers.verifier.handler")
    # Given the verifier / Then memory and timeout come from the settings, with reserved concurrency
    assert verifier["MemorySize"] == settings.verifier_memory_mb
    assert verifier["Timeout"] == settings.verifier_timeout_seconds
    assert verifier["ReservedConcurrentExecutions"] == settings.verifier_concurrency
    assert verifier["Architectures"] == ["arm64"] and verifier["Runtime"] == "python3.13"
    # And it holds the largest rule in memory (the synthesis-time check)
    assert max(rule.max_bytes for rule in store.config.rules) <= verifier_capacity_bytes(verifier["MemorySize"])
    (mapping,) = _resources(template, "AWS::Lambda::EventSourceMapping").values()
    assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["Properties"]["ScalingConfig"]["MaximumConcurrency"] <= verifier["ReservedConcurrentExecutions"]


def test_every_asynchronous_lambda_has_a_dead_letter_queue_and_reserved_concurrency(store: Store) -> None:
    template = store.template
    sweep = _function(template, "filegate.handlers.sweep.handler")
    sweep_id = next(k for k, r in _resources(template, "AWS::Lambda::Function").items()
                    if r["Properties"].get("Handler") == "filegate.handlers.sweep.handler")
    # Given the sweep (invoked asynchronously by its schedule)
    assert sweep["ReservedConcurrentExecutions"] == store.config.verification.sweep_concurrency
    dead_letters = sweep["DeadLetterConfig"]["TargetArn"]
    (invoke_config,) = [r["Properties"] for r in _resources(template, "AWS::Lambda::EventInvokeConfig").values()
                        if r["Properties"]["FunctionName"] == {"Ref": sweep_id}]
    assert invoke_config["DestinationConfig"]["OnFailure"]["Destination"] == dead_letters
    (schedule,) = [r["Properties"] for r in _resources(template, "AWS::Events::Rule").values()
                   if "ScheduleExpression" in r["Properties"]]
    assert schedule["ScheduleExpression"] == f"rate({store.config.verification.sweep_interval_minutes} minutes)"
    assert schedule["Targets"][0]["DeadLetterConfig"]["Arn"] == dead_letters
    # And every rule target (events -> queue, schedule -> sweep, webhook) has a dead-letter queue
    for rule in _resources(template, "AWS::Events::Rule").values():
        for target in rule["Properties"]["Targets"]:
            assert "DeadLetterConfig" in target, rule["Properties"].get("Description")


def test_alarms_watch_dead_letters_verifier_errors_and_the_oldest_undecided_file(store: Store) -> None:
    api = store.synth.template_json(store.env, "FileApi")
    alarms = [r["Properties"] for r in _resources(api, "AWS::CloudWatch::Alarm").values()]
    by_metric: dict[str, list[dict[str, Any]]] = {}
    for alarm in alarms:
        by_metric.setdefault(alarm["MetricName"], []).append(alarm)
    webhook = store.config.events.webhook_url is not None
    # Given the alarms / Then one per dead-letter queue, at the first message (verification, sweep, the
    # webhook's, and the lifecycle's two: tests/infra/test_lifecycle.py)
    dead_letters = by_metric["ApproximateNumberOfMessagesVisible"]
    assert len(dead_letters) == (5 if webhook else 4)
    assert all(a["Threshold"] == 1 and a["ComparisonOperator"] == "GreaterThanOrEqualToThreshold" for a in dead_letters)
    # And verifier and sweep errors, the queue's backlog, and the oldest undecided record (the sweep's metric)
    error_targets = json.dumps([a["Dimensions"] for a in by_metric["Errors"]])
    assert "VerificationVerifierFunction" in error_targets and "VerificationSweepFunction" in error_targets
    (backlog,) = by_metric["ApproximateAgeOfOldestMessage"]
    assert backlog["Threshold"] == 2 * store.config.verification.visibility_timeout_seconds
    (oldest,) = by_metric["OldestVerifyingAgeSeconds"]
    assert oldest["Namespace"] == "filegate" and oldest["Statistic"] == "Maximum"
    assert oldest["Threshold"] > store.config.verification.verifying_timeout_seconds
    assert all(a["AlarmActions"] for a in alarms)


def test_the_verifiers_environment_is_what_its_settings_read(store: Store) -> None:
    # Given the verifier's and the sweep's environments / When VerifierSettings reads them
    from filegate.settings import HANDLER_SETTINGS, VERIFIER_ENVIRONMENT, VerifierSettings

    placeholders = {
        "FILEGATE_BUCKET": f"{store.config.prefix}-files-123456789012-{store.config.region}",
        "FILEGATE_BUCKET_KMS_KEY_ARN": "arn:aws:kms:ap-southeast-1:123456789012:key/1234abcd",
        "FILEGATE_FILES_TABLE": store.config.files_table_name,
        "FILEGATE_IDEMPOTENCY_TABLE": store.config.idempotency_table_name,
        "FILEGATE_EVENT_BUS": store.config.event_bus_name,
    }
    for handler in ("filegate.handlers.verifier.handler", "filegate.handlers.sweep.handler"):
        variables = _function(store.template, handler)["Environment"]["Variables"]
        names = {name for name in variables if name.startswith("FILEGATE_")}
        assert names <= set(VERIFIER_ENVIRONMENT.values()), names - set(VERIFIER_ENVIRONMENT.values())
        resolved = {name: value if isinstance(value, str) else placeholders[name] for name, value in variables.items()}
        settings = HANDLER_SETTINGS[handler].from_environ({**resolved, "AWS_REGION": store.config.region})
        assert isinstance(settings, VerifierSettings)
        # Then the scanning mode and the timeout are the environment's
        assert settings.scanning == store.config.scanning
        assert settings.verifying_timeout_seconds == store.config.verification.verifying_timeout_seconds
        assert [rule.name for rule in settings.rules] == [rule.name for rule in store.config.rules]


# --- scanning: guardduty | none ------------------------------------------------------------------

def test_guardduty_scans_only_the_quarantine_with_tagging_and_its_results_drive_the_verifier(app: Synthesized) -> None:
    for env in ("dev", "prod"):
        template = app.template_json(env, "FileStore")
        # Given the file store / Then one plan protects this bucket's incoming/ prefix and tags its verdicts
        (plan_id, plan), = _resources(template, "AWS::GuardDuty::MalwareProtectionPlan").items()
        bucket = plan["Properties"]["ProtectedResource"]["S3Bucket"]
        assert bucket["ObjectPrefixes"] == ["incoming/"]
        assert bucket["BucketName"]["Ref"].startswith("StorageFilesBucket")
        assert plan["Properties"]["Actions"] == {"Tagging": {"Status": "ENABLED"}}
        assert plan["Properties"]["Role"]["Fn::GetAtt"][0].startswith("VerificationScannerRole")
        # And the scan results of exactly this plan and bucket reach the verifier's queue
        patterns = [r["Properties"]["EventPattern"] for r in _resources(template, "AWS::Events::Rule").values()
                    if "EventPattern" in r["Properties"] and "EventBusName" not in r["Properties"]]
        (scan,) = [p for p in patterns if p["source"] == ["aws.guardduty"]]
        assert scan["detail-type"] == ["GuardDuty Malware Protection Object Scan Result"]
        assert scan["resources"] == [{"Fn::GetAtt": [plan_id, "Arn"]}]
        assert scan["detail"] == {"s3ObjectDetails": {"bucketName": [bucket["BucketName"]],
                                                      "objectKey": [{"prefix": "incoming/"}]}}
        (created,) = [p for p in patterns if p["source"] == ["aws.s3"]]
        assert created == {"source": ["aws.s3"], "detail-type": ["Object Created"],
                           "detail": {"bucket": {"name": [bucket["BucketName"]]},
                                      "object": {"key": [{"prefix": "incoming/"}]}}}


def test_with_scanning_none_no_plan_exists_and_object_created_drives_the_verifier(variant: Synthesized) -> None:
    # Given the variant environment with `scanning: none`
    config = variant.environments["edge"].config
    assert config.scanning == "none"
    template = variant.template_json("edge", "FileStore")
    # Then there is no plan, no scanner role, and no bucket-policy exception for one
    assert _resources(template, "AWS::GuardDuty::MalwareProtectionPlan") == {}
    assert not [r for r in _resources(template, "AWS::IAM::Role").values()
                if r["Properties"].get("RoleName") == config.scanner_role_name]
    assert config.scanner_role_name not in json.dumps(_store(variant, "edge").bucket_policy)
    # And S3's Object Created event for the quarantine is the one rule feeding the verifier's queue
    (main_id,) = [k for k, q in _resources(template, "AWS::SQS::Queue").items() if "RedrivePolicy" in q["Properties"]]
    feeding = [r["Properties"] for r in _resources(template, "AWS::Events::Rule").values()
               if any(t["Arn"] == {"Fn::GetAtt": [main_id, "Arn"]} for t in r["Properties"]["Targets"])]
    assert [rule["EventPattern"]["source"] for rule in feeding] == [["aws.s3"]]
    assert feeding[0]["EventPattern"]["detail"]["object"] == {"key": [{"prefix": "incoming/"}]}
    # And the verifier is told so (it then promotes after the content checks alone)
    assert _function(template, "filegate.handlers.verifier.handler")["Environment"]["Variables"][
        "FILEGATE_SCANNING"] == "none"
    assert template["Outputs"]["Scanning"]["Value"] == "none"


def test_the_compliance_summary_says_in_plain_words_when_nothing_scans_for_malware(
        app: Synthesized, variant: Synthesized) -> None:
    # Given the committed environments (GuardDuty) and the variant (none)
    scanning = {**scanning_by_environment(app.environments), **scanning_by_environment(variant.environments)}
    assert scanning == {"dev": "guardduty", "prod": "guardduty", "edge": "none"}
    # When the summary's scanning section is rendered
    lines = render_scanning(scanning)
    (edge,) = [line for line in lines if line.startswith("| edge |")]
    (prod,) = [line for line in lines if line.startswith("| prod |")]
    # Then it says, in plain words, that the variant's uploads are not checked for malware
    assert "No malware scan" in edge and "NOT checked for malware" in edge and "content checks alone" in edge
    assert "GuardDuty" in prod and "NO_THREATS_FOUND" in prod and "No malware scan" not in prod


# --- bucket: notifications, lifecycle -----------------------------------------------------------

def test_the_bucket_sends_eventbridge_notifications_without_cdks_custom_resource(store: Store) -> None:
    template = store.template
    bucket = next(r for r in _resources(template, "AWS::S3::Bucket").values()
                  if r["Properties"]["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}])
    assert bucket["Properties"]["NotificationConfiguration"] == {
        "EventBridgeConfiguration": {"EventBridgeEnabled": True}}
    for stack in store.synth.raw.values():
        assert not [r for r in stack["Resources"].values() if r["Type"] == "Custom::S3BucketNotifications"]


def test_lifecycle_expires_rejected_and_leftover_quarantined_uploads(store: Store) -> None:
    bucket = next(r for r in _resources(store.template, "AWS::S3::Bucket").values()
                  if r["Properties"]["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}])
    rules = {rule["Id"]: rule for rule in bucket["Properties"]["LifecycleConfiguration"]["Rules"]}
    settings = store.config.verification
    assert rules["expire-rejected"]["Prefix"] == "rejected/"
    assert rules["expire-rejected"]["ExpirationInDays"] == settings.rejected_retention_days
    assert rules["expire-quarantine-leftovers"]["Prefix"] == "incoming/"
    assert rules["expire-quarantine-leftovers"]["ExpirationInDays"] == settings.quarantine_expiry_days
    for rule_id in ("expire-rejected", "expire-quarantine-leftovers"):
        assert rules[rule_id]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 1}
    # The quarantine outlives the sweep's timeout: the sweep, not the lifecycle, decides a stuck file
    assert settings.quarantine_expiry_days * 86400 > settings.verifying_timeout_seconds


# --- records and events -------------------------------------------------------------------------

def test_the_files_table_is_on_demand_with_pitr_kms_and_deletion_protection_in_prod(app: Synthesized) -> None:
    from filegate.adapters import files_table

    for env, protected in (("prod", True), ("dev", False)):
        config = app.environments[env].config
        template = app.template_json(env, "FileStore")
        tables = {r["Properties"]["TableName"]: r for r in _resources(template, "AWS::DynamoDB::Table").values()}
        assert set(tables) == {config.files_table_name, config.idempotency_table_name, config.erasures_table_name}
        for name, table in tables.items():
            properties = table["Properties"]
            # Given each table / Then on demand, point-in-time recovery, a customer KMS key
            assert properties["BillingMode"] == "PAY_PER_REQUEST", name
            assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
            assert properties["SSESpecification"]["SSEType"] == "KMS"
            assert properties["SSESpecification"]["KMSMasterKeyId"]["Fn::GetAtt"][0].startswith("FileIndexRecordsKey")
            # And deletion protection (and retention) outside the throw-away environment only
            assert properties["DeletionProtectionEnabled"] is protected, (env, name)
            assert table["DeletionPolicy"] == ("Retain" if protected else "Delete"), (env, name)
        files = tables[config.files_table_name]["Properties"]
        assert files["KeySchema"] == [{"AttributeName": "file_id", "KeyType": "HASH"}]
        assert files["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
        (index,) = [i for i in files["GlobalSecondaryIndexes"] if i["IndexName"] == files_table.PENDING_INDEX]
        # The sweep's sparse index, by the names the Lambda's adapter queries (the listing indexes:
        # tests/infra/test_lifecycle.py)
        assert index["IndexName"] == files_table.PENDING_INDEX
        assert index["KeySchema"] == [{"AttributeName": files_table.PENDING_ATTRIBUTE, "KeyType": "HASH"},
                                      {"AttributeName": "updated_at", "KeyType": "RANGE"}]
        idempotency = tables[config.idempotency_table_name]["Properties"]
        assert idempotency["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
        assert idempotency["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}


def test_the_product_bus_archive_and_webhook(app: Synthesized, variant: Synthesized) -> None:
    from filegate.adapters import events as bus_adapter
    from stacks.constructs.events import DETAIL_TYPES, EVENT_SOURCE

    assert EVENT_SOURCE == bus_adapter.SOURCE and set(DETAIL_TYPES) == set(bus_adapter.DETAIL_TYPES)
    # Given prod / Then its own bus, an archive of the file events, and no webhook
    prod = app.template_json("prod", "FileStore")
    (bus,) = _resources(prod, "AWS::Events::EventBus").values()
    assert bus["Properties"]["Name"] == "filegate-prod-files"
    (archive,) = _resources(prod, "AWS::Events::Archive").values()
    assert archive["Properties"]["RetentionDays"] == 30
    assert _resources(prod, "AWS::Events::ApiDestination") == {}
    # Given the variant's webhook / Then an API destination whose credential is a Secrets Manager reference
    edge = variant.template_json("edge", "FileStore")
    (connection,) = _resources(edge, "AWS::Events::Connection").values()
    api_key = connection["Properties"]["AuthParameters"]["ApiKeyAuthParameters"]
    assert api_key["ApiKeyName"] == "X-Filegate-Token"
    assert json.dumps(api_key["ApiKeyValue"]).startswith('"{{resolve:secretsmanager:filegate/edge/webhook:')
    (destination,) = _resources(edge, "AWS::Events::ApiDestination").values()
    assert destination["Properties"]["InvocationEndpoint"] == "https://rails.example.org/hooks/filegate"
    (forward,) = [r["Properties"] for r in _resources(edge, "AWS::Events::Rule").values()
                  if "EventBusName" in r["Properties"]]
    assert forward["EventPattern"] == {"source": ["filegate"], "detail-type": list(DETAIL_TYPES)}
    assert "DeadLetterConfig" in forward["Targets"][0]


def test_the_memory_model_covers_the_content_checks_bounds() -> None:
    # The verifier's baseline covers a decoded image at the content checks' pixel bound (RGBA).
    from filegate.domain import content
    from stacks.config import VERIFIER_BASELINE_MB, VERIFIER_DECODE_MB

    assert content.MAX_IMAGE_PIXELS * 4 <= VERIFIER_DECODE_MB * 1024 * 1024
    assert VERIFIER_BASELINE_MB >= 128
    # 1024 MB holds every seed rule (20 MiB at most); 512 MB would not hold 20 MiB.
    assert verifier_capacity_bytes(1024) >= 20 * 1024 * 1024 > verifier_capacity_bytes(512)
