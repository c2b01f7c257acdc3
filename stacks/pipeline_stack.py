"""``FilegatePipeline``: the AWS-native pipeline's stack in the tooling account (docs/deployment.md).

Built only when ``pipeline`` is configured, and then with every stage it deploys: each staged
environment's ``FilegateStage`` lives here (``FilegatePipeline/Dev/...``), never also at the app's
top level. It only composes constructs: the CDK Pipelines ``DeliveryPipeline`` and the scheduled
``DriftCheck`` (stacks/constructs/pipeline.py, whose docstring explains the build image and roles).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Environment, Stack, Tags
from constructs import Construct

from stacks.config import DeploymentConfig, EnvironmentConfig, PipelineConfig
from stacks.constructs.pipeline import DeliveryPipeline, DriftCheck, PipelineStage
from stacks.stage import FilegateStage, stage_id

PIPELINE_STACK_NAME = "FilegatePipeline"


class FilegatePipelineStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *,
        pipeline: PipelineConfig, stages: list[EnvironmentConfig], deployment: DeploymentConfig, **kwargs: Any,
    ) -> None:
        kwargs.setdefault("stack_name", PIPELINE_STACK_NAME)
        kwargs.setdefault("description", "filegate: CDK Pipelines delivery pipeline "
                          f"({' -> '.join(config.name for config in stages)}) and its drift check")
        super().__init__(scope, construct_id, env=Environment(account=pipeline.account, region=pipeline.region),
                         **kwargs)
        built = [PipelineStage(config=config, stage=FilegateStage(
            self, stage_id(config), config=config, deployment=deployment)) for config in stages]
        #: env name -> its stage, in the configured order.
        self.stages: dict[str, FilegateStage] = {item.config.name: item.stage for item in built}
        self.delivery = DeliveryPipeline(self, "Delivery", pipeline=pipeline, stages=built)
        self.drift = DriftCheck(self, "Drift", pipeline=pipeline, stages=built, logs_key=self.delivery.key)
        Tags.of(self).add("project", "filegate")
