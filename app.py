#!/usr/bin/env python3
"""CDK entry point: ``cdk synth`` / ``cdk deploy`` run this with cdk.json's context."""

from aws_cdk import App

from stacks.app_builder import build_app

app = App()
build_app(app)
app.synth()
