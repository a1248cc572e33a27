"""Prometheus metrics: request counts and latencies by route template."""

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
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

CONTENT_TYPE = CONTENT_TYPE_LATEST


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    REQUESTS.labels(method, route, str(status)).inc()
    LATENCY.labels(method, route).observe(seconds)


def render() -> bytes:
    data: bytes = _generate_latest(REGISTRY)
    return data
