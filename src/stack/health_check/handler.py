"""Health check of a nova stack's web instances (AWS Lambda, Python 3.12).

Each run finds the stack's EC2 instances by their tags (``nova:stack`` =
``NOVA_STACK`` and ``Environment`` = ``NOVA_ENVIRONMENT``), reads their state
and status checks, publishes ``HealthyInstances`` and ``UnhealthyInstances``
to CloudWatch (namespace ``METRIC_NAMESPACE``, dimension ``Stack``), logs one
JSON line and returns a JSON report. Invoked by API Gateway (a proxy event) it
returns the proxy response instead: 200 when every instance is healthy, 503
otherwise.

An instance is healthy when it is ``running`` and neither its instance status
check nor its system status check is anything but ``ok`` or ``initializing``:
a freshly launched instance whose checks are still initializing counts as
healthy, so every deployment does not raise an alarm. ``impaired``,
``insufficient-data``, missing checks and every other state (``pending``,
``stopping``, ``stopped``, ``shutting-down``) count as unhealthy. Terminated
instances are left out: they are gone, not unhealthy.

The decisions are pure functions; only ``fetch_instances``,
``publish_metrics`` and ``handler`` touch AWS.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import boto3

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch.client import CloudWatchClient
    from mypy_boto3_cloudwatch.type_defs import DimensionTypeDef, MetricDatumTypeDef
    from mypy_boto3_ec2.client import EC2Client

#: Check results that count as healthy for a running instance.
GOOD_CHECKS = frozenset({"ok", "initializing"})
#: DescribeInstanceStatus takes at most this many instance ids per call.
STATUS_BATCH = 100
HEALTHY_METRIC = "HealthyInstances"
UNHEALTHY_METRIC = "UnhealthyInstances"


@dataclass(frozen=True)
class Config:
    """What one run checks, from the function's environment."""

    stack: str
    environment: str
    namespace: str

    @staticmethod
    def from_env(env: Mapping[str, str]) -> Config:
        """Read ``NOVA_STACK``, ``NOVA_ENVIRONMENT`` and ``METRIC_NAMESPACE``."""
        missing = [
            name
            for name in ("NOVA_STACK", "NOVA_ENVIRONMENT", "METRIC_NAMESPACE")
            if not env.get(name)
        ]
        if missing:
            raise ValueError(f"missing environment variables: {', '.join(missing)}")
        return Config(
            stack=env["NOVA_STACK"],
            environment=env["NOVA_ENVIRONMENT"],
            namespace=env["METRIC_NAMESPACE"],
        )


@dataclass(frozen=True)
class Observation:
    """What AWS says about one instance."""

    instance_id: str
    state: str
    instance_check: str | None = None
    system_check: str | None = None


@dataclass(frozen=True)
class InstanceHealth:
    """One instance's verdict: ``status`` summarizes both status checks."""

    instance_id: str
    state: str
    status: str
    healthy: bool


def summarize_checks(instance_check: str | None, system_check: str | None) -> str:
    """Combine the two status checks into one word, the worse of the two.

    ``ok`` only when both are ``ok``; ``initializing`` when the worse one is;
    otherwise the bad check's value (``impaired``, ``insufficient-data``,
    ``not-applicable``), or ``unknown`` when a check is missing.
    """
    checks = [instance_check or "unknown", system_check or "unknown"]
    bad = [c for c in checks if c not in GOOD_CHECKS]
    if bad:
        return sorted(bad)[0]
    return "initializing" if "initializing" in checks else "ok"


def classify(observation: Observation) -> InstanceHealth:
    """Decide whether one instance is healthy (see the module docstring)."""
    status = summarize_checks(observation.instance_check, observation.system_check)
    healthy = observation.state == "running" and status in GOOD_CHECKS
    return InstanceHealth(
        instance_id=observation.instance_id,
        state=observation.state,
        status=status,
        healthy=healthy,
    )


