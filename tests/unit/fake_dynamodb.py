"""A small in-memory stand-in for the DynamoDB calls Store makes in a transaction.

It understands exactly the two conditions Store writes — ``last_seq = :old``
and ``attribute_not_exists(PK)`` — and answers a cancelled transaction the way
DynamoDB does: one reason per item, with the old item where
``ReturnValuesOnConditionCheckFailure`` asked for it. It can also be told to
fail the next transactions with ``TransactionConflict``, which no emulator
does on demand.
"""
from __future__ import annotations

import copy
import threading
from typing import Any


class TransactionCanceledException(Exception):
    def __init__(self, reasons: list[dict[str, Any]]) -> None:
        super().__init__("Transaction cancelled")
        self.response = {"Error": {"Code": "TransactionCanceledException"},
                         "CancellationReasons": reasons}


class _Exceptions:
    TransactionCanceledException = TransactionCanceledException


class FakeDynamoDB:
    exceptions = _Exceptions

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.calls: list[str] = []
        self.conflicts_to_inject = 0
        self.lock = threading.Lock()

    def put_item(self, TableName: str, Item: dict[str, Any], ConditionExpression: str | None = None) -> dict:
        with self.lock:
            self.calls.append("PutItem")
            key = (Item["PK"]["S"], Item["SK"]["S"])
            if ConditionExpression == "attribute_not_exists(PK)" and key in self.items:
                raise TransactionCanceledException([])
            self.items[key] = copy.deepcopy(Item)
            return {}

    def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> dict:
        with self.lock:
            self.calls.append("TransactWriteItems")
            if self.conflicts_to_inject:
                self.conflicts_to_inject -= 1
                raise TransactionCanceledException(
                    [{"Code": "TransactionConflict"} for _ in TransactItems])
            reasons, failed = [], False
            for entry in TransactItems:
                (op, spec), = entry.items()
                item = spec.get("Item") or spec["Key"]
                key = (item["PK"]["S"], item["SK"]["S"])
                current = self.items.get(key)
                if self._condition_holds(spec, current):
                    reasons.append({"Code": "None"})
                    continue
                failed = True
                reason: dict[str, Any] = {"Code": "ConditionalCheckFailed"}
                if spec.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                    reason["Item"] = copy.deepcopy(current)
                reasons.append(reason)
            if failed:
                raise TransactionCanceledException(reasons)
            for entry in TransactItems:
                (op, spec), = entry.items()
                if op == "Put":
                    item = spec["Item"]
                    self.items[(item["PK"]["S"], item["SK"]["S"])] = copy.deepcopy(item)
                elif op == "Update":
                    key = (spec["Key"]["PK"]["S"], spec["Key"]["SK"]["S"])
                    values = spec["ExpressionAttributeValues"]
                    # The fake knows a plain append's update (no lifecycle change).
                    assert spec["UpdateExpression"] == ("SET last_seq = :new, updated_at = :at, last_message = :lm, "
                                                        "#ttl = :ttl")
                    self.items[key]["ttl"] = values[":ttl"]
                    self.items[key]["last_seq"] = values[":new"]
                    self.items[key]["updated_at"] = values[":at"]
                    self.items[key]["last_message"] = values[":lm"]
            return {}

    @staticmethod
    def _condition_holds(spec: dict[str, Any], current: dict[str, Any] | None) -> bool:
        condition = spec.get("ConditionExpression")
        if condition is None:
            return True
        if condition == "attribute_not_exists(PK)":
            return current is None
        if condition == ("last_seq = :old AND (attribute_not_exists(#ttl) OR #ttl > :now) "
                         "AND attribute_not_exists(deleted_by)"):
            values = spec["ExpressionAttributeValues"]
            return (current is not None and current.get("last_seq") == values[":old"]
                    and ("ttl" not in current or int(current["ttl"]["N"]) > int(values[":now"]["N"]))
                    and "deleted_by" not in current)
        raise AssertionError(f"the fake does not know condition {condition!r}")
