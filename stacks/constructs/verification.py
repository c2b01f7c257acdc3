"""Malware scan, the verifier's queue and Lambda, and the sweep (DESIGN.md decision 9).

```
S3 "Object Created" (incoming/, this bucket) ─┐
GuardDuty "Object Scan Result" (this plan) ───┴─► rule (default bus) ─► queue (KMS, TLS) ─► verifier
                                                                          └─ after 5 receives ─► DLQ
schedule ─► sweep (async; failures to its DLQ)
```

With ``scanning: none`` there is no plan and the Object Created event alone drives the checks.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack, Token
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_guardduty as guardduty
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from filegate.domain.quarantine import QUARANTINE_PREFIX
from stacks.config import VERIFIER_MAX_RECEIVE_COUNT, VerificationSettings
from stacks.constructs.python_function import BASE_REQUIREMENTS, FunctionHost, lambda_role
from stacks.constructs.storage import SCANNER_VALIDATION_OBJECT
from stacks.lambda_bundling import LAMBDA_ROOT, DroppedExtension
from stacks.nag import acknowledge, acknowledge_inline_policy, acknowledge_outside_vpc

VERIFIER_HANDLER = "filegate.handlers.verifier.handler"
SWEEP_HANDLER = "filegate.handlers.sweep.handler"
#: Pillow extensions the verifier never runs (filegate.domain.content.images decodes PNG, JPEG,
#: GIF and WebP, and converts ICC profiles with lcms2), left out of its asset with the libraries
#: only they link (libavif; FreeType, HarfBuzz, Brotli, libpng): without them it fits Lambda's
#: 10 MiB direct upload. Pillow imports both guarded, as on a build without those libraries.
VERIFIER_DROPPED_EXTENSIONS = (
    DroppedExtension("PIL._avif", "AVIF codec: AVIF is not an accepted type; without it AvifImagePlugin "
                                  "sets SUPPORTED = False and PIL.features reports avif unavailable"),
    DroppedExtension("PIL._imagingft", "FreeType text rendering (ImageFont, ImageDraw.text): the verifier "
                                       "draws no text; ImageFont defers the ImportError to a font's first use"),
)
#: GuardDuty Malware Protection for S3: the service that assumes the plan's role, the event it
#: sends, the EventBridge rule it manages, and the tag it writes.
SCANNER_SERVICE = "malware-protection-plan.guardduty.amazonaws.com"
SCAN_RESULT_SOURCE = "aws.guardduty"
SCAN_RESULT_DETAIL_TYPE = "GuardDuty Malware Protection Object Scan Result"
MANAGED_RULE_PREFIX = "DO-NOT-DELETE-AmazonGuardDutyMalwareProtectionS3"
QUEUE_RETENTION = Duration.days(14)
NO_VPC_REASON = (
    "Talks only to AWS APIs over TLS with SigV4 (S3, DynamoDB, EventBridge, SQS through its event source "
    "mapping) and reaches no private network resource; a VPC would add NAT or endpoint cost and cold-start "
    "latency without narrowing any data path (the bucket policy already names this role)."
)
SWEEP_TIMEOUT = Duration.minutes(5)


DEAD_LETTER_QUEUE_REASON = (
    "This is a dead-letter queue: what lands here failed every retry and waits (14 days, alarmed at the "
    "first message) for an operator; a dead-letter queue of its own would only move the same messages again."
)


def _rendered(stack: Stack, value: str, pseudo: str) -> str:
    """A pseudo parameter as cdk-nag writes it in finding ids: the literal, or ``<AWS::...>``."""
    return f"<AWS::{pseudo}>" if Token.is_unresolved(value) else value


def queue_key(scope: Construct, construct_id: str, *, name_prefix: str, purpose: str,
              removal_policy: RemovalPolicy) -> kms.Key:
    """A customer key for queues that EventBridge (rule targets, dead-letter queues) writes to."""
    key = kms.Key(scope, construct_id, description=f"{name_prefix}: encrypts {purpose}",
                  enable_key_rotation=True, removal_policy=removal_policy)
    key.add_to_resource_policy(iam.PolicyStatement(
        sid="AllowThisAccountsEventBridgeRulesToEnqueue",
        principals=[iam.ServicePrincipal("events.amazonaws.com")],
        actions=["kms:Decrypt", "kms:GenerateDataKey"],
        resources=["*"],
        conditions={"StringEquals": {"aws:SourceAccount": Stack.of(scope).account}},
    ))
    return key


def encrypted_queue(scope: Construct, construct_id: str, *, key: kms.IKey, visibility_timeout: Duration | None = None,
                    dead_letter_queue: sqs.IQueue | None = None, queue_name: str | None = None) -> sqs.Queue:
    """An SSE-KMS queue that refuses plain HTTP, with a dead-letter queue when given one (else it is one)."""
    queue = sqs.Queue(
        scope, construct_id,
        queue_name=queue_name,
        encryption=sqs.QueueEncryption.KMS,
        encryption_master_key=key,
        data_key_reuse=Duration.minutes(5),
        enforce_ssl=True,
        retention_period=QUEUE_RETENTION,
        visibility_timeout=visibility_timeout,
        dead_letter_queue=sqs.DeadLetterQueue(queue=dead_letter_queue, max_receive_count=VERIFIER_MAX_RECEIVE_COUNT)
        if dead_letter_queue else None,
    )
    if dead_letter_queue is None:
        acknowledge(queue, DEAD_LETTER_QUEUE_REASON, "Serverless-SQSRedrivePolicy")
    return queue


class Verification(FunctionHost):
    """The scanner (GuardDuty's plan and its role), the verifier and the sweep.

    The verifier's and sweep's permissions are granted by the stack (one visible place); the
    plan role's are GuardDuty's documented ones, scoped to this bucket's ``incoming/`` prefix,
    and live here with the plan.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name_prefix: str,
        scanning: str,
        settings: VerificationSettings,
        bucket: s3.IBucket,
        bucket_key: kms.IKey,
        verifier_role_name: str,
        sweep_role_name: str,
        scanner_role_name: str,
        verifier_environment: dict[str, str],
        log_retention: logs.RetentionDays,
        log_key: kms.IKey,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id, log_retention=log_retention, log_key=log_key,
                         removal_policy=removal_policy)
        self.settings = settings

        # --- the queue between the events and the verifier ------------------------------------
        key = queue_key(self, "QueueKey", name_prefix=name_prefix, purpose="the verifier's queues",
                        removal_policy=removal_policy)
        self.dead_letters = encrypted_queue(self, "DeadLetters", key=key)
        self.queue = encrypted_queue(
            self, "Queue", key=key,
            visibility_timeout=Duration.seconds(settings.visibility_timeout_seconds),
            dead_letter_queue=self.dead_letters,
        )

        # --- the scanner ------------------------------------------------------------------------
        self.scanner_role: iam.Role | None = None
        self.plan: guardduty.CfnMalwareProtectionPlan | None = None
        if scanning == "guardduty":
            self.scanner_role = self._scanner_role(scanner_role_name, bucket, bucket_key)
            self.plan = guardduty.CfnMalwareProtectionPlan(
                self, "MalwareProtectionPlan",
                role=self.scanner_role.role_arn,
                protected_resource=guardduty.CfnMalwareProtectionPlan.CFNProtectedResourceProperty(
                    s3_bucket=guardduty.CfnMalwareProtectionPlan.S3BucketProperty(
                        bucket_name=bucket.bucket_name, object_prefixes=[QUARANTINE_PREFIX]),
                ),
                # The verdict tag (GuardDutyMalwareScanStatus) on every scanned object.
                actions=guardduty.CfnMalwareProtectionPlan.CFNActionsProperty(
                    tagging=guardduty.CfnMalwareProtectionPlan.CFNTaggingProperty(status="ENABLED")),
            )
            # GuardDuty checks the role's permissions when the plan is created.
            self.plan.node.add_dependency(self.scanner_role.node.find_child("DefaultPolicy"))

        # --- events -> queue --------------------------------------------------------------------
        deliver = targets.SqsQueue(self.queue, dead_letter_queue=self.dead_letters, retry_attempts=185,
                                   max_event_age=Duration.hours(24))
        self.rules: dict[str, events.Rule] = {
            "ObjectCreated": events.Rule(
                self, "UploadArrived",
                description="An upload arrived in this bucket's quarantine: the verifier marks it verifying"
                if scanning == "guardduty" else "An upload arrived in this bucket's quarantine: the verifier checks it",
                event_pattern=events.EventPattern(
                    source=["aws.s3"], detail_type=["Object Created"],
                    detail={"bucket": {"name": [bucket.bucket_name]},
                            "object": {"key": [{"prefix": QUARANTINE_PREFIX}]}},
                ),
                targets=[deliver],
            ),
        }
        if self.plan is not None:
            self.rules["ScanResult"] = events.Rule(
                self, "ScanResult",
                description="GuardDuty's verdict on a quarantined upload of this bucket: the verifier decides",
                event_pattern=events.EventPattern(
                    source=[SCAN_RESULT_SOURCE], detail_type=[SCAN_RESULT_DETAIL_TYPE],
                    resources=[self.plan.attr_arn],
                    detail={"s3ObjectDetails": {"bucketName": [bucket.bucket_name],
                                                "objectKey": [{"prefix": QUARANTINE_PREFIX}]}},
                ),
                targets=[deliver],
            )
        # Only these rules enqueue: no principal (an administrator included) can hand the verifier a
        # forged "scan result"; recovery is a GuardDuty re-scan (SendObjectMalwareScan), whose real
        # result arrives through the rule. (SQS moves dead letters itself, without SendMessage.)
        self.queue.add_to_resource_policy(iam.PolicyStatement(
            sid="DenyEnqueueingExceptByTheVerificationRules",
            effect=iam.Effect.DENY,
            principals=[iam.AnyPrincipal()],
            actions=["sqs:SendMessage"],
            resources=[self.queue.queue_arn],
            conditions={"ArnNotEquals": {"aws:SourceArn": [rule.rule_arn for rule in self.rules.values()]}},
        ))

        # --- the verifier -----------------------------------------------------------------------
        self.verifier_role = lambda_role(
            self, "VerifierRole", role_name=verifier_role_name,
            description="Reads quarantined uploads, promotes or rejects them, records and announces the outcome",
        )
        # No SnapStart: an SQS consumer behind seconds of malware scanning; no user feels its cold start.
        self.verifier = self._function(
            "Verifier", VERIFIER_HANDLER, self.verifier_role, verifier_environment,
            requirements=(BASE_REQUIREMENTS, LAMBDA_ROOT / "requirements-verifier.txt"),
            dropped_extensions=VERIFIER_DROPPED_EXTENSIONS,
            memory_mb=settings.verifier_memory_mb, timeout=Duration.seconds(settings.verifier_timeout_seconds),
            reserved_concurrency=settings.verifier_concurrency,
        )
        source = event_sources.SqsEventSource(
            self.queue, batch_size=5, report_batch_item_failures=True,
            max_concurrency=settings.verifier_concurrency,
        )
        self.verifier.add_event_source(source)
        acknowledge(self.verifier, (
            "An SQS event source mapping takes no on-failure destination (Lambda supports those for stream "
            "and Kafka sources only); the queue's redrive policy moves a message that failed maxReceiveCount "
            "times to the queue's dead-letter queue, which is alarmed."),
            "Serverless-LambdaEventSourceMappingDestination")
        acknowledge(self.verifier, (
            "Invoked by its SQS event source mapping, which is a synchronous invocation: a failed message "
            "returns to the queue and, after the queue's maxReceiveCount, moves to the queue's dead-letter "
            "queue (alarmed); a function-level DLQ only serves asynchronous invocations and would stay empty."),
            "NIST.800.53.R5-LambdaDLQ", "HIPAA.Security-LambdaDLQ", "Serverless-LambdaDLQ")

        # --- the sweep --------------------------------------------------------------------------
        self.sweep_dead_letters = encrypted_queue(self, "SweepDeadLetters", key=key)
        self.sweep_role = lambda_role(
            self, "SweepRole", role_name=sweep_role_name,
            description="Rejects file records stuck undecided (scan_failed) and finishes decided ones",
        )
        self.sweep = self._function(
            "Sweep", SWEEP_HANDLER, self.sweep_role, verifier_environment,
            requirements=(BASE_REQUIREMENTS,),
            memory_mb=512, timeout=SWEEP_TIMEOUT, reserved_concurrency=settings.sweep_concurrency,
            dead_letter_queue=self.sweep_dead_letters,
        )
        self.schedule = events.Rule(
            self, "SweepSchedule",
            description="Runs the sweep of records stuck undecided",
            schedule=events.Schedule.rate(Duration.minutes(settings.sweep_interval_minutes)),
            targets=[targets.LambdaFunction(self.sweep, dead_letter_queue=self.sweep_dead_letters,
                                            retry_attempts=2, max_event_age=Duration.hours(1))],
        )
        for role in (self.verifier_role, self.sweep_role):
            acknowledge_inline_policy(role.node.find_child("DefaultPolicy"))
        acknowledge(
            self.sweep_role.node.find_child("DefaultPolicy"),
            "kms:GenerateDataKey* and kms:ReEncrypt* are CDK's grant for sending to an SSE-KMS queue (the sweep's "
            "dead-letter queue and on-failure destination), on that queue's key alone; SQS needs a data key to "
            "encrypt each failed invocation record it stores.",
            "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]", "AwsSolutions-IAM5[Action::kms:ReEncrypt*]")

    def _scanner_role(self, role_name: str, bucket: s3.IBucket, bucket_key: kms.IKey) -> iam.Role:
        """GuardDuty's documented permissions for a protected bucket, scoped to ``incoming/``.

        Source: "Create or update IAM role policy" (GuardDuty User Guide,
        malware-protection-s3-iam-policy-prerequisite). Object reads and tags cover only the
        quarantine prefix the plan scans; the validation object is the one key GuardDuty writes.
        """
        stack = Stack.of(self)
        role = iam.Role(
            self, "ScannerRole", role_name=role_name,
            description="GuardDuty Malware Protection for S3: scans and tags this bucket's incoming/ uploads",
            assumed_by=iam.ServicePrincipal(SCANNER_SERVICE, conditions={
                "StringEquals": {"aws:SourceAccount": stack.account},
                "ArnLike": {"aws:SourceArn":
                            f"arn:{stack.partition}:guardduty:{stack.region}:{stack.account}:malware-protection-plan/*"},
            }),
            max_session_duration=Duration.hours(1),
        )
        managed_rules = f"arn:{stack.partition}:events:{stack.region}:{stack.account}:rule/{MANAGED_RULE_PREFIX}*"
        quarantine = bucket.arn_for_objects(f"{QUARANTINE_PREFIX}*")
        for statement in (
            iam.PolicyStatement(
                sid="AllowManagedRuleToSendS3EventsToGuardDuty",
                actions=["events:PutRule", "events:DeleteRule", "events:PutTargets", "events:RemoveTargets"],
                resources=[managed_rules],
                conditions={"StringLike": {"events:ManagedBy": SCANNER_SERVICE}},
            ),
            iam.PolicyStatement(
                sid="AllowGuardDutyToMonitorEventBridgeManagedRule",
                actions=["events:DescribeRule", "events:ListTargetsByRule"],
                resources=[managed_rules],
            ),
            iam.PolicyStatement(
                sid="AllowPostScanTag",
                actions=["s3:PutObjectTagging", "s3:GetObjectTagging", "s3:PutObjectVersionTagging",
                         "s3:GetObjectVersionTagging"],
                resources=[quarantine],
            ),
            iam.PolicyStatement(
                sid="AllowEnableS3EventBridgeEvents",
                actions=["s3:PutBucketNotification", "s3:GetBucketNotification"],
                resources=[bucket.bucket_arn],
            ),
            iam.PolicyStatement(
                sid="AllowPutValidationObject",
                actions=["s3:PutObject"],
                resources=[bucket.arn_for_objects(SCANNER_VALIDATION_OBJECT)],
            ),
            iam.PolicyStatement(
                sid="AllowCheckBucketOwnership",
                actions=["s3:ListBucket"],
                resources=[bucket.bucket_arn],
            ),
            iam.PolicyStatement(
                sid="AllowMalwareScan",
                actions=["s3:GetObject", "s3:GetObjectVersion"],
                resources=[quarantine],
            ),
            iam.PolicyStatement(
                sid="AllowDecryptForMalwareScan",
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resources=[bucket_key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{stack.region}.amazonaws.com"}},
            ),
        ):
            role.add_to_policy(statement)
        policy = role.node.find_child("DefaultPolicy")
        acknowledge_inline_policy(policy, xray_wildcard=False)
        account = _rendered(stack, stack.account, "AccountId")
        partition = _rendered(stack, stack.partition, "Partition")
        bucket_id = stack.resolve(stack.get_logical_id(bucket.node.default_child))  # type: ignore[arg-type]
        acknowledge(
            policy,
            "GuardDuty names its managed EventBridge rule itself (the DO-NOT-DELETE-AmazonGuardDutyMalwareProtectionS3 "
            "prefix, as its documentation's policy gives it), and the rule actions also require events:ManagedBy to be "
            "GuardDuty's service; object reads and tags are limited to the quarantine prefix incoming/ it scans.",
            f"AwsSolutions-IAM5[Resource::arn:{partition}:events:{stack.region}:{account}:rule/{MANAGED_RULE_PREFIX}*]",
            f"AwsSolutions-IAM5[Resource::<{bucket_id}.Arn>/{QUARANTINE_PREFIX}*]",
        )
        return role

    def _function(
        self, name: str, handler: str, role: iam.Role, environment: dict[str, str], *,
        requirements: tuple, memory_mb: int, timeout: Duration, reserved_concurrency: int,
        dead_letter_queue: sqs.IQueue | None = None, dropped_extensions: tuple[DroppedExtension, ...] = (),
    ) -> lambda_.Function:
        function = self.hosted_function(
            name, handler=handler, role=role, environment=environment, requirements=requirements,
            dropped_extensions=dropped_extensions,
            memory_mb=memory_mb, timeout=timeout, reserved_concurrency=reserved_concurrency,
            # Asynchronous invocations that fail every retry: the record (with the error) to the
            # on-failure destination, the event itself to the dead-letter queue; both are this queue.
            dead_letter_queue=dead_letter_queue,
            on_failure=destinations.SqsDestination(dead_letter_queue) if dead_letter_queue else None,
            retry_attempts=2 if dead_letter_queue else None,
        )
        acknowledge_outside_vpc(function, NO_VPC_REASON)
        return function
