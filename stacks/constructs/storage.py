"""The private files bucket, its KMS key and the log bucket."""

from __future__ import annotations

from aws_cdk import Annotations, CustomResourceProviderBase, DefaultStackSynthesizer, Duration, Fn, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.nag import acknowledge

NONCURRENT_VERSION_DAYS = 30
#: Every way to learn the files bucket's keys, which hold user and organisation ids.
LIST_ACTIONS = ["s3:ListBucket", "s3:ListBucketVersions", "s3:ListBucketMultipartUploads",
                "s3:ListMultipartUploadParts"]
#: Ways to read object bytes without s3:GetObject: replication (S3 or Batch Operations) and torrents.
REPLICATION_READ_ACTIONS = ["s3:GetObjectVersionForReplication", "s3:InitiateReplication",
                            "s3:GetObjectTorrent", "s3:GetObjectVersionTorrent"]
#: Bucket configurations that export every key (inventory, metadata tables) or every object (replication).
EXPORT_CONFIGURATION_ACTIONS = ["s3:PutInventoryConfiguration", "s3:PutReplicationConfiguration",
                                "s3:CreateBucketMetadataTableConfiguration",
                                "s3:UpdateBucketMetadataInventoryTableConfiguration",
                                "s3:UpdateBucketMetadataJournalTableConfiguration"]
#: Replication writes into this bucket would pass around the upload role's write Deny.
REPLICATION_WRITE_ACTIONS = ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"]
#: Everything that returns a log object's bytes (CloudFront logs hold replayable signed URLs).
LOG_READ_ACTIONS = ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTorrent", "s3:GetObjectVersionTorrent",
                    "s3:GetObjectVersionForReplication"]


