"""The alert rules fire on the series they are about, and stay quiet otherwise (promtool)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.deploy._paths import DEPLOY

PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is missing: apt-get install prometheus"
)
INSTANCE = "c1:8080"


def _rules() -> dict[str, dict[str, Any]]:
    yaml = pytest.importorskip("yaml", reason="PyYAML is not installed")
    doc = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    return {r["alert"]: r for g in doc["groups"] for r in g["rules"]}


def _expect(rule: dict[str, Any], **labels: str) -> dict[str, Any]:
    """The alert promtool should report: the rule's labels and its annotations rendered."""

    def render(text: str) -> str:
        return re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels.get(m.group(1), ""), text)

    return {
        "exp_labels": {**labels, **rule.get("labels", {})},
        "exp_annotations": {k: render(v) for k, v in rule.get("annotations", {}).items()},
    }


def _series(name: str, values: str, **labels: str) -> dict[str, str]:
    labels = {"job": "ashiato", "instance": INSTANCE, **labels}
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{inner}}}", "values": values}


def test_alerts_fire_when_they_should(tmp_path: Path) -> None:
    rules = _rules()
    base = {"job": "ashiato", "instance": INSTANCE}

    def alert(name: str, at: str, *expected: dict[str, str]) -> dict[str, Any]:
        return {
            "eval_time": at,
            "alertname": name,
            "exp_alerts": [_expect(rules[name], **labels) for labels in expected],
        }

    trouble = [
        _series("up", "0x10"),
        _series("ashiato_spool_bytes", "0+1000x40"),
        _series("ashiato_spool_oldest_unflushed_seconds", "0+60x10"),
        _series("ashiato_writer_dropped_rows_total", "0 0 5 5 5", reason="spool_full"),
        _series("ashiato_writer_dropped_rows_total", "0 0 7 7 7", reason="dead_letter"),
        _series("ashiato_writer_retries_total", "0+1x20", reason="unavailable"),
        _series("ashiato_spool_corrupt_records", "0 0 2"),
        # promtool's clock starts at 0: a success at -3 days is "three days ago".
        _series(
            "ashiato_retention_last_success_timestamp_seconds", "-259200", retention_job="expire"
        ),
        _series("ashiato_retention_last_success_timestamp_seconds", "0", retention_job="link"),
        _series("ashiato_admin_requests_total", "0+5x10", action="sql", outcome="forbidden"),
    ]
    calm = [
        _series("up", "1x60"),
        _series("ashiato_spool_bytes", "5000x40"),
        _series("ashiato_spool_oldest_unflushed_seconds", "2x40"),
        _series("ashiato_writer_dropped_rows_total", "3x40", reason="spool_full"),
        _series("ashiato_writer_retries_total", "1x40", reason="unavailable"),
        _series("ashiato_spool_corrupt_records", "0x40"),
        _series("ashiato_retention_last_success_timestamp_seconds", "0x40", retention_job="expire"),
    ]
    tests = [
        {
            "interval": "1m",
            "input_series": trouble,
            "alert_rule_test": [
                alert("AshiatoCollectorDown", "5m", base),
                alert("AshiatoSpoolGrowing", "30m", base),
                alert("AshiatoSpoolStale", "10m", base),
                alert("AshiatoDroppingRows", "3m", {**base, "reason": "spool_full"}),
                alert("AshiatoDeadLetters", "3m", {**base, "reason": "dead_letter"}),
                alert("AshiatoClickHouseErrors", "15m", {**base, "reason": "unavailable"}),
                alert("AshiatoSpoolCorrupt", "3m", base),
                alert("AshiatoRetentionStale", "1m", {**base, "retention_job": "expire"}),
                alert("AshiatoAdminAuthFailures", "10m", {"instance": INSTANCE}),
            ],
        },
        {
            "interval": "1m",
            "input_series": calm,
            "alert_rule_test": [alert(name, "35m") for name in rules],
        },
        {
            "interval": "1h",
            "input_series": [_series("up", "1x60")],
            "alert_rule_test": [alert("AshiatoRetentionNeverRan", "49h", {})],
        },
    ]
    # YAML is a superset of JSON, so promtool reads this as it is.
    spec = tmp_path / "alerts_test.yml"
    rule_file = str(DEPLOY / "prometheus" / "alerts.yml")
    spec.write_text(json.dumps({"rule_files": [rule_file], "tests": tests}, indent=1))
    result = subprocess.run(
        [PROMTOOL or "", "test", "rules", str(spec)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
