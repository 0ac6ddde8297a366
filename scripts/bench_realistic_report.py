"""Write the realistic section of docs/benchmarks.md from bench-realistic.sh's results.

Reads the environment the script sets: RESULTS (a TSV of label, parallelism, round,
wall seconds, API calls), BOUND_CREATE and BOUND_DELETE (`awssim bound --plain`
output: seconds, a tab, the chain), LINGER, COMMIT, DATE, CORES. Prints Markdown.
"""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Run:
    """One measured nova command."""

    label: str
    parallelism: int
    round: int
    seconds: float
    calls: int


def read_runs(path: Path) -> list[Run]:
    """Read the runs of the results file, in the order they ran."""
    runs = []
    for line in path.read_text().splitlines():
        label, parallelism, round_, seconds, calls = line.split("\t")
        run = Run(label, int(parallelism), int(round_), float(seconds), int(calls))
        runs.append(run)
    return runs


def read_bound(path: Path) -> tuple[float, str]:
    """Read the bound's seconds and its chain."""
    seconds, chain = path.read_text().strip().split("\t", 1)
    return float(seconds), chain


def median(runs: list[Run], label: str, parallelism: int) -> tuple[float, int] | None:
    """Return the median wall time and API calls of the runs with this label."""
    chosen = [r for r in runs if r.label == label and r.parallelism == parallelism]
    if not chosen:
        return None
    wall = statistics.median(r.seconds for r in chosen)
    calls = int(statistics.median(r.calls for r in chosen))
    return wall, calls


def summary(runs: list[Run], bounds: dict[str, float]) -> list[str]:
    """Tabulate the medians: one row per command and parallelism."""
    rows = [
        "| command | parallelism | rounds | median wall (s) | bound (s) "
        "| wall / bound | AWS API calls |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    commands = [
        ("up", "`nova up`"),
        ("plan", "`nova plan` (no changes)"),
        ("destroy", "`nova destroy`"),
        ("up-throttled", "`nova up`, 10% of calls throttled"),
        ("destroy-throttled", "`nova destroy`, 10% of calls throttled"),
    ]
    for label, name in commands:
        for parallelism in (10, 1):
            found = median(runs, label, parallelism)
            if found is None:
                continue
            wall, calls = found
            count = sum(
                1 for r in runs if r.label == label and r.parallelism == parallelism
            )
            bound = bounds.get(label.removesuffix("-throttled"))
            ratio = f"{wall / bound:.2f}" if bound else "-"
            shown = f"{bound:.1f}" if bound else "-"
            rows.append(
                f"| {name} | {parallelism} | {count} | {wall:.1f} | {shown} "
                f"| {ratio} | {calls} |"
            )
    return rows


def ratios(runs: list[Run]) -> list[str]:
    """List the parallelism and throttling ratios of the medians."""
    lines = []
    for label in ("up", "destroy"):
        p1, p10 = median(runs, label, 1), median(runs, label, 10)
        if p1 and p10:
            lines.append(
                f"- `nova {label}`: parallelism 1 / parallelism 10 = "
                f"**{p1[0] / p10[0]:.2f}**"
            )
        throttled = median(runs, f"{label}-throttled", 10)
        if throttled and p10:
            lines.append(
                f"- `nova {label}` with 10% of calls throttled / without = "
                f"**{throttled[0] / p10[0]:.2f}**"
            )
    return lines


def every_run(runs: list[Run]) -> list[str]:
    """Tabulate every run."""
    rows = [
        "| command | parallelism | round | wall (s) | AWS API calls |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in runs:
        rows.append(
            f"| {r.label} | {r.parallelism} | {r.round} | {r.seconds:.1f} | {r.calls} |"
        )
    return rows


def main() -> None:
    """Print the section."""
    env = os.environ
    runs = read_runs(Path(env["RESULTS"]))
    create, create_chain = read_bound(Path(env["BOUND_CREATE"]))
    delete, delete_chain = read_bound(Path(env["BOUND_DELETE"]))
    bounds = {"up": create, "destroy": delete}
    lines = [
        "",
        "## At AWS's timing (awssim, scale 1.0)",
        "",
        "Written by `scripts/bench-realistic.sh --write`; run it again rather than "
        "editing.",
        "",
        f"- date: {env['DATE']}; nova commit `{env['COMMIT']}`; debug build; "
        f"{env['CORES']} cores",
        "- AWS: awssim at scale 1.0 with the checked-in model "
        "(`fixtures/awssim/aws-us-east-1.toml`) in front of a fresh LocalStack; "
        f"a deleted Lambda's interfaces linger {env['LINGER']} s (AWS: 18-19 min)",
        "- wall time is the shell's (process start to exit); API calls are the "
        "requests awssim received (the SDK's retries included)",
        "- the bound is `nova graph | awssim bound`: the longest chain of dependent "
        "work, each resource its kind's calls at median latency plus the model's "
        "waits",
        "",
        f"Critical path of `up` ({create:.1f} s): {create_chain}",
        "",
        f"Critical path of `destroy` ({delete:.1f} s): {delete_chain}",
        "",
        *summary(runs, bounds),
        "",
        *ratios(runs),
        "",
        "Every run:",
        "",
        *every_run(runs),
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
