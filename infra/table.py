"""Creates the Parley table from infra/table.json, the one description of it.

Local stacks and tests create their table through this, from the very
template that deploys to AWS, so the key schema cannot drift between them.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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
