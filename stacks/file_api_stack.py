"""FileApiStack: the HTTP API's routes and authorizers, the minting and lifecycle Lambdas, and every
alarm. The HTTP API itself (stage ``api``) is the file store stack's (docs/front-door.md).

The file records and erasures tables live in the file store stack (with the verifier that moves
records on); the Lambdas here reach them by their known names and their key by reference, and the
distribution and the edge's revocation store by reference, so nothing there refers back to this
stack. The bucket policy there names the deleting roles made here by their known names.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from filegate.domain.quarantine import QUARANTINE_PREFIX, REJECTED_PREFIX
from stacks.config import EnvironmentConfig
from stacks.constructs.deployment_verifier import verifier_role_arn
from stacks.constructs.file_index import listing_index_arns
from stacks.constructs.identity import Identity
from stacks.constructs.lifecycle import Lifecycle
from stacks.constructs.minting_api import USER_ROUTES, MintingApi, MintingTarget
from stacks.constructs.monitoring import Monitoring, VerificationSignals
from stacks.file_store_stack import TABLE_KEY_READ_ACTIONS, TABLE_KEY_WRITE_ACTIONS, FileStoreStack
from stacks.nag import acknowledge, acknowledge_inline_policy
from stacks.settings import (
    event_bus_arn,
    files_bucket_arn,
    files_bucket_arn_as_nag_renders,
    log_retention,
    removal_policy,
    table_arn,
)

#: What the sweep publishes (Powertools EMF: namespace and service dimension "filegate").
OLDEST_VERIFYING_METRIC = "OldestVerifyingAgeSeconds"
METRICS_NAMESPACE = "filegate"
#: Where deleting roles delete every version (docs/lifecycle.md, "Handlers and roles"): the final
#: keys (private/, public/), the quarantine and rejected/. Whole prefixes, not the rules' templates,
#: so that a file stays deletable after its rule changed or was removed.
DELETABLE_PREFIXES = ("private/", "public/", QUARANTINE_PREFIX, REJECTED_PREFIX)


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
            backend_principals=(verifier_role_arn(config),),
        )
        self.lifecycle = Lifecycle(
            self, "Lifecycle",
            config=config,
            target=target,
            revocation_store_arn=store.edge_functions.revocation_store_arn,
            distribution_id=store.delivery.distribution_id,
            log_retention=retention,
            log_key=store.log_key,
            removal_policy=removal,
        )
        self.api = MintingApi(
            self, "Api",
            config=config,
            target=target,
            files_environment=self.lifecycle.environment,
            http_api=store.front_door.http_api,
            authorizer=self.identity.authorizer,
            authorization_scopes=self.identity.scopes,
            log_retention=retention,
            log_key=store.log_key,
            removal_policy=removal,
        )
        self.api.add_function_routes("deletions", self.lifecycle.deletions_alias)
        self._grant(config, store)
        verification = store.verification
        sweep_period = Duration.minutes(config.verification.sweep_interval_minutes)
        dead_letter_queues = {"Verification": verification.dead_letters, "Sweep": verification.sweep_dead_letters}
        if store.file_events.dead_letters is not None:
            dead_letter_queues["Webhook"] = store.file_events.dead_letters
        dead_letter_queues.update(self.lifecycle.dead_letter_queues)
        self.monitoring = Monitoring(
            self, "Monitoring",
            name_prefix=config.prefix,
            http_api=self.api.http_api,
            functions={"Upload": self.api.upload_function, "Download": self.api.download_function,
                       "Files": self.api.files_function, "Verifier": verification.verifier,
                       "Sweep": verification.sweep, "OriginRotation": store.origin_rotation,
                       **self.lifecycle.functions},
            dead_letter_queues=dead_letter_queues,
            verification=VerificationSignals(
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

        CfnOutput(self, "ApiUrl", value=store.api_url,
                  description="The frontends' API base URL: the files domain's /api, through CloudFront and its WebACL")
        CfnOutput(self, "BackendApiUrl", value=store.backend_api_url,
                  description="The backends' API base URL (execute-api, stage api): /backend/... signed with SigV4")
        CfnOutput(self, "JwtIssuer", value=self.identity.issuer)
        CfnOutput(self, "DownloadBaseUrl", value=store.download_base_url)
        CfnOutput(self, "ErasureQueueUrl", value=self.lifecycle.erasure_queue.queue_url)
        if self.identity.user_pool and self.identity.user_pool_client:
            CfnOutput(self, "UserPoolId", value=self.identity.user_pool.user_pool_id)
            CfnOutput(self, "UserPoolClientId", value=self.identity.user_pool_client.user_pool_client_id)

    @property
    def user_route_roles(self) -> tuple[iam.Role, ...]:
        """The roles of the functions behind ``USER_ROUTES``: uploads, downloads, files, deletions."""
        roles = {"uploads": self.api.upload_role, "downloads": self.api.download_role, "files": self.api.files_role,
                 "deletions": self.lifecycle.deletions_role}
        assert set(roles) == set(USER_ROUTES), "every user route's function, and only those"
        return tuple(roles.values())

    def _grant(self, config: EnvironmentConfig, store: FileStoreStack) -> None:
        """Every permission the API and lifecycle Lambdas hold, in one place (docs/lifecycle.md, "Handlers
        and roles")."""
        bucket_arn = files_bucket_arn(config)
        files_table = table_arn(config, config.files_table_name)
        erasures_table = table_arn(config, config.erasures_table_name)
        listing_indexes = listing_index_arns(files_table)
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
            sid="CountAnOwnersRecordsForQuotas", actions=["dynamodb:Query"], resources=listing_indexes))
        self.api.upload_role.add_to_policy(iam.PolicyStatement(
            sid="UseTheRecordsKeyThroughDynamoDB", actions=TABLE_KEY_WRITE_ACTIONS, resources=[records_key],
            conditions=via_dynamodb))
        for role in (self.api.download_role, self.api.files_role):
            role.add_to_policy(iam.PolicyStatement(
                sid="ReadFileRecords", actions=["dynamodb:GetItem"], resources=[files_table]))
            role.add_to_policy(iam.PolicyStatement(
                sid="UseTheRecordsKeyThroughDynamoDB", actions=TABLE_KEY_READ_ACTIONS, resources=[records_key],
                conditions=via_dynamodb))
        lifecycle = self.lifecycle
        self.api.files_role.add_to_policy(iam.PolicyStatement(
            sid="ListFileRecords", actions=["dynamodb:Query"], resources=listing_indexes))
        self.api.files_role.add_to_policy(iam.PolicyStatement(
            sid="ReadTheCursorSecret", actions=["secretsmanager:GetSecretValue"],
            resources=[lifecycle.cursor_secret.secret_arn]))
        self.api.files_role.add_to_policy(iam.PolicyStatement(
            sid="DecryptTheCursorSecretThroughSecretsManager", actions=["kms:Decrypt"],
            resources=[lifecycle.cursor_secret_key.key_arn],
            conditions={"StringEquals": {"kms:ViaService": f"secretsmanager.{self.region}.amazonaws.com"}}))
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

        # --- deleting, erasing, revoking ---------------------------------------------------------
        # The deletions function deletes one file (every version of its three keys), revokes keys and
        # prefixes, and starts erasures; the erasure worker runs an erasure's steps: the same object
        # and edge actions, over a subject's records (queried) instead of one. Neither reads or writes
        # an object: S3 authorizes DeleteObjects per key as s3:DeleteObject(Version), and the bucket
        # policy excepts them from its Deny of version listing alone.
        store_arn = store.edge_functions.revocation_store_arn
        file_key_patterns = [f"{prefix}{pattern}" for prefix in ("", QUARANTINE_PREFIX, REJECTED_PREFIX)
                             for pattern in upload_patterns]
        deleting = (lifecycle.deletions_role, lifecycle.erasure_worker_role)
        for role in deleting:
            for statement in (
                iam.PolicyStatement(
                    sid="ListVersionsOfFileKeysOnly", actions=["s3:ListBucketVersions"], resources=[bucket_arn],
                    conditions={"StringLike": {"s3:prefix": file_key_patterns}}),
                iam.PolicyStatement(
                    sid="DeleteEveryVersion", actions=["s3:DeleteObject", "s3:DeleteObjectVersion"],
                    resources=[f"{bucket_arn}/{prefix}*" for prefix in DELETABLE_PREFIXES]),
                iam.PolicyStatement(
                    sid="InvalidateDeletedPaths", actions=["cloudfront:CreateInvalidation"],
                    resources=[store.delivery.distribution_arn]),
                iam.PolicyStatement(
                    sid="RevokeAtTheEdge",
                    actions=["cloudfront-keyvaluestore:DescribeKeyValueStore", "cloudfront-keyvaluestore:UpdateKeys"],
                    resources=[store_arn]),
                iam.PolicyStatement(
                    sid="AnnounceDeletions", actions=["events:PutEvents"], resources=[event_bus_arn(config)]),
                iam.PolicyStatement(
                    sid="KeepErasureItems", actions=["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
                    resources=[erasures_table]),
                iam.PolicyStatement(
                    sid="UseTheRecordsKeyThroughDynamoDB", actions=TABLE_KEY_WRITE_ACTIONS, resources=[records_key],
                    conditions=via_dynamodb),
                iam.PolicyStatement(
                    sid="SendErasureSteps", actions=["sqs:SendMessage"],
                    resources=[lifecycle.erasure_queue.queue_arn]),
                iam.PolicyStatement(
                    sid="EncryptErasureStepsThroughSqs", actions=["kms:GenerateDataKey", "kms:Decrypt"],
                    resources=[lifecycle.queue_key.key_arn],
                    conditions={"StringEquals": {"kms:ViaService": f"sqs.{self.region}.amazonaws.com"}}),
            ):
                role.add_to_policy(statement)
        lifecycle.deletions_role.add_to_policy(iam.PolicyStatement(
            # PutItem: the tombstone; UpdateItem: removing its pending File Deleted once published.
            sid="ReadAndTombstoneFileRecords", actions=["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
            resources=[files_table]))
        lifecycle.erasure_worker_role.add_to_policy(iam.PolicyStatement(
            sid="ReadAndRemoveFileRecords",
            actions=["dynamodb:GetItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"], resources=[files_table]))
        lifecycle.erasure_worker_role.add_to_policy(iam.PolicyStatement(
            sid="FindASubjectsRecords", actions=["dynamodb:Query"], resources=listing_indexes))
        lifecycle.revocation_expiry_role.add_to_policy(iam.PolicyStatement(
            sid="ExpireRevocations",
            # GetKey: an expired name is read again under the current ETag before it is deleted, so
            # that a name revoked again meanwhile keeps its new entry (adapters/revocations.py).
            actions=["cloudfront-keyvaluestore:DescribeKeyValueStore", "cloudfront-keyvaluestore:ListKeys",
                     "cloudfront-keyvaluestore:GetKey", "cloudfront-keyvaluestore:UpdateKeys"],
            resources=[store_arn]))

        # --- the front door ----------------------------------------------------------------------
        # Every function behind a user route compares x-origin-verify with the origin secret's
        # versions (docs/front-door.md); the backend routes share these functions.
        front_door = store.front_door
        for role in self.user_route_roles:
            role.add_to_policy(iam.PolicyStatement(
                sid="ReadTheOriginSecret", actions=["secretsmanager:GetSecretValue"],
                resources=[front_door.secret.secret_arn]))
            role.add_to_policy(iam.PolicyStatement(
                sid="DecryptTheOriginSecretThroughSecretsManager", actions=["kms:Decrypt"],
                resources=[front_door.secret_key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"secretsmanager.{self.region}.amazonaws.com"}}))

        for role in (self.api.upload_role, self.api.download_role, self.api.files_role, *deleting):
            policy = role.node.find_child("DefaultPolicy")
            acknowledge_inline_policy(policy)
        rendered_bucket = files_bucket_arn_as_nag_renders(config)
        acknowledge(
            self.api.upload_role.node.find_child("DefaultPolicy"),
            "s3:PutObject is limited to incoming/ (the quarantine) under the key templates of the upload rules, "
            "with each placeholder ({sub}, {org_id}, {file}) as a wildcard; the presigned POST policy S3 "
            "enforces pins the exact key.",
            *(f"AwsSolutions-IAM5[Resource::{rendered_bucket}/{QUARANTINE_PREFIX}{pattern}]"
              for pattern in upload_patterns),
        )
        for role in deleting:
            acknowledge(
                role.node.find_child("DefaultPolicy"),
                "Deletes (of object versions and delete markers, never reads or writes) cover the four prefixes "
                "files live under: final keys (private/, public/), the quarantine (incoming/) and rejected/, so "
                "that a file stays deletable after its rule changed; which key is deleted is decided by the file "
                "record and the caller's rights. Version listing is limited by s3:prefix to the rules' key "
                "templates. The bucket policy denies every object read to this role.",
                *(f"AwsSolutions-IAM5[Resource::{rendered_bucket}/{prefix}*]" for prefix in DELETABLE_PREFIXES),
            )
