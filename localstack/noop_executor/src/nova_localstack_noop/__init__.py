"""No-op Lambda runtime executor for LocalStack without Docker.

LocalStack loads Lambda runtime executors as plux plugins from the
entry-point group ``localstack.lambda.runtime_executor`` and picks one by the
env var ``LAMBDA_RUNTIME_EXECUTOR``.  This package registers one named
``nova-noop`` (see ``pyproject.toml``) so that, on a machine without a Docker
engine, ``CreateFunction`` still takes a function to ``State: Active`` and the
provisioning path is exercised as on AWS.  Invocations cannot run and fail
with a clear error.

This module is imported by plux when LocalStack scans the entry points, so it
stays light: the executor itself is imported only in ``load``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin

if TYPE_CHECKING:
    from localstack.services.lambda_.invocation.runtime_executor import (
        RuntimeExecutor,
    )

__all__ = ["EXECUTOR_NAME", "NoopRuntimeExecutorPlugin"]

EXECUTOR_NAME = "nova-noop"
"""Value to set ``LAMBDA_RUNTIME_EXECUTOR`` to."""


# LocalStack is not installed where mypy runs, so the base is ``Any``.
class NoopRuntimeExecutorPlugin(RuntimeExecutorPlugin):  # type: ignore[misc, unused-ignore]
    """plux plugin that hands LocalStack the no-op executor class."""

    name = EXECUTOR_NAME

    def load(self, *args: object, **kwargs: object) -> type[RuntimeExecutor]:
        """Return the executor class (imported lazily, as LocalStack does)."""
        from nova_localstack_noop.executor import NoopRuntimeExecutor

        return NoopRuntimeExecutor
