"""Session fixtures: each app variant is synthesized once per test session, never per test."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from stacks.app_builder import EnvironmentStacks, build_app, stack_name
from stacks.config import CONTEXT_KEY, read_context


@dataclass
class Synthesized:
    outdir: Path
    environments: dict[str, EnvironmentStacks]
    raw: dict[str, dict[str, Any]]  # stack name -> template JSON

    def template(self, env: str, kind: str) -> Template:
        return Template.from_json(self.raw[stack_name(self.environments[env].config, kind)])

    def template_json(self, env: str, kind: str) -> dict[str, Any]:
        return self.raw[stack_name(self.environments[env].config, kind)]

    def asset_dir(self, env: str, asset_path: str) -> Path:
        """An asset directory as a template's ``aws:asset:path`` names it: relative to the stage's own
        assembly directory (``assembly-<Stage>/``), the assets being staged once at the root."""
        return (Path(self.environments[env].stage.outdir) / asset_path).resolve()

    @property
    def validation_report(self) -> dict[str, Any]:
        return json.loads((self.outdir / "validation-report.json").read_text())


def synthesize(context: dict[str, Any], outdir: Path) -> Synthesized:
    # What the CDK CLI adds to every synthesis: construct paths and asset paths in the metadata.
    context = {**context, "aws:cdk:enable-path-metadata": True, "aws:cdk:enable-asset-metadata": True}
    app = App(context=context, outdir=str(outdir))
    environments = build_app(app)
    assembly = app.synth()
    raw = {stack.stack_name: stack.template for stack in every_stack(assembly)}
    return Synthesized(outdir=outdir, environments=environments, raw=raw)


#: The syntheses most template tests run over: (session fixture, environment).
VARIANTS = (("app", "dev"), ("app", "prod"), ("variant", "edge"))


@pytest.fixture(params=VARIANTS, ids=[env for _, env in VARIANTS])
def deployment(request: pytest.FixtureRequest) -> tuple[Synthesized, str]:
    """Each of ``VARIANTS``: its synthesis and the environment to read from it."""
    fixture, env = request.param
    return request.getfixturevalue(fixture), env


def resources_of(template: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    """A template's resources of one CloudFormation type, by logical id."""
    return {k: r for k, r in template["Resources"].items() if r["Type"] == type_}


def joined(value: Any) -> str:
    """A string CloudFormation assembles with ``Fn::Join``, rendered: ``AWS::Partition`` as ``aws``,
    other pseudo parameters as ``<AWS::...>``; a plain string as itself."""
    if isinstance(value, str):
        return value
    separator, parts = value["Fn::Join"]
    return separator.join(part if isinstance(part, str) else
                          "aws" if part["Ref"] == "AWS::Partition" else f"<{part['Ref']}>" for part in parts)


def every_stack(assembly: Any) -> list[Any]:
    """The stacks of a cloud assembly and of its stages' nested assemblies (each environment is a
    ``FilegateStage``, so its stacks live in ``assembly-<Stage>/``)."""
    stacks = list(assembly.stacks)
    for nested in assembly.nested_assemblies:
        stacks.extend(every_stack(nested.nested_assembly))
    return stacks


def files_bucket(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A file store template's files bucket (its one ``BucketOwnerEnforced`` bucket): the logical id
    and the bucket policy, unresolved."""
    resources = template["Resources"]
    (bucket_id,) = [k for k, r in resources.items() if r["Type"] == "AWS::S3::Bucket"
                    and r["Properties"]["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]]
    (policy,) = [r["Properties"]["PolicyDocument"] for r in resources.values()
                 if r["Type"] == "AWS::S3::BucketPolicy" and r["Properties"]["Bucket"] == {"Ref": bucket_id}]
    return bucket_id, policy


@pytest.fixture(scope="session")
def cdk_context() -> dict[str, Any]:
    """cdk.json's context (feature flags included), as `cdk synth` sees it."""
    return read_context()


@pytest.fixture(scope="session")
def app(cdk_context: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The app exactly as configured in cdk.json: every environment."""
    return synthesize(copy.deepcopy(cdk_context), tmp_path_factory.mktemp("cdk.out"))


def public_key_pem() -> str:
    """A freshly generated public key; its private half never leaves this function's memory."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo,
    ).decode()


@pytest.fixture(scope="session")
def variant(cdk_context: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The branches cdk.json does not take: custom domain, external issuer, secret signer, two slots,
    no malware scanning, security roles for rejected files, a webhook for file events, and the front
    door's WAF limits and names at other values."""
    context = copy.deepcopy(cdk_context)
    context[CONTEXT_KEY]["environments"] = {
        "edge": {
            "account": "123456789012",
            "region": "eu-west-1",
            "frontend_origins": ["https://app.example.org"],
            "domain": {"domain_name": "files.example.org", "hosted_zone_id": "Z0123456789ABCDEFGHIJ",
                       "hosted_zone_name": "example.org"},
            "jwt": {"issuer": "https://login.example.org", "audience": ["filegate-api"], "scopes": ["files"],
                    "groups_claim": "groups", "groups_format": "json_string"},
            "signing": {
                "signer": "secret",
                "slots": [
                    {"name": "old", "public_key_pem": public_key_pem(), "secret_name": "filegate/edge/old"},
                    {"name": "new", "public_key_pem": public_key_pem(), "secret_name": "filegate/edge/new"},
                ],
                "active_slot": "new",
            },
            "read_exception_role_arns": ["arn:aws:iam::123456789012:role/malware-scanner"],
            "log_reader_role_arns": ["arn:aws:iam::123456789012:role/log-analyst"],
            "backend_principal_arns": ["arn:aws:iam::123456789012:role/rails-backend"],
            "cookie_domain": "example.org",
            "lambda_reserved_concurrency": 20,
            "urls": {"allow_ip_restriction": True},
            "ipv6": False,
            "alarm_email": "oncall@example.org",
            "scanning": "none",
            "security_role_arns": ["arn:aws:iam::123456789012:role/security-review"],
            "events": {"webhook_url": "https://rails.example.org/hooks/filegate",
                       "webhook_secret_name": "filegate/edge/webhook", "webhook_auth_header": "X-Filegate-Token"},
            "verification": {"rejected_retention_days": 90, "verifier_memory_mb": 2048},
            # The front door at its other settings: CloudFront's whole inspectable body, its own limits
            "waf_api_max_body_bytes": 16384,
            "waf_api_rate_limit": 500,
            "waf_rate_limit": 4000,
            "waf_web_acl_name": "filegate_edge-acl",
            "origin_secret_rotation_days": 7,
        }
    }
    context["env"] = "edge"
    return synthesize(context, tmp_path_factory.mktemp("cdk.out-variant"))


#: The WebACL name the second synthesis of prod takes (``renamed_web_acl``).
RENAMED_WEB_ACL = "filegate-prod-edge-v2"


@pytest.fixture(scope="session")
def renamed_web_acl(cdk_context: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """prod again, its WebACL renamed (a replacement): what the file store must notice without an export."""
    context = copy.deepcopy(cdk_context)
    context[CONTEXT_KEY]["environments"]["prod"]["waf_web_acl_name"] = RENAMED_WEB_ACL
    context["env"] = "prod"
    return synthesize(context, tmp_path_factory.mktemp("cdk.out-renamed"))
