"""The CloudFront-scope WAF WebACL and its redacted logging (us-east-1 only).

The rule table is docs/front-door.md's ("WAF rules"). The three AWS managed groups only *count*:
they label what they match, and our rules block on those labels, so that a refusal on ``/api/``
is JSON (``filegate.domain.front_door.WAF_RESPONSES``) and the one exclusion (the core rule set's
8 KB body limit on ``/api/``, replaced by ``ApiBodySize``) is a visible statement, not a silent
override inside a managed group.

Label names are AWS's (AWS WAF Developer Guide, "Baseline rule groups" and "IP reputation rule
groups"); a label match on a name no rule adds never matches, so they are spelled here once.
"""

from __future__ import annotations

from aws_cdk import CfnDeletionPolicy, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from filegate.domain.front_door import API_STAGE, WAF_RESPONSES, waf_response_body

MANAGED_RULE_GROUPS = (
    # (priority, managed rule group name): OWASP-style common rules, known bad inputs, bad IPs.
    (10, "AWSManagedRulesCommonRuleSet"),
    (20, "AWSManagedRulesKnownBadInputsRuleSet"),
    (30, "AWSManagedRulesAmazonIpReputationList"),
)
#: What CloudFront forwards to the API behaviour (``api/*``): the viewer's path, unchanged.
API_PATH_PREFIX = f"/{API_STAGE}/"
#: The backend routes under it, which the distribution refuses.
BACKEND_PATH_PREFIX = f"{API_PATH_PREFIX}backend/"

#: Label namespaces of the core rule set and the known-bad-inputs group: every rule in them blocks.
CORE_RULE_SET_NAMESPACE = "awswaf:managed:aws:core-rule-set:"
KNOWN_BAD_INPUTS_NAMESPACE = "awswaf:managed:aws:known-bad-inputs:"
#: The IP reputation group's blocking rules; its ``AWSManagedIPDDoSList`` rule only counts (the
#: group's own default), so its label blocks nothing here either.
IP_REPUTATION_BLOCKING_LABELS = (
    "awswaf:managed:aws:amazon-ip-list:AWSManagedIPReputationList",
    "awswaf:managed:aws:amazon-ip-list:AWSManagedReconnaissanceList",
)
#: The core rule set's body-size rule (bodies over 8 KB): not a refusal on ``/api/``, where
#: ``ApiBodySize`` applies the API's own limit with a JSON 413 instead.
SIZE_RESTRICTIONS_BODY_LABEL = CORE_RULE_SET_NAMESPACE + "SizeRestrictions_Body"
#: Every other label the core rule set documents. On ``/api/`` a request that carries the
#: body-size label is still refused when it also carries one of these: an oversized body must
#: not switch the other core rules (cross-site scripting in the body, say) off.
CORE_RULE_SET_OTHER_LABELS = tuple(CORE_RULE_SET_NAMESPACE + name for name in (
    "NoUserAgent_Header", "BadBots_Header", "SizeRestrictions_QueryString", "SizeRestrictions_Cookie_Header",
    "SizeRestrictions_URIPath", "EC2MetaDataSSRF_Body", "EC2MetaDataSSRF_Cookie", "EC2MetaDataSSRF_URIPath",
    "EC2MetaDataSSRF_QueryArguments", "GenericLFI_QueryArguments", "GenericLFI_URIPath", "GenericLFI_Body",
    "RestrictedExtensions_URIPath", "RestrictedExtensions_QueryArguments", "GenericRFI_QueryArguments",
    "GenericRFI_Body", "GenericRFI_URIPath", "CrossSiteScripting_Cookie", "CrossSiteScripting_QueryArguments",
    "CrossSiteScripting_Body", "CrossSiteScripting_URIPath",
))
#: Rate-based rules count over this window (seconds).
RATE_WINDOW_SECONDS = 300


#: Count (non-terminating) inside its group: a group counted as a whole still stops at its first
#: blocking rule, so an oversized body would hide every core rule after the size rule. Counted, it
#: only labels, and the other core rules still inspect the body (rule 40 then refuses on theirs).
NON_TERMINATING_RULES = {"AWSManagedRulesCommonRuleSet": ("SizeRestrictions_BODY",)}


def _non_terminating(group: str) -> list[wafv2.CfnWebACL.RuleActionOverrideProperty] | None:
    names = NON_TERMINATING_RULES.get(group, ())
    return [wafv2.CfnWebACL.RuleActionOverrideProperty(
        name=name, action_to_use=wafv2.CfnWebACL.RuleActionProperty(count={})) for name in names] or None


