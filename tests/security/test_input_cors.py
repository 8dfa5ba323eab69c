"""Credentialed CORS only for the configured own hosts, over https (issue 12, finding 9)."""

from __future__ import annotations

import json

import pytest
from aiohttp import ClientResponse

from ashiato.collector.config import load_config
from ashiato.collector.cors import CorsPolicy
from tests.collector.conftest import Collector, CollectorFactory, collector

__all__ = ["collector"]

ALLOW = ("Access-Control-Allow-Origin", "Access-Control-Allow-Credentials")


async def _answers(c: Collector, origin: str) -> list[ClientResponse]:
    """The consent state, a consent change and a beacon, each sent with `origin`."""
    headers = {"Origin": origin, "Content-Type": "text/plain"}
    return [
        await c.client.get("/consent", headers=headers),
        await c.client.post("/consent", data=json.dumps({"c": "statistics"}), headers=headers),
        await c.client.post("/b", data=json.dumps({"s": "a"}), headers=headers),
    ]


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "https://shop.example", "http://localhost:3000", "null"]
)
async def test_without_own_hosts_no_origin_is_allowed(
    collector: CollectorFactory, origin: str
) -> None:
    c = await collector()
    for response in await _answers(c, origin):
        assert response.status < 300
        assert not [name for name in response.headers if name.startswith("Access-Control-")]


@pytest.mark.parametrize("origin", ["https://shop.example", "https://www.shop.example:8443"])
async def test_an_own_https_origin_may_read_answers_with_cookies(
    collector: CollectorFactory, origin: str
) -> None:
    c = await collector(own_hosts="shop.example")
    for response in await _answers(c, origin):
        assert response.headers["Access-Control-Allow-Origin"] == origin
        assert response.headers["Access-Control-Allow-Credentials"] == "true"
        assert response.headers["Vary"] == "Origin"


@pytest.mark.parametrize(
    "origin",
    [
        "http://shop.example",  # http: anyone on the path could have rewritten the page
        "https://evil.example",
        "https://shop.example.evil.example",
        "https://evilshop.example",
        "https://user@shop.example",
        "https://shop.example/path",
        "null",
        "",
        "https://[::1",
    ],
)
async def test_other_origins_are_not_allowed(collector: CollectorFactory, origin: str) -> None:
    c = await collector(own_hosts="shop.example")
    for response in await _answers(c, origin):
        assert not [name for name in ALLOW if name in response.headers]
        assert response.headers["Vary"] == "Origin"


async def test_http_origins_only_when_configured(collector: CollectorFactory) -> None:
    c = await collector(own_hosts="shop.example", cors_allow_http="true")
    for response in await _answers(c, "http://shop.example:3000"):
        assert response.headers["Access-Control-Allow-Origin"] == "http://shop.example:3000"


async def test_two_origin_lines_are_not_allowed(collector: CollectorFactory) -> None:
    c = await collector(own_hosts="shop.example")
    response = await c.client.get(
        "/consent", headers=[("Origin", "https://shop.example"), ("Origin", "https://evil.example")]
    )
    assert "Access-Control-Allow-Origin" not in response.headers


def test_the_policy_follows_the_settings() -> None:
    config = load_config({"own_hosts": "Shop.Example:443,www.news.example"}, env={})
    policy = CorsPolicy.from_config(config.collection)
    assert policy.allows("https://shop.example")
    assert policy.allows("https://news.example")
    assert not policy.allows("http://news.example")
    assert not CorsPolicy.from_config(load_config({}, env={}).collection).allows(
        "https://shop.example"
    )
