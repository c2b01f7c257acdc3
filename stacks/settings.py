"""Small translations from the environment config to CDK values, shared by the stacks."""

from __future__ import annotations

from aws_cdk import Aws, RemovalPolicy
from aws_cdk import aws_logs as logs

from stacks.config import EnvironmentConfig

_RETENTION = {
    1: logs.RetentionDays.ONE_DAY, 3: logs.RetentionDays.THREE_DAYS, 5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK, 14: logs.RetentionDays.TWO_WEEKS, 30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS, 90: logs.RetentionDays.THREE_MONTHS, 120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS, 180: logs.RetentionDays.SIX_MONTHS, 365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS, 545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS, 1096: logs.RetentionDays.THREE_YEARS, 1827: logs.RetentionDays.FIVE_YEARS,
    2192: logs.RetentionDays.SIX_YEARS, 2557: logs.RetentionDays.SEVEN_YEARS, 2922: logs.RetentionDays.EIGHT_YEARS,
    3288: logs.RetentionDays.NINE_YEARS, 3653: logs.RetentionDays.TEN_YEARS,
}


def log_retention(config: EnvironmentConfig) -> logs.RetentionDays:
    return _RETENTION[config.log_retention_days]


def removal_policy(config: EnvironmentConfig) -> RemovalPolicy:
    """Retain in every environment but a throw-away one."""
    return RemovalPolicy.DESTROY if config.removal_policy == "destroy" else RemovalPolicy.RETAIN


def files_bucket_name(config: EnvironmentConfig) -> str:
    """Known name of the files bucket, so the API stack can scope policies without an export."""
    return f"{config.prefix}-files-{Aws.ACCOUNT_ID}-{config.region}"


def files_bucket_arn(config: EnvironmentConfig) -> str:
    return f"arn:{Aws.PARTITION}:s3:::{files_bucket_name(config)}"


def files_bucket_arn_as_nag_renders(config: EnvironmentConfig) -> str:
    """The files bucket ARN as cdk-nag writes it in finding ids (pseudo parameters in <>)."""
    return f"arn:<AWS::Partition>:s3:::{config.prefix}-files-<AWS::AccountId>-{config.region}"


def role_arn(role_name: str) -> str:
    """A role of this account by its known name (bucket and key policies name roles this way)."""
    return f"arn:{Aws.PARTITION}:iam::{Aws.ACCOUNT_ID}:role/{role_name}"


def table_arn(config: EnvironmentConfig, table_name: str) -> str:
    """Known ARN of one of the environment's DynamoDB tables (no export needed)."""
    return f"arn:{Aws.PARTITION}:dynamodb:{config.region}:{Aws.ACCOUNT_ID}:table/{table_name}"


def event_bus_arn(config: EnvironmentConfig) -> str:
    return f"arn:{Aws.PARTITION}:events:{config.region}:{Aws.ACCOUNT_ID}:event-bus/{config.event_bus_name}"
