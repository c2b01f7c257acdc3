"""FileApiStack: the HTTP API, its authorizer, the minting Lambdas, and every alarm.

The file records table lives in the file store stack (with the verifier that moves records on);
the Lambdas here reach it by its known name and its key by reference, so nothing there refers
back to this stack.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from filegate.domain.quarantine import QUARANTINE_PREFIX
from stacks.config import EnvironmentConfig
from stacks.constructs.identity import Identity
from stacks.constructs.minting_api import MintingApi, MintingTarget
from stacks.constructs.monitoring import Monitoring, VerificationSignals
from stacks.file_store_stack import TABLE_KEY_READ_ACTIONS, TABLE_KEY_WRITE_ACTIONS, FileStoreStack
from stacks.nag import acknowledge, acknowledge_inline_policy
from stacks.settings import files_bucket_arn, files_bucket_arn_as_nag_renders, log_retention, removal_policy, table_arn

#: What the sweep publishes (Powertools EMF: namespace and service dimension "filegate").
OLDEST_VERIFYING_METRIC = "OldestVerifyingAgeSeconds"
METRICS_NAMESPACE = "filegate"


class FileApiStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, store: FileStoreStack, **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        retention = log_retention(config)
        removal = removal_policy(config)
        self.identity = Identity(self, "Identity", config=config, log_retention=retention,
                                 log_key=store.log_key, removal_policy=removal)
        target = MintingTarget(
            bucket_name=store.storage.bucket.bucket_name,
            bucket_key_arn=store.storage.key.key_arn,
            download_base_url=store.download_base_url,
            slots=tuple(store.signing.slots.values()),
            files_table_name=config.files_table_name,
        )
        self.api = MintingApi(
            self, "Api",
            config=config,
            target=target,
            authorizer=self.identity.authorizer,
            authorization_scopes=self.identity.scopes,
            log_retention=retention,
            log_key=store.log_key,
            removal_policy=removal,
        )
        self._grant(config, store)
        verification = store.verification
        sweep_period = Duration.minutes(config.verification.sweep_interval_minutes)
        dead_letter_queues = {"Verification": verification.dead_letters, "Sweep": verification.sweep_dead_letters}
        if store.file_events.dead_letters is not None:
            dead_letter_queues["Webhook"] = store.file_events.dead_letters
        self.monitoring = Monitoring(
            self, "Monitoring",
            name_prefix=config.prefix,
            http_api=self.api.http_api,
            functions={"Upload": self.api.upload_function, "Download": self.api.download_function,
                       "Files": self.api.files_function, "Verifier": verification.verifier,
                       "Sweep": verification.sweep},
            verification=VerificationSignals(
                dead_letter_queues=dead_letter_queues,
                queue=verification.queue,
                # A message that waited out two visibility timeouts failed twice, or nothing consumes.
                max_queue_age_seconds=2 * config.verification.visibility_timeout_seconds,
                oldest_undecided=cloudwatch.Metric(
                    namespace=METRICS_NAMESPACE, metric_name=OLDEST_VERIFYING_METRIC,
                    dimensions_map={"service": METRICS_NAMESPACE}, statistic="Maximum", period=sweep_period),
                # The sweep rejects what is undecided past the timeout; two missed runs later, it is stuck.
                max_undecided_age_seconds=config.verification.verifying_timeout_seconds
                + 2 * int(sweep_period.to_seconds()),
            ),
            alarm_email=config.alarm_email,
            removal_policy=removal,
        )

        CfnOutput(self, "ApiUrl", value=self.api.url)
        CfnOutput(self, "JwtIssuer", value=self.identity.issuer)
        CfnOutput(self, "DownloadBaseUrl", value=store.download_base_url)
        if self.identity.user_pool and self.identity.user_pool_client:
            CfnOutput(self, "UserPoolId", value=self.identity.user_pool.user_pool_id)
            CfnOutput(self, "UserPoolClientId", value=self.identity.user_pool_client.user_pool_client_id)

    def _grant(self, config: EnvironmentConfig, store: FileStoreStack) -> None:
        """Every permission the API Lambdas hold, in one place."""
        bucket_arn = files_bucket_arn(config)
        files_table = table_arn(config, config.files_table_name)
        records_key = store.file_index.key.key_arn
        via_dynamodb = {"StringEquals": {"kms:ViaService": f"dynamodb.{self.region}.amazonaws.com"}}
        upload_patterns = sorted({rule.key_prefix_pattern for rule in config.rules if "upload" in rule.actions})
        self.api.upload_role.add_to_policy(iam.PolicyStatement(
            sid="PutOnlyIntoTheQuarantineOfUploadRulePrefixes",
            actions=["s3:PutObject"],
            resources=[f"{bucket_arn}/{QUARANTINE_PREFIX}{pattern}" for pattern in upload_patterns],
        ))
        self.api.upload_role.add_to_policy(iam.PolicyStatement(
            sid="EncryptUploadsWithTheBucketKey",
            actions=["kms:GenerateDataKey"],
            resources=[store.storage.key.key_arn],
            conditions={"StringEquals": {"kms:ViaService": f"s3.{self.region}.amazonaws.com"}},
        ))
        self.api.upload_role.add_to_policy(iam.PolicyStatement(
            sid="WriteNewFileRecords", actions=["dynamodb:PutItem"], resources=[files_table]))
        self.api.upload_role.add_to_policy(iam.PolicyStatement(
            sid="UseTheRecordsKeyThroughDynamoDB", actions=TABLE_KEY_WRITE_ACTIONS, resources=[records_key],
            conditions=via_dynamodb))
        for role in (self.api.download_role, self.api.files_role):
            role.add_to_policy(iam.PolicyStatement(
                sid="ReadFileRecords", actions=["dynamodb:GetItem"], resources=[files_table]))
            role.add_to_policy(iam.PolicyStatement(
                sid="UseTheRecordsKeyThroughDynamoDB", actions=TABLE_KEY_READ_ACTIONS, resources=[records_key],
                conditions=via_dynamodb))
        if config.signing.signer == "kms":
            self.api.download_role.add_to_policy(iam.PolicyStatement(
                sid="SignWithTheSlotKeys",
                actions=["kms:Sign"],
                resources=[key.key_arn for key in store.signing.keys.values()],
            ))
        else:
            for slot in config.signing.slots:
                assert slot.secret_name is not None
                secret = secretsmanager.Secret.from_secret_name_v2(self, f"SlotSecret{slot.name}", slot.secret_name)
                secret.grant_read(self.api.download_role)
        for role in (self.api.upload_role, self.api.download_role, self.api.files_role):
            policy = role.node.find_child("DefaultPolicy")
            acknowledge_inline_policy(policy)
        acknowledge(
            self.api.upload_role.node.find_child("DefaultPolicy"),
            "s3:PutObject is limited to incoming/ (the quarantine) under the key templates of the upload rules, "
            "with each placeholder ({sub}, {org_id}, {file}) as a wildcard; the presigned POST policy S3 "
            "enforces pins the exact key.",
            *(f"AwsSolutions-IAM5[Resource::{files_bucket_arn_as_nag_renders(config)}/{QUARANTINE_PREFIX}{pattern}]"
              for pattern in upload_patterns),
        )
