"""Where the deploy files are, and the metric names they may use."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
METRICS_SOURCE = ROOT / "collector" / "metrics.py"

# Exported by the retention jobs (being added alongside `ashiato retention run`).
RETENTION_METRICS = {
    "ashiato_retention_last_success_timestamp_seconds": "gauge",
    "ashiato_retention_rows_total": "counter",
}

_DECLARED = re.compile(
    r"\b(Counter|Histogram|Gauge|Summary|gauge|GaugeMetricFamily|CounterMetricFamily)"
    r"\(\s*\"(ashiato_[a-z0-9_]+)\""
)
_USED = re.compile(r"\bashiato_[a-z0-9_]+")
_KINDS = {
    "Counter": "counter",
    "CounterMetricFamily": "counter",
    "Histogram": "histogram",
    "Summary": "summary",
}


def declared_metrics() -> dict[str, str]:
    """Metric family names declared in collector/metrics.py (plus retention), with their kind."""
    found = {
        name: _KINDS.get(call, "gauge")
        for call, name in _DECLARED.findall(METRICS_SOURCE.read_text())
    }
    return found | RETENTION_METRICS


def exposed_names(declared: dict[str, str]) -> set[str]:
    """Every series name Prometheus sees for these families."""
    names: set[str] = set()
    for name, kind in declared.items():
        if kind == "counter":
            names.add(name if name.endswith("_total") else name + "_total")
        elif kind in ("histogram", "summary"):
            names |= {name, name + "_sum", name + "_count"}
            if kind == "histogram":
                names.add(name + "_bucket")
        else:
            names.add(name)
    return names


def names_in(expression: str) -> set[str]:
    """The ashiato metric names a PromQL expression refers to."""
    return set(_USED.findall(expression))


def alert_expressions() -> list[str]:
    """The `expr:` of every rule in alerts.yml (each is on one line)."""
    text = (DEPLOY / "prometheus" / "alerts.yml").read_text()
    return re.findall(r"^\s*expr:\s*(.+)$", text, flags=re.MULTILINE)
