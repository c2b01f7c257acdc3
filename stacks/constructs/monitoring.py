"""Alarms on what a client or an operator should hear about: 5xx, throttling, Lambda errors,
dead letters (verification, sweep, webhook, erasure, revocation expiry) and a verification backlog."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.nag import acknowledge


@dataclass(frozen=True)
class VerificationSignals:
    """What says verification is stuck: a queue that does not drain, old undecided files."""

    #: The verifier's queue and the age (seconds) its oldest message must not reach.
    queue: sqs.IQueue
    max_queue_age_seconds: int
    #: The age of the oldest undecided file record, as the sweep publishes it, and its bound.
    oldest_undecided: cloudwatch.IMetric
    max_undecided_age_seconds: int


class Monitoring(Construct):
    """An encrypted alarm topic and one alarm per failure mode."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name_prefix: str,
        http_api: apigw.IHttpApi,
        functions: dict[str, lambda_.IFunction],
        dead_letter_queues: dict[str, sqs.IQueue],
        verification: VerificationSignals,
        alarm_email: str | None,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        key = kms.Key(
            self, "TopicKey", description=f"{name_prefix}: encrypts the alarm topic",
            enable_key_rotation=True, removal_policy=removal_policy,
        )
        # CloudWatch must be able to publish to the encrypted topic.
        key.add_to_resource_policy(iam.PolicyStatement(
            sid="AllowCloudWatchAlarmsToPublish",
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["kms:Decrypt", "kms:GenerateDataKey*"],
            resources=["*"],
            conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}},
        ))
        self.topic = sns.Topic(self, "AlarmTopic", master_key=key, enforce_ssl=True,
                               display_name=f"{name_prefix} alarms")
        if alarm_email:
            subscription = self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
            acknowledge(
                subscription,
                "Alarm e-mails are notifications of an alarm whose state CloudWatch keeps (and shows) "
                "until it clears; an undeliverable e-mail loses no data, so a dead-letter queue adds nothing.",
                "Serverless-SNSRedrivePolicy",
            )
        action = actions.SnsAction(self.topic)
        self.alarms: list[cloudwatch.Alarm] = []

        def alarm(alarm_id: str, metric: cloudwatch.IMetric, description: str, threshold: float = 1) -> None:
            created = metric.create_alarm(
                self, alarm_id,
                alarm_description=description,
                threshold=threshold,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            created.add_alarm_action(action)
            self.alarms.append(created)

        alarm("Api5xx", http_api.metric_server_error(period=Duration.minutes(5), statistic="Sum"),
              "The API answered 5xx: a client must never cause one (KMS or Secrets Manager outage, or a bug)")
        alarm("Api4xxSurge", http_api.metric_client_error(period=Duration.minutes(5), statistic="Sum"),
              "Unusually many refusals (4xx): probing or a broken frontend", threshold=500)
        for name, function in functions.items():
            alarm(f"{name}Errors", function.metric_errors(period=Duration.minutes(5), statistic="Sum"),
                  f"The {name} Lambda raised errors")
            alarm(f"{name}Throttles", function.metric_throttles(period=Duration.minutes(5), statistic="Sum"),
                  f"The {name} Lambda was throttled (reserved concurrency or account limit)")
        five_minutes = Duration.minutes(5)
        # name -> dead-letter queue; any message in one is a file, a run or a step that failed for good.
        for name, queue in dead_letter_queues.items():
            alarm(f"{name}DeadLetters",
                  queue.metric_approximate_number_of_messages_visible(period=five_minutes, statistic="Maximum"),
                  f"{name}: a message reached the dead-letter queue (a file, a run or a step that failed every retry)")
        alarm("VerificationBacklog",
              verification.queue.metric_approximate_age_of_oldest_message(period=five_minutes, statistic="Maximum"),
              "The verifier's queue is not draining: its oldest message waited out two visibility timeouts "
              "(it failed twice, or nothing consumes the queue)",
              threshold=verification.max_queue_age_seconds)
        alarm("OldestUndecidedFile", verification.oldest_undecided,
              "A file record is still undecided (awaiting a verdict or its event) past the verifying timeout: "
              "the sweep is not resolving it", threshold=verification.max_undecided_age_seconds)