def build_report(
    stack: str, observations: Sequence[Observation], checked_at: datetime
) -> dict[str, Any]:
    """Build the JSON report of one run; instances sorted by id."""
    verdicts = sorted(
        (classify(o) for o in observations if o.state != "terminated"),
        key=lambda v: v.instance_id,
    )
    healthy = sum(1 for v in verdicts if v.healthy)
    return {
        "stack": stack,
        "healthy": healthy,
        "unhealthy": len(verdicts) - healthy,
        "instances": [
            {"id": v.instance_id, "state": v.state, "status": v.status}
            for v in verdicts
        ],
        "checked_at": checked_at.astimezone(UTC).isoformat(timespec="seconds"),
    }


def metric_data(report: Mapping[str, Any]) -> list[MetricDatumTypeDef]:
    """Build the two CloudWatch data points of a report."""
    dimensions: list[DimensionTypeDef] = [
        {"Name": "Stack", "Value": str(report["stack"])}
    ]
    return [
        {
            "MetricName": HEALTHY_METRIC,
            "Dimensions": dimensions,
            "Value": float(report["healthy"]),
            "Unit": "Count",
        },
        {
            "MetricName": UNHEALTHY_METRIC,
            "Dimensions": dimensions,
            "Value": float(report["unhealthy"]),
            "Unit": "Count",
        },
    ]


def is_api_gateway_event(event: Any) -> bool:
    """Tell whether the event is an API Gateway proxy request."""
    return isinstance(event, Mapping) and (
        "httpMethod" in event or "requestContext" in event
    )


def api_response(report: Mapping[str, Any]) -> dict[str, Any]:
    """Build the proxy response: 200 when all instances (at least one) are healthy."""
    ok = report["unhealthy"] == 0 and report["healthy"] > 0
    return {
        "statusCode": 200 if ok else 503,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(report, sort_keys=True),
    }


def fetch_instances(ec2: EC2Client, config: Config) -> list[Observation]:
    """Find the stack's instances by tag and read their state and checks."""
    states: dict[str, str] = {}
    paginator = ec2.get_paginator("describe_instances")
    pages = paginator.paginate(
        Filters=[
            {"Name": "tag:nova:stack", "Values": [config.stack]},
            {"Name": "tag:Environment", "Values": [config.environment]},
        ]
    )
    for page in pages:
        for reservation in page.get("Reservations", []):
            for instance in reservation.get("Instances", []):
                instance_id = instance.get("InstanceId")
                if instance_id:
                    states[instance_id] = instance.get("State", {}).get("Name", "")
    checks: dict[str, tuple[str | None, str | None]] = {}
    ids = sorted(states)
    for start in range(0, len(ids), STATUS_BATCH):
        batch = ids[start : start + STATUS_BATCH]
        status_pages = ec2.get_paginator("describe_instance_status").paginate(
            InstanceIds=batch, IncludeAllInstances=True
        )
        for status_page in status_pages:
            for status in status_page.get("InstanceStatuses", []):
                instance_id = status.get("InstanceId", "")
                checks[instance_id] = (
                    status.get("InstanceStatus", {}).get("Status"),
                    status.get("SystemStatus", {}).get("Status"),
                )
    return [
        Observation(
            instance_id=i,
            state=states[i],
            instance_check=checks.get(i, (None, None))[0],
            system_check=checks.get(i, (None, None))[1],
        )
        for i in ids
    ]


def publish_metrics(
    cloudwatch: CloudWatchClient, namespace: str, report: Mapping[str, Any]
) -> None:
    """Publish the report's two counts to CloudWatch."""
    cloudwatch.put_metric_data(Namespace=namespace, MetricData=metric_data(report))


def run_check(
    ec2: EC2Client, cloudwatch: CloudWatchClient, config: Config, now: datetime
) -> dict[str, Any]:
    """Run one health check: read, decide, publish; returns the report."""
    report = build_report(config.stack, fetch_instances(ec2, config), now)
    publish_metrics(cloudwatch, config.namespace, report)
    return report


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Lambda entry point (``handler.handler``)."""
    config = Config.from_env(os.environ)
    report = run_check(
        boto3.client("ec2"),
        boto3.client("cloudwatch"),
        config,
        datetime.now(UTC),
    )
    print(json.dumps(report, sort_keys=True))
    if is_api_gateway_event(event):
        return api_response(report)
    return report
