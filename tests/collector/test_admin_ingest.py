"""`/admin/ingest` (what `ingest-log` sends a running server): the base URL in its query."""

from __future__ import annotations

import json

from ashiato.collector.auth import TokenStore
from tests.collector.conftest import CollectorFactory

LINE = '203.0.113.9 - - [10/Oct/2025:13:55:36 +0000] "GET /a?x=1 HTTP/1.1" 200 5 "-" "curl/8"'


async def test_the_host_in_the_query_makes_the_urls_whole(collector: CollectorFactory) -> None:
    c = await collector()
    token, _ = TokenStore(c.data_dir).create(("admin",))
    response = await c.client.post(
        "/admin/ingest?site=logs&host=https%3A%2F%2Fshop.example",
        data=json.dumps({"lines": [LINE], "origins": ["f:0"]}),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status == 200, await response.text()
    [row] = await c.rows("site = 'logs'")
    assert row["url"] == "https://shop.example/a?x=1"


async def test_a_host_that_is_no_base_url_is_a_400_naming_it(collector: CollectorFactory) -> None:
    c = await collector()
    token, _ = TokenStore(c.data_dir).create(("admin",))
    response = await c.client.post(
        "/admin/ingest?site=logs&host=ftp%3A%2F%2Fshop.example",
        data=json.dumps({"lines": [LINE]}),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status == 400
    assert "http or https" in (await response.json())["error"]
    assert await c.rows("site = 'logs'") == []
