"""Signing key slots: KMS keys (or operator-held secrets) whose public keys form the key group."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import CustomResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr
from constructs import Construct

from stacks.config import SigningSettings
from stacks.deployment import deployment_role_arn
from stacks.lambda_bundling import RUNTIME, LambdaBundle, lambda_code
from stacks.nag import BASIC_EXECUTION_REASON, acknowledge, acknowledge_inline_policy, acknowledge_python_function

# Named one by one: a wildcard such as kms:Create* would include kms:CreateGrant, and a grant of
# Sign ignores every condition of the key policy. Reading a key's state is open to the account;
# changing it (above all kms:PutKeyPolicy, which could rewrite who signs) only to CloudFormation's
# execution role and the configured key administrators. GetPublicKey is for the deploy-time
# reader; grants can only be cleaned up.
KEY_INSPECTION_ACTIONS = [
    "kms:DescribeKey", "kms:GetKeyPolicy", "kms:ListKeyPolicies", "kms:GetPublicKey", "kms:GetKeyRotationStatus",
    "kms:ListKeyRotations", "kms:ListResourceTags", "kms:ListGrants",
]
KEY_CHANGE_ACTIONS = [
    "kms:PutKeyPolicy", "kms:EnableKeyRotation", "kms:DisableKeyRotation", "kms:EnableKey", "kms:DisableKey",
    "kms:UpdateKeyDescription", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion", "kms:TagResource",
    "kms:UntagResource", "kms:CreateAlias", "kms:UpdateAlias", "kms:DeleteAlias", "kms:RevokeGrant",
    "kms:RetireGrant",
]
KEY_ADMIN_ACTIONS = KEY_INSPECTION_ACTIONS + KEY_CHANGE_ACTIONS


@dataclass(frozen=True)
class SlotKey:
    """What the download Lambda needs to know of one slot."""

    name: str
    public_key_id: str
    kms_key_arn: str | None
    secret_name: str | None


class Signing(Construct):
    """One CloudFront public key per configured slot, all in one trusted key group.

    KMS signer: each slot is an ``ECC_NIST_P256`` signing key whose policy lets only the
    download role call ``kms:Sign`` (named by ARN condition, since that role lives in the API
    stack that deploys after this one). A custom resource reads each public key at deploy time.
    Each slot has its own logical id: a CloudFront public key cannot change in place, so
    rotation is always "add a slot, switch, retire", never an edit.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name_prefix: str,
        settings: SigningSettings,
        signer_role_name: str,
        key_admin_role_arns: tuple[str, ...],
        log_retention: logs.RetentionDays,
        log_key: kms.IKey,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.signer_role_arn = f"arn:{stack.partition}:iam::{stack.account}:role/{signer_role_name}"
        self.key_admin_arns = [deployment_role_arn(stack, needed_for="the signing keys' key policy"),
                               *key_admin_role_arns]
        self.slots: dict[str, SlotKey] = {}
        self.keys: dict[str, kms.Key] = {}
        public_keys: list[cloudfront.PublicKey] = []

        provider: cr.Provider | None = None
        if settings.signer == "kms":
            provider = self._public_key_provider(log_retention, log_key)

        for slot in settings.slots:
            if settings.signer == "kms":
                assert provider is not None
                key = self._slot_key(name_prefix, slot.name, removal_policy)
                self.keys[slot.name] = key
                key.grant(self.reader, "kms:GetPublicKey")
                reader = CustomResource(
                    self, f"PublicKeyPem{slot.name}",
                    service_token=provider.service_token,
                    resource_type="Custom::KmsPublicKeyPem",
                    properties={"KeyId": key.key_arn},
                )
                encoded = reader.get_att_string("Pem")
            else:
                assert slot.public_key_pem is not None
                encoded = slot.public_key_pem
            public_key = cloudfront.PublicKey(
                self, f"PublicKey{slot.name}",
                encoded_key=encoded,
                comment=f"{name_prefix} signing slot {slot.name} ({settings.signer})",
            )
            public_keys.append(public_key)
            self.slots[slot.name] = SlotKey(
                name=slot.name,
                public_key_id=public_key.public_key_id,
                kms_key_arn=self.keys[slot.name].key_arn if slot.name in self.keys else None,
                secret_name=slot.secret_name,
            )
        self.key_group = cloudfront.KeyGroup(
            self, "KeyGroup", items=public_keys, comment=f"{name_prefix}: every active or retiring signing slot",
        )

    def _slot_key(self, name_prefix: str, slot: str, removal_policy: RemovalPolicy) -> kms.Key:
        policy = iam.PolicyDocument(
            statements=[
                iam.PolicyStatement(
                    sid="KeyInspectionByTheAccount",
                    principals=[iam.AccountRootPrincipal()],
                    actions=KEY_INSPECTION_ACTIONS,
                    resources=["*"],
                ),
                iam.PolicyStatement(
                    sid="KeyAdministrationWithoutUseByNamedRoles",
                    principals=[iam.AccountRootPrincipal()],
                    actions=KEY_CHANGE_ACTIONS,
                    resources=["*"],
                    conditions={"ArnEquals": {"aws:PrincipalArn": self.key_admin_arns}},
                ),
                # Nothing uses grants on these keys, and a grant would bypass the conditions below.
                iam.PolicyStatement(
                    sid="DenyAnyGrantOnTheSigningKey",
                    effect=iam.Effect.DENY,
                    principals=[iam.AnyPrincipal()],
                    actions=["kms:CreateGrant"],
                    resources=["*"],
                ),
                # Kept should the Deny above ever be narrowed: never a grant that can sign.
                iam.PolicyStatement(
                    sid="DenySignGrantsToEveryone",
                    effect=iam.Effect.DENY,
                    principals=[iam.AnyPrincipal()],
                    actions=["kms:CreateGrant"],
                    resources=["*"],
                    conditions={"ForAnyValue:StringEquals": {"kms:GrantOperations": ["Sign"]}},
                ),
                iam.PolicyStatement(
                    sid="SignOnlyAsTheDownloadRole",
                    principals=[iam.AccountRootPrincipal()],
                    actions=["kms:Sign"],
                    resources=["*"],
                    conditions={
                        "ArnEquals": {"aws:PrincipalArn": self.signer_role_arn},
                        "StringEquals": {"kms:SigningAlgorithm": "ECDSA_SHA_256", "kms:MessageType": "RAW"},
                    },
                ),
            ]
        )
        key = kms.Key(
            self, f"SlotKey{slot}",
            description=f"{name_prefix}: CloudFront URL signing key, slot {slot}",
            key_spec=kms.KeySpec.ECC_NIST_P256,
            key_usage=kms.KeyUsage.SIGN_VERIFY,
            policy=policy,
            removal_policy=removal_policy,
            pending_window=Duration.days(30),
        )
        return key

    def _public_key_provider(self, log_retention: logs.RetentionDays, log_key: kms.IKey) -> cr.Provider:
        log_group = logs.LogGroup(
            self, "PublicKeyReaderLogs", retention=log_retention, encryption_key=log_key,
            removal_policy=RemovalPolicy.DESTROY,
        )
        reader = lambda_.Function(
            self, "PublicKeyReader",
            description="Deploy time: reads the signing keys' public halves for CloudFront",
            runtime=RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler="kms_public_key.handler.on_event",
            code=lambda_code(LambdaBundle(entry_module="kms_public_key.handler")),
            memory_size=256,
            timeout=Duration.seconds(30),
            log_group=log_group,
            tracing=lambda_.Tracing.ACTIVE,
        )
        provider_logs = logs.LogGroup(
            self, "ProviderLogs", retention=log_retention, encryption_key=log_key,
            removal_policy=RemovalPolicy.DESTROY,
        )
        provider = cr.Provider(self, "PublicKeyProvider", on_event_handler=reader, log_group=provider_logs)
        self.reader = reader
        self.provider = provider
        self._acknowledge_provider(reader, provider)
        return provider

    def _acknowledge_provider(self, reader: lambda_.Function, provider: cr.Provider) -> None:
        stack = Stack.of(self)
        acknowledge_python_function(reader, caller="by CloudFormation through the provider framework",
                                    reserved_concurrency=False)
        framework = provider.node.find_child("framework-onEvent")
        acknowledge_python_function(framework, caller="by CloudFormation during deployments",
                                    reserved_concurrency=False, python=False)
        acknowledge(
            framework,
            "CDK's custom-resource provider framework function (Node.js, managed by CDK) runs only "
            "during deployments for a few hundred milliseconds; its memory and tracing are not exposed "
            "by the construct, and its errors surface as a failed deployment.",
            "Serverless-LambdaDefaultMemorySize", "Serverless-LambdaTracing",
        )
        for function in (reader, framework):
            role = function.node.find_child("ServiceRole")
            acknowledge(role, BASIC_EXECUTION_REASON,
                        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]")
        acknowledge_inline_policy(reader.node.find_child("ServiceRole").node.find_child("DefaultPolicy"))
        acknowledge_inline_policy(framework.node.find_child("ServiceRole").node.find_child("DefaultPolicy"),
                                  xray_wildcard=False)
        reader_id = stack.resolve(stack.get_logical_id(reader.node.default_child))
        acknowledge(
            framework.node.find_child("ServiceRole").node.find_child("DefaultPolicy"),
            "The provider framework may invoke every version of the public-key reader function "
            "(lambda:InvokeFunction on its ARN and ARN:*), and nothing else.",
            f"AwsSolutions-IAM5[Resource::<{reader_id}.Arn>:*]",
        )
