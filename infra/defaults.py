"""Production defaults that Chalice's config cannot express: API stage throttling, alarms, and
our JSON 404 for routes API Gateway does not know.

`make package` writes them into the template (infra/package.py) and `make deploy`
applies them to what `chalice deploy` made (``apply``), from the same numbers.
docs/deploy.md gives each one's reason and cost.
"""
from __future__ import annotations

from typing import Any

# Per API stage: steady requests per second and the burst above it. A widget makes about one
# request per message and a poll every 2 s while its socket is down; these leave room for some
# hundred busy conversations while capping what a runaway client (or a bill) can reach.
REST_THROTTLE = {"dev": (20, 40), "prod": (200, 400)}
WEBSOCKET_THROTTLE = {"dev": (20, 40), "prod": (100, 200)}
ALARM_PERIOD_SECONDS = 300
APP_NAME = "parley"  # what `chalice deploy` names the REST API (the ApiName of its metrics)


# API Gateway answers a path no route matches with its own 403 {"message": "Missing
# Authentication Token"}, at any depth, before any Lambda runs. This Gateway Response
# makes it the API's own error shape and status, as Parley's views answer it.
NOT_FOUND_RESPONSE = {
    "ResponseType": "MISSING_AUTHENTICATION_TOKEN",
    "StatusCode": "404",
    "ResponseParameters": {"gatewayresponse.header.Content-Type": "'application/json; charset=utf-8'"},
    "ResponseTemplates": {"application/json": (
        '{"error": {"code": "route_not_found", "message": "No route $context.httpMethod $context.path."}}')},
}


# A reply job that failed maxReceiveCount times lands in the dead-letter queue: a visitor got
# no answer from the streaming engine. Any message there is worth a look.
DEAD_LETTER_METRIC = "ApproximateNumberOfMessagesVisible"
DEAD_LETTER_DESCRIPTION = ("Reply jobs in the dead-letter queue: a streaming bot reply failed every delivery "
                           "(look at the reply worker's logs, then redrive them)")


# A job (a team notification, a transcript, a webhook delivery) that failed maxReceiveCount times
# lands in its own dead-letter queue. A webhook that keeps failing is retried by the worker itself
# (and logged), not redelivered: a job here is the worker failing, which is worth a look too.
JOB_DEAD_LETTER_DESCRIPTION = ("Jobs in the dead-letter queue: a team notification, transcript or webhook delivery "
                               "failed every delivery (look at the job worker's logs, then redrive them)")


def dead_letter_queue_name(table: str) -> str:
    return f"{table}-replies-dlq.fifo"


def job_dead_letter_queue_name(table: str) -> str:
    return f"{table}-jobs-dlq"


def alarm_properties(namespace: str, metric: str, dimensions: list[dict[str, Any]],
                     description: str) -> dict[str, Any]:
    """Any data point above zero in one period: each of these is worth a look."""
    return {"AlarmDescription": description, "Namespace": namespace, "MetricName": metric,
            "Dimensions": dimensions, "Statistic": "Sum", "Period": ALARM_PERIOD_SECONDS,
            "EvaluationPeriods": 1, "Threshold": 0, "ComparisonOperator": "GreaterThanThreshold",
            "TreatMissingData": "notBreaching"}


def apply(session: Any, stage: str, deployed: dict[str, Any], table: str, api_stage: str,
          alarm_topic_arn: str | None = None, log_retention_days: int | None = None) -> list[str]:
    """Throttles the deployed REST and WebSocket stages, sets log retention and puts the alarms.

    Returns the alarm names.
    """
    if log_retention_days:
        # With log_retention_in_days, chalice 1.34 makes the REST handler's group as
        # /aws/lambda/<app>-<stage>-api_handler, but names the function <app>-<stage>, so the group
        # Lambda really writes to would keep its logs forever: set retention on each function's own.
        logs = session.client("logs")
        for function in deployed.get("functions", []):
            group = f"/aws/lambda/{function}"
            try:
                logs.create_log_group(logGroupName=group)
            except logs.exceptions.ResourceAlreadyExistsException:
                pass
            logs.put_retention_policy(logGroupName=group, retentionInDays=log_retention_days)
    rate, burst = REST_THROTTLE[stage]
    if deployed.get("rest_api_id"):
        apigateway = session.client("apigateway")
        apigateway.put_gateway_response(
            restApiId=deployed["rest_api_id"], responseType=NOT_FOUND_RESPONSE["ResponseType"],
            statusCode=NOT_FOUND_RESPONSE["StatusCode"], responseParameters=NOT_FOUND_RESPONSE["ResponseParameters"],
            responseTemplates=NOT_FOUND_RESPONSE["ResponseTemplates"])
        # A Gateway Response takes effect with the API's next deployment.
        apigateway.create_deployment(restApiId=deployed["rest_api_id"], stageName=api_stage,
                                     description="Parley: JSON 404 for unknown routes")
        session.client("apigateway").update_stage(
            restApiId=deployed["rest_api_id"], stageName=api_stage, patchOperations=[
                {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": str(rate)},
                {"op": "replace", "path": "/*/*/throttling/burstLimit", "value": str(burst)}])
    rate, burst = WEBSOCKET_THROTTLE[stage]
    if deployed.get("websocket_api_id"):
        session.client("apigatewayv2").update_stage(
            ApiId=deployed["websocket_api_id"], StageName=api_stage,
            DefaultRouteSettings={"ThrottlingRateLimit": rate, "ThrottlingBurstLimit": burst})
    cloudwatch = session.client("cloudwatch")
    alarms: list[tuple[str, dict[str, Any]]] = []
    for function in deployed.get("functions", []):
        for metric in ("Errors", "Throttles"):
            alarms.append((f"{function}-{metric.lower()}", alarm_properties(
                "AWS/Lambda", metric, [{"Name": "FunctionName", "Value": function}],
                f"{function}: any {metric.lower()} in {ALARM_PERIOD_SECONDS // 60} minutes")))
    alarms.append((f"{APP_NAME}-{stage}-rest-5xx", alarm_properties(
        "AWS/ApiGateway", "5XXError", [{"Name": "ApiName", "Value": APP_NAME}, {"Name": "Stage", "Value": api_stage}],
        "The REST API answered 5xx (Parley answers 5xx only for bugs and for 503 unavailable)")))
    alarms.append((f"{table}-throttled", alarm_properties(
        "AWS/DynamoDB", "ThrottledRequests", [{"Name": "TableName", "Value": table}],
        "DynamoDB throttled requests to the table")))
    alarms.append((f"{table}-reply-dead-letters", {**alarm_properties(
        "AWS/SQS", DEAD_LETTER_METRIC, [{"Name": "QueueName", "Value": dead_letter_queue_name(table)}],
        DEAD_LETTER_DESCRIPTION), "Statistic": "Maximum"}))
    alarms.append((f"{table}-job-dead-letters", {**alarm_properties(
        "AWS/SQS", DEAD_LETTER_METRIC, [{"Name": "QueueName", "Value": job_dead_letter_queue_name(table)}],
        JOB_DEAD_LETTER_DESCRIPTION), "Statistic": "Maximum"}))
    for name, props in alarms:
        cloudwatch.put_metric_alarm(AlarmName=name, AlarmActions=[alarm_topic_arn] if alarm_topic_arn else [],
                                    **props)
    return [name for name, _ in alarms]
