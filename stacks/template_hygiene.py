"""Aspects that keep the synthesized templates lint-clean (cfn-lint, zero warnings)."""

from __future__ import annotations

import jsii
from aws_cdk import CfnResource, IAspect, Stack
from aws_cdk import aws_lambda as lambda_
from constructs import IConstruct


@jsii.implements(IAspect)
class DropRedundantRoleDependency:
    """A function's ``DependsOn`` its role is redundant: ``Role`` already reads the role's ARN.

    CDK makes each function depend on its whole role construct (the role and its default
    policy). The policy dependency matters (the function must not run before its permissions
    exist); the role dependency duplicates the ``Fn::GetAtt`` (cfn-lint W3005). This keeps the
    first and drops the second.
    """

    def visit(self, node: IConstruct) -> None:
        if not isinstance(node, lambda_.Function):
            return
        function = node.node.default_child
        if not isinstance(function, lambda_.CfnFunction):
            return
        stack = Stack.of(function)
        role_ref = stack.resolve(function.role)
        if not (isinstance(role_ref, dict) and "Fn::GetAtt" in role_ref):
            return
        role_id = role_ref["Fn::GetAtt"][0]
        depends_on: list[str] = []
        for dependency in [*node.node.dependencies, *function.node.dependencies, *function.obtain_dependencies()]:
            for construct in dependency.node.find_all():
                if isinstance(construct, CfnResource) and Stack.of(construct) is stack:
                    logical_id = stack.resolve(stack.get_logical_id(construct))
                    if logical_id != role_id and logical_id not in depends_on:
                        depends_on.append(logical_id)
        if depends_on:
            function.add_override("DependsOn", sorted(depends_on))
        else:
            function.add_deletion_override("DependsOn")


@jsii.implements(IAspect)
class DropRedundantProviderRoleDependency:
    """The same redundancy in CDK's own L1 custom-resource providers (e.g. S3 auto-delete objects).

    Their handler (``AWS::Lambda::Function``) and its role are sibling constructs; the handler's
    ``Role`` property reads the sibling role's ARN, so the explicit dependency is dropped.
    """

    def visit(self, node: IConstruct) -> None:
        if not isinstance(node, CfnResource) or isinstance(node, lambda_.CfnFunction):
            return
        if node.cfn_resource_type != "AWS::Lambda::Function" or node.node.scope is None:
            return
        stack = Stack.of(node)
        siblings = {child.node.path for child in node.node.scope.node.children}
        kept: list[str] = []
        dropped = False
        for dependency in [*node.obtain_dependencies(), *node.node.dependencies]:
            for construct in dependency.node.find_all():
                if not isinstance(construct, CfnResource) or Stack.of(construct) is not stack:
                    continue
                if construct.node.path in siblings and construct.cfn_resource_type == "AWS::IAM::Role":
                    dropped = True
                    continue
                logical_id = stack.resolve(stack.get_logical_id(construct))
                if logical_id not in kept:
                    kept.append(logical_id)
        if not dropped:
            return
        if kept:
            node.add_override("DependsOn", sorted(kept))
        else:
            node.add_deletion_override("DependsOn")
