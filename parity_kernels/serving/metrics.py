"""A frontend's counters, latency histogram and instance health, in Prometheus format.

prometheus_client (the Prometheus project's own client) writes the exposition format;
each frontend has its own registry, so several frontends (or tests) never collide.
``counts`` reads the counters back as plain numbers for the experiment and the tests.
"""

from __future__ import annotations

from typing import Dict

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, start_http_server

COUNTERS: Dict[str, str] = {
    "queries": "Queries received",
    "answers": "Queries answered (each exactly once)",
    "groups_formed": "Coding groups formed",
    "partial_groups": "Coding groups closed before k queries arrived (padded)",
    "coded_queries": "Coded queries sent",
    "coded_skipped": "Coded queries not sent: the extra-load cap",
    "decodes_fired": "Decodes computed",
    "decodes_answered_first": "Answers given by decode before the model's own output arrived",
    "late_outputs": "Outputs that arrived after their query was answered",
    "hedges": "Duplicate requests sent by hedging",
    "hedges_skipped": "Hedges not sent: the extra-load cap",
    "retries": "Requests re-sent after a timeout (instance presumed failed)",
    "cancelled": "Requests cancelled because their answer was no longer needed",
    "probes": "Probe requests sent to instances presumed failed",
    "instance_errors": "Requests that came back with an error",
}

LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0)


class FrontendMetrics:
    """Counters (``inc``), the answer-latency histogram (``observe``) and the number of
    instances presumed failed (``set_suspects``)."""

    def __init__(self, prefix: str = "parity_kernels_frontend") -> None:
        self.registry = CollectorRegistry()
        self.prefix = prefix
        self._counters = {name: Counter(f"{prefix}_{name}", text, registry=self.registry)
                          for name, text in COUNTERS.items()}
        self._latency = Histogram(f"{prefix}_latency_seconds", "Query latency, by what answered it",
                                  ["answered_by"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self._suspects = Gauge(f"{prefix}_instances_suspect", "Instances presumed failed (being probed)",
                               registry=self.registry)

    def inc(self, name: str, amount: int = 1) -> None:
        self._counters[name].inc(amount)

    @property
    def counts(self) -> Dict[str, int]:
        """Every counter's value now, by name (``COUNTERS``)."""
        return {name: int(self.registry.get_sample_value(f"{self.prefix}_{name}_total")) for name in COUNTERS}

    def observe(self, seconds: float, answered_by: str) -> None:
        self._latency.labels(answered_by=answered_by).observe(seconds)

    def set_suspects(self, count: int) -> None:
        self._suspects.set(count)

    def exposition(self) -> str:
        """The Prometheus text format (what ``serve`` answers at /metrics)."""
        return generate_latest(self.registry).decode()

    def serve(self, port: int = 0, addr: str = "127.0.0.1"):
        """Serve ``exposition()`` over HTTP for a Prometheus scraper, on a daemon thread.

        port 0 picks a free one; returns the server (``server.server_address[1]`` is the
        port; ``server.shutdown()`` stops it). Loopback by default: pass addr="0.0.0.0"
        to expose it beyond this machine.
        """
        server, _ = start_http_server(port, addr=addr, registry=self.registry)
        return server
