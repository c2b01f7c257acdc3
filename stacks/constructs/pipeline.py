"""The AWS-native delivery pipeline (docs/deployment.md, "Pipeline") and its scheduled drift check.

``DeliveryPipeline`` is a CDK Pipelines ``CodePipeline`` (V2, self-mutating) in the tooling account:
source from GitHub through a CodeConnections connection, one ``ShellStep("Synth")`` that lints,
runs every test layer and synthesizes, then one wave per configured stage, in order. A stage named
in ``pipeline.approval_stages`` is preceded by ``ConfirmPermissionsBroadening`` (auto-approved unless
IAM or security groups widen) and a ``ManualApprovalStep``; every stage is followed by
``CodeBuildStep("Verify")``, the deployment verifier against what was just deployed.

Build image. The synth step runs ``make test-e2e``, whose local mode needs Debian's packages
(radosgw, ceph-mon, ceph-osd, clamav-daemon, clamav-testfiles, chromium at /usr/bin/chromium; see
local/install.sh, which installs them itself as root). CodeBuild's standard images are Ubuntu,
where ``chromium`` is a snap stub and Ceph is another release, so the synth, verify and drift builds
run on ``python:3.13-bookworm`` from ECR Public (Docker's official image mirrored by AWS: no Docker
Hub pull limits, no registry credentials): Debian 12, the release the project is developed and its
GitHub test job runs on.

Python 3.13. The Makefile builds its venv with the Lambda runtime's Python (``PYTHON313``); bookworm
ships 3.11, but the official python image carries 3.13 itself (``/usr/local/bin/python3.13``), so
nothing is downloaded or compiled at build time (no pyenv, no uv): ``PYTHON313`` names it explicitly
and the build fails at ``make setup`` if the image ever stops providing it.

Node 22. The install phase apt-installs Debian's ``nodejs``/``npm`` only to run ``npm ci``, which
installs package.json's pinned Node 22 and CDK CLI into node_modules/.bin; the Makefile puts that
directory first on PATH, so every ``make`` target (and ``cdk``) runs on Node 22. The self-mutation,
asset-publishing and broadening-check projects that CDK Pipelines makes itself keep its default
standard image, which has the ``npm install -g`` they rely on; self-mutation installs the CDK CLI
package.json pins (``cli_version``).

Not privileged. No asset is a Docker image and the local mode's OSD uses memstore (no block
device), so no build gets Docker-in-Docker rights.

Drift. ``make drift ENV=<env>`` runs ``cdk drift --fail``, which reads each stack with the CLI's
*own* credentials (it assumes no bootstrap role, unlike deploy or diff: aws-cdk's ``drift`` calls
``sdkProvider.forEnvironment(env, ForReading)`` with no role, and refuses credentials of another
account). So the drift build assumes, per environment, that account's CDK bootstrap *lookup* role
(``cdk-hnb659fds-lookup-role-<account>-<region>``: ReadOnlyAccess, trusted by the tooling account
through ``cdk bootstrap --trust``) through an AWS config profile with ``credential_source =
EcsContainer`` (CodeBuild's credentials), and runs ``make drift`` under that profile. An EventBridge
rule on ``pipeline.drift_schedule`` starts the one CodeBuild project, whose source is the same
repository and branch, cloned through the same CodeConnections connection (project-level source
auth, no account-wide source credential), never triggered by a push. Every environment is checked
even when one drifts; the build fails if any did.

Stages. CDK Pipelines synthesizes a stage the moment it is added (to read its stacks), and a stage
is synthesized once, so what ``build_app`` later gives every stage (template hygiene aspects, the
nag packs that write acknowledgements) is given here first (``prepare_for_pipeline``).

Compliance. What CDK Pipelines builds (here, once every stage is added) is fixed where it can be:
access logs and versioning on the artifact and cross-region
replication buckets, KMS-encrypted log groups with a retention for every build, an explicit memory
size and an encrypted log group for the auto-approve function, no redundant ``DependsOn``. What
remains is acknowledged on the one resource it concerns, with the reason; every IAM wildcard CDK
grants is matched to a reason by what it allows (``WildcardReasons``), and one it cannot explain
fails synthesis instead of being acknowledged.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from aws_cdk import (
    Aspects,
    Aws,
    CfnResource,
    DefaultStackSynthesizer,
    Duration,
    RemovalPolicy,
    Stack,
    pipelines,
)
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct, IConstruct

from stacks.config import PIPELINE_VERIFY_ROLE_NAME, ROOT, EnvironmentConfig, PipelineConfig, verifier_role_name
from stacks.nag import PACK_CLASSES, acknowledge, acknowledge_inline_policy
from stacks.stage import FilegateStage
from stacks.template_hygiene import DropRedundantProviderRoleDependency, DropRedundantRoleDependency

#: Debian 12 with Python 3.13 (the Lambda runtime's), from ECR Public (module docstring).
BUILD_IMAGE = "public.ecr.aws/docker/library/python:3.13-bookworm"
PYTHON313 = "/usr/local/bin/python3.13"
#: What every build on ``BUILD_IMAGE`` installs first: npm (to run ``npm ci``, which installs the
#: pinned Node 22 and CDK CLI of package.json; ``make`` then finds them first on PATH).
INSTALL_COMMANDS = (
    "apt-get update -qq",
    "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null",
    "npm ci --no-audit --no-fund --loglevel=error",
    "touch node_modules/.installed",
    'node_modules/.bin/node -e \'process.exit(process.versions.node.split(".")[0] === "22" ? 0 : 1)\'',
)
#: Every build's CloudWatch logs: kept a year (the audit window), then expired.
LOG_RETENTION = logs.RetentionDays.ONE_YEAR
DRIFT_CONFIG_FILE = "/tmp/filegate-drift-aws-config"  # noqa: S108 - a build container's own /tmp
DRIFT_FAILURES_FILE = "/tmp/filegate-drifted"  # noqa: S108


def cdk_cli_version() -> str:
    """The CDK CLI package.json pins: what synth runs, so also what self-mutation installs."""
    return str(json.loads((ROOT / "package.json").read_text())["dependencies"]["aws-cdk"])


def lookup_role_arn(config: EnvironmentConfig, account: str) -> str:
    """The environment's CDK bootstrap lookup role (read-only), in its own region's bootstrap."""
    qualifier = DefaultStackSynthesizer.DEFAULT_QUALIFIER
    return f"arn:{Aws.PARTITION}:iam::{account}:role/cdk-{qualifier}-lookup-role-{account}-{config.region}"


def verifier_role_arn(config: EnvironmentConfig, account: str) -> str:
    return f"arn:{Aws.PARTITION}:iam::{account}:role/{verifier_role_name(config)}"


def connection_actions(connection_arn: str) -> list[str]:
    """What a CodeBuild role needs to clone through a connection, in the ARN's own service prefix."""
    service = "codestar-connections" if ":codestar-connections:" in connection_arn else "codeconnections"
    return [f"{service}:GetConnectionToken", f"{service}:GetConnection"]


