"""The file records table and the verifier's idempotency table (DESIGN.md decision 10)."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from constructs import Construct

from stacks.nag import acknowledge

#: The table's key and TTL (docs/verification.md, "File record").
FILE_ID_ATTRIBUTE = "file_id"
FILES_TTL_ATTRIBUTE = "expires_at"
#: The sweep's sparse index of records with unfinished work (``filegate.adapters.files_table``:
#: ``PENDING_INDEX``, ``PENDING_ATTRIBUTE``): only undecided or unannounced records carry the
#: partition key, so the many finished records never land in one hot partition.
PENDING_INDEX = "pending"
PENDING_ATTRIBUTE = "pending_status"
PENDING_SORT_ATTRIBUTE = "updated_at"
#: Powertools' idempotency layout.
IDEMPOTENCY_KEY_ATTRIBUTE = "id"
IDEMPOTENCY_TTL_ATTRIBUTE = "expiration"

BACKUP_PLAN_REASON = (
    "Point-in-time recovery is on: DynamoDB keeps continuous backups restorable to any second of the "
    "last 35 days, which is this table's recovery objective; an AWS Backup plan would add a second copy "
    "of personal data the operator can add by tag without a template change."
)


class FileIndex(Construct):
    """Two on-demand tables encrypted with one customer key, with point-in-time recovery.

    Both keep deletion protection (and are retained) outside throw-away environments.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name_prefix: str,
        files_table_name: str,
        idempotency_table_name: str,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        protected = removal_policy != RemovalPolicy.DESTROY
        self.key = kms.Key(
            self, "RecordsKey",
            description=f"{name_prefix}: encrypts the file records and idempotency tables",
            enable_key_rotation=True,
            removal_policy=removal_policy,
        )

        def table(construct: str, name: str, partition: str, ttl: str) -> dynamodb.Table:
            created = dynamodb.Table(
                self, construct,
                table_name=name,
                partition_key=dynamodb.Attribute(name=partition, type=dynamodb.AttributeType.STRING),
                billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
                encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
                encryption_key=self.key,
                point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                    point_in_time_recovery_enabled=True),
                deletion_protection=protected,
                time_to_live_attribute=ttl,
                removal_policy=removal_policy,
            )
            acknowledge(created, BACKUP_PLAN_REASON,
                        "NIST.800.53.R5-DynamoDBInBackupPlan", "HIPAA.Security-DynamoDBInBackupPlan")
            return created

        self.files = table("FilesTable", files_table_name, FILE_ID_ATTRIBUTE, FILES_TTL_ATTRIBUTE)
        self.files.add_global_secondary_index(
            index_name=PENDING_INDEX,
            partition_key=dynamodb.Attribute(name=PENDING_ATTRIBUTE, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=PENDING_SORT_ATTRIBUTE, type=dynamodb.AttributeType.NUMBER),
            # The sweep re-reads each record it acts on (strongly consistent), so keys suffice.
            projection_type=dynamodb.ProjectionType.KEYS_ONLY,
        )
        self.idempotency = table("IdempotencyTable", idempotency_table_name, IDEMPOTENCY_KEY_ATTRIBUTE,
                                 IDEMPOTENCY_TTL_ATTRIBUTE)

    @property
    def pending_index_arn(self) -> str:
        return f"{self.files.table_arn}/index/{PENDING_INDEX}"
