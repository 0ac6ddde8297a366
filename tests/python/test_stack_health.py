"""The health-check handler against a stack deployed by the real ``nova up``.

A unique stack is brought up on LocalStack with the nova binary (``NOVA_BIN``,
else ``$CARGO_TARGET_DIR/debug/nova``, else ``target/debug/nova``). The handler
from src/stack/health_check/ then runs in this process with boto3 pointed at
LocalStack and the environment nova gave the deployed function (read back with
``nova state show aws_lambda_function.health``). It must report exactly the
stack's instances (``nova output --json`` ``instance_ids``), publish its
metrics, and answer API Gateway consistently with its report. The stack is
destroyed afterwards, also when a test fails. These tests fail, never skip,
when the binary is missing or LocalStack is not reachable.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import handler as hc
import pytest

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch.client import CloudWatchClient
    from mypy_boto3_ec2.client import EC2Client

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
#: How long one nova command may take.
NOVA_TIMEOUT_SECONDS = 600
SCHEDULED_EVENT: dict[str, Any] = {
    "source": "aws.events",
    "detail-type": "Scheduled Event",
    "detail": {},
}
API_EVENT: dict[str, Any] = {
    "httpMethod": "GET",
    "path": "/health",
    "requestContext": {"stage": "prod", "httpMethod": "GET"},
}


def localstack_endpoint() -> str:
    """The LocalStack endpoint, checked to answer; fails the test otherwise."""
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


def nova_binary() -> Path:
    """The nova binary to test; fails the test when it is not there."""
    explicit = os.environ.get("NOVA_BIN")
    if explicit:
        path = Path(explicit)
    else:
        target = os.environ.get("CARGO_TARGET_DIR") or str(ROOT / "target")
        path = Path(target) / "debug" / "nova"
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(
            f"the nova binary {path} does not exist or is not executable: run "
            "`cargo build` (with the same CARGO_TARGET_DIR) or set NOVA_BIN"
        )
    return path


def aws_env(endpoint: str) -> dict[str, str]:
    """Point boto3 and nova at LocalStack with test credentials."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
    }