def response_key(code: str) -> str:
    """The ``CustomResponseBodies`` key of the WAF answer whose error code is ``code``."""
    (key,) = [key for key, response in WAF_RESPONSES.items() if response.code == code]
    return key


class Firewall(Construct):
    """The WebACL of docs/front-door.md ("WAF rules"), named ``web_acl_name``.

    Logs go to a KMS-encrypted log group whose name starts with ``aws-waf-logs-`` (WAF requires
    it). The query string, the ``authorization`` header and cookies are redacted: signed URLs carry
    their signature in the query string, and neither a token nor a signed cookie may land in a log.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name_prefix: str,
        web_acl_name: str,
        rate_limit: int,
        api_rate_limit: int,
        api_max_body_bytes: int,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        on_api = _path_starts_with(API_PATH_PREFIX)
        rules: list[wafv2.CfnWebACL.RuleProperty] = [
            # /backend/* is IAM-only on execute-api (docs/front-door.md): never through the distribution,
            # although a SigV4 signature for the execute-api host would verify behind CloudFront's Host rewrite.
            _rule("BackendNotThroughCloudFront", 5, _path_starts_with(BACKEND_PATH_PREFIX),
                  _block(response_key("request_blocked"))),
        ]
        rules += [
            wafv2.CfnWebACL.RuleProperty(
                name=group,
                priority=priority,
                # Count: the group labels what it matches; the label rules below decide.
                override_action=wafv2.CfnWebACL.OverrideActionProperty(count={}),
                statement=wafv2.CfnWebACL.StatementProperty(
                    managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                        vendor_name="AWS", name=group, rule_action_overrides=_non_terminating(group),
                    )
                ),
                visibility_config=_visibility(group),
            )
            for priority, group in MANAGED_RULE_GROUPS
        ]
        rules += [
            _rule("BlockManagedMatchesOnApi", 40, _and(on_api, _api_blocking_labels()),
                  _block(response_key("request_blocked"))),
            _rule("BlockManagedMatches", 41, _and(_not(on_api), _blocking_labels()), _block()),
            _rule("ApiBodySize", 50, _and(on_api, _body_larger_than(api_max_body_bytes)),
                  _block(response_key("request_too_large"))),
            _rule("ApiRatePerIp", 60, _rate_per_ip(api_rate_limit, scope_down=on_api),
                  _block(response_key("rate_limited"))),
            _rule("RatePerIp", 70, _rate_per_ip(rate_limit, scope_down=_not(on_api)), _block()),
        ]
        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            name=web_acl_name,
            scope="CLOUDFRONT",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            rules=rules,
            custom_response_bodies={
                key: wafv2.CfnWebACL.CustomResponseBodyProperty(content_type="APPLICATION_JSON",
                                                                content=waf_response_body(key))
                for key in WAF_RESPONSES
            },
            visibility_config=_visibility(web_acl_name),
        )
        # A new name replaces the WebACL while the distribution (another stack, deployed after this
        # one) still uses the old one: CloudFormation keeps it instead of failing to delete it.
        self.web_acl.apply_removal_policy(removal_policy)
        self.web_acl.cfn_options.update_replace_policy = CfnDeletionPolicy.RETAIN

        self.log_key = kms.Key(
            self,
            "LogKey",
            description=f"{name_prefix}: encrypts the WAF log group",
            enable_key_rotation=True,
            removal_policy=removal_policy,
        )
        stack = Stack.of(self)
        self.log_key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchLogsForThisRegionOnly",
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn":
                            f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:log-group:aws-waf-logs-*"
                    }
                },
            )
        )
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"aws-waf-logs-{name_prefix}",
            retention=log_retention,
            encryption_key=self.log_key,
            removal_policy=removal_policy,
        )
        wafv2.CfnLoggingConfiguration(
            self,
            "Logging",
            resource_arn=self.web_acl.attr_arn,
            log_destination_configs=[self.log_group.log_group_arn],
            redacted_fields=[
                wafv2.CfnLoggingConfiguration.FieldToMatchProperty(query_string={}),
                wafv2.CfnLoggingConfiguration.FieldToMatchProperty(
                    single_header={"Name": "authorization"}
                ),
                wafv2.CfnLoggingConfiguration.FieldToMatchProperty(single_header={"Name": "cookie"}),
            ],
        )

    @property
    def web_acl_arn(self) -> str:
        return self.web_acl.attr_arn


_Statement = wafv2.CfnWebACL.StatementProperty


def _rule(name: str, priority: int, statement: _Statement,
          action: wafv2.CfnWebACL.RuleActionProperty) -> wafv2.CfnWebACL.RuleProperty:
    return wafv2.CfnWebACL.RuleProperty(name=name, priority=priority, statement=statement, action=action,
                                        visibility_config=_visibility(name))


def _block(response_body_key: str | None = None) -> wafv2.CfnWebACL.RuleActionProperty:
    """Block; with a key, answer ``WAF_RESPONSES[key]`` (its status and JSON body), else CloudFront's 403."""
    if response_body_key is None:
        return wafv2.CfnWebACL.RuleActionProperty(block={})
    return wafv2.CfnWebACL.RuleActionProperty(block=wafv2.CfnWebACL.BlockActionProperty(
        custom_response=wafv2.CfnWebACL.CustomResponseProperty(
            response_code=WAF_RESPONSES[response_body_key].status, custom_response_body_key=response_body_key)))


