"""The HTTP API's routes, the minting Lambdas and their least-privilege roles.

The API itself (stage ``api``, CORS, access logs) is the file store stack's (``FrontDoor``,
docs/front-door.md); the routes, integrations and authorizers are made here, in this stack.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_cdk import Annotations, Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.config import EnvironmentConfig
from stacks.constructs.python_function import API_REQUIREMENTS, FunctionHost, lambda_role
from stacks.constructs.signing import SlotKey
from stacks.lambda_bundling import LAMBDA_ROOT
from stacks.lambda_settings import lifecycle_environment, minting_environment
from stacks.nag import acknowledge_python_function

if TYPE_CHECKING:
    from pathlib import Path

UPLOAD_HANDLER = "filegate.handlers.uploads.handler"
DOWNLOAD_HANDLER = "filegate.handlers.downloads.handler"
FILES_HANDLER = "filegate.handlers.files.handler"
#: (method, path) per function; user routes take a JWT with the files scopes, backend ones SigV4
#: (docs/lifecycle.md, "Routes"). ``deletions`` is the lifecycle construct's function.
USER_ROUTES: dict[str, tuple[tuple[str, str], ...]] = {
    "uploads": (("POST", "/uploads"),),
    "downloads": (("POST", "/downloads"), ("POST", "/downloads/cookies")),
    "files": (("GET", "/files"), ("GET", "/files/{file_id}")),
    "deletions": (("DELETE", "/files/{file_id}"),),
}
BACKEND_ROUTES: dict[str, tuple[tuple[str, str], ...]] = {
    "uploads": (("POST", "/backend/uploads"),),
    "downloads": (("POST", "/backend/downloads"),),
    "files": (("GET", "/backend/files"), ("GET", "/backend/files/{file_id}")),
    "deletions": (("DELETE", "/backend/files/{file_id}"), ("POST", "/backend/revocations"),
                  ("POST", "/backend/erasures"), ("GET", "/backend/erasures/{erasure_id}")),
}


def download_requirements(signer: str) -> tuple[Path, ...]:
    """What the download function ships: the API's pins, and the local-key signer's ``cryptography``
    when ``signing.signer`` is ``secret`` (the KMS signer needs only boto3)."""
    secret = (LAMBDA_ROOT / "requirements-secret-signer.txt",) if signer == "secret" else ()
    return (*API_REQUIREMENTS, *secret)


@dataclass(frozen=True)
class MintingTarget:
    """What the Lambdas mint against (from the file store stack)."""

    bucket_name: str
    bucket_key_arn: str
    download_base_url: str
    slots: tuple[SlotKey, ...]
    files_table_name: str
    #: Roles the stacks allow on ``/backend/`` besides the configured ones (the deployment verifier's).
    backend_principals: tuple[str, ...] = ()


def _target_settings(scope: Construct, target: MintingTarget) -> dict[str, Any]:
    """What both environment builders take from the file store stack (deploy-time tokens)."""
    slots = {
        slot.name: {
            "public_key_id": slot.public_key_id, "kms_key_id": slot.kms_key_arn, "secret_name": slot.secret_name,
        }
        for slot in target.slots
    }
    return {
        "bucket": target.bucket_name,
        "bucket_kms_key_arn": target.bucket_key_arn,
        "download_base_url": target.download_base_url,
        "signing_slots_json": Stack.of(scope).to_json_string(slots),  # ids are deploy-time tokens
        "files_table": target.files_table_name,
        "extra_backend_principals": target.backend_principals,
    }


def lambda_environment(scope: Construct, config: EnvironmentConfig, target: MintingTarget) -> dict[str, str]:
    """The settings ``filegate.settings`` reads, with this deployment's (token) values."""
    return minting_environment(config, **_target_settings(scope, target))


def lifecycle_lambda_environment(
    scope: Construct, config: EnvironmentConfig, target: MintingTarget, *,
    revocation_store_arn: str, distribution_id: str, erasure_queue_url: str,
) -> dict[str, str]:
    """``LifecycleSettings``: the minting settings plus the lifecycle ones (files, deletions, erasure
    worker, revocation expiry). Secret, bus and erasures table go by their known names."""
    return lifecycle_environment(
        config,
        **_target_settings(scope, target),
        revocation_store_arn=revocation_store_arn,
        distribution_id=distribution_id,
        erasure_queue_url=erasure_queue_url,
    )


