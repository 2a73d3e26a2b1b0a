"""Prometheus metrics of the service, next to BentoML's own request metrics on /metrics.

Created on first use inside a worker, never at import: BentoML sets PROMETHEUS_MULTIPROC_DIR
when a worker starts, and metrics created before that would not reach /metrics.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ServiceMetrics:
    """The metrics the service updates."""

    decisions: Any  # Counter: decisions returned, by tenant, route and source
    reloads: Any  # Counter: reload attempts, by tenant and outcome (ok | failed)
    champion_version: Any  # Gauge: the champion version each tenant serves (0: none)
    decide_seconds: Any  # Histogram: time to decide (rules + model + routing) per request
    memo_clears: Any  # Counter: times the worker emptied its memos (serving.memory)

    def count_decisions(self, tenant: str, routes_sources: list[tuple[str, str]]) -> None:
        """Count a request's decisions."""
        for route, source in routes_sources:
            self.decisions.labels(tenant=tenant, route=route, source=source).inc()

    def serving(self, tenant: str, version: str | None) -> None:
        """Record the champion version a tenant now serves."""
        value = int(version) if version and version.isdigit() else 0
        self.champion_version.labels(tenant=tenant).set(value)


@functools.cache
def service_metrics() -> ServiceMetrics:
    """The process's metrics (one set per process: Prometheus names are global)."""
    import prometheus_client as prom  # noqa: PLC0415

    return ServiceMetrics(
        decisions=prom.Counter(
            "spendlens_decisions", "Decisions returned", ["tenant", "route", "source"]
        ),
        reloads=prom.Counter(
            "spendlens_reloads", "Champion or rules reloads", ["tenant", "outcome"]
        ),
        champion_version=prom.Gauge(
            "spendlens_champion_version",
            "Champion version served (0: none)",
            ["tenant"],
            multiprocess_mode="livemostrecent",
        ),
        decide_seconds=prom.Histogram(
            "spendlens_decide_seconds",
            "Seconds to decide one request (rules, model, routing)",
            ["endpoint"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0),
        ),
        memo_clears=prom.Counter(
            "spendlens_memo_clears", "Times a worker emptied its memos to bound its memory"
        ),
    )
