"""One filegate Lambda: Python 3.13 on arm64, bundled without Docker, traced, JSON logs in its
own encrypted log group. The API and the verification constructs build theirs here."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.lambda_bundling import LAMBDA_ROOT, RUNTIME, DroppedExtension, LambdaBundle, lambda_code

#: The pins every function ships: Powertools, pydantic and their closure.
BASE_REQUIREMENTS = LAMBDA_ROOT / "requirements.txt"
#: The X-Ray SDK and wrapt, for the functions whose handler creates a Powertools Tracer: the API's
#: (``filegate.handlers.common``). The others create none and leave them out
#: (``tests/infra/test_bundle_contents.py`` checks every asset of the app against its code).
TRACING_REQUIREMENTS = LAMBDA_ROOT / "requirements-tracing.txt"
#: What an API function ships at least.
API_REQUIREMENTS = (BASE_REQUIREMENTS, TRACING_REQUIREMENTS)


def filegate_function(
    scope: Construct, name: str, *, handler: str, role: iam.Role, environment: dict[str, str],
    requirements: tuple[Any, ...], memory_mb: int, timeout: Duration, reserved_concurrency: int | None,
    log_retention: logs.RetentionDays, log_key: kms.IKey, removal_policy: RemovalPolicy,
    dropped_extensions: tuple[DroppedExtension, ...] = (), **options: Any,
) -> lambda_.Function:
    """``<name>Function`` and ``<name>Logs`` in ``scope``; ``options`` go to ``lambda_.Function``."""
    log_group = logs.LogGroup(scope, f"{name}Logs", retention=log_retention, encryption_key=log_key,
                              removal_policy=removal_policy)
    function = lambda_.Function(
        scope, f"{name}Function",
        description=f"filegate: {handler}",
        runtime=RUNTIME,
        architecture=lambda_.Architecture.ARM_64,
        handler=handler,
        code=lambda_code(LambdaBundle(entry_module=handler.rsplit(".", 1)[0], requirements=requirements,
                                      dropped_extensions=dropped_extensions)),
        role=role,
        memory_size=memory_mb,
        timeout=timeout,
        environment=environment,
        log_group=log_group,
        logging_format=lambda_.LoggingFormat.JSON,
        tracing=lambda_.Tracing.ACTIVE,
        reserved_concurrent_executions=reserved_concurrency,
        **options,
    )
    log_group.grant_write(role)
    return function


class FunctionHost(Construct):
    """A construct whose filegate functions share one log retention, log key and removal policy."""

    def __init__(self, scope: Construct, construct_id: str, *, log_retention: logs.RetentionDays, log_key: kms.IKey,
                 removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, construct_id)
        self._log_retention = log_retention
        self._log_key = log_key
        self._removal_policy = removal_policy

    def live_alias(self, name: str, function: lambda_.Function) -> lambda_.Alias:
        """``live_alias`` in this construct."""
        return live_alias(self, name, function=function)

    def hosted_function(self, name: str, *, handler: str, role: iam.Role, environment: dict[str, str],
                        requirements: tuple[Any, ...], memory_mb: int, timeout: Duration,
                        reserved_concurrency: int | None, **options: Any) -> lambda_.Function:
        """``filegate_function`` in this construct, with its log settings."""
        return filegate_function(
            self, name, handler=handler, role=role, environment=environment, requirements=requirements,
            memory_mb=memory_mb, timeout=timeout, reserved_concurrency=reserved_concurrency,
            log_retention=self._log_retention, log_key=self._log_key, removal_policy=self._removal_policy, **options)


#: The alias every caller of an API function invokes (API Gateway's integrations and permissions).
LIVE_ALIAS = "live"


def live_alias(scope: Construct, name: str, *, function: lambda_.Function) -> lambda_.Alias:
    """``<name>LiveAlias``: the alias ``live`` on ``function``'s current published version.

    SnapStart applies to published versions only (never to ``$LATEST``), so callers invoke this alias;
    every environment gets it, with SnapStart or without, so all deploy the same shape. A version the
    alias has moved past is deleted, not retained: nothing invokes it, and a retained SnapStart version
    would keep its snapshot cache billed while it is active.
    """
    version = function.current_version
    version.apply_removal_policy(RemovalPolicy.DESTROY)
    return lambda_.Alias(scope, f"{name}LiveAlias", alias_name=LIVE_ALIAS, version=version,
                         description=f"filegate: what the HTTP API invokes ({function.node.id})")


def lambda_role(scope: Construct, construct_id: str, *, description: str, role_name: str | None = None) -> iam.Role:
    """A role only Lambda may assume, with sessions of an hour at most; its permissions are granted
    where they can be read together (the stacks), not here. A known ``role_name`` lets the bucket
    and key policies name it."""
    return iam.Role(scope, construct_id, role_name=role_name, assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                    description=description, max_session_duration=Duration.hours(1))
