"""Who deploys a stack: the role CloudFormation acts as, which resource policies must except."""

from __future__ import annotations

from aws_cdk import DefaultStackSynthesizer, Fn, Stack


def deployment_role_arn(stack: Stack, *, needed_for: str) -> str:
    """The CloudFormation execution role of ``stack`` (cdk bootstrap's ``cfn-exec-role``).

    Policies that lock a resource down to named roles must leave this one in, or the next
    deployment could not update the resource. ``needed_for`` says which policy, for the error.
    """
    synthesizer = stack.synthesizer
    role = synthesizer.cloud_formation_execution_role if isinstance(synthesizer, DefaultStackSynthesizer) else None
    if role is None:
        raise ValueError(
            f"{needed_for} excepts CloudFormation's execution role, so the stack needs a DefaultStackSynthesizer "
            "with one (cdk bootstrap's cfn-exec-role)")
    return Fn.sub(role) if "${" in role else role
