"""The private files bucket, its KMS key and the log bucket."""

from __future__ import annotations

from aws_cdk import Annotations, CustomResourceProviderBase, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from filegate.domain.quarantine import QUARANTINE_PREFIX, REJECTED_PREFIX
from stacks.deployment import deployment_role_arn
from stacks.nag import acknowledge

NONCURRENT_VERSION_DAYS = 30
#: The object GuardDuty Malware Protection writes at the bucket root to check its role's access.
SCANNER_VALIDATION_OBJECT = "malware-protection-resource-validation-object"
#: Every way to read an object's bytes or properties; quarantined and rejected objects answer
#: none of them but to their named readers (content reads, tags, ACL, attributes, torrents).
OBJECT_READ_ACTIONS = ["s3:GetObject*"]
#: Every way to set, change or remove an object's tags except a tagged upload (below).
TAG_WRITE_ACTIONS = ["s3:PutObjectTagging", "s3:PutObjectVersionTagging", "s3:DeleteObjectTagging",
                     "s3:DeleteObjectVersionTagging"]
#: Every way to learn the files bucket's keys, which hold user and organisation ids.
LIST_ACTIONS = ["s3:ListBucket", "s3:ListBucketVersions", "s3:ListBucketMultipartUploads",
                "s3:ListMultipartUploadParts"]
#: What a deleting role must list: the versions (and delete markers) of the keys it deletes.
VERSION_LIST_ACTION = "s3:ListBucketVersions"
#: Ways to read object bytes without s3:GetObject: replication (S3 or Batch Operations) and torrents.
REPLICATION_READ_ACTIONS = ["s3:GetObjectVersionForReplication", "s3:InitiateReplication",
                            "s3:GetObjectTorrent", "s3:GetObjectVersionTorrent"]
#: Bucket configurations that export every key (inventory, metadata tables, server access logs to
#: a bucket of the caller's choosing, notifications to the caller's own target) or every object
#: (replication).
EXPORT_CONFIGURATION_ACTIONS = ["s3:PutInventoryConfiguration", "s3:PutReplicationConfiguration",
                                "s3:CreateBucketMetadataTableConfiguration",
                                "s3:UpdateBucketMetadataInventoryTableConfiguration",
                                "s3:UpdateBucketMetadataJournalTableConfiguration",
                                "s3:PutBucketLogging", "s3:PutBucketNotification"]
#: Replication writes into this bucket would pass around the upload role's write Deny.
REPLICATION_WRITE_ACTIONS = ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"]
#: Everything that returns a log object's bytes (CloudFront logs hold replayable signed URLs).
LOG_READ_ACTIONS = ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTorrent", "s3:GetObjectVersionTorrent",
                    "s3:GetObjectVersionForReplication"]


