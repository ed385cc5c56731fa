"""Creates the Parley table, the reply queue and the job queue from infra/table.json, the one description of them.

Local stacks and tests create their table and queues through this, from the
very template that deploys to AWS, so the key schema and the queues'
redelivery settings cannot drift between them.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from chalicelib.settings import job_queue_for, reply_queue_for

TEMPLATE = Path(__file__).with_name("table.json")


def table_properties() -> dict[str, Any]:
    template = json.loads(TEMPLATE.read_text())
    return template["Resources"]["ParleyTable"]["Properties"]


def create_table(client: Any, name: str) -> None:
    """Creates the table (and its TTL setting) unless it exists; waits until active."""
    props = table_properties()
    if name in client.list_tables().get("TableNames", []):
        return
    client.create_table(
        TableName=name,
        BillingMode=props["BillingMode"],
        AttributeDefinitions=props["AttributeDefinitions"],
        KeySchema=props["KeySchema"],
        GlobalSecondaryIndexes=props["GlobalSecondaryIndexes"],
    )
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})
    ttl = props["TimeToLiveSpecification"]
    client.update_time_to_live(TableName=name, TimeToLiveSpecification={
        "AttributeName": ttl["AttributeName"], "Enabled": bool(ttl["Enabled"])})


def _queue_attributes(resource: str, dead_letter_arn: str | None = None) -> dict[str, str]:
    """A queue's attributes as SetQueueAttributes takes them, from the template's properties."""
    props = json.loads(TEMPLATE.read_text())["Resources"][resource]["Properties"]
    attributes: dict[str, str] = {}
    for name, value in props.items():
        if name == "QueueName":
            continue
        if name == "RedrivePolicy":
            value = json.dumps({"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": value["maxReceiveCount"]})
        attributes[name] = str(value).lower() if isinstance(value, bool) else str(value)
    return attributes


reply_queue_name = reply_queue_for  # the app's own rule: one name for both


def create_reply_queue(client: Any, table_name: str) -> str:
    """Creates the reply queue and its dead-letter queue as the template has them; returns the queue's URL.

    Idempotent: an existing queue with these attributes is found again.
    """
    from infra.defaults import dead_letter_queue_name

    dlq = client.create_queue(QueueName=dead_letter_queue_name(table_name),
                              Attributes=_queue_attributes("ReplyDeadLetterQueue"))["QueueUrl"]
    dlq_arn = client.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return client.create_queue(QueueName=reply_queue_name(table_name),
                               Attributes=_queue_attributes("ReplyQueue", dlq_arn))["QueueUrl"]


job_queue_name = job_queue_for


def create_job_queue(client: Any, table_name: str) -> str:
    """Creates the job queue (standard) and its dead-letter queue as the template has them; returns the
    queue's URL.

    Idempotent, as ``create_reply_queue``: an existing queue with these attributes is found again.
    """
    from infra.defaults import job_dead_letter_queue_name

    dlq = client.create_queue(QueueName=job_dead_letter_queue_name(table_name),
                              Attributes=_queue_attributes("JobDeadLetterQueue"))["QueueUrl"]
    dlq_arn = client.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return client.create_queue(QueueName=job_queue_name(table_name),
                               Attributes=_queue_attributes("JobQueue", dlq_arn))["QueueUrl"]