def debian_environment(compute_type: codebuild.ComputeType = codebuild.ComputeType.SMALL) -> codebuild.BuildEnvironment:
    return codebuild.BuildEnvironment(
        build_image=codebuild.LinuxBuildImage.from_docker_registry(BUILD_IMAGE),
        compute_type=compute_type,
        privileged=False,
        environment_variables={"PYTHON313": codebuild.BuildEnvironmentVariable(value=PYTHON313)},
    )


#: bash, not Debian's dash, for every command of a build on ``BUILD_IMAGE``.
BASH = codebuild.BuildSpec.from_object({"version": "0.2", "env": {"shell": "bash"}})


@dataclass(frozen=True)
class PipelineStage:
    config: EnvironmentConfig
    stage: FilegateStage

    @property
    def account(self) -> str:
        account = self.stage.account
        if not account or not account.isdigit():  # deployment_from_context refuses this first
            raise ValueError(f"environments.{self.config.name}.account: required by pipeline.stages")
        return account


# --- cdk-nag: what the CDK Pipelines constructs need, and why (module docstring, "Compliance") -------

CUSTOM_IMAGE_REASON = (
    "Custom image on purpose: the build runs the end-to-end tests, whose local mode needs Debian's radosgw, "
    "ceph-mon/osd, clamav-daemon and /usr/bin/chromium (a snap stub on CodeBuild's Ubuntu images); it is Docker's "
    "official python:3.13-bookworm (Debian 12 with the Lambda runtime's Python 3.13) mirrored on ECR Public."
)
SAME_IMAGE_REASON = (
    "Custom image on purpose: the same Debian 12 python:3.13-bookworm image (ECR Public, Docker's official) as the "
    "synth step, so `make setup` builds the venv with the same Python 3.13 the tests passed on; CodeBuild's "
    "managed images are Ubuntu/Amazon Linux with other interpreters."
)
PIPELINE_SOURCE_REASON = (
    "Source type CODEPIPELINE: the project receives its input artifact from the pipeline's encrypted artifact "
    "bucket, so no repository URL or source credential is configured on it at all (the OAuth check is meant "
    "for projects cloning GitHub or Bitbucket themselves)."
)
CONNECTION_SOURCE_REASON = (
    "The drift project clones GitHub through the pipeline's CodeConnections GitHub App connection (project-level "
    "Source.Auth type CODECONNECTIONS): short-lived installation tokens fetched by CodeBuild, no OAuth token, "
    "password or credential in the URL or the environment."
)
ARTIFACT_REPLICATION_REASON = (
    "Pipeline artifacts are intermediate build outputs, reproducible from their Git commit by re-running the "
    "pipeline; a replica in another region would copy nothing that is not already in source control."
)
LOG_BUCKET_SSE_S3_REASON = (
    "S3 server access logging can only deliver to a bucket encrypted with SSE-S3 (AES-256), not SSE-KMS; the "
    "access logs of the pipeline's artifact buckets are encrypted at rest with SSE-S3."
)
LOG_BUCKET_REPLICATION_REASON = (
    "Access logs of the pipeline's artifact buckets are operational telemetry with a fixed one-year retention; "
    "cross-region replication of logs is not required by this application's recovery objectives."
)
SCHEDULE_DLQ_REASON = (
    "The target is StartBuild of one CodeBuild project in this account; EventBridge retries a failed start for "
    "24 hours, a schedule event carries no data a dead-letter queue could preserve, and the next scheduled run "
    "performs the same drift check (a missed one shows in the rule's FailedInvocations metric)."
)
AUTO_APPROVE = "CDK Pipelines' auto-approve function (ConfirmPermissionsBroadening) "
AUTO_APPROVE_REASONS = {
    ("NIST.800.53.R5-LambdaDLQ", "HIPAA.Security-LambdaDLQ", "Serverless-LambdaDLQ"):
        AUTO_APPROVE + "approves a pending approval only when the change broadens no permission; if an invocation "
        "fails, the approval stays pending for a human (the safe direction), so a dead-letter queue would hold "
        "nothing anyone must act on.",
    ("NIST.800.53.R5-LambdaInsideVPC", "HIPAA.Security-LambdaInsideVPC", "PCI.DSS.321-LambdaInsideVPC"):
        AUTO_APPROVE + "calls only the CodePipeline API (GetPipelineState, PutApprovalResult) over TLS with SigV4 "
        "and reaches no private network resource; a VPC would add NAT or endpoint cost without narrowing a data path.",
    ("NIST.800.53.R5-LambdaConcurrency", "HIPAA.Security-LambdaConcurrency"):
        AUTO_APPROVE + "runs at most once per approval stage of a pipeline execution; reserving concurrency "
        "would take capacity from the account for a function that never runs concurrently.",
    ("Serverless-LambdaTracing",):
        AUTO_APPROVE + "makes one CodePipeline API call per invocation; there is no downstream call to trace, and "
        "the CloudTrail record of PutApprovalResult is the audit trail of what it approved.",
    ("AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",):
        AUTO_APPROVE + "uses AWSLambdaBasicExecutionRole, which grants only creating and writing its CloudWatch "
        "log streams; nothing in it reaches data.",
}