class Storage(Construct):
    """Files bucket (private, KMS, versioned, TLS only) and the log bucket it and CloudFront write to.

    Reads are locked to the distribution by :meth:`restrict_reads_to`, which the stack calls once
    the distribution exists, and the quarantine by :meth:`lock_quarantine`; writes by
    :meth:`restrict_writes_to` and tags by :meth:`restrict_tag_writes_to`.
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
        quarantine_expiry_days: int,
        rejected_retention_days: int,
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
                # Uploads no verifier promoted or rejected (an abandoned flow): gone after a few days,
                # with every older version a day later (the verifier deletes what it decides).
                s3.LifecycleRule(
                    id="expire-quarantine-leftovers",
                    prefix=QUARANTINE_PREFIX,
                    expiration=Duration.days(quarantine_expiry_days),
                    noncurrent_version_expiration=Duration.days(1),
                ),
                # Rejected files are kept for a security review only for the configured time.
                s3.LifecycleRule(
                    id="expire-rejected",
                    prefix=REJECTED_PREFIX,
                    expiration=Duration.days(rejected_retention_days),
                    noncurrent_version_expiration=Duration.days(1),
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
        # Object events go to EventBridge (the verifier's queue and GuardDuty's managed rule listen
        # there). Set on the bucket resource itself: CDK's `event_bridge_enabled` would add its
        # notifications custom resource, which replaces the whole notification configuration.
        cfn_bucket = self.bucket.node.default_child
        assert isinstance(cfn_bucket, s3.CfnBucket)
        cfn_bucket.notification_configuration = s3.CfnBucket.NotificationConfigurationProperty(
            event_bridge_configuration=s3.CfnBucket.EventBridgeConfigurationProperty(event_bridge_enabled=True),
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
        The quarantine and rejected prefixes are left to :meth:`lock_quarantine`, whose Denies
        refuse the distribution (and these roles) too.
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
                not_resources=[self.bucket.arn_for_objects(f"{QUARANTINE_PREFIX}*"),
                               self.bucket.arn_for_objects(f"{REJECTED_PREFIX}*")],
                conditions=conditions,
            )
        )

    def lock_quarantine(self, *, verifier_role_arns: tuple[str, ...], scanner_role_arn: str | None,
                        security_role_arns: tuple[str, ...]) -> None:
        """Explicitly deny every object read under ``incoming/`` and ``rejected/``, CloudFront included.

        No condition names the distribution, so neither its OAC Allow nor any identity policy
        reaches a quarantined or rejected object: only the malware scanner (GuardDuty's plan role)
        and the verifier (with the sweep, which decides stuck files the same way) read
        ``incoming/``; only they and the configured security roles read ``rejected/``. No access
        rule can name either prefix (rule templates start with ``private/`` or ``public/``), so no
        signed URL can either.
        """
        scanner = (scanner_role_arn,) if scanner_role_arn else ()
        _deny(self.bucket, "DenyQuarantineReadsExceptScannerAndVerifier", OBJECT_READ_ACTIONS,
              [self.bucket.arn_for_objects(f"{QUARANTINE_PREFIX}*")], but=(*verifier_role_arns, *scanner))
        _deny(self.bucket, "DenyRejectedReadsExceptVerifierAndSecurityRoles", OBJECT_READ_ACTIONS,
              [self.bucket.arn_for_objects(f"{REJECTED_PREFIX}*")], but=(*verifier_role_arns, *security_role_arns))

    def restrict_writes_to(self, *, uploader_role_arn: str, verifier_role_arns: tuple[str, ...],
                           scanner_role_arn: str | None) -> None:
        """Explicitly deny object writes but where each writer must write.

        Browsers write only ``incoming/`` with the upload role's presigned POSTs (S3 checks them
        against their policy); every other key (a final key, ``rejected/``) is written only by the
        verifier's pinned copy; the malware scanner writes only its validation object.
        """
        quarantine = self.bucket.arn_for_objects(f"{QUARANTINE_PREFIX}*")
        validation = self.bucket.arn_for_objects(SCANNER_VALIDATION_OBJECT)
        self.bucket.add_to_resource_policy(iam.PolicyStatement(
            sid="DenyQuarantineWritesExceptByTheUploadRole", effect=iam.Effect.DENY,
            principals=[iam.AnyPrincipal()], actions=["s3:PutObject"], resources=[quarantine],
            conditions={"ArnNotEquals": {"aws:PrincipalArn": uploader_role_arn}},
        ))
        self.bucket.add_to_resource_policy(iam.PolicyStatement(
            sid="DenyFinalKeyWritesExceptByTheVerifier", effect=iam.Effect.DENY,
            principals=[iam.AnyPrincipal()], actions=["s3:PutObject"],
            not_resources=[quarantine, validation] if scanner_role_arn else [quarantine],
            conditions={"ArnNotEquals": {"aws:PrincipalArn": list(verifier_role_arns)}},
        ))
        if scanner_role_arn:
            _deny(self.bucket, "DenyValidationObjectWritesExceptByTheScanner", ["s3:PutObject"], [validation],
                  but=(scanner_role_arn,))

    def restrict_tag_writes_to(self, *, tagger_role_arns: tuple[str, ...]) -> None:
        """Explicitly deny setting, changing or removing object tags but to the named roles.

        The scanner's verdict tag must be the only tag there is, and an uploader must never write
        one: neither a `tagging` field in a presigned POST nor an x-amz-tagging header.
        """
        objects = self.bucket.arn_for_objects("*")
        _deny(self.bucket, "DenyTagWritesExceptScannerAndVerifier", TAG_WRITE_ACTIONS, [objects],
              but=tagger_role_arns)
        self.bucket.add_to_resource_policy(iam.PolicyStatement(
            sid="DenyTaggedWritesExceptScannerAndVerifier", effect=iam.Effect.DENY,
            principals=[iam.AnyPrincipal()], actions=["s3:PutObject"], resources=[objects],
            conditions={"Null": {"s3:RequestObjectTagKeys": "false"},
                        "ArnNotEquals": {"aws:PrincipalArn": list(tagger_role_arns)}},
        ))

    def restrict_log_reads_to(self, *, reader_role_arns: tuple[str, ...]) -> None:
        """Explicitly deny reading log objects to every principal but the configured log readers.

        CloudFront's standard logs record query strings, so a still-valid signed URL could be
        replayed from them. S3 and CloudFront only write here; no AWS service needs to read.
        """
        _deny(self.log_bucket, "DenyLogReadsExceptByLogReaders", LOG_READ_ACTIONS,
              [self.log_bucket.arn_for_objects("*")], but=reader_role_arns)

    def restrict_listing_to(self, *, lister_role_arns: tuple[str, ...],
                            version_lister_role_arns: tuple[str, ...] = ()) -> None:
        """Explicitly deny listing keys to every principal but the roles that must.

        Those are CloudFormation's execution role (its bucket handler calls HeadBucket, which is
        s3:ListBucket), CDK's auto-delete role in throw-away environments, and the named roles.
        ``version_lister_role_arns`` (the deletions and erasure roles, which find the versions of
        what they delete) are excepted from the Deny of ``s3:ListBucketVersions`` alone; their own
        policies limit even that to the key templates by ``s3:prefix``.
        """
        excepted = (self._deployment_role_arn(), *self._auto_delete_role_arns(), *lister_role_arns)
        resources = [self.bucket.bucket_arn, self.bucket.arn_for_objects("*")]
        if not version_lister_role_arns:
            _deny(self.bucket, "DenyKeyListingExceptNamedRoles", LIST_ACTIONS, resources, but=excepted)
            return
        _deny(self.bucket, "DenyKeyListingExceptNamedRoles",
              [action for action in LIST_ACTIONS if action != VERSION_LIST_ACTION], resources, but=excepted)
        _deny(self.bucket, "DenyVersionListingExceptNamedRoles", [VERSION_LIST_ACTION], resources,
              but=(*excepted, *version_lister_role_arns))

    def restrict_bulk_copies_to(self, *, exception_role_arns: tuple[str, ...],
                                configuration_role_arns: tuple[str, ...] = ()) -> None:
        """Explicitly deny replication, torrents, inventories, metadata tables, logging and
        notification changes but to named roles.

        Each copies objects or streams every key without passing the read Deny. The template sets
        the logging and EventBridge notification configuration itself (CloudFormation's execution
        role) and GuardDuty's plan role turns EventBridge delivery on (``configuration_role_arns``);
        to add another configuration, name its role among the exceptions and add it to the bucket
        here. Nothing replicates in.
        """
        objects = self.bucket.arn_for_objects("*")
        _deny(self.bucket, "DenyReplicationReadsExceptNamedRoles", REPLICATION_READ_ACTIONS, [objects],
              but=exception_role_arns)
        _deny(self.bucket, "DenyExportConfigurationExceptNamedRoles", EXPORT_CONFIGURATION_ACTIONS,
              [self.bucket.bucket_arn],
              but=(self._deployment_role_arn(), *configuration_role_arns, *exception_role_arns))
        _deny(self.bucket, "DenyReplicationIntoTheFilesBucket", REPLICATION_WRITE_ACTIONS, [objects])

    def _auto_delete_role_arns(self) -> tuple[str, ...]:
        if not self._auto_delete:
            return ()
        provider = Stack.of(self).node.try_find_child("Custom::S3AutoDeleteObjectsCustomResourceProvider")
        assert isinstance(provider, CustomResourceProviderBase), "auto_delete_objects creates the provider"
        return (provider.role_arn,)

    def _deployment_role_arn(self) -> str:
        """The role CloudFormation deploys this stack with (CDK's bootstrap execution role)."""
        return deployment_role_arn(Stack.of(self), needed_for="the files bucket's policy")


def _deny(bucket: s3.Bucket, sid: str, actions: list[str], resources: list[str], *,
          but: tuple[str, ...] = ()) -> None:
    """A bucket-policy Deny of ``actions`` to every principal but the roles in ``but``."""
    bucket.add_to_resource_policy(iam.PolicyStatement(
        sid=sid, effect=iam.Effect.DENY, principals=[iam.AnyPrincipal()], actions=actions, resources=resources,
        conditions={"ArnNotEquals": {"aws:PrincipalArn": list(but)}} if but else None,
    ))
