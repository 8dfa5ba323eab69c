"""GET /policy and `ashiato policy render` on real ClickHouse: the notice a site links to, its
languages and caching, and the recipients of the provision ledger."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ashiato.collector.app import prepare_storage
from ashiato.collector.auth import TokenStore
from ashiato.collector.cli import main
from ashiato.collector.config import load_config
from ashiato.collector.notice_route import PolicyPages
from ashiato.retention.provisions import record_provision
from ashiato.storage.backend import Store, connection
from tests.clickhouse_server import ClickHouseServer
from tests.collector.conftest import CollectorFactory


async def test_policy_is_public_cacheable_and_speaks_the_readers_language(
    collector: CollectorFactory,
) -> None:
    c = await collector(cookie_days=30)
    plain = await c.client.get("/policy")
    assert plain.status == 200
    assert plain.headers["Content-Type"] == "text/html; charset=utf-8"
    assert plain.headers["Content-Language"] == "en"
    assert plain.headers["Cache-Control"] == "public, max-age=300"
    assert "Accept-Language" in plain.headers["Vary"]
    body = await plain.text()
    assert '<html lang="en">' in body and "Access logs, cookies and web beacons" in body
    assert "<td>30 days</td>" in body  # the settings this server runs with

    japanese = await c.client.get("/policy", headers={"Accept-Language": "ja-JP,ja;q=0.9,en;q=0.8"})
    assert japanese.headers["Content-Language"] == "ja"
    assert '<html lang="ja">' in await japanese.text()
    english_first = await c.client.get("/policy", headers={"Accept-Language": "en-US,ja;q=0.5"})
    assert english_first.headers["Content-Language"] == "en"
    neither = await c.client.get("/policy", headers={"Accept-Language": "de, fr"})
    assert neither.headers["Content-Language"] == "en"

    markdown = await c.client.get("/policy?lang=ja&format=md", headers={"Accept-Language": "en"})
    assert markdown.headers["Content-Type"] == "text/markdown; charset=utf-8"
    assert (await markdown.text()).startswith(
        "# アクセスログ、クッキーおよびウェブビーコンについて\n"
    )

    again = await c.client.get("/policy", headers={"If-None-Match": plain.headers["ETag"]})
    assert again.status == 304 and again.headers["ETag"] == plain.headers["ETag"]

    for query, message in (
        ("lang=fr", "lang must be en or ja, got 'fr'"),
        ("format=pdf", "format must be md or html, got 'pdf'"),
    ):
        refused = await c.client.get(f"/policy?{query}")
        assert refused.status == 400 and message in await refused.text()
    assert c.metric("ashiato_rejected_total", {"reason": "bad_query"}) == 2


async def test_a_provision_recorded_through_the_admin_api_names_its_recipient(
    collector: CollectorFactory,
) -> None:
    c = await collector()
    plaintext, _ = TokenStore(c.data_dir).create(("admin",))
    recorded = await c.client.post(
        "/admin/provisions",
        data=json.dumps(
            {
                "recipient": "Ad Partner KK",
                "purpose": "campaign measurement",
                "categories": ["page views", "device"],
                "members": ["m-1042"],
            }
        ),
        headers={"Authorization": f"Bearer {plaintext}"},
    )
    assert recorded.status == 200
    body = await (await c.client.get("/policy?lang=ja")).text()
    assert (
        "<td>Ad Partner KK</td><td>campaign measurement</td><td>device、page views</td>"
        "<td>会員ごとの情報</td>"
    ) in body
    listed = await c.client.post(
        "/admin/provisions/recipients", data="{}", headers={"Authorization": f"Bearer {plaintext}"}
    )
    assert (await listed.json())["recipients"][0]["recipient"] == "Ad Partner KK"


BENCHMARKING: dict[str, Any] = {
    "recipient": "Analytics Ltd",
    "purpose": "benchmarking",
    "categories": ["daily page views"],
    "aggregate": True,
    "actor": "test",
}


async def test_the_ledger_is_read_again_once_the_cached_read_is_old(
    store: Store, tmp_path: Path
) -> None:
    prepare_storage(store)
    now = [0.0]
    pages = PolicyPages(
        load_config({"data_dir": str(tmp_path)}, env={}), store, clock=lambda: now[0]
    )
    first = await pages.page("en", "md")
    assert "list no provision" in first.body.decode()
    with connection(store) as backend:
        record_provision(backend, **BENCHMARKING)
    now[0] = 59.0
    assert await pages.page("en", "md") is first  # still the cached rendering
    now[0] = 61.0
    fresh = (await pages.page("en", "md")).body.decode()
    assert "| Analytics Ltd | benchmarking | daily page views | aggregate statistics |" in fresh


def test_the_command_renders_what_flags_environment_and_file_say(
    clickhouse_server: ClickHouseServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = clickhouse_server.url_for("notice_cli")
    where = ["--clickhouse-url", url, "--data-dir", str(tmp_path)]
    assert (
        main(
            [
                "provision",
                "record",
                *where,
                "--recipient",
                "Mail Partner",
                "--purpose",
                "delivery",
                "--categories",
                "opens",
                "--aggregate",
            ],
            env={},
        )
        == 0
    )
    capsys.readouterr()
    config_file = tmp_path / "ashiato.toml"
    config_file.write_text("[consent]\ncookie_days = 31\n[retention]\nretention_email_days = 60\n")
    env = {"ASHIATO_CONFIG": str(config_file), "ASHIATO_RETENTION_EMAIL_DAYS": "61"}
    status = main(
        ["policy", "render", *where, "--format", "html", "--security-window-days", "2"], env=env
    )
    out = capsys.readouterr().out
    assert status == 0 and out.startswith("<!DOCTYPE html>")
    assert "<td><code>ashiato_vid</code></td><td>31 days</td>" in out  # the file
    assert "<td><code>email</code></td><td>E-mail opens and clicks</td><td>61 days</td>" in out
    assert "for 2 days" in out  # the flag
    assert "<td>Mail Partner</td>" in out  # the ledger

    assert main(["policy", "render", *where, "--lang", "ja"], env={}) == 0
    assert "| `ashiato_vid` | 395日間 |" in capsys.readouterr().out
