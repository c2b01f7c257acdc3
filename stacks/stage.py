"""``FilegateStage``: one environment's three stacks, the one way to build an environment.

``app.py`` builds one per environment for ``cdk deploy``; the pipeline (stacks/pipeline_stack.py)
builds the ones it deploys inside itself. Each stack names its account and region, and keeps the
stack name it had before stages existed, so upgrading replaces no stack (docs/deployment.md).
"""

from __future__ import annotations

import os

from aws_cdk import CfnOutput, Environment, Stage, Tags
from constructs import Construct

from stacks.config import EDGE_REGION, DeploymentConfig, EnvironmentConfig
from stacks.edge_security_stack import EdgeSecurityStack
from stacks.file_api_stack import FileApiStack
from stacks.file_store_stack import FileStoreStack


def stack_name(config: EnvironmentConfig, kind: str) -> str:
    """``Filegate<Env><Kind>``, e.g. ``FilegateProdFileStore``: unchanged since before stages."""
    return f"Filegate{stage_id(config)}{kind}"


def stage_id(config: EnvironmentConfig) -> str:
    """The stage's construct id: ``Dev``, ``Prod``, ``Staging2`` (cdk selectors: ``Dev/*``)."""
    return config.name.title().replace("-", "")


#: The environment variables the deployment verifier reads (``--outputs-from-env``), by the stack
#: output each comes from (the pipeline's ``env_from_cfn_outputs``; docs/deployment.md).
VERIFIER_OUTPUT_VARIABLES = {
    "FILEGATE_API_URL": "ApiUrl",
    "FILEGATE_BACKEND_API_URL": "BackendApiUrl",
    "FILEGATE_DOWNLOAD_BASE_URL": "DownloadBaseUrl",
    "FILEGATE_BUCKET_NAME": "BucketName",
    "FILEGATE_VERIFIER_ROLE_ARN": "VerifierRoleArn",
}


class FilegateStage(Stage):
    """The edge (us-east-1), file store and API stacks of one environment."""

    def __init__(
        self, scope: Construct, construct_id: str, *,
        config: EnvironmentConfig, deployment: DeploymentConfig | None = None, account: str | None = None,
    ) -> None:
        account = account or config.account or os.environ.get("CDK_DEFAULT_ACCOUNT")
        super().__init__(scope, construct_id, env=Environment(account=account, region=config.region))
        deployment = deployment or DeploymentConfig()
        self.config = config
        self.edge = EdgeSecurityStack(
            self, "EdgeSecurity", stack_name=stack_name(config, "EdgeSecurity"), config=config,
            env=Environment(account=account, region=EDGE_REGION),
            description=f"filegate {config.name}: CloudFront WebACL (and certificate) in us-east-1",
        )
        # No cross-region reference: the store reads the edge's SSM parameters (EdgeReferences), and
        # deploys after the edge stack, which writes them (docs/front-door.md).
        self.store = FileStoreStack(
            self, "FileStore", stack_name=stack_name(config, "FileStore"), config=config, edge=self.edge.references,
            deployment=deployment,
            env=Environment(account=account, region=config.region),
            description=f"filegate {config.name}: private bucket, CloudFront distribution, signing keys, HTTP API",
        )
        self.store.add_stack_dependency(
            self.edge, "the store reads the WebACL and certificate ARNs the edge stack writes to SSM")
        self.api = FileApiStack(
            self, "FileApi", stack_name=stack_name(config, "FileApi"), config=config, store=self.store,
            env=Environment(account=account, region=config.region),
            description=f"filegate {config.name}: HTTP API routes and minting Lambdas",
        )
        for stack in (self.edge, self.store, self.api):
            Tags.of(stack).add("project", "filegate")
            Tags.of(stack).add("environment", config.name)
        #: What the pipeline's verifier step gets as environment variables (all the store's outputs).
        self.verifier_outputs: dict[str, CfnOutput] = {
            variable: self.store.outputs[output] for variable, output in VERIFIER_OUTPUT_VARIABLES.items()}
