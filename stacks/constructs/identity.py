"""Who the API trusts: an external OpenID issuer, or a Cognito user pool provisioned here."""

from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.config import EnvironmentConfig
from stacks.lambda_bundling import RUNTIME, LambdaBundle, lambda_code
from stacks.nag import BASIC_EXECUTION_REASON, acknowledge, acknowledge_inline_policy, acknowledge_python_function

GROUPS = ("careers", "org", "marketing")
RESOURCE_SERVER = "filegate"
FILES_SCOPE = "files"


class Identity(Construct):
    """The JWT authorizer and the scopes every user route requires.

    Routes require an access-token scope, so an ID token (which carries none) never passes.
    With no issuer configured, a user pool with the three demo groups is made: its access
    tokens carry ``filegate/files`` (OAuth code flow) and, through a pre-token-generation
    trigger, the ``org_id`` claim the org rules need (access tokens carry no custom attributes
    on their own).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        log_retention: logs.RetentionDays,
        log_key: kms.IKey,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.user_pool: cognito.UserPool | None = None
        self.user_pool_client: cognito.UserPoolClient | None = None
        if config.jwt is not None:
            self.issuer = config.jwt.issuer
            self.audience = list(config.jwt.audience)
            self.scopes = list(config.jwt.scopes)
        else:
            self._user_pool(config, log_retention, log_key, removal_policy)
            assert self.user_pool is not None and self.user_pool_client is not None
            self.issuer = f"https://cognito-idp.{Stack.of(self).region}.amazonaws.com/{self.user_pool.user_pool_id}"
            self.audience = [self.user_pool_client.user_pool_client_id]
            self.scopes = [f"{RESOURCE_SERVER}/{FILES_SCOPE}"]
        self.authorizer: apigw.IHttpRouteAuthorizer = authorizers.HttpJwtAuthorizer(
            "JwtAuthorizer", self.issuer, jwt_audience=self.audience,
        )

    def _user_pool(
        self, config: EnvironmentConfig, log_retention: logs.RetentionDays, log_key: kms.IKey,
        removal_policy: RemovalPolicy,
    ) -> None:
        pool = cognito.UserPool(
            self, "UserPool",
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(email=True),
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            # Administrators set org_id; users must never choose their own org (see write_attributes).
            custom_attributes={"org_id": cognito.StringAttribute(min_len=1, max_len=64, mutable=True)},
            password_policy=cognito.PasswordPolicy(
                min_length=12, require_digits=True, require_lowercase=True, require_uppercase=True,
                require_symbols=True, temp_password_validity=Duration.days(3),
            ),
            mfa=cognito.Mfa.REQUIRED,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            feature_plan=cognito.FeaturePlan.PLUS,
            standard_threat_protection_mode=cognito.StandardThreatProtectionMode.FULL_FUNCTION,
            deletion_protection=removal_policy == RemovalPolicy.RETAIN,
            removal_policy=removal_policy,
        )
        for group in GROUPS:
            cognito.CfnUserPoolGroup(self, f"Group{group.title()}", user_pool_id=pool.user_pool_id, group_name=group)

        trigger_logs = logs.LogGroup(self, "PreTokenLogs", retention=log_retention, encryption_key=log_key,
                                     removal_policy=RemovalPolicy.DESTROY)
        pre_token = lambda_.Function(
            self, "PreTokenGeneration",
            description="Adds the org_id claim to access tokens",
            runtime=RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler="pre_token.handler.handler",
            code=lambda_code(LambdaBundle(entry_module="pre_token.handler")),
            memory_size=256,
            timeout=Duration.seconds(5),
            log_group=trigger_logs,
            tracing=lambda_.Tracing.ACTIVE,
        )
        pool.add_trigger(cognito.UserPoolOperation.PRE_TOKEN_GENERATION_CONFIG, pre_token,
                         cognito.LambdaVersion.V2_0)
        self.pre_token_function = pre_token
        acknowledge_python_function(pre_token, caller="by Cognito while it issues a token",
                                    reserved_concurrency=False)
        pre_token_role = pre_token.node.find_child("ServiceRole")
        acknowledge(pre_token_role, BASIC_EXECUTION_REASON.replace("deploy-time", "token-time"),
                    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]")
        acknowledge_inline_policy(pre_token_role.node.find_child("DefaultPolicy"))

        files_scope = cognito.ResourceServerScope(scope_name=FILES_SCOPE, scope_description="Mint file URLs")
        server = pool.add_resource_server(
            "ResourceServer", identifier=RESOURCE_SERVER, scopes=[files_scope],
        )
        client = pool.add_client(
            "WebClient",
            generate_secret=False,
            prevent_user_existence_errors=True,
            auth_flows=cognito.AuthFlow(user_srp=True),
            # Users may edit only these of their own attributes: never custom:org_id, which the
            # org rules trust as a verified claim.
            read_attributes=cognito.ClientAttributes()
            .with_standard_attributes(email=True, email_verified=True)
            .with_custom_attributes("org_id"),
            write_attributes=cognito.ClientAttributes().with_standard_attributes(email=True),
            access_token_validity=Duration.minutes(60),
            id_token_validity=Duration.minutes(60),
            refresh_token_validity=Duration.days(1),
            enable_token_revocation=True,
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(authorization_code_grant=True),
                scopes=[
                    cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL,
                    cognito.OAuthScope.resource_server(server, files_scope),
                ],
                # Checked against Cognito's rules at synthesis (stacks/config.py).
                callback_urls=list(config.callback_urls),
                logout_urls=list(config.logout_urls),
            ),
        )
        pool.add_domain("Domain", cognito_domain=cognito.CognitoDomainOptions(
            domain_prefix=f"{config.prefix}-{Aws.ACCOUNT_ID}"))
        self.user_pool = pool
        self.user_pool_client = client