@dataclass(frozen=True)
class Stack:
    """A stack deployed by ``nova up`` for these tests."""

    name: str
    state_dir: Path
    binary: Path
    endpoint: str

    def nova(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run nova on this stack from the repository root; fails unless exit 0."""
        # NOVA_* variables override the configuration (e.g. NOVA_INSTANCE_COUNT):
        # none of the caller's may leak in.
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("NOVA_")
            and k not in {"AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE"}
        }
        env.update(aws_env(self.endpoint))
        command = [
            str(self.binary),
            "--stack",
            self.name,
            "--state-dir",
            str(self.state_dir),
            *args,
        ]
        result = subprocess.run(
            command,
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=NOVA_TIMEOUT_SECONDS,
            check=False,
        )
        if result.returncode != 0:
            pytest.fail(
                f"`nova {' '.join(args)}` exited {result.returncode}\n"
                f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
            )
        return result

    def json(self, *args: str) -> Any:
        """Run nova and parse its stdout as JSON."""
        return json.loads(self.nova(*args).stdout)


@pytest.fixture(scope="module")
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Stack:
    """A fresh stack, brought up once for this module and destroyed after it."""
    deployed = Stack(
        name=f"pyhc-{uuid.uuid4().hex[:10]}",
        state_dir=tmp_path_factory.mktemp("nova-state"),
        binary=nova_binary(),
        endpoint=localstack_endpoint(),
    )
    # Registered before `up`, so a half-done `up` is cleaned up as well.
    request.addfinalizer(lambda: deployed.nova("destroy", "--yes"))
    deployed.nova("up", "--yes")
    return deployed


@pytest.fixture(scope="module")
def function_environment(stack: Stack) -> dict[str, str]:
    """The environment nova gave the deployed health-check function."""
    shown = stack.json("state", "show", "aws_lambda_function.health")
    environment: dict[str, str] = shown["inputs"]["environment"]
    assert environment["NOVA_STACK"] == stack.name
    assert environment["NOVA_ENVIRONMENT"] == "Production"
    assert environment["METRIC_NAMESPACE"] == "Nova/HealthCheck"
    return environment


@pytest.fixture(scope="module")
def instance_ids(stack: Stack) -> list[str]:
    """The stack's instances, from ``nova output --json``."""
    ids: list[str] = stack.json("output", "--json")["instance_ids"]
    assert len(ids) == 2, ids
    return sorted(ids)


@pytest.fixture
def handler_env(
    stack: Stack,
    function_environment: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, str]:
    """This process's environment set up as the function's, against LocalStack."""
    for var, value in {**aws_env(stack.endpoint), **function_environment}.items():
        monkeypatch.setenv(var, value)
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    return function_environment


@pytest.fixture
def ec2(stack: Stack) -> EC2Client:
    return boto3.client(
        "ec2",
        endpoint_url=stack.endpoint,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


@pytest.fixture
def cloudwatch(stack: Stack) -> CloudWatchClient:
    return boto3.client(
        "cloudwatch",
        endpoint_url=stack.endpoint,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def run_handler(
    event: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run the handler; returns its result and the one JSON line it logged."""
    capsys.readouterr()
    result = hc.handler(event, None)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1, f"expected one log line, got {lines}"
    logged: dict[str, Any] = json.loads(lines[0])
    return result, logged


def metric_values(
    cloudwatch: CloudWatchClient, namespace: str, stack: str, metric: str
) -> list[float]:
    """Every value of one metric of the stack over the last minutes."""
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


def expected_status(report: dict[str, Any]) -> int:
    """The proxy status the report calls for (docs/health-check.md)."""
    return 200 if report["unhealthy"] == 0 and report["healthy"] > 0 else 503


def test_scheduled_run_reports_the_stacks_instances_and_publishes_metrics(
    stack: Stack,
    handler_env: dict[str, str],
    instance_ids: list[str],
    cloudwatch: CloudWatchClient,
    capsys: pytest.CaptureFixture[str],
) -> None:
    report, logged = run_handler(SCHEDULED_EVENT, capsys)

    assert logged == report
    assert report["stack"] == stack.name
    assert [i["id"] for i in report["instances"]] == instance_ids
    assert report["instances"] == [
        {"id": i, "state": "running", "status": "ok"} for i in instance_ids
    ]
    assert (report["healthy"], report["unhealthy"]) == (2, 0)
    checked_at = datetime.fromisoformat(report["checked_at"])
    assert abs(datetime.now(UTC) - checked_at) < timedelta(minutes=5)

    namespace = handler_env["METRIC_NAMESPACE"]
    listed = cloudwatch.list_metrics(
        Namespace=namespace, Dimensions=[{"Name": "Stack", "Value": stack.name}]
    )["Metrics"]
    assert sorted(m.get("MetricName", "") for m in listed) == [
        hc.HEALTHY_METRIC,
        hc.UNHEALTHY_METRIC,
    ]
    healthy = metric_values(cloudwatch, namespace, stack.name, hc.HEALTHY_METRIC)
    unhealthy = metric_values(cloudwatch, namespace, stack.name, hc.UNHEALTHY_METRIC)
    assert (healthy, unhealthy) == ([2.0], [0.0])


def test_api_gateway_answer_follows_the_report(
    handler_env: dict[str, str],
    instance_ids: list[str],
    ec2: EC2Client,
    capsys: pytest.CaptureFixture[str],
) -> None:
    response, logged = run_handler(API_EVENT, capsys)
    assert response["headers"] == {"Content-Type": "application/json"}
    body = json.loads(response["body"])
    assert body == logged
    assert [i["id"] for i in body["instances"]] == instance_ids
    assert (body["healthy"], body["unhealthy"]) == (2, 0)
    assert response["statusCode"] == expected_status(body) == 200

    # One instance down: the stack is unhealthy, and says so with a 503.
    stopped = instance_ids[0]
    ec2.stop_instances(InstanceIds=[stopped])
    ec2.get_waiter("instance_stopped").wait(InstanceIds=[stopped])
    try:
        response, logged = run_handler(API_EVENT, capsys)
        body = json.loads(response["body"])
        assert body == logged
        assert (body["healthy"], body["unhealthy"]) == (1, 1)
        assert [i for i in body["instances"] if i["id"] == stopped] == [
            {"id": stopped, "state": "stopped", "status": "not-applicable"}
        ]
        assert response["statusCode"] == expected_status(body) == 503
    finally:
        ec2.start_instances(InstanceIds=[stopped])
        ec2.get_waiter("instance_running").wait(InstanceIds=[stopped])

    # Back up: healthy again.
    response, _ = run_handler(API_EVENT, capsys)
    body = json.loads(response["body"])
    assert (body["healthy"], body["unhealthy"]) == (2, 0)
    assert response["statusCode"] == expected_status(body) == 200