class MintingApi(FunctionHost):
    """``POST /uploads``, ``/downloads``, ``/downloads/cookies``, ``GET /files``, ``GET /files/{file_id}``
    (JWT) and the ``/backend/`` twins (IAM) on ``http_api``; :meth:`add_function_routes` adds another
    function's routes (the lifecycle's ``deletions``).

    Each route is an ``HttpRoute`` in this construct, on the API imported here by id: its
    integration and its authorizer are made in this stack too (CDK binds an authorizer under the
    API construct it is given), so nothing in the file store stack refers to this one.

    Three functions, three roles: the upload role may only ``s3:PutObject`` under the quarantine
    prefixes of the upload rules (presigned POSTs carry its authority), write new file records and
    count an owner's records (quotas); the download role may only sign and read records; the files
    role may only read and list records and read the cursor secret. Each also reads the origin-verify
    secret, as every user route's function does (docs/front-door.md). The upload and download role
    names are known in advance because the bucket policy and the signing keys' key policies (in the
    file store stack) name them. The files function reads ``LifecycleSettings`` (``files_environment``).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        target: MintingTarget,
        files_environment: dict[str, str],
        http_api: apigw.IHttpApi,
        authorizer: apigw.IHttpRouteAuthorizer,
        authorization_scopes: list[str],
        log_retention: logs.RetentionDays,
        log_key: kms.IKey,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id, log_retention=log_retention, log_key=log_key,
                         removal_policy=removal_policy)
        self.config = config
        environment = lambda_environment(self, config, target)

        self.upload_role = lambda_role(
            self, "UploadRole", role_name=config.upload_role_name,
            description="Signs presigned POSTs: may write only under the upload rules' key prefixes",
        )
        self.download_role = lambda_role(
            self, "DownloadRole", role_name=config.download_role_name,
            description="Signs CloudFront URLs with the signing slot keys; reads nothing",
        )
        self.upload_function = self._function("Upload", UPLOAD_HANDLER, self.upload_role, environment,
                                              requirements=API_REQUIREMENTS,
                                              snap_start=config.snap_start)
        self.download_function = self._function("Download", DOWNLOAD_HANDLER, self.download_role, environment,
                                                requirements=download_requirements(config.signing.signer),
                                                snap_start=config.snap_start)
        self.files_role = lambda_role(
            self, "FilesRole",
            description="Answers GET /files and GET /files/{file_id}: reads and lists file records; nothing else",
        )
        self.files_function = self._function("Files", FILES_HANDLER, self.files_role, files_environment,
                                             requirements=API_REQUIREMENTS)
        # What the routes invoke: the alias ``live`` on each function's published version.
        self.upload_alias = self.live_alias("Upload", self.upload_function)
        self.download_alias = self.live_alias("Download", self.download_function)
        self.files_alias = self.live_alias("Files", self.files_function)

        self.http_api = apigw.HttpApi.from_http_api_attributes(self, "HttpApi", http_api_id=http_api.api_id)
        self._authorizer = authorizer
        self._authorization_scopes = authorization_scopes
        self._backend_authorizer = authorizers.HttpIamAuthorizer()
        for name, alias in {"uploads": self.upload_alias, "downloads": self.download_alias,
                            "files": self.files_alias}.items():
            self.add_function_routes(name, alias)

    def add_function_routes(self, name: str, alias: lambda_.IFunction) -> None:
        """``USER_ROUTES[name]`` (JWT, the files scopes) and ``BACKEND_ROUTES[name]`` (IAM) to ``alias``.

        Give the function's ``live`` alias (``FunctionHost.live_alias``), not the function: the
        integration and API Gateway's invoke permission then name the alias ARN, so requests run the
        published version (with SnapStart where it is on) and never ``$LATEST``.
        """
        if name not in USER_ROUTES and name not in BACKEND_ROUTES:
            raise KeyError(f"{name!r} has no routes in USER_ROUTES or BACKEND_ROUTES")
        integration = integrations.HttpLambdaIntegration(f"{name.title()}Integration", alias)
        for method, path in USER_ROUTES.get(name, ()):
            self._route(method, path, integration, authorizer=self._authorizer,
                        authorization_scopes=self._authorization_scopes)
        for method, path in BACKEND_ROUTES.get(name, ()):
            self._route(method, path, integration, authorizer=self._backend_authorizer)

    def _route(self, method: str, path: str, integration: apigw.HttpRouteIntegration, *,
               authorizer: apigw.IHttpRouteAuthorizer, authorization_scopes: list[str] | None = None) -> None:
        apigw.HttpRoute(
            self, f"Route{method}{path}",
            http_api=self.http_api,
            route_key=apigw.HttpRouteKey.with_(path, apigw.HttpMethod(method)),
            integration=integration,
            authorizer=authorizer,
            authorization_scopes=authorization_scopes,
        )

    def _function(
        self, name: str, handler: str, role: iam.Role, environment: dict[str, str], *,
        requirements: tuple, snap_start: bool = False,
    ) -> lambda_.Function:
        """One API function; ``snap_start``: its published versions start from a SnapStart snapshot
        (``EnvironmentConfig.snap_start``: the minting functions, on the request path of every upload
        and download)."""
        function = self.hosted_function(
            name, handler=handler, role=role, environment=environment, requirements=requirements,
            memory_mb=512, timeout=Duration.seconds(10), reserved_concurrency=self.config.lambda_reserved_concurrency,
            snap_start=lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS if snap_start else None,
        )
        acknowledge_python_function(function, caller="by API Gateway for each request",
                                    reserved_concurrency=self.config.lambda_reserved_concurrency is not None)
        if snap_start:
            Annotations.of(function).acknowledge_warning(
                "@aws-cdk/aws-lambda:snapStartRequirePublish",
                "SnapStart applies to published versions only: this function's current version is published "
                "(live_alias), and the HTTP API invokes it through the alias `live`, never $LATEST.")
        return function
