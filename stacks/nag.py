"""Compliance checks (cdk-nag 3 through CDK's validation API) and reasoned acknowledgements."""

from __future__ import annotations

from collections.abc import Iterable

from aws_cdk import Acknowledgment, App, Stage, Validations
from cdk_nag import (
    AwsSolutionsChecks,
    HIPAASecurityChecks,
    NIST80053R5Checks,
    PCIDSS321Checks,
    ServerlessChecks,
)
from constructs import IConstruct

PACKS = ("AwsSolutions", "NIST.800.53.R5", "HIPAA.Security", "PCI.DSS.321", "Serverless")


PACK_CLASSES = (AwsSolutionsChecks, NIST80053R5Checks, HIPAASecurityChecks, PCIDSS321Checks, ServerlessChecks)


def stages_within(app: App) -> list[Stage]:
    """Every ``Stage`` under the app, pipeline stages included (aspects stop at a stage's boundary,
    so whatever must reach every template is added to each of them too)."""
    return [construct for construct in app.node.find_all() if isinstance(construct, Stage) and construct is not app]


def add_compliance_checks(app: App) -> None:
    """Run every pack on every stack; acknowledgements are written into the templates.

    The packs validate the whole assembly from the app, nested stages included; the aspect that
    writes acknowledgements into the templates is registered on the scope a pack is made with, and
    aspects do not cross into a stage, so each stage gets packs of its own that only write them.
    """
    Validations.of(app).add_plugins(*(pack(app, write_suppressions_to_cloud_formation=True) for pack in PACK_CLASSES))
    for stage in stages_within(app):
        for pack in PACK_CLASSES:
            pack(stage, write_suppressions_to_cloud_formation=True)


def acknowledge(construct: IConstruct, reason: str, *rule_ids: str) -> None:
    """Acknowledge rules on one construct, each with the same auditor-readable reason."""
    if not reason or len(reason) < 40:
        raise ValueError(f"acknowledgement on {construct.node.path} needs a real reason")
    Validations.of(construct).acknowledge(*(Acknowledgment(id=rule_id, reason=reason) for rule_id in rule_ids))


def acknowledge_all(constructs: Iterable[IConstruct], reason: str, *rule_ids: str) -> None:
    for construct in constructs:
        acknowledge(construct, reason, *rule_ids)


SYNC_INVOCATION_REASON = (
    "Invoked synchronously only ({caller}); the caller receives the error and retries, so a "
    "dead-letter queue (which only serves asynchronous invocations) would never receive anything."
)
NO_VPC_REASON = (
    "Talks only to AWS APIs (S3 presign is local; KMS/Secrets Manager/CloudWatch over TLS with SigV4) "
    "and reaches no private network resource; a VPC would add NAT or endpoint cost and cold-start "
    "latency without narrowing any data path."
)
RUNTIME_REASON = (
    "Python 3.13 is the newest interpreter the build machines have, so tests run on the deployed "
    "version and .pyc files are compiled for it; move to 3.14 when the build machines have it."
)
NO_RESERVED_CONCURRENCY_REASON = (
    "No reserved concurrency in this environment: accounts with the default concurrency quota cannot "
    "reserve any; API stage throttling bounds the invocation rate instead (set lambda_reserved_concurrency)."
)
INLINE_POLICY_REASON = (
    "The policy belongs to exactly one role and is created and deleted with it (a strict one-to-one "
    "relationship, where AWS recommends inline policies); a managed policy could be attached elsewhere."
)
BASIC_EXECUTION_REASON = (
    "AWSLambdaBasicExecutionRole grants only CloudWatch Logs stream creation and writes for this "
    "deploy-time function; nothing in it reaches data."
)
XRAY_REASON = (
    "The only Resource::* actions are xray:PutTraceSegments and xray:PutTelemetryRecords (added by "
    "active tracing), which support no resource-level permissions."
)


def acknowledge_python_function(
    function: IConstruct, *, caller: str, reserved_concurrency: bool, python: bool = True,
) -> None:
    """The findings every synchronous, non-VPC function here shares, with their reasons."""
    acknowledge(function, SYNC_INVOCATION_REASON.format(caller=caller),
                "NIST.800.53.R5-LambdaDLQ", "HIPAA.Security-LambdaDLQ", "Serverless-LambdaDLQ")
    acknowledge_outside_vpc(function, python=python)
    if not reserved_concurrency:
        acknowledge(function, NO_RESERVED_CONCURRENCY_REASON,
                    "NIST.800.53.R5-LambdaConcurrency", "HIPAA.Security-LambdaConcurrency")


def acknowledge_outside_vpc(function: IConstruct, reason: str = NO_VPC_REASON, *, python: bool = True) -> None:
    """No VPC (``reason`` says what the function talks to) and, for Python, the runtime's findings."""
    acknowledge(function, reason,
                "NIST.800.53.R5-LambdaInsideVPC", "HIPAA.Security-LambdaInsideVPC", "PCI.DSS.321-LambdaInsideVPC")
    if python:
        acknowledge(function, RUNTIME_REASON, "AwsSolutions-L1", "Serverless-LambdaLatestVersion")


def acknowledge_inline_policy(policy: IConstruct, *, xray_wildcard: bool = True) -> None:
    acknowledge(policy, INLINE_POLICY_REASON, "NIST.800.53.R5-IAMNoInlinePolicy",
                "HIPAA.Security-IAMNoInlinePolicy", "PCI.DSS.321-IAMNoInlinePolicy")
    if xray_wildcard:
        acknowledge(policy, XRAY_REASON, "AwsSolutions-IAM5[Resource::*]")
