"""HTTP API, the two minting Lambdas and their least-privilege roles."""

from __future__ import annotations

import json
from dataclasses import dataclass

import jsii
from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw_v1
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.config import EnvironmentConfig
from stacks.constructs.python_function import filegate_function
from stacks.constructs.signing import SlotKey
from stacks.lambda_bundling import LAMBDA_ROOT
from stacks.lambda_settings import minting_environment
from stacks.nag import acknowledge_python_function

UPLOAD_HANDLER = "filegate.handlers.uploads.handler"
DOWNLOAD_HANDLER = "filegate.handlers.downloads.handler"
FILES_HANDLER = "filegate.handlers.files.handler"
#: (method, path) per function; user routes take a JWT with the files scopes, backend ones SigV4.
USER_ROUTES: dict[str, tuple[tuple[str, str], ...]] = {
    "uploads": (("POST", "/uploads"),),
    "downloads": (("POST", "/downloads"), ("POST", "/downloads/cookies")),
    "files": (("GET", "/files/{file_id}"),),
}
BACKEND_ROUTES: dict[str, tuple[tuple[str, str], ...]] = {
    "uploads": (("POST", "/backend/uploads"),),
    "downloads": (("POST", "/backend/downloads"),),
}


@jsii.implements(apigw.IAccessLogSettings)
class _AccessLogs:
    def __init__(self, log_group: logs.ILogGroup) -> None:
        self._destination = apigw.LogGroupLogDestination(log_group)

    @property
    def destination(self) -> apigw.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw_v1.AccessLogFormat:
        # JSON, one object per request; no query string, no authorization header.
        return apigw_v1.AccessLogFormat.custom(json.dumps({
            "requestId": "$context.requestId",
            "ip": "$context.identity.sourceIp",
            "requestTime": "$context.requestTimeEpoch",
            "routeKey": "$context.routeKey",
            "status": "$context.status",
            "responseLength": "$context.responseLength",
            "latencyMs": "$context.responseLatency",
            "integrationError": "$context.integrationErrorMessage",
            "authorizerError": "$context.authorizer.error",
            "sub": "$context.authorizer.claims.sub",
            "iamCaller": "$context.identity.userArn",
        }))


@dataclass(frozen=True)
class MintingTarget:
    """What the Lambdas mint against (from the file store stack)."""

    bucket_name: str
    bucket_key_arn: str
    download_base_url: str
    slots: tuple[SlotKey, ...]
    files_table_name: str


def lambda_environment(scope: Construct, config: EnvironmentConfig, target: MintingTarget) -> dict[str, str]:
    """The settings ``filegate.settings`` reads, with this deployment's (token) values."""
    slots = {
        slot.name: {
            "public_key_id": slot.public_key_id, "kms_key_id": slot.kms_key_arn, "secret_name": slot.secret_name,
        }
        for slot in target.slots
    }
    return minting_environment(
        config,
        bucket=target.bucket_name,
        bucket_kms_key_arn=target.bucket_key_arn,
        download_base_url=target.download_base_url,
        signing_slots_json=Stack.of(scope).to_json_string(slots),  # ids are deploy-time tokens
        files_table=target.files_table_name,
    )