#: Why each wildcard *action* CDK grants is as narrow as it gets (the statement's resources are
#: checked to be the pipeline's own buckets or keys before this is acknowledged).
ACTION_WILDCARD_REASONS = {
    "kms:GenerateDataKey*": "kms",
    "kms:ReEncrypt*": "kms",
    "s3:GetObject*": "s3",
    "s3:GetBucket*": "s3",
    "s3:List*": "s3",
    "s3:DeleteObject*": "s3",
    "s3:Abort*": "s3",
}
KMS_ACTIONS_REASON = (
    "kms:GenerateDataKey* and kms:ReEncrypt* are CDK's encrypt/decrypt grant on the pipeline's own keys (the "
    "artifacts key, the build-log key, or a region's replication key): the action families S3 and CodeBuild "
    "need to write SSE-KMS objects; no key administration is granted."
)
S3_ACTIONS_REASON = (
    "CDK's read/write grant on the pipeline's artifact buckets only (this region's and its cross-region replication "
    "buckets): the action families cover the object versions, listings and multipart clean-up that moving "
    "pipeline artifacts needs; these buckets hold nothing but build artifacts."
)
ARTIFACT_OBJECTS_REASON = (
    "Objects of the pipeline's own artifact bucket (or a cross-region replication bucket): CodePipeline names "
    "artifact objects per execution at run time, so the grant is on the bucket's objects; the bucket holds "
    "only this pipeline's build artifacts."
)
PROJECT_LOGS_REASON = (
    "CodeBuild's default log group and test-report groups of this project (CDK grants them to every project "
    "role): streams and report groups are named per build at run time; the prefix is the project's own name."
)
SHARED_ASSET_LOGS_REASON = (
    "The asset-publishing role is shared by the pipeline's asset projects (one per asset type), whose names "
    "CDK does not know when it writes this policy: the wildcard is CodeBuild's log-group and report-group "
    "namespace in this account and region, for writing build logs and reports only."
)
AUTO_APPROVE_INVOKE_REASON = (
    "The broadening check invokes CDK Pipelines' auto-approve function: the wildcard is that one function's "
    "version/alias qualifier (lambda:InvokeFunction on <function>:*), never another function."
)
SELF_MUTATION_ROLES_REASON = (
    "Self-mutation (cdk deploy of this pipeline stack) assumes this account's CDK bootstrap roles; the condition "
    "iam:ResourceTag/aws-cdk:bootstrap-role (deploy, file-publishing, image-publishing) limits the wildcard to "
    "roles cdk bootstrap created, whose names carry the region."
)
#: ``Resource::*`` by what the statement allows.
STAR_RESOURCE_REASONS = {
    frozenset({"cloudformation:DescribeStacks", "s3:ListBucket"}):
        "Self-mutation runs `cdk deploy` of this pipeline stack: the CLI reads stack status "
        "(cloudformation:DescribeStacks) and lists the bootstrap staging bucket (s3:ListBucket) before it acts "
        "as the bootstrap deploy role; both are read-only.",
    frozenset({"codebuild:BatchGetBuilds", "codebuild:StartBuild", "codebuild:StopBuild"}):
        "CDK Pipelines makes the asset-publishing role also the action role that starts the asset project, and "
        "grants build control on '*' because naming the project would form a role -> project -> role cycle; it "
        "starts, reads and stops builds, and cannot change a project or read its configuration's secrets.",
    frozenset({"sts:AssumeRole"}):
        "The broadening check runs `cdk diff --security-only` against each stage's account and may assume only "
        "roles tagged aws-cdk:bootstrap-role=deploy (the condition): the CDK bootstrap deploy roles of the "
        "accounts the stages deploy to, whose ARNs differ per account and region.",
    frozenset({"codepipeline:GetPipelineState", "codepipeline:PutApprovalResult"}):
        "CDK Pipelines' auto-approve function may read and approve only pipelines tagged "
        "SECURITY_CHECK=ALLOW_APPROVE (the condition: this pipeline, tagged by CDK), as the pipeline's ARN "
        "would form a function -> pipeline -> function cycle.",
    frozenset({"kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"}):
        "CodePipeline encrypts the artifacts it copies to each cross-region replication bucket with that "
        "region's replication key, which CDK references by alias from the other region's support stack, so its "
        "ARN is not known in this template; the pipeline role uses keys, never administers them.",
}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def nag_flatten(value: Any) -> str:
    """A resolved CloudFormation value as cdk-nag writes it in a finding id (its flattenCfnReference)."""
    if isinstance(value, str):
        return value.replace("${", "<").replace("}", ">")
    if isinstance(value, dict):
        if "Fn::Join" in value:
            separator, parts = value["Fn::Join"]
            return str(separator).join(nag_flatten(part) for part in parts)
        if "Fn::Sub" in value:
            return nag_flatten(value["Fn::Sub"])
        if "Fn::GetAtt" in value:
            resource, attribute = value["Fn::GetAtt"]
            return f"<{nag_flatten(resource)}.{nag_flatten(attribute)}>"
        if "Ref" in value:
            return f"<{nag_flatten(value['Ref'])}>"
    return json.dumps(value, separators=(",", ":"))


