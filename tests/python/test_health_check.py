"""Tests of the health-check Lambda (src/stack/health_check/handler.py).

The pure decisions are tested directly; the handler itself runs locally with
boto3 pointed at LocalStack (AWS_ENDPOINT_URL or NOVA_TEST_LOCALSTACK): real
EC2 instances are created there, the handler reads them and publishes real
CloudWatch metrics, which the tests read back. These tests fail, never skip,
when LocalStack is not reachable.
"""

from __future__ import annotations

import json
import os
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
import handler as hc
import pytest

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch.client import CloudWatchClient
    from mypy_boto3_ec2.client import EC2Client

REGION = "us-east-1"
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
API_EVENT: dict[str, Any] = {
    "httpMethod": "GET",
    "path": "/health",
    "requestContext": {"stage": "prod", "httpMethod": "GET"},
}


# --- pure logic ----------------------------------------------------------------


def obs(
    instance_id: str, state: str, inst: str | None, system: str | None
) -> hc.Observation:
    return hc.Observation(instance_id, state, inst, system)


@pytest.mark.parametrize(
    ("state", "inst", "system", "status", "healthy"),
    [
        ("running", "ok", "ok", "ok", True),
        ("running", "initializing", "ok", "initializing", True),
        ("running", "ok", "initializing", "initializing", True),
        ("running", "impaired", "ok", "impaired", False),
        ("running", "ok", "insufficient-data", "insufficient-data", False),
        ("running", None, None, "unknown", False),
        ("pending", "initializing", "initializing", "initializing", False),
        ("stopped", "not-applicable", "not-applicable", "not-applicable", False),
        ("stopping", None, None, "unknown", False),
    ],
)
def test_classify(
    state: str, inst: str | None, system: str | None, status: str, healthy: bool
) -> None:
    verdict = hc.classify(obs("i-1", state, inst, system))
    assert verdict == hc.InstanceHealth("i-1", state, status, healthy)


def test_report_counts_sorts_and_skips_terminated() -> None:
    report = hc.build_report(
        "s",
        [
            obs("i-b", "running", "ok", "ok"),
            obs("i-a", "stopped", "not-applicable", "not-applicable"),
            obs("i-c", "terminated", None, None),
        ],
        NOW,
    )
    assert report == {
        "stack": "s",
        "healthy": 1,
        "unhealthy": 1,
        "instances": [
            {"id": "i-a", "state": "stopped", "status": "not-applicable"},
            {"id": "i-b", "state": "running", "status": "ok"},
        ],
        "checked_at": "2026-01-02T03:04:05+00:00",
    }


def test_metric_data_has_both_counts_with_stack_dimension() -> None:
    report = hc.build_report("s", [obs("i-1", "running", "ok", "ok")], NOW)
    data = hc.metric_data(report)
    assert [(d["MetricName"], d["Value"]) for d in data] == [
        ("HealthyInstances", 1.0),
        ("UnhealthyInstances", 0.0),
    ]
    for datum in data:
        assert datum.get("Dimensions") == [{"Name": "Stack", "Value": "s"}]
        assert datum.get("Unit") == "Count"


def test_api_response_status_codes() -> None:
    healthy = hc.build_report("s", [obs("i-1", "running", "ok", "ok")], NOW)
    sick = hc.build_report("s", [obs("i-1", "running", "impaired", "ok")], NOW)
    empty = hc.build_report("s", [], NOW)
    assert hc.api_response(healthy)["statusCode"] == 200
    assert hc.api_response(sick)["statusCode"] == 503
    assert hc.api_response(empty)["statusCode"] == 503
    response = hc.api_response(healthy)
    assert response["headers"] == {"Content-Type": "application/json"}
    assert json.loads(response["body"]) == healthy


def test_event_kinds() -> None:
    assert hc.is_api_gateway_event(API_EVENT)
    assert hc.is_api_gateway_event({"requestContext": {}})
    assert not hc.is_api_gateway_event({"source": "aws.events"})
    assert not hc.is_api_gateway_event(None)


def test_config_requires_every_variable() -> None:
    with pytest.raises(ValueError, match="METRIC_NAMESPACE"):
        hc.Config.from_env({"NOVA_STACK": "s", "NOVA_ENVIRONMENT": "e"})
    config = hc.Config.from_env(
        {"NOVA_STACK": "s", "NOVA_ENVIRONMENT": "e", "METRIC_NAMESPACE": "n"}
    )
    assert config == hc.Config("s", "e", "n")


# --- against LocalStack --------------------------------------------------------


@pytest.fixture(scope="session")
def endpoint() -> str:
    raw = os.environ.get("NOVA_TEST_LOCALSTACK") or os.environ.get("AWS_ENDPOINT_URL")
    if not raw:
        pytest.fail(
            "these tests need LocalStack: set AWS_ENDPOINT_URL (or "
            "NOVA_TEST_LOCALSTACK) after `scripts/localstack.sh start`, or run "
            "scripts/test.sh, which does both"
        )
    url = raw.rstrip("/")
    try:
        with urllib.request.urlopen(f"{url}/_localstack/health", timeout=5) as answer:
            if answer.status != 200:
                pytest.fail(f"LocalStack at {url} answered {answer.status}")
    except OSError as err:
        pytest.fail(f"LocalStack at {url} is not reachable: {err}")
    return url


