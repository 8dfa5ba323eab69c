"""Static checks of what operators install: deploy/ parses, validates and names real things."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from ashiato.collector.config import load_config
from ashiato.collector.settings import SETTINGS
from tests.deploy._paths import (
    DEPLOY,
    ROOT,
    alert_expressions,
    declared_metrics,
    exposed_names,
    names_in,
)

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is missing: apt-get install prometheus"
)


def _run(*command: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(c) for c in command], capture_output=True, text=True, timeout=60, check=False
    )


# --- Prometheus ---------------------------------------------------------------------------


@needs_promtool
def test_promtool_accepts_the_scrape_config_and_its_rules() -> None:
    result = _run(PROMTOOL or "", "check", "config", DEPLOY / "prometheus" / "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 rule files found" in result.stdout


@needs_promtool
def test_promtool_accepts_the_alert_rules() -> None:
    result = _run(PROMTOOL or "", "check", "rules", DEPLOY / "prometheus" / "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_metric_names_are_read_from_the_source() -> None:
    declared = declared_metrics()
    assert declared["ashiato_hits_total"] == "counter"
    assert declared["ashiato_writer_flush_seconds"] == "histogram"
    assert declared["ashiato_spool_bytes"] == "gauge"  # registered through gauge()
    assert "ashiato_writer_queue_rows" in declared


def test_every_alert_queries_metrics_that_exist() -> None:
    known = exposed_names(declared_metrics())
    used = set().union(*(names_in(e) for e in alert_expressions()))
    assert used, "no metric names found in alerts.yml"
    assert used <= known, f"alerts.yml uses unknown metrics: {sorted(used - known)}"


def test_the_alerts_cover_what_operators_must_hear_about() -> None:
    exprs = "\n".join(alert_expressions())
    for needle in (
        "up{",
        "deriv(ashiato_spool_bytes[10m]) > 0",
        "ashiato_spool_oldest_unflushed_seconds > 300",
        "increase(ashiato_writer_dropped_rows_total",
        "increase(ashiato_writer_retries_total[5m]) > 0",
        'reason=~"dead_letter|rejected"',
        "time() - ashiato_retention_last_success_timestamp_seconds > 2 * 86400",
        "ashiato_spool_corrupt_records",
    ):
        assert needle in exprs, needle


# --- Grafana --------------------------------------------------------------------------------


def _dashboard() -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads((DEPLOY / "grafana" / "ashiato.json").read_text())
    return dashboard


def _panel_expressions(dashboard: dict[str, Any]) -> list[str]:
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    return [t["expr"] for p in panels for t in p.get("targets", [])]


def test_the_dashboard_queries_metrics_that_exist() -> None:
    exprs = _panel_expressions(_dashboard())
    used = set().union(*(names_in(e) for e in exprs))
    known = exposed_names(declared_metrics())
    assert used <= known, f"the dashboard uses unknown metrics: {sorted(used - known)}"


def test_the_dashboard_shows_every_metric() -> None:
    used = set().union(*(names_in(e) for e in _panel_expressions(_dashboard())))
    watched = {name.removesuffix("_bucket").removesuffix("_sum") for name in used}
    families = {n.removesuffix("_total") for n in declared_metrics()}
    unwatched = families - {w.removesuffix("_total") for w in watched}
    assert not unwatched, f"add panels to deploy/grafana/ashiato.json for {sorted(unwatched)}"


def test_the_dashboard_is_well_formed() -> None:
    dashboard = _dashboard()
    assert dashboard["uid"] == "ashiato"
    panels = dashboard["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert variables == {"datasource", "instance"}
    for panel in panels:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            # Balanced brackets catch most hand-editing slips in PromQL.
            expr = target["expr"]
            for left, right in ("()", "{}", "[]"):
                assert expr.count(left) == expr.count(right), (panel["title"], expr)
    titles = " ".join(p["title"] for p in panels).lower()
    for topic in ("hits/s by kind", "rejected", "batch rows", "flush", "spool bytes", "oldest"):
        assert topic in titles


def test_grafana_provisioning_points_at_the_dashboard() -> None:
    yaml = pytest.importorskip("yaml", reason="PyYAML is not installed")
    provisioning = DEPLOY / "grafana" / "provisioning"
    sources = yaml.safe_load((provisioning / "datasources" / "prometheus.yaml").read_text())
    assert sources["datasources"][0]["type"] == "prometheus"
    providers = yaml.safe_load((provisioning / "dashboards" / "ashiato.yaml").read_text())
    path = providers["providers"][0]["options"]["path"]
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./grafana/ashiato.json:{path}/ashiato.json:ro" in mounts


# --- configuration ----------------------------------------------------------------------------


EXAMPLE = DEPLOY / "ashiato.toml.example"


def test_the_example_config_loads() -> None:
    config = load_config(config_file=str(EXAMPLE), env={})
    assert config.storage.clickhouse_url.startswith("clickhouse://")
    assert "127.0.0.1/32" in config.collection.trusted_proxies
    assert config.server.host == "127.0.0.1"
    assert config.storage.drain_seconds < 30  # below the unit's TimeoutStopSec
    assert config.collection.geoip_city_db == ""  # commented out: the files are not here


def test_the_example_config_mentions_every_setting() -> None:
    text = EXAMPLE.read_text()
    missing = [s.name for s in SETTINGS if not re.search(rf"^#? ?{s.name} =", text, re.M)]
    assert not missing, f"add these settings to {EXAMPLE.name}: {missing}"


# --- systemd --------------------------------------------------------------------------------


SYSTEMD = DEPLOY / "systemd"
UNITS = ("ashiato.service", "ashiato-retention.service", "ashiato-retention.timer")


def _directives(unit: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in unit.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


@pytest.mark.parametrize("name", ["ashiato.service", "ashiato-retention.service"])
def test_services_are_hardened(name: str) -> None:
    unit = _directives(SYSTEMD / name)
    expected = {
        "User": "ashiato",
        "DynamicUser": "no",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "NoNewPrivileges": "yes",
        "CapabilityBoundingSet": "",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
        "SystemCallFilter": "@system-service",
        "StateDirectory": "ashiato",
        "EnvironmentFile": "-/etc/ashiato/env",
    }
    for key, value in expected.items():
        assert unit.get(key) == [value], key
    environment = unit["Environment"]
    assert "ASHIATO_DATA_DIR=%S/ashiato" in environment
    assert "ASHIATO_CONFIG=/etc/ashiato/ashiato.toml" in environment


def test_the_collector_unit_waits_for_the_spool_to_drain() -> None:
    unit = _directives(SYSTEMD / "ashiato.service")
    assert unit["ExecStart"] == ["/opt/ashiato/bin/ashiato serve"]
    assert unit["Restart"] == ["on-failure"]
    assert unit["KillSignal"] == ["SIGTERM"]
    drain = next(s.default for s in SETTINGS if s.name == "drain_seconds")
    assert int(unit["TimeoutStopSec"][0]) > drain


def test_the_retention_timer_runs_the_jobs_daily() -> None:
    service = _directives(SYSTEMD / "ashiato-retention.service")
    assert service["Type"] == ["oneshot"]
    assert service["ExecStart"] == ["/opt/ashiato/bin/ashiato retention run --job all"]
    timer = _directives(SYSTEMD / "ashiato-retention.timer")
    assert timer["Persistent"] == ["true"]
    assert timer["RandomizedDelaySec"]
    assert timer["Unit"] == ["ashiato-retention.service"]


def test_systemd_analyze_verify_accepts_the_units(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is missing")
    # verify insists that ExecStart exists; point it at this checkout's entry point.
    executable = shutil.which("ashiato") or str(ROOT / ".venv" / "bin" / "ashiato")
    if not Path(executable).exists():
        pytest.skip("the ashiato entry point is not installed")
    for name in UNITS:
        text = (SYSTEMD / name).read_text().replace("/opt/ashiato/bin/ashiato", executable)
        (tmp_path / name).write_text(text)
    result = _run(analyze, "verify", "--man=no", *(tmp_path / n for n in UNITS))
    if result.returncode != 0 and "Failed to" in result.stderr and "bus" in result.stderr:
        pytest.skip(f"systemd-analyze cannot run here: {result.stderr.strip()}")
    # Unknown keys and bad values are only warnings (exit 0), so any output is a failure.
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr


# --- compose, Docker, ClickHouse ------------------------------------------------------------


def test_the_compose_file_runs_the_four_services() -> None:
    yaml = pytest.importorskip("yaml", reason="PyYAML is not installed")
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"clickhouse", "collector", "prometheus", "grafana"} <= set(services)
    assert services["clickhouse"]["image"].startswith("clickhouse/clickhouse-server")
    assert services["prometheus"]["image"].startswith("prom/prometheus")
    assert services["grafana"]["image"].startswith("grafana/grafana")
    collector = services["collector"]
    build = collector["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
    assert collector["environment"]["ASHIATO_CLICKHOUSE_URL"] == (
        "clickhouse://default@clickhouse:9000/ashiato"
    )
    # The scrape config targets the collector service on the port it listens on.
    scrape = (DEPLOY / "prometheus" / "prometheus.yml").read_text()
    assert '"collector:8080"' in scrape
    assert "./prometheus:/etc/prometheus:ro" in services["prometheus"]["volumes"]
    for volume in (v for s in services.values() for v in s.get("volumes", [])):
        source = volume.split(":")[0]
        if source.startswith("./"):
            assert (DEPLOY / source).exists(), volume


def test_the_dockerfile_installs_the_project_as_a_non_root_user() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert text.startswith("#") and "FROM python:3.11-slim" in text
    assert re.search(r"^USER ashiato$", text, re.M)
    assert "pip install" in text
    assert 'CMD ["serve", "--host", "0.0.0.0"]' in text
    for copied in re.findall(r"^COPY (\S+)", text, re.M):
        assert (ROOT / copied).exists(), copied


def test_the_clickhouse_cluster_config() -> None:
    root = ET.parse(DEPLOY / "clickhouse" / "cluster.xml").getroot()
    shards = root.findall("./remote_servers/ashiato/shard")
    assert len(shards) == 2
    for shard in shards:
        assert shard.findtext("internal_replication") == "true"
        assert len(shard.findall("replica")) == 2
    assert len(root.findall("./zookeeper/node")) == 3
    assert root.findtext("./macros/shard") and root.findtext("./macros/replica")