def wildcard_findings(policy: iam.Policy) -> Iterator[tuple[str, dict[str, Any]]]:
    """cdk-nag's AwsSolutions-IAM5 findings of ``policy`` (``Action::...``/``Resource::...``), each with
    the statement it comes from, as the rule computes them from the resolved document."""
    document = Stack.of(policy).resolve(policy.document)
    for statement in document.get("Statement", []):
        if statement.get("Effect") != "Allow":
            continue
        for action in _as_list(statement.get("Action", [])):
            if "*" in action:
                yield f"Action::{action}", statement
        for resource in _as_list(statement.get("Resource", [])):
            flat = nag_flatten(resource)
            if "*" in flat:
                yield f"Resource::{flat}", statement


class WildcardReasons:
    """Acknowledges every wildcard of a CDK-made policy with the reason it is as narrow as CDK makes it,
    and refuses (at synthesis) any wildcard it cannot explain."""

    def __init__(self, scope: Construct, *, bucket_resources: set[str], projects: dict[str, str]) -> None:
        self.stack = Stack.of(scope)
        self.partition = nag_flatten(self.stack.resolve(self.stack.partition))
        #: flattened ARNs (``<X.Arn>``, ``<X.Arn>/*``, ``arn:aws:s3:::name/*``) of the artifact buckets
        self.bucket_resources = bucket_resources
        #: flattened project name (``<LogicalId>``) -> path, of the projects whose logs are granted
        self.projects = projects

    def _resource_reason(self, resource: str, statement: dict[str, Any]) -> str | None:
        actions = frozenset(_as_list(statement.get("Action", [])))
        condition = json.dumps(statement.get("Condition", {}))
        region, account = self.stack.region, self.stack.account
        logs_prefix = f"arn:{self.partition}:logs:{region}:{account}:log-group:/aws/codebuild/"
        reports_prefix = f"arn:{self.partition}:codebuild:{region}:{account}:report-group/"
        own_logs = {pattern for name in self.projects
                    for pattern in (f"{logs_prefix}{name}:*", f"{reports_prefix}{name}-*")}
        # A conditioned '*' is explained only with its condition (a tag CDK sets or cdk bootstrap set).
        star_conditions = {
            frozenset({"sts:AssumeRole"}): "aws-cdk:bootstrap-role",
            frozenset({"codepipeline:GetPipelineState", "codepipeline:PutApprovalResult"}): "SECURITY_CHECK",
        }
        # The known statements, or a part of one (unminimized policies split them).
        known = [(key, reason) for key, reason in STAR_RESOURCE_REASONS.items() if actions and actions <= key]
        star: tuple[frozenset[str], str | None] = known[0] if known else (frozenset(), None)
        explained = [
            (resource in self.bucket_resources, ARTIFACT_OBJECTS_REASON),
            (resource in (f"{logs_prefix}*", f"{reports_prefix}*"), SHARED_ASSET_LOGS_REASON),
            (resource in own_logs, PROJECT_LOGS_REASON),
            (resource.endswith(".Arn>:*") and actions == {"lambda:InvokeFunction"}, AUTO_APPROVE_INVOKE_REASON),
            (resource == f"arn:*:iam::{account}:role/*" and actions == {"sts:AssumeRole"}
             and "iam:ResourceTag/aws-cdk:bootstrap-role" in condition, SELF_MUTATION_ROLES_REASON),
            (resource == "*" and star_conditions.get(star[0], "") in condition, star[1]),
        ]
        return next((reason for matched, reason in explained if matched and reason), None)

    def _action_reason(self, action: str, statement: dict[str, Any]) -> str | None:
        kind = ACTION_WILDCARD_REASONS.get(action)
        resources = [nag_flatten(resource) for resource in _as_list(statement.get("Resource", []))]
        if kind == "s3" and all(resource in self.bucket_resources or resource.removesuffix("/*") in
                                self.bucket_resources for resource in resources):
            return S3_ACTIONS_REASON
        if kind == "kms":
            return KMS_ACTIONS_REASON
        return None

    def acknowledge(self, policy: iam.Policy) -> None:
        reasons: dict[str, list[str]] = {}
        for finding, statement in wildcard_findings(policy):
            kind, _, value = finding.partition("::")
            reason = (self._action_reason(value, statement) if kind == "Action"
                      else self._resource_reason(value, statement))
            if reason is None:
                raise ValueError(f"{policy.node.path}: no reason known for the wildcard {finding} in "
                                 f"{json.dumps(statement)}; narrow it or explain it in stacks/constructs/pipeline.py")
            reasons.setdefault(reason, []).append(f"AwsSolutions-IAM5[{finding}]")
        for reason, rule_ids in reasons.items():
            acknowledge(policy, reason, *sorted(set(rule_ids)))