@pytest.fixture
def ec2(endpoint: str) -> EC2Client:
    return boto3.client(
        "ec2",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


@pytest.fixture
def cloudwatch(endpoint: str) -> CloudWatchClient:
    return boto3.client(
        "cloudwatch",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


@pytest.fixture
def stack(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """A unique stack and metric namespace, set in the handler's environment."""
    name = f"hc-{uuid.uuid4().hex[:12]}"
    namespace = f"NovaTest/{name}"
    for var, value in {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "NOVA_STACK": name,
        "NOVA_ENVIRONMENT": "Production",
        "METRIC_NAMESPACE": namespace,
    }.items():
        monkeypatch.setenv(var, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    return name, namespace


def launch(ec2: EC2Client, count: int, tags: dict[str, str]) -> list[str]:
    image = ec2.describe_images(MaxResults=5)["Images"][0]["ImageId"]
    result = ec2.run_instances(
        ImageId=image,
        InstanceType="t3.micro",
        MinCount=count,
        MaxCount=count,
        TagSpecifications=[
            {
                "ResourceType": "instance",
                "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
            }
        ],
    )
    return sorted(i["InstanceId"] for i in result["Instances"])


@pytest.fixture
def instances(ec2: EC2Client, stack: tuple[str, str]) -> Iterator[list[str]]:
    """Two instances of the stack, plus two that must be ignored."""
    name, _ = stack
    ours = launch(ec2, 2, {"nova:stack": name, "Environment": "Production"})
    other_stack = launch(
        ec2, 1, {"nova:stack": f"{name}-other", "Environment": "Production"}
    )
    other_env = launch(ec2, 1, {"nova:stack": name, "Environment": "Staging"})
    ec2.get_waiter("instance_running").wait(InstanceIds=ours)
    yield ours
    ec2.terminate_instances(InstanceIds=ours + other_stack + other_env)


def metric_value(
    cloudwatch: CloudWatchClient, namespace: str, stack: str, metric: str
) -> list[float]:
    now = datetime.now(UTC)
    result = cloudwatch.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "m",
                "MetricStat": {
                    "Metric": {
                        "Namespace": namespace,
                        "MetricName": metric,
                        "Dimensions": [{"Name": "Stack", "Value": stack}],
                    },
                    "Period": 60,
                    "Stat": "Maximum",
                },
            }
        ],
        StartTime=now - timedelta(minutes=10),
        EndTime=now + timedelta(minutes=5),
    )
    return [float(v) for r in result["MetricDataResults"] for v in r.get("Values", [])]


def run_handler(
    event: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run the handler; returns its result and the one JSON line it logged."""
    result = hc.handler(event, None)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1, f"expected one log line, got {lines}"
    logged: dict[str, Any] = json.loads(lines[0])
    return result, logged


def test_handler_reports_and_publishes_metrics(
    stack: tuple[str, str],
    instances: list[str],
    cloudwatch: CloudWatchClient,
    capsys: pytest.CaptureFixture[str],
) -> None:
    name, namespace = stack
    report, logged = run_handler({"source": "aws.events"}, capsys)

    assert logged == report
    assert report["stack"] == name
    assert (report["healthy"], report["unhealthy"]) == (2, 0)
    assert report["instances"] == [
        {"id": i, "state": "running", "status": "ok"} for i in instances
    ]
    checked_at = datetime.fromisoformat(report["checked_at"])
    assert abs(datetime.now(UTC) - checked_at) < timedelta(minutes=5)

    listed = cloudwatch.list_metrics(
        Namespace=namespace, Dimensions=[{"Name": "Stack", "Value": name}]
    )["Metrics"]
    assert sorted(m.get("MetricName", "") for m in listed) == [
        "HealthyInstances",
        "UnhealthyInstances",
    ]
    assert metric_value(cloudwatch, namespace, name, "HealthyInstances") == [2.0]
    assert metric_value(cloudwatch, namespace, name, "UnhealthyInstances") == [0.0]


def test_handler_answers_api_gateway(
    stack: tuple[str, str],
    instances: list[str],
    ec2: EC2Client,
    capsys: pytest.CaptureFixture[str],
) -> None:
    name, _ = stack
    response, logged = run_handler(API_EVENT, capsys)
    assert response["statusCode"] == 200
    assert response["headers"] == {"Content-Type": "application/json"}
    body = json.loads(response["body"])
    assert body == logged
    assert (body["stack"], body["healthy"], body["unhealthy"]) == (name, 2, 0)

    ec2.stop_instances(InstanceIds=instances[:1])
    ec2.get_waiter("instance_stopped").wait(InstanceIds=instances[:1])
    response, _ = run_handler(API_EVENT, capsys)
    assert response["statusCode"] == 503
    body = json.loads(response["body"])
    assert (body["healthy"], body["unhealthy"]) == (1, 1)
    stopped = [i for i in body["instances"] if i["id"] == instances[0]]
    assert stopped == [
        {"id": instances[0], "state": "stopped", "status": "not-applicable"}
    ]


def test_handler_with_no_instances_is_unhealthy(
    stack: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    response, logged = run_handler(API_EVENT, capsys)
    assert response["statusCode"] == 503
    assert logged["instances"] == []
    assert (logged["healthy"], logged["unhealthy"]) == (0, 0)
