"""FileStoreStack: bucket, log bucket, OAC, distribution (with the edge's revocation function and
its KeyValueStore), key group, signing keys, the verification pipeline with its records and events,
and the front door: the HTTP API (stage ``api``) behind the distribution's ``api/*`` and the
origin-verify secret with its rotation (docs/front-door.md).

Bucket and distribution stay in one stack: with KMS bucket encryption, CloudFront's decrypt
grant and the bucket policy would otherwise form a cross-stack cycle (aws-cdk#34347). The
verifier, the scanner, the file records and the event bus live here too: the verifier reads and
writes this bucket with its key, and the bucket policy names its role, so in the API stack
they would need the bucket from here and the bucket policy would need them from there. The API
stack (deployed after this one) finds the tables by their known names and their key by reference,
and adds its routes to the HTTP API made here (the distribution needs the API's domain). The
WebACL and certificate ARNs come from the edge stack's SSM parameters (``EdgeReferences``).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from filegate.domain.front_door import API_STAGE
from filegate.domain.quarantine import QUARANTINE_PREFIX, REJECTED_PREFIX
from stacks.config import DeploymentConfig, EnvironmentConfig
from stacks.constructs.delivery import Delivery
from stacks.constructs.deployment_verifier import DeploymentVerifierAccess
from stacks.constructs.edge_functions import EdgeFunctions
from stacks.constructs.edge_references import EdgeReferences, EdgeReferenceSource
from stacks.constructs.events import FileEvents
from stacks.constructs.file_index import FileIndex
from stacks.constructs.front_door import ROTATION_WILDCARD_REASON, FrontDoor
from stacks.constructs.signing import Signing
from stacks.constructs.storage import Storage
from stacks.constructs.verification import Verification
from stacks.lambda_settings import origin_rotation_environment, verifier_environment
from stacks.nag import acknowledge, acknowledge_inline_policy
from stacks.settings import (
    files_bucket_arn,
    files_bucket_arn_as_nag_renders,
    files_bucket_name,
    log_retention,
    removal_policy,
    role_arn,
)

#: The only KMS actions a DynamoDB caller needs on a table's customer key (through DynamoDB only).
TABLE_KEY_READ_ACTIONS = ["kms:Decrypt", "kms:DescribeKey"]
TABLE_KEY_WRITE_ACTIONS = [*TABLE_KEY_READ_ACTIONS, "kms:Encrypt", "kms:GenerateDataKey"]
#: Powertools' idempotency persistence layer.
IDEMPOTENCY_ACTIONS = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]


class FileStoreStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        edge: EdgeReferenceSource,
        deployment: DeploymentConfig | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        retention = log_retention(config)
        removal = removal_policy(config)

        self.log_key = kms.Key(
            self, "LogKey",
            description=f"{config.prefix}: encrypts this region's log groups",
            enable_key_rotation=True,
            removal_policy=removal,
        )
        self.log_key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchLogsForThisAccountsLogGroups",
                principals=[iam.ServicePrincipal(f"logs.{self.region}.amazonaws.com")],
                actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn":
                            f"arn:{self.partition}:logs:{self.region}:{self.account}:log-group:*"
                    }
                },
            )
        )

        self.storage = Storage(
            self, "Storage",
            name_prefix=config.prefix,
            bucket_name=files_bucket_name(config),
            frontend_origins=config.frontend_origins,
            log_retention_days=config.log_retention_days,
            quarantine_expiry_days=config.verification.quarantine_expiry_days,
            rejected_retention_days=config.verification.rejected_retention_days,
            removal_policy=removal,
        )
        self.signing = Signing(
            self, "Signing",
            name_prefix=config.prefix,
            settings=config.signing,
            signer_role_name=config.download_role_name,
            key_admin_role_arns=config.key_admin_role_arns,
            log_retention=retention,
            log_key=self.log_key,
            removal_policy=removal,
        )
        self.edge_references = EdgeReferences(self, "EdgeReferences", source=edge, log_retention=retention,
                                              log_key=self.log_key)
        certificate = (acm.Certificate.from_certificate_arn(self, "Certificate", self.edge_references.certificate_arn)
                       if self.edge_references.certificate_arn else None)
        self.front_door = FrontDoor(
            self, "FrontDoor",
            name_prefix=config.prefix,
            frontend_origins=config.frontend_origins,
            throttle=config.api_throttle,
            secret_name=config.origin_secret_name,
            rotation_days=config.origin_secret_rotation_days,
            log_retention=retention,
            log_key=self.log_key,
            removal_policy=removal,
        )
        self.edge_functions = EdgeFunctions(
            self, "EdgeFunctions",
            name_prefix=config.prefix,
            revocation_store_name=config.revocation_store_name,
        )
        self.delivery = Delivery(
            self, "Delivery",
            name_prefix=config.prefix,
            bucket=self.storage.bucket,
            log_bucket=self.storage.log_bucket,
            key_group=self.signing.key_group,
            web_acl_arn=self.edge_references.web_acl_arn,
            price_class=config.price_class,
            ipv6=config.ipv6,
            domain=config.domain,
            certificate=certificate,
            signed_viewer_request=self.edge_functions.viewer_request(),
            api_domain_name=self.front_door.execute_api_domain,
            origin_secret=self.front_door.secret,
        )
        self.origin_rotation = self.front_door.add_rotation(
            environment=origin_rotation_environment(config, distribution_id=self.delivery.distribution_id))
        self.file_index = FileIndex(
            self, "FileIndex",
            name_prefix=config.prefix,
            files_table_name=config.files_table_name,
            idempotency_table_name=config.idempotency_table_name,
            erasures_table_name=config.erasures_table_name,
            removal_policy=removal,
        )
        self.file_events = FileEvents(
            self, "FileEvents",
            name_prefix=config.prefix,
            bus_name=config.event_bus_name,
            settings=config.events,
            removal_policy=removal,
        )
        self.verification = Verification(
            self, "Verification",
            name_prefix=config.prefix,
            scanning=config.scanning,
            settings=config.verification,
            bucket=self.storage.bucket,
            bucket_key=self.storage.key,
            verifier_role_name=config.verifier_role_name,
            sweep_role_name=config.sweep_role_name,
            scanner_role_name=config.scanner_role_name,
            verifier_environment=verifier_environment(
                config,
                bucket=self.storage.bucket.bucket_name,
                bucket_kms_key_arn=self.storage.key.key_arn,
                files_table=self.file_index.files.table_name,
                idempotency_table=self.file_index.idempotency.table_name,
                event_bus=self.file_events.bus.event_bus_name,
            ),
            log_retention=retention,
            log_key=self.log_key,
            removal_policy=removal,
        )

        # The one place where the buckets are locked: readers, writers, taggers, listers, bulk
        # copies, log readers. Roles are named by their known ARNs (the upload role lives in the
        # API stack; the others here, but their policies name this bucket).
        self.upload_role_arn = role_arn(config.upload_role_name)
        deciders = (role_arn(config.verifier_role_name), role_arn(config.sweep_role_name))
        scanner = role_arn(config.scanner_role_name) if config.scanning == "guardduty" else None
        self.storage.restrict_reads_to(
            distribution_arn=self.delivery.distribution_arn,
            exception_role_arns=config.read_exception_role_arns,
        )
        self.storage.lock_quarantine(verifier_role_arns=deciders, scanner_role_arn=scanner,
                                     security_role_arns=config.security_role_arns)
        self.storage.restrict_writes_to(uploader_role_arn=self.upload_role_arn, verifier_role_arns=deciders,
                                        scanner_role_arn=scanner)
        self.storage.restrict_tag_writes_to(
            tagger_role_arns=(*((scanner,) if scanner else ()), role_arn(config.verifier_role_name)))
        # Roles trusted to read every object may also find them (a scanner's rescan, a backup); the
        # verifier and the sweep list the versions of the keys they decide (their policies say which);
        # GuardDuty checks the bucket's ownership with ListBucket. The deletions and erasure roles (in
        # the API stack) list versions only, to delete every one of a deleted key: they read nothing
        # and write nothing, and no Deny here covers deletes.
        self.storage.restrict_listing_to(
            lister_role_arns=(*config.read_exception_role_arns, *deciders, *((scanner,) if scanner else ())),
            version_lister_role_arns=(role_arn(config.deletions_role_name), role_arn(config.erasure_worker_role_name)))
        self.storage.restrict_bulk_copies_to(exception_role_arns=config.read_exception_role_arns,
                                             configuration_role_arns=(scanner,) if scanner else ())
        self.storage.restrict_log_reads_to(reader_role_arns=config.log_reader_role_arns)
        self._grant(config)

        host = config.domain.domain_name if config.domain else self.delivery.domain_name
        self.download_base_url = f"https://{host}"
        #: What a frontend calls (through CloudFront and the WebACL) and what a backend signs for.
        self.api_url = f"https://{host}/{API_STAGE}"
        self.backend_api_url = self.front_door.url

        CfnOutput(self, "DistributionDomainName", value=self.delivery.domain_name)
        #: The outputs the deployment verifier reads (docs/deployment.md), by output name.
        self.outputs: dict[str, CfnOutput] = {
            "DownloadBaseUrl": CfnOutput(self, "DownloadBaseUrl", value=self.download_base_url),
            "ApiUrl": CfnOutput(
                self, "ApiUrl", value=self.api_url,
                description="The frontends' API base URL: the files domain's /api, through CloudFront and its WebACL"),
            "BackendApiUrl": CfnOutput(
                self, "BackendApiUrl", value=self.backend_api_url,
                description="The backends' API base URL (execute-api, stage api): /backend/... signed with SigV4"),
            "BucketName": CfnOutput(self, "BucketName", value=self.storage.bucket.bucket_name),
        }
        #: The role ``make verify`` acts as (docs/deployment.md); output ``VerifierRoleArn``.
        self.verifier_access = DeploymentVerifierAccess(
            self, "DeploymentVerifier", config=config, deployment=deployment or DeploymentConfig(),
            http_api=self.front_door.http_api)
        self.outputs["VerifierRoleArn"] = self.verifier_access.output
        CfnOutput(self, "KeyGroupId", value=self.signing.key_group.key_group_id)
        CfnOutput(self, "DistributionId", value=self.delivery.distribution_id)
        CfnOutput(self, "RevocationStoreArn", value=self.edge_functions.revocation_store_arn,
                  description="The edge's deny list (CloudFront KeyValueStore): deleted keys, revoked prefixes")
        CfnOutput(self, "FilesTableName", value=self.file_index.files.table_name)
        CfnOutput(self, "ErasuresTableName", value=self.file_index.erasures.table_name)
        CfnOutput(self, "EventBusName", value=self.file_events.bus.event_bus_name)
        CfnOutput(self, "Scanning", value=config.scanning,
                  description="guardduty: GuardDuty Malware Protection scans every upload; none: no malware scan")
        for slot in self.signing.slots.values():
            CfnOutput(self, f"PublicKeyId{slot.name}", value=slot.public_key_id)

    def _grant(self, config: EnvironmentConfig) -> None:
        """Every permission the verifier, the sweep and the origin secret's rotation hold, in one place.

        The rotation reads and stages versions of the origin-verify secret (and nothing else),
        generates values, and reads and updates this distribution's configuration (docs/front-door.md).

        Both run the same decisions (``filegate.domain.verification``): read a quarantined version,
        copy it to its final key or to ``rejected/``, delete every version of a decided key, move the
        record on, publish the outcome. The verifier also keeps idempotency records; the sweep also
        queries the index of undecided records.
        """
        bucket_arn = files_bucket_arn(config)
        upload_patterns = sorted({rule.key_prefix_pattern for rule in config.rules if "upload" in rule.actions})
        quarantined = [f"{bucket_arn}/{QUARANTINE_PREFIX}{pattern}" for pattern in upload_patterns]
        final = [f"{bucket_arn}/{pattern}" for pattern in upload_patterns]
        rejected = [f"{bucket_arn}/{REJECTED_PREFIX}{pattern}" for pattern in upload_patterns]
        files = self.file_index.files
        verification = self.verification
        for role in (verification.verifier_role, verification.sweep_role):
            for statement in (
                iam.PolicyStatement(sid="ReadQuarantinedVersions", actions=["s3:GetObjectVersion"],
                                    resources=quarantined),
                iam.PolicyStatement(sid="WriteFinalKeysAndRejected", actions=["s3:PutObject"],
                                    resources=[*final, *rejected]),
                iam.PolicyStatement(sid="DeleteEveryVersionOfDecidedKeys",
                                    actions=["s3:DeleteObject", "s3:DeleteObjectVersion"],
                                    resources=[*quarantined, *final]),
                iam.PolicyStatement(
                    sid="ListVersionsOfDecidedKeysOnly", actions=["s3:ListBucketVersions"],
                    resources=[bucket_arn],
                    conditions={"StringLike": {"s3:prefix": [f"{QUARANTINE_PREFIX}{pattern}" for pattern in
                                                             upload_patterns] + upload_patterns}},
                ),
                iam.PolicyStatement(
                    sid="UseTheBucketKeyThroughS3", actions=["kms:Decrypt", "kms:GenerateDataKey"],
                    resources=[self.storage.key.key_arn],
                    conditions={"StringEquals": {"kms:ViaService": f"s3.{self.region}.amazonaws.com"}},
                ),
                iam.PolicyStatement(sid="MoveFileRecordsOn", actions=["dynamodb:GetItem", "dynamodb:UpdateItem"],
                                    resources=[files.table_arn]),
                iam.PolicyStatement(
                    sid="UseTheRecordsKeyThroughDynamoDB", actions=TABLE_KEY_WRITE_ACTIONS,
                    resources=[self.file_index.key.key_arn],
                    conditions={"StringEquals": {"kms:ViaService": f"dynamodb.{self.region}.amazonaws.com"}},
                ),
                iam.PolicyStatement(sid="AnnounceOutcomes", actions=["events:PutEvents"],
                                    resources=[self.file_events.bus.event_bus_arn]),
            ):
                role.add_to_policy(statement)
        verification.verifier_role.add_to_policy(iam.PolicyStatement(
            sid="KeepIdempotencyRecords", actions=IDEMPOTENCY_ACTIONS,
            resources=[self.file_index.idempotency.table_arn]))
        verification.sweep_role.add_to_policy(iam.PolicyStatement(
            sid="FindUndecidedRecords", actions=["dynamodb:Query"], resources=[self.file_index.pending_index_arn]))
        verification.sweep_role.add_to_policy(iam.PolicyStatement(
            sid="FindLeftoverUploads", actions=["s3:ListBucket"], resources=[bucket_arn],
            conditions={"StringEquals": {"s3:prefix": QUARANTINE_PREFIX}}))
        self._grant_rotation()
        rendered = files_bucket_arn_as_nag_renders(config)
        for role in (verification.verifier_role, verification.sweep_role):
            acknowledge(
                role.node.find_child("DefaultPolicy"),
                "Object actions are limited to the key templates of the upload rules (each placeholder a "
                "wildcard), under incoming/ (read, delete), rejected/ (write) and the final keys (write, delete "
                "a lost promotion); version listing is limited by s3:prefix to those keys. The bucket policy "
                "denies every other principal these reads and writes.",
                *(f"AwsSolutions-IAM5[Resource::{rendered}/{prefix}{pattern}]"
                  for prefix in ("", QUARANTINE_PREFIX, REJECTED_PREFIX) for pattern in upload_patterns),
            )

    def _grant_rotation(self) -> None:
        front_door = self.front_door
        role = front_door.rotation_role
        for statement in (
            iam.PolicyStatement(
                sid="ReadAndStageVersionsOfTheOriginSecret",
                actions=["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue",
                         "secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage"],
                resources=[front_door.secret.secret_arn]),
            iam.PolicyStatement(
                sid="UseTheOriginSecretKeyThroughSecretsManager", actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=[front_door.secret_key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"secretsmanager.{self.region}.amazonaws.com"}}),
            iam.PolicyStatement(sid="GenerateOriginSecretValues", actions=["secretsmanager:GetRandomPassword"],
                                resources=["*"]),
            iam.PolicyStatement(
                sid="SetTheOriginHeaderOnThisDistribution",
                actions=["cloudfront:GetDistributionConfig", "cloudfront:UpdateDistribution",
                         "cloudfront:GetDistribution"],
                resources=[self.delivery.distribution_arn]),
        ):
            role.add_to_policy(statement)
        policy = role.node.find_child("DefaultPolicy")
        acknowledge_inline_policy(policy, xray_wildcard=False)
        acknowledge(policy, ROTATION_WILDCARD_REASON, "AwsSolutions-IAM5[Resource::*]")