def resource_of(construct: IConstruct) -> IConstruct:
    """The CloudFormation resource of an L2 construct: acknowledgements go there, so that they do not
    spread to the construct's other resources (a bucket's policy, a project's role)."""
    resource = construct.node.default_child
    assert resource is not None, construct.node.path
    return resource


def access_log_bucket(scope: Construct, construct_id: str) -> s3.Bucket:
    """Where an artifact bucket's S3 server access logs go (SSE-S3: the only encryption S3 logging
    delivers to), kept a year."""
    bucket = s3.Bucket(
        scope, construct_id,
        encryption=s3.BucketEncryption.S3_MANAGED,
        enforce_ssl=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        versioned=True,
        lifecycle_rules=[s3.LifecycleRule(
            id="expire-logs", expiration=Duration.days(365), noncurrent_version_expiration=Duration.days(1),
            abort_incomplete_multipart_upload_after=Duration.days(1))],
        removal_policy=RemovalPolicy.RETAIN,
    )
    acknowledge(resource_of(bucket), LOG_BUCKET_SSE_S3_REASON, "NIST.800.53.R5-S3DefaultEncryptionKMS",
                "HIPAA.Security-S3DefaultEncryptionKMS", "PCI.DSS.321-S3DefaultEncryptionKMS")
    acknowledge(resource_of(bucket), LOG_BUCKET_REPLICATION_REASON, "NIST.800.53.R5-S3BucketReplicationEnabled",
                "HIPAA.Security-S3BucketReplicationEnabled", "PCI.DSS.321-S3BucketReplicationEnabled")
    return bucket


def harden_artifact_bucket(bucket: s3.IBucket, log_bucket: s3.Bucket, prefix: str) -> None:
    """What CDK's own artifact (and replication) buckets lack: server access logs, versioning (with
    superseded versions expiring), and incomplete uploads cleaned up."""
    cfn = bucket.node.default_child
    assert isinstance(cfn, s3.CfnBucket), bucket.node.path
    cfn.logging_configuration = s3.CfnBucket.LoggingConfigurationProperty(
        destination_bucket_name=log_bucket.bucket_name, log_file_prefix=prefix)
    cfn.versioning_configuration = s3.CfnBucket.VersioningConfigurationProperty(status="Enabled")
    cfn.lifecycle_configuration = s3.CfnBucket.LifecycleConfigurationProperty(rules=[
        s3.CfnBucket.RuleProperty(
            id="expire-superseded-artifacts", status="Enabled",
            noncurrent_version_expiration=s3.CfnBucket.NoncurrentVersionExpirationProperty(noncurrent_days=30),
            abort_incomplete_multipart_upload=s3.CfnBucket.AbortIncompleteMultipartUploadProperty(
                days_after_initiation=1)),
    ])
    log_bucket.add_to_resource_policy(iam.PolicyStatement(
        sid=f"S3ServerAccessLogs{prefix.strip('/').title().replace('-', '')}",
        principals=[iam.ServicePrincipal("logging.s3.amazonaws.com")],
        actions=["s3:PutObject"],
        resources=[log_bucket.arn_for_objects(f"{prefix}*")],
        conditions={"ArnLike": {"aws:SourceArn": bucket.bucket_arn},
                    "StringEquals": {"aws:SourceAccount": Stack.of(bucket).account}},
    ))
    acknowledge(cfn, ARTIFACT_REPLICATION_REASON, "NIST.800.53.R5-S3BucketReplicationEnabled",
                "HIPAA.Security-S3BucketReplicationEnabled", "PCI.DSS.321-S3BucketReplicationEnabled")


