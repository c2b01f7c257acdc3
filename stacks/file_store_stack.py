"""FileStoreStack: bucket, log bucket, OAC, distribution, key group and signing keys.

Bucket and distribution stay in one stack: with KMS bucket encryption, CloudFront's decrypt
grant and the bucket policy would otherwise form a cross-stack cycle (aws-cdk#34347).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from stacks.config import EnvironmentConfig
from stacks.constructs.delivery import Delivery
from stacks.constructs.signing import Signing
from stacks.constructs.storage import Storage
from stacks.settings import files_bucket_name, log_retention, removal_policy


class FileStoreStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        web_acl_arn: str,
        certificate: acm.ICertificate | None,
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
            removal_policy=removal,
        )
        self.signing = Signing(
            self, "Signing",
            name_prefix=config.prefix,
            settings=config.signing,
            signer_role_name=config.download_role_name,
            log_retention=retention,
            log_key=self.log_key,
            removal_policy=removal,
        )
        self.delivery = Delivery(
            self, "Delivery",
            name_prefix=config.prefix,
            bucket=self.storage.bucket,
            log_bucket=self.storage.log_bucket,
            key_group=self.signing.key_group,
            web_acl_arn=web_acl_arn,
            price_class=config.price_class,
            ipv6=config.ipv6,
            domain=config.domain,
            certificate=certificate,
        )
        # The one place where the buckets are locked: reader, writer, listers, bulk copies, log readers.
        self.upload_role_arn = f"arn:{self.partition}:iam::{self.account}:role/{config.upload_role_name}"
        self.storage.restrict_reads_to(
            distribution_arn=self.delivery.distribution_arn,
            exception_role_arns=config.read_exception_role_arns,
        )
        self.storage.restrict_writes_to(writer_role_arn=self.upload_role_arn)
        # Roles trusted to read every object may also find them (a scanner's rescan, a backup).
        self.storage.restrict_listing_to(lister_role_arns=config.read_exception_role_arns)
        self.storage.restrict_bulk_copies_to(exception_role_arns=config.read_exception_role_arns)
        self.storage.restrict_log_reads_to(reader_role_arns=config.log_reader_role_arns)

        host = config.domain.domain_name if config.domain else self.delivery.domain_name
        self.download_base_url = f"https://{host}"

        CfnOutput(self, "DistributionDomainName", value=self.delivery.domain_name)
        CfnOutput(self, "DownloadBaseUrl", value=self.download_base_url)
        CfnOutput(self, "BucketName", value=self.storage.bucket.bucket_name)
        CfnOutput(self, "KeyGroupId", value=self.signing.key_group.key_group_id)
        for slot in self.signing.slots.values():
            CfnOutput(self, f"PublicKeyId{slot.name}", value=slot.public_key_id)