def _path_starts_with(prefix: str) -> _Statement:
    # Decoded, then normalised (repeated slashes, ./ and ../ removed): CloudFront picks the `api/*`
    # behaviour on the RFC 3986-normalised path (`/%61pi/` is `/api/`), so the API's rules must see
    # at least every path that behaviour gets. Over-decoding (`/api%2Fx`, which CloudFront sends to
    # the signed default behaviour) only puts a file path under the API's stricter rules.
    return _Statement(byte_match_statement=wafv2.CfnWebACL.ByteMatchStatementProperty(
        field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(uri_path={}),
        positional_constraint="STARTS_WITH",
        search_string=prefix,
        text_transformations=[wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="URL_DECODE"),
                              wafv2.CfnWebACL.TextTransformationProperty(priority=1, type="NORMALIZE_PATH")],
    ))


def _body_larger_than(size: int) -> _Statement:
    # A body beyond WAF's inspection limit is larger than any allowed size: oversize matches.
    return _Statement(size_constraint_statement=wafv2.CfnWebACL.SizeConstraintStatementProperty(
        field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(body=wafv2.CfnWebACL.BodyProperty(oversize_handling="MATCH")),
        comparison_operator="GT",
        size=size,
        text_transformations=[wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="NONE")],
    ))


def _label(key: str) -> _Statement:
    return _Statement(label_match_statement=wafv2.CfnWebACL.LabelMatchStatementProperty(scope="LABEL", key=key))


def _namespace(key: str) -> _Statement:
    return _Statement(label_match_statement=wafv2.CfnWebACL.LabelMatchStatementProperty(scope="NAMESPACE", key=key))


def _and(*statements: _Statement) -> _Statement:
    return _Statement(and_statement=wafv2.CfnWebACL.AndStatementProperty(statements=list(statements)))


def _or(*statements: _Statement) -> _Statement:
    return _Statement(or_statement=wafv2.CfnWebACL.OrStatementProperty(statements=list(statements)))


def _not(statement: _Statement) -> _Statement:
    return _Statement(not_statement=wafv2.CfnWebACL.NotStatementProperty(statement=statement))


def _blocking_labels() -> _Statement:
    """Any label of docs/front-door.md's blocking set."""
    return _or(_namespace(CORE_RULE_SET_NAMESPACE), _namespace(KNOWN_BAD_INPUTS_NAMESPACE),
               *(_label(label) for label in IP_REPUTATION_BLOCKING_LABELS))


def _api_blocking_labels() -> _Statement:
    """The blocking set without the core rule set's body-size label, and nothing more.

    Known bad inputs and bad IPs block whatever the body's size. A core rule set label blocks when
    the body-size label is absent (any label of the namespace, documented or added later) or, with
    it, when it is one of the other documented labels.
    """
    return _or(
        _namespace(KNOWN_BAD_INPUTS_NAMESPACE),
        *(_label(label) for label in IP_REPUTATION_BLOCKING_LABELS),
        _and(_namespace(CORE_RULE_SET_NAMESPACE), _not(_label(SIZE_RESTRICTIONS_BODY_LABEL))),
        *(_label(label) for label in CORE_RULE_SET_OTHER_LABELS),
    )


def _rate_per_ip(limit: int, *, scope_down: _Statement) -> _Statement:
    return _Statement(rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
        limit=limit, aggregate_key_type="IP", evaluation_window_sec=RATE_WINDOW_SECONDS,
        scope_down_statement=scope_down,
    ))


def _visibility(metric: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True,
        metric_name=metric.replace("-", ""),
        sampled_requests_enabled=True,
    )