def build_log_key(scope: Construct, construct_id: str, description: str) -> kms.Key:
    """A key CloudWatch Logs may use for this account's log groups in this region (and CodeBuild for
    the projects it is given to)."""
    stack = Stack.of(scope)
    key = kms.Key(scope, construct_id, description=description, enable_key_rotation=True,
                  removal_policy=RemovalPolicy.RETAIN)
    key.add_to_resource_policy(iam.PolicyStatement(
        sid="AllowCloudWatchLogsForThisAccountsLogGroups",
        principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
        actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
        resources=["*"],
        conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn":
                                f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:log-group:*"}},
    ))
    return key


def prepare_for_pipeline(stage: FilegateStage) -> None:
    """What build_app gives every stage (aspects stop at a stage's boundary), given before the stage
    joins the pipeline: CDK Pipelines synthesizes a stage as soon as it is added (to read its stacks),
    and a stage is synthesized once, so aspects added to it later would never run."""
    Aspects.of(stage).add(DropRedundantRoleDependency())
    Aspects.of(stage).add(DropRedundantProviderRoleDependency())
    for pack in PACK_CLASSES:  # they only write the acknowledgements; the app's packs validate
        pack(stage, write_suppressions_to_cloud_formation=True)


class DeliveryPipeline(Construct):
    """The CDK Pipelines ``CodePipeline`` deploying ``stages`` in order (module docstring)."""

    def __init__(
        self, scope: Construct, construct_id: str, *, pipeline: PipelineConfig, stages: list[PipelineStage],
    ) -> None:
        super().__init__(scope, construct_id)
        self.cross_account = any(item.account != pipeline.account for item in stages)
        self.key = build_log_key(self, "BuildLogsKey", "filegate pipeline: encrypts the pipeline's build log groups")
        self.log_group = logs.LogGroup(self, "BuildLogs", retention=LOG_RETENTION, encryption_key=self.key,
                                       removal_policy=RemovalPolicy.RETAIN)
        self.source = pipelines.CodePipelineSource.connection(
            pipeline.repository, pipeline.branch, connection_arn=pipeline.connection_arn)
        synth_commands = ["make lint", "make test-unit", "make test-infra"]
        if pipeline.run_e2e:
            synth_commands.append("make test-e2e")
        synth_commands.append("make synth")
        self.synth = pipelines.ShellStep(
            "Synth", input=self.source, install_commands=list(INSTALL_COMMANDS), commands=synth_commands,
            primary_output_directory="cdk.out")
        self.code_pipeline = pipelines.CodePipeline(
            self, "CodePipeline",
            pipeline_type=codepipeline.PipelineType.V2,
            self_mutation=True,
            cross_account_keys=self.cross_account,
            enable_key_rotation=True if self.cross_account else None,
            publish_assets_in_parallel=False,
            docker_enabled_for_synth=False,
            docker_enabled_for_self_mutation=False,
            cli_version=cdk_cli_version(),
            synth=self.synth,
            code_build_defaults=pipelines.CodeBuildOptions(logging=codebuild.LoggingOptions(
                cloud_watch=codebuild.CloudWatchLoggingOptions(log_group=self.log_group))),
            synth_code_build_defaults=pipelines.CodeBuildOptions(
                build_environment=debian_environment(codebuild.ComputeType.MEDIUM),
                partial_build_spec=BASH,
                # lint, unit, infra (several syntheses of the app) and e2e (Ceph, ClamAV, Chromium)
                timeout=Duration.minutes(150),
            ),
        )
        self.verify_role = iam.Role(
            self, "VerifyRole", role_name=PIPELINE_VERIFY_ROLE_NAME,
            assumed_by=iam.ServicePrincipal("codebuild.amazonaws.com"),
            description="filegate pipeline Verify steps: may assume the staged environments' deployment verifiers")
        self.verify_role.add_to_policy(iam.PolicyStatement(
            sid="AssumeDeploymentVerifiers", actions=["sts:AssumeRole"],
            resources=[verifier_role_arn(item.config, item.account) for item in stages]))
        self.stages: dict[str, FilegateStage] = {}
        self.verify_steps: dict[str, pipelines.CodeBuildStep] = {}
        for item in stages:
            self._add_stage(pipeline, item)
        # Every stage is added: build now (CDK Pipelines would build just in time, during synthesis),
        # so the built resources can be hardened and acknowledged, and tools that read the construct
        # tree without synthesizing it (stacks/compliance_report.py) see the whole pipeline.
        self.code_pipeline.build_pipeline()
        self._harden_and_acknowledge()

    def _add_stage(self, pipeline: PipelineConfig, item: PipelineStage) -> None:
        config, stage = item.config, item.stage
        pre: list[pipelines.Step] = []
        if config.name in pipeline.approvals:
            check = pipelines.ConfirmPermissionsBroadening("CheckBroadening", stage=stage)
            approve = pipelines.ManualApprovalStep(
                f"Approve{stage.node.id}",
                comment=f"Deploy filegate {config.name} to {item.account} ({config.region})?")
            approve.add_step_dependency(check)
            pre = [check, approve]
        verify = pipelines.CodeBuildStep(
            "Verify",
            input=self.source,
            env_from_cfn_outputs=stage.verifier_outputs,
            role=self.verify_role,
            build_environment=debian_environment(),
            partial_build_spec=BASH,
            install_commands=list(INSTALL_COMMANDS),
            commands=[f"make verify ENV={config.name} OUTPUTS=env"],
            timeout=Duration.minutes(30),
        )
        prepare_for_pipeline(stage)
        self.code_pipeline.add_stage(stage, pre=pre, post=[verify])
        self.stages[config.name] = stage
        self.verify_steps[config.name] = verify

    def _harden_and_acknowledge(self) -> None:
        pipeline = self.code_pipeline.pipeline
        stack = Stack.of(self)
        # The artifact buckets: access logs, versioning (CDK makes them KMS-encrypted and SSL-only).
        self.access_logs = access_log_bucket(self, "ArtifactAccessLogs")
        harden_artifact_bucket(pipeline.artifact_bucket, self.access_logs, "artifacts/")
        buckets = [pipeline.artifact_bucket]
        for region, support in sorted(pipeline.cross_region_support.items()):
            harden_artifact_bucket(support.replication_bucket,
                                   access_log_bucket(support.stack, "ReplicationAccessLogs"), f"{region}/")
            buckets.append(support.replication_bucket)
        bucket_resources = set()
        for bucket in buckets:
            arn = nag_flatten(stack.resolve(bucket.bucket_arn))
            bucket_resources |= {arn, f"{arn}/*"}
        # Custom images and CODEPIPELINE sources (module docstring).
        self.projects = self._projects()
        for path, project in self.projects.items():
            cfn = project.node.default_child
            assert isinstance(cfn, codebuild.CfnProject)
            acknowledge(cfn, PIPELINE_SOURCE_REASON, "HIPAA.Security-CodeBuildProjectSourceRepoUrl",
                        "PCI.DSS.321-CodeBuildProjectSourceRepoUrl")
            image = stack.resolve(cfn.environment)["image"]
            if image == BUILD_IMAGE:
                acknowledge(cfn, CUSTOM_IMAGE_REASON if path.endswith("/Synth/CdkBuildProject")
                            else SAME_IMAGE_REASON, "AwsSolutions-CB5")
            if not self.cross_account:  # no customer key on the artifact bucket: S3's aws/s3 key
                acknowledge(cfn, SAME_ACCOUNT_KEY_REASON, "AwsSolutions-CB4")
        self._harden_auto_approve()
        self._drop_redundant_role_dependency()
        reasons = WildcardReasons(self, bucket_resources=bucket_resources, projects={
            nag_flatten(stack.resolve(project.project_name)): path for path, project in self.projects.items()})
        for policy in (c for c in self.node.find_all() if isinstance(c, iam.Policy)):
            acknowledge_inline_policy(policy, xray_wildcard=False)
            reasons.acknowledge(policy)

    def _drop_redundant_role_dependency(self) -> None:
        """The pipeline resource ``DependsOn`` its role, which its ``RoleArn`` already reads (cfn-lint
        W3005); the dependency on the role's policy stays (no execution before its permissions exist)."""
        pipeline = self.code_pipeline.pipeline
        stack = Stack.of(self)
        cfn_pipeline = pipeline.node.default_child
        role = pipeline.role.node.default_child
        assert isinstance(cfn_pipeline, CfnResource) and isinstance(role, CfnResource)
        role_id = stack.resolve(stack.get_logical_id(role))
        kept: set[str] = set()
        for dependency in [*pipeline.node.dependencies, *cfn_pipeline.node.dependencies,
                           *cfn_pipeline.obtain_dependencies()]:
            for construct in dependency.node.find_all():
                if isinstance(construct, CfnResource) and Stack.of(construct) is stack:
                    kept.add(stack.resolve(stack.get_logical_id(construct)))
        kept.discard(role_id)
        cfn_pipeline.add_override("DependsOn", sorted(kept))

    def _projects(self) -> dict[str, codebuild.Project]:
        return {c.node.path: c for c in self.node.find_all() if isinstance(c, codebuild.Project)}

    def _harden_auto_approve(self) -> None:
        check = self.code_pipeline.node.try_find_child("PipelinesSecurityCheck")
        if check is None:
            return
        function = check.node.find_child("CDKPipelinesAutoApprove")
        assert isinstance(function, lambda_.Function)
        cfn_function = function.node.default_child
        assert isinstance(cfn_function, lambda_.CfnFunction)
        cfn_function.memory_size = 128  # Lambda's default, stated (it makes one API call)
        managed_logs = function.node.try_find_child("LogGroup")  # @aws-cdk/aws-lambda:useCdkManagedLogGroup
        if managed_logs is not None:
            log_group = managed_logs.node.default_child
            assert isinstance(log_group, logs.CfnLogGroup)
            log_group.kms_key_id = self.key.key_arn
        for rule_ids, reason in AUTO_APPROVE_REASONS.items():
            role = function.role
            assert role is not None
            acknowledge(resource_of(role) if rule_ids[0].startswith("AwsSolutions-IAM4") else cfn_function,
                        reason, *rule_ids)


