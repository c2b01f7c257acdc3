"""Builds the whole CDK app: one ``FilegateStage`` per configured environment (and the pipeline and
GitHub access stacks when configured), checked by cdk-nag."""

from __future__ import annotations

import os
from dataclasses import dataclass

from aws_cdk import App, Aspects

from stacks.config import (
    CONTEXT_KEY,
    EnvironmentConfig,
    deployment_from_context,
    environment_from_context,
    environment_names,
)
from stacks.edge_security_stack import EdgeSecurityStack
from stacks.file_api_stack import FileApiStack
from stacks.file_store_stack import FileStoreStack
from stacks.github_access_stack import add_github_access
from stacks.nag import add_compliance_checks, stages_within
from stacks.pipeline_stack import PIPELINE_STACK_NAME, FilegatePipelineStack
from stacks.stage import FilegateStage, stack_name, stage_id
from stacks.template_hygiene import DropRedundantProviderRoleDependency, DropRedundantRoleDependency

__all__ = ["EnvironmentStacks", "build_app", "selected_environments", "stack_name"]


@dataclass(frozen=True)
class EnvironmentStacks:
    config: EnvironmentConfig
    stage: FilegateStage

    @property
    def edge(self) -> EdgeSecurityStack:
        return self.stage.edge

    @property
    def store(self) -> FileStoreStack:
        return self.stage.store

    @property
    def api(self) -> FileApiStack:
        return self.stage.api


def selected_environments(app: App) -> list[str]:
    """``-c env=prod`` (or FILEGATE_ENV) picks one environment; by default all are synthesized."""
    chosen = app.node.try_get_context("env") or os.environ.get("FILEGATE_ENV")
    names = environment_names(app.node.try_get_context(CONTEXT_KEY))
    if chosen:
        return [str(name) for name in str(chosen).split(",")]
    return names


def build_app(app: App) -> dict[str, EnvironmentStacks]:
    """Every selected environment as a ``FilegateStage``: at the top level for ``cdk deploy``, or
    inside the pipeline stack when ``pipeline.stages`` lists it (never both); the GitHub deploy
    roles' stacks when ``github`` is configured."""
    context = app.node.try_get_context(CONTEXT_KEY)
    deployment = deployment_from_context(context)
    selected = selected_environments(app)
    configs = {name: environment_from_context(context, name) for name in selected}
    built: dict[str, EnvironmentStacks] = {}
    # The pipeline is synthesized only with every stage it deploys (as it synthesizes itself), so a
    # narrowed ``-c env=...`` can never deploy a pipeline that lost a stage; the narrowed
    # environment is then built at the top level, same stacks, same names.
    piped = list(deployment.pipeline_stages())
    if deployment.pipeline is not None and all(name in configs for name in piped):
        pipeline = FilegatePipelineStack(
            app, PIPELINE_STACK_NAME, pipeline=deployment.pipeline,
            stages=[configs[name] for name in piped], deployment=deployment)
        built.update({name: EnvironmentStacks(config=configs[name], stage=stage)
                      for name, stage in pipeline.stages.items()})
    for name, config in configs.items():
        if name not in built:
            built[name] = EnvironmentStacks(
                config=config, stage=FilegateStage(app, stage_id(config), config=config, deployment=deployment))
    if deployment.github is not None:
        add_github_access(app, deployment=deployment, configs=configs)
    for scope in (app, *stages_within(app)):  # aspects stop at a stage's boundary
        Aspects.of(scope).add(DropRedundantRoleDependency())
        Aspects.of(scope).add(DropRedundantProviderRoleDependency())
    add_compliance_checks(app)
    return built
