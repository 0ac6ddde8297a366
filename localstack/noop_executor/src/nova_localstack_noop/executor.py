"""The no-op runtime executor itself (see the package docstring)."""

from __future__ import annotations

import logging

from localstack.services.lambda_.invocation.lambda_models import (
    FunctionVersion,
    InvocationResult,
)
from localstack.services.lambda_.invocation.runtime_executor import (
    LambdaRuntimeException,
    RuntimeExecutor,
)

LOG = logging.getLogger(__name__)

UNSUPPORTED = (
    "nova-noop runtime executor: Lambda functions cannot be invoked on this "
    "LocalStack (no Docker engine); it only provisions them. Test the "
    "handler's logic by running it locally with boto3 pointed at LocalStack."
)


# LocalStack is not installed where mypy runs, so the base is ``Any``.
class NoopRuntimeExecutor(RuntimeExecutor):  # type: ignore[misc, unused-ignore]
    """Executor that prepares nothing and refuses to run anything."""

    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        """Nothing to prepare: lets the function version become Active."""
        LOG.debug("nova-noop: prepare_version %s", function_version.qualified_arn)

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        """Nothing was prepared, so nothing to clean up."""
        LOG.debug("nova-noop: cleanup_version %s", function_version.qualified_arn)

    @classmethod
    def validate_environment(cls) -> bool:
        """No external requirement (such as Docker) to check."""
        return True

    def start(self, env_vars: dict[str, str]) -> None:
        """Refuse to start an execution environment."""
        raise LambdaRuntimeException(UNSUPPORTED)

    def stop(self) -> None:
        """Nothing was started, so nothing to stop."""

    def get_address(self) -> str:
        """Loopback: there is no separate execution environment."""
        return "127.0.0.1"

    def get_endpoint_from_executor(self) -> str:
        """Loopback: there is no separate execution environment."""
        return "127.0.0.1"

    def get_runtime_endpoint(self) -> str:
        """No runtime callback endpoint exists."""
        return f"http://127.0.0.1/_localstack_lambda/{self.id}"

    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        """Refuse to invoke (``start`` already refuses, this is a backstop)."""
        raise LambdaRuntimeException(UNSUPPORTED)

    def get_logs(self) -> str:
        """Return the only log there is: why nothing ran."""
        return UNSUPPORTED
