"""Builds the whole CDK app: three stacks per configured environment, checked by cdk-nag."""

from __future__ import annotations

import os
from dataclasses import dataclass

from aws_cdk import App, Aspects, Environment, Tags

from stacks.config import CONTEXT_KEY, EDGE_REGION, EnvironmentConfig, environment_from_context, environment_names
from stacks.edge_security_stack import EdgeSecurityStack
from stacks.file_api_stack import FileApiStack
from stacks.file_store_stack import FileStoreStack
from stacks.nag import add_compliance_checks
from stacks.template_hygiene import DropRedundantProviderRoleDependency, DropRedundantRoleDependency


@dataclass(frozen=True)
class EnvironmentStacks:
    config: EnvironmentConfig
    edge: EdgeSecurityStack
    store: FileStoreStack
    api: FileApiStack


def selected_environments(app: App) -> list[str]:
    """``-c env=prod`` (or FILEGATE_ENV) picks one environment; by default all are synthesized."""
    chosen = app.node.try_get_context("env") or os.environ.get("FILEGATE_ENV")
    names = environment_names(app.node.try_get_context(CONTEXT_KEY))
    if chosen:
        return [str(name) for name in str(chosen).split(",")]
    return names


def build_app(app: App) -> dict[str, EnvironmentStacks]:
    built: dict[str, EnvironmentStacks] = {}
    for name in selected_environments(app):
        config = environment_from_context(app.node.try_get_context(CONTEXT_KEY), name)
        built[name] = add_environment(app, config)
    Aspects.of(app).add(DropRedundantRoleDependency())
    Aspects.of(app).add(DropRedundantProviderRoleDependency())
    add_compliance_checks(app)
    return built


def stack_name(config: EnvironmentConfig, kind: str) -> str:
    return f"Filegate{config.name.title().replace('-', '')}{kind}"


def add_environment(app: App, config: EnvironmentConfig) -> EnvironmentStacks:
    account = config.account or os.environ.get("CDK_DEFAULT_ACCOUNT")
    edge = EdgeSecurityStack(
        app, stack_name(config, "EdgeSecurity"), config=config,
        env=Environment(account=account, region=EDGE_REGION),
        description=f"filegate {config.name}: CloudFront WebACL (and certificate) in us-east-1",
    )
    # No cross-region reference: the store reads the edge's SSM parameters (EdgeReferences), and
    # deploys after the edge stack, which writes them (docs/front-door.md).
    store = FileStoreStack(
        app, stack_name(config, "FileStore"), config=config, edge=edge.references,
        env=Environment(account=account, region=config.region),
        description=f"filegate {config.name}: private bucket, CloudFront distribution, signing keys, HTTP API",
    )
    store.add_stack_dependency(edge, "the store reads the WebACL and certificate ARNs the edge stack writes to SSM")
    api = FileApiStack(
        app, stack_name(config, "FileApi"), config=config, store=store,
        env=Environment(account=account, region=config.region),
        description=f"filegate {config.name}: HTTP API routes and minting Lambdas",
    )
    for stack in (edge, store, api):
        Tags.of(stack).add("project", "filegate")
        Tags.of(stack).add("environment", config.name)
    return EnvironmentStacks(config=config, edge=edge, store=store, api=api)
