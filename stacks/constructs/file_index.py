"""The file records table (with its listing indexes), the verifier's idempotency table and the
erasures table (DESIGN.md decisions 10 and 12, docs/lifecycle.md)."""

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
#: The listing indexes (docs/lifecycle.md, "File record additions"): newest first per owner, and
#: per organisation for rules keyed by ``{org_id}`` (sparse: only those records carry ``org_scope``).
OWNER_INDEX = "owner"
OWNER_ATTRIBUTE = "owner_sub"
ORG_INDEX = "org"
ORG_ATTRIBUTE = "org_scope"
LISTED_AT_ATTRIBUTE = "listed_at"
#: One erasure item per subject (docs/lifecycle.md, "Erasure"); no TTL: it is the evidence.
ERASURE_ID_ATTRIBUTE = "erasure_id"
#: Powertools' idempotency layout.
IDEMPOTENCY_KEY_ATTRIBUTE = "id"
IDEMPOTENCY_TTL_ATTRIBUTE = "expiration"

BACKUP_PLAN_REASON = (
    "Point-in-time recovery is on: DynamoDB keeps continuous backups restorable to any second of the "
    "last 35 days, which is this table's recovery objective; an AWS Backup plan would add a second copy "
    "of personal data the operator can add by tag without a template change."
)


class FileIndex(Construct):
    """Three on-demand tables encrypted with one customer key, with point-in-time recovery.

    All keep deletion protection (and are retained) outside throw-away environments.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name_prefix: str,
        files_table_name: str,
        idempotency_table_name: str,
        erasures_table_name: str,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        protected = removal_policy != RemovalPolicy.DESTROY
        self.key = kms.Key(
            self, "RecordsKey",
            description=f"{name_prefix}: encrypts the file records, idempotency and erasures tables",
            enable_key_rotation=True,
            removal_policy=removal_policy,
        )

        def table(construct: str, name: str, partition: str, ttl: str | None) -> dynamodb.Table:
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
        # Listings read whole records from the index (no GetItem per item), so both project ALL.
        for index_name, partition in ((OWNER_INDEX, OWNER_ATTRIBUTE), (ORG_INDEX, ORG_ATTRIBUTE)):
            self.files.add_global_secondary_index(
                index_name=index_name,
                partition_key=dynamodb.Attribute(name=partition, type=dynamodb.AttributeType.STRING),
                sort_key=dynamodb.Attribute(name=LISTED_AT_ATTRIBUTE, type=dynamodb.AttributeType.STRING),
                projection_type=dynamodb.ProjectionType.ALL,
            )
        self.idempotency = table("IdempotencyTable", idempotency_table_name, IDEMPOTENCY_KEY_ATTRIBUTE,
                                 IDEMPOTENCY_TTL_ATTRIBUTE)
        self.erasures = table("ErasuresTable", erasures_table_name, ERASURE_ID_ATTRIBUTE, None)

    @property
    def pending_index_arn(self) -> str:
        return f"{self.files.table_arn}/index/{PENDING_INDEX}"


def listing_index_arns(files_table_arn: str) -> list[str]:
    """The ARNs of the two listing indexes of the files table (``Query`` is granted on these)."""
    return [f"{files_table_arn}/index/{index}" for index in (OWNER_INDEX, ORG_INDEX)]