class Storage(Construct):
    """Files bucket (private, KMS, versioned, TLS only) and the log bucket it and CloudFront write to.

    Reads are locked to the distribution by :meth:`restrict_reads_to`, which the stack calls once
    the distribution exists; writes only by :meth:`restrict_writes_to`.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name_prefix: str,
        bucket_name: str,
        frontend_origins: tuple[str, ...],
        log_retention_days: int,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        destroy = removal_policy == RemovalPolicy.DESTROY
        self._auto_delete = destroy

        self.log_bucket = s3.Bucket(
            self,
            "LogBucket",
            # CloudFront standard logging writes with ACLs, so this bucket keeps them enabled.
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-logs",
                    expiration=Duration.days(log_retention_days),
                    noncurrent_version_expiration=Duration.days(1),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            removal_policy=removal_policy,
            auto_delete_objects=destroy,
        )
        acknowledge(
            self.log_bucket,
            "CloudFront standard logging and S3 server access logging can only deliver to a bucket "
            "encrypted with SSE-S3 (AES-256), not SSE-KMS; the logs are encrypted at rest with SSE-S3.",
            "NIST.800.53.R5-S3DefaultEncryptionKMS", "HIPAA.Security-S3DefaultEncryptionKMS",
            "PCI.DSS.321-S3DefaultEncryptionKMS",
        )
        acknowledge(
            self.log_bucket,
            "Access logs are operational telemetry with a fixed retention; cross-region replication "
            "of logs is not required by this application's recovery objectives.",
            "NIST.800.53.R5-S3BucketReplicationEnabled", "HIPAA.Security-S3BucketReplicationEnabled",
            "PCI.DSS.321-S3BucketReplicationEnabled",
        )

        self.key = kms.Key(
            self,
            "FilesKey",
            description=f"{name_prefix}: encrypts the private files bucket",
            enable_key_rotation=True,
            removal_policy=removal_policy,
        )
        self.bucket = s3.Bucket(
            self,
            "FilesBucket",
            bucket_name=bucket_name,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            versioned=True,
            server_access_logs_bucket=self.log_bucket,
            server_access_logs_prefix="s3-access/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="abort-incomplete-uploads",
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                ),
                s3.LifecycleRule(
                    id="expire-noncurrent-versions",
                    noncurrent_version_expiration=Duration.days(NONCURRENT_VERSION_DAYS),
                    expired_object_delete_marker=True,
                ),
            ],
            cors=[
                # Only what a browser's presigned POST needs, only from the configured frontends.
                s3.CorsRule(
                    allowed_methods=[s3.HttpMethods.POST],
                    allowed_origins=list(frontend_origins),
                    allowed_headers=["content-type"],
                    exposed_headers=["ETag", "Location"],
                    max_age=3000,
                )
            ],
            removal_policy=removal_policy,
            auto_delete_objects=destroy,
        )
        acknowledge(
            self.bucket,
            "Files are versioned with KMS encryption in one region; cross-region replication is an "
            "explicit disaster-recovery choice left to the operator (it doubles storage of personal data).",
            "NIST.800.53.R5-S3BucketReplicationEnabled", "HIPAA.Security-S3BucketReplicationEnabled",
            "PCI.DSS.321-S3BucketReplicationEnabled",
        )

        # The OAC origin adds CloudFront's kms:Decrypt to this key's policy for any distribution of
        # this account (an exact ARN would form a key -> distribution -> bucket -> key cycle).
        Annotations.of(self).acknowledge_warning(
            "@aws-cdk/aws-cloudfront-origins:wildcardKeyPolicyForOac",
            "The bucket policy's explicit Deny refuses object reads whose aws:SourceArn is not this "
            "distribution, and S3 authorizes before it asks KMS to decrypt, so the account-wide "
            "distribution wildcard in the key policy opens nothing.",
        )

    def restrict_reads_to(self, *, distribution_arn: str, exception_role_arns: tuple[str, ...]) -> None:
        """Explicitly deny object reads to everyone but the distribution (and named roles).

        The Allow for CloudFront comes from the OAC origin. An Allow alone would not stop an
        administrator's presigned GET, because identity policies in this account grant reads too.
        """
        conditions: dict[str, dict[str, object]] = {"StringNotEquals": {"aws:SourceArn": distribution_arn}}
        if exception_role_arns:
            conditions["ArnNotEquals"] = {"aws:PrincipalArn": list(exception_role_arns)}
        self.bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="DenyObjectReadsExceptThroughTheDistribution",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["s3:GetObject", "s3:GetObjectVersion"],
                resources=[self.bucket.arn_for_objects("*")],
                conditions=conditions,
            )
        )

    def restrict_writes_to(self, *, writer_role_arn: str) -> None:
        """Explicitly deny object writes to every principal but the upload role.

        Browsers write with that role's presigned POSTs, which S3 checks against their policy.
        """
        self.bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="DenyObjectWritesExceptByTheUploadRole",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["s3:PutObject"],
                resources=[self.bucket.arn_for_objects("*")],
                conditions={"ArnNotEquals": {"aws:PrincipalArn": writer_role_arn}},
            )
        )

    def restrict_log_reads_to(self, *, reader_role_arns: tuple[str, ...]) -> None:
        """Explicitly deny reading log objects to every principal but the configured log readers.

        CloudFront's standard logs record query strings, so a still-valid signed URL could be
        replayed from them. S3 and CloudFront only write here; no AWS service needs to read.
        """
        _deny(self.log_bucket, "DenyLogReadsExceptByLogReaders", LOG_READ_ACTIONS,
              [self.log_bucket.arn_for_objects("*")], but=reader_role_arns)

    def restrict_listing_to(self, *, lister_role_arns: tuple[str, ...]) -> None:
        """Explicitly deny listing keys to every principal but the roles that must.

        Those are CloudFormation's execution role (its bucket handler calls HeadBucket, which is
        s3:ListBucket), CDK's auto-delete role in throw-away environments, and the named roles.
        """
        excepted = (self._deployment_role_arn(), *self._auto_delete_role_arns(), *lister_role_arns)
        _deny(self.bucket, "DenyKeyListingExceptNamedRoles", LIST_ACTIONS,
              [self.bucket.bucket_arn, self.bucket.arn_for_objects("*")], but=excepted)

    def restrict_bulk_copies_to(self, *, exception_role_arns: tuple[str, ...]) -> None:
        """Explicitly deny replication, torrents, inventories and metadata tables but to named roles.

        Each copies objects or exports every key without passing the read Deny. The template sets
        none of these configurations; to add one, name its role among the exceptions and add it
        to the bucket here (CloudFormation's execution role may put it). Nothing replicates in.
        """
        objects = self.bucket.arn_for_objects("*")
        _deny(self.bucket, "DenyReplicationReadsExceptNamedRoles", REPLICATION_READ_ACTIONS, [objects],
              but=exception_role_arns)
        _deny(self.bucket, "DenyExportConfigurationExceptNamedRoles", EXPORT_CONFIGURATION_ACTIONS,
              [self.bucket.bucket_arn], but=(self._deployment_role_arn(), *exception_role_arns))
        _deny(self.bucket, "DenyReplicationIntoTheFilesBucket", REPLICATION_WRITE_ACTIONS, [objects])

    def _auto_delete_role_arns(self) -> tuple[str, ...]:
        if not self._auto_delete:
            return ()
        provider = Stack.of(self).node.try_find_child("Custom::S3AutoDeleteObjectsCustomResourceProvider")
        assert isinstance(provider, CustomResourceProviderBase), "auto_delete_objects creates the provider"
        return (provider.role_arn,)

    def _deployment_role_arn(self) -> str:
        """The role CloudFormation deploys this stack with (CDK's bootstrap execution role)."""
        synthesizer = Stack.of(self).synthesizer
        role = synthesizer.cloud_formation_execution_role if isinstance(synthesizer, DefaultStackSynthesizer) else None
        if role is None:
            raise ValueError(
                "the files bucket's list Deny excepts CloudFormation's execution role, so the stack needs "
                "a DefaultStackSynthesizer with one (cdk bootstrap's cfn-exec-role)")
        return Fn.sub(role) if "${" in role else role


def _deny(bucket: s3.Bucket, sid: str, actions: list[str], resources: list[str], *,
          but: tuple[str, ...] = ()) -> None:
    """A bucket-policy Deny of ``actions`` to every principal but the roles in ``but``."""
    bucket.add_to_resource_policy(iam.PolicyStatement(
        sid=sid, effect=iam.Effect.DENY, principals=[iam.AnyPrincipal()], actions=actions, resources=resources,
        conditions={"ArnNotEquals": {"aws:PrincipalArn": list(but)}} if but else None,
    ))
