"""Prometheus metrics: requests by route template, and the order sequencer's work."""

import functools
import time
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import generate_latest as _generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests by method, route template and status.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency by method and route template.",
    ["method", "route"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=REGISTRY,
)

TARPITTED = Counter(
    "http_refusals_delayed_total",
    "Refusals answered late because their client sent refusals faster than allowed.",
    registry=REGISTRY,
)
SEQUENCER_REBUILDS = Counter(
    "sequencer_rebuilds_total",
    "Order books rebuilt from Postgres: at start-up or after a failed group (`all`), or only "
    "the markets a failed group had changed (`markets`).",
    ["scope"],
    registry=REGISTRY,
)
SEQUENCER_REFUSED = Counter(
    "sequencer_refused_total",
    "Commands refused by the order sequencer without being started, by reason.",
    ["reason"],
    registry=REGISTRY,
)

SEQUENCER_GROUP_SECONDS = Counter(
    "sequencer_group_seconds_total",
    "Time the order sequencer's groups spent, by phase: read (rules, locked balances), "
    "decide (the order core), write, commit, publish.",
    ["phase"],
    registry=REGISTRY,
)
SEQUENCER_GROUP_SIZE = Histogram(
    "sequencer_group_size",
    "Commands per order-sequencer group.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
    registry=REGISTRY,
)

STAKING_DRIFT_ALERTS = Gauge(
    "staking_drift_alerts",
    "Custody positions whose stake on chain has differed from users' allocations (plus the "
    "float) by at least the smallest stake move for longer than the alert threshold.",
    registry=REGISTRY,
)

OUTBOX_RELAYED = Gauge(
    "outbox_relayed_event_id",
    "The last outbox event the relay has published to NATS JetStream.",
    registry=REGISTRY,
)
OUTBOX_RELAY_FAILURES = Counter(
    "outbox_relay_failures_total",
    "Relay attempts that failed (NATS or Postgres unreachable); retried with backoff.",
    registry=REGISTRY,
)


class GroupTimer:
    """Adds the time since the last lap to a phase of `sequencer_group_seconds_total`."""

    def __init__(self) -> None:
        self.last = time.perf_counter()

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        SEQUENCER_GROUP_SECONDS.labels(phase).inc(now - self.last)
        self.last = now


CONTENT_TYPE = CONTENT_TYPE_LATEST


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    counter, latency = _request_series(method, route, status)
    counter.inc()
    latency.observe(seconds)


@functools.lru_cache(maxsize=4096)  # routes x methods x statuses: bounded
def _request_series(method: str, route: str, status: int) -> tuple[Any, Any]:
    """A request's two series, looked up once (`labels` takes a lock and builds a key)."""
    return REQUESTS.labels(method, route, str(status)), LATENCY.labels(method, route)


def render() -> bytes:
    data: bytes = _generate_latest(REGISTRY)
    return data