SAME_ACCOUNT_KEY_REASON = (
    "Every stage deploys to the pipeline's own account, so the artifact bucket is encrypted with S3's "
    "AWS-managed KMS key (no cross-account reader needs a customer key) and CodeBuild's output artifacts "
    "go to that bucket under the same key."
)


class DriftCheck(Construct):
    """A CodeBuild project on a schedule: ``make drift ENV=<env>`` for every staged environment."""

    def __init__(
        self, scope: Construct, construct_id: str, *, pipeline: PipelineConfig, stages: list[PipelineStage],
        logs_key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        owner, repo = pipeline.repository.split("/", 1)
        self.role = iam.Role(
            self, "Role", assumed_by=iam.ServicePrincipal("codebuild.amazonaws.com"),
            description="filegate drift check: may assume the staged environments' CDK lookup roles only")
        self.role.add_to_policy(iam.PolicyStatement(
            sid="AssumeCdkLookupRoles", actions=["sts:AssumeRole"],
            resources=sorted({lookup_role_arn(item.config, item.account) for item in stages})))
        self.role.add_to_policy(iam.PolicyStatement(
            sid="CloneThroughTheConnection",
            actions=connection_actions(pipeline.connection_arn), resources=[pipeline.connection_arn]))
        profiles: list[str] = []
        checks: list[str] = []
        for item in stages:
            name = item.config.name
            profiles += [f"[profile filegate-drift-{name}]",
                         f"role_arn = {lookup_role_arn(item.config, item.account)}",
                         "credential_source = EcsContainer",
                         f"role_session_name = filegate-drift-{name}",
                         f"region = {item.config.region}"]
            checks.append(f"AWS_PROFILE=filegate-drift-{name} make drift ENV={name} "
                          f"|| echo {name} >> {DRIFT_FAILURES_FILE}")
        write_profiles = "printf '%s\\n' " + " ".join(f"'{line}'" for line in profiles) + f" > {DRIFT_CONFIG_FILE}"
        self.log_group = logs.LogGroup(self, "Logs", retention=LOG_RETENTION, encryption_key=logs_key,
                                       removal_policy=RemovalPolicy.RETAIN)
        self.project = codebuild.Project(
            self, "Project",
            description="filegate: cdk drift --fail on every environment the pipeline deploys",
            source=codebuild.Source.git_hub(owner=owner, repo=repo, branch_or_ref=pipeline.branch,
                                            clone_depth=1, report_build_status=False),
            environment=debian_environment(),
            role=self.role,
            encryption_key=logs_key,
            timeout=Duration.minutes(60),
            logging=codebuild.LoggingOptions(cloud_watch=codebuild.CloudWatchLoggingOptions(log_group=self.log_group)),
            build_spec=codebuild.BuildSpec.from_object({
                "version": "0.2",
                "env": {"shell": "bash", "variables": {"AWS_CONFIG_FILE": DRIFT_CONFIG_FILE}},
                "phases": {
                    "install": {"commands": list(INSTALL_COMMANDS)},
                    "build": {"commands": [
                        write_profiles,
                        f"rm -f {DRIFT_FAILURES_FILE}",
                        *checks,
                        f'if [ -s {DRIFT_FAILURES_FILE} ]; then echo "drift in: $(cat {DRIFT_FAILURES_FILE})" >&2; '
                        "exit 1; fi",
                    ]},
                },
            }),
        )
        # The connection authenticates the clone (a GitHub App through CodeConnections), for this
        # project only: no account-wide CodeBuild source credential is created or needed.
        cfn_project = self.project.node.default_child
        assert isinstance(cfn_project, codebuild.CfnProject)
        cfn_project.add_property_override(
            "Source.Auth", {"Type": "CODECONNECTIONS", "Resource": pipeline.connection_arn})
        self.rule = events.Rule(
            self, "Schedule", schedule=events.Schedule.expression(pipeline.drift_schedule),
            description="filegate: start the drift check of every staged environment",
            targets=[targets.CodeBuildProject(self.project)])
        acknowledge(resource_of(self.rule), SCHEDULE_DLQ_REASON, "Serverless-EventBusDLQ")
        acknowledge(cfn_project, SAME_IMAGE_REASON, "AwsSolutions-CB5")
        acknowledge(cfn_project, CONNECTION_SOURCE_REASON, "HIPAA.Security-CodeBuildProjectSourceRepoUrl",
                    "PCI.DSS.321-CodeBuildProjectSourceRepoUrl")
        stack = Stack.of(self)
        reasons = WildcardReasons(self, bucket_resources=set(), projects={
            nag_flatten(stack.resolve(self.project.project_name)): self.project.node.path})
        for policy in (c for c in self.node.find_all() if isinstance(c, iam.Policy)):
            acknowledge_inline_policy(policy, xray_wildcard=False)
            reasons.acknowledge(policy)