class MintingApi(Construct):
    """``POST /uploads``, ``/downloads``, ``/downloads/cookies``, ``GET /files/{file_id}`` (JWT) and
    the ``/backend/`` twins (IAM).

    Three functions, three roles: the upload role may only ``s3:PutObject`` under the quarantine
    prefixes of the upload rules (presigned POSTs carry its authority) and write new file records;
    the download role may only sign and read records; the files role may only read records. The
    upload and download role names are known in advance because the bucket policy and the signing
    keys' key policies (in the file store stack) name them.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        target: MintingTarget,
        authorizer: apigw.IHttpRouteAuthorizer,
        authorization_scopes: list[str],
        log_retention: logs.RetentionDays,
        log_key: kms.IKey,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        self._log_retention = log_retention
        self._log_key = log_key
        self._removal_policy = removal_policy
        environment = lambda_environment(self, config, target)

        self.upload_role = iam.Role(
            self, "UploadRole", role_name=config.upload_role_name,
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Signs presigned POSTs: may write only under the upload rules' key prefixes",
            max_session_duration=Duration.hours(1),
        )
        self.download_role = iam.Role(
            self, "DownloadRole", role_name=config.download_role_name,
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Signs CloudFront URLs with the signing slot keys; reads nothing",
            max_session_duration=Duration.hours(1),
        )
        self.upload_function = self._function("Upload", UPLOAD_HANDLER, self.upload_role, environment,
                                              requirements=(LAMBDA_ROOT / "requirements.txt",))
        download_requirements = [LAMBDA_ROOT / "requirements.txt"]
        if config.signing.signer == "secret":
            download_requirements.append(LAMBDA_ROOT / "requirements-secret-signer.txt")
        self.download_function = self._function("Download", DOWNLOAD_HANDLER, self.download_role, environment,
                                                requirements=tuple(download_requirements))
        self.files_role = iam.Role(
            self, "FilesRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Answers GET /files/{file_id}: reads file records; nothing else",
            max_session_duration=Duration.hours(1),
        )
        self.files_function = self._function("Files", FILES_HANDLER, self.files_role, environment,
                                             requirements=(LAMBDA_ROOT / "requirements.txt",))

        self.access_logs = logs.LogGroup(
            self, "AccessLogs", retention=log_retention, encryption_key=log_key, removal_policy=removal_policy,
        )
        self.http_api = apigw.HttpApi(
            self, "HttpApi",
            api_name=f"{config.prefix}-api",
            description="Mints presigned uploads and signed downloads",
            create_default_stage=False,
            cors_preflight=apigw.CorsPreflightOptions(
                allow_origins=list(config.frontend_origins),
                allow_methods=[apigw.CorsHttpMethod.GET, apigw.CorsHttpMethod.POST, apigw.CorsHttpMethod.OPTIONS],
                allow_headers=["authorization", "content-type"],
                max_age=Duration.hours(1),
            ),
        )
        self.stage = apigw.HttpStage(
            self, "DefaultStage",
            http_api=self.http_api,
            stage_name="$default",
            auto_deploy=True,
            throttle=apigw.ThrottleSettings(
                rate_limit=config.api_throttle.rate_limit, burst_limit=config.api_throttle.burst_limit,
            ),
            access_log_settings=_AccessLogs(self.access_logs),
            detailed_metrics_enabled=True,
        )
        functions = {"uploads": self.upload_function, "downloads": self.download_function,
                     "files": self.files_function}
        backend_authorizer = authorizers.HttpIamAuthorizer()
        for name, function in functions.items():
            integration = integrations.HttpLambdaIntegration(f"{name.title()}Integration", function)
            for method, path in USER_ROUTES[name]:
                self.http_api.add_routes(
                    path=path, methods=[apigw.HttpMethod(method)], integration=integration,
                    authorizer=authorizer, authorization_scopes=authorization_scopes,
                )
            for method, path in BACKEND_ROUTES.get(name, ()):
                self.http_api.add_routes(
                    path=path, methods=[apigw.HttpMethod(method)], integration=integration,
                    authorizer=backend_authorizer,
                )
        self.url = self.stage.url

    def _function(
        self, name: str, handler: str, role: iam.Role, environment: dict[str, str], *,
        requirements: tuple,
    ) -> lambda_.Function:
        function = filegate_function(
            self, name, handler=handler, role=role, environment=environment, requirements=requirements,
            memory_mb=512, timeout=Duration.seconds(10), reserved_concurrency=self.config.lambda_reserved_concurrency,
            log_retention=self._log_retention, log_key=self._log_key, removal_policy=self._removal_policy,
        )
        acknowledge_python_function(function, caller="by API Gateway for each request",
                                    reserved_concurrency=self.config.lambda_reserved_concurrency is not None)
        return function
