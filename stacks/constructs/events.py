"""The product's own event bus (``File Verified``, ``File Rejected``, ``File Deleted``,
``Subject Erased``) and an optional webhook."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, SecretValue
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.config import EventsSettings
from stacks.constructs.verification import encrypted_queue, queue_key
from stacks.nag import acknowledge, acknowledge_inline_policy

#: What the verifier publishes (``filegate.adapters.events``: ``SOURCE``, ``DETAIL_TYPES``).
EVENT_SOURCE = "filegate"
DETAIL_TYPES = ("File Verified", "File Rejected", "File Deleted", "Subject Erased")


class FileEvents(Construct):
    """The bus the backend subscribes to; only the verifier's, the sweep's and the deleting roles
    may put events on it.

    No resource policy: same-account callers are authorized by their identity policies, and the
    only ones that name this bus are the verifier's, the sweep's, the deletions' and the erasure
    worker's. With ``events.webhook_url`` a rule forwards
    every file event to an API destination whose credential EventBridge reads from the
    configured Secrets Manager secret (the template holds a dynamic reference, never the value);
    undeliverable events go to an encrypted dead-letter queue.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name_prefix: str,
        bus_name: str,
        settings: EventsSettings,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.bus = events.EventBus(
            self, "Bus", event_bus_name=bus_name,
            description=f"{name_prefix}: file verified / rejected / deleted and subject erased events",
        )
        pattern = events.EventPattern(source=[EVENT_SOURCE], detail_type=list(DETAIL_TYPES))
        if settings.archive_retention_days:
            self.bus.archive(
                "Archive", event_pattern=pattern, retention=Duration.days(settings.archive_retention_days),
                description=f"{name_prefix}: file events kept for replay",
            )
        self.dead_letters: sqs.Queue | None = None
        self.webhook_rule: events.Rule | None = None
        if settings.webhook_url:
            assert settings.webhook_secret_name is not None  # checked by the config
            key: kms.Key = queue_key(self, "WebhookQueueKey", name_prefix=name_prefix, purpose="the webhook's "
                                     "dead-letter queue", removal_policy=removal_policy)
            self.dead_letters = encrypted_queue(self, "WebhookDeadLetters", key=key)
            acknowledge(self.dead_letters, (
                "This queue is the dead-letter queue of the webhook rule's target (EventBridge puts an event here "
                "after every retry failed), not of another queue, which is what this check looks for."),
                "AwsSolutions-SQS3")
            connection = events.Connection(
                self, "WebhookConnection",
                description=f"{name_prefix}: the backend's webhook credential (from Secrets Manager)",
                authorization=events.Authorization.api_key(
                    settings.webhook_auth_header, SecretValue.secrets_manager(settings.webhook_secret_name)),
            )
            destination = events.ApiDestination(
                self, "Webhook", connection=connection, endpoint=settings.webhook_url,
                http_method=events.HttpMethod.POST, rate_limit_per_second=settings.webhook_rate_limit_per_second,
                description=f"{name_prefix}: the backend's file events webhook",
            )
            self.webhook_rule = events.Rule(
                self, "ToWebhook", event_bus=self.bus, event_pattern=pattern,
                description="Every file event to the environment's webhook",
                targets=[targets.ApiDestination(destination, dead_letter_queue=self.dead_letters,
                                                retry_attempts=185, max_event_age=Duration.hours(24))],
            )
            # The role EventBridge assumes to call the destination: events:InvokeApiDestination on it alone.
            events_role = destination.node.find_child("EventsRole")
            acknowledge_inline_policy(events_role.node.find_child("DefaultPolicy"), xray_wildcard=False)
