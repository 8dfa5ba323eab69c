"""Typed keys for the state the application factory puts on the app."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from ashiato.beacon.pipeline import Enricher
    from ashiato.collector.auth import TokenStore
    from ashiato.collector.background import Suppressed
    from ashiato.collector.batching import TurnBatcher
    from ashiato.collector.config import Config
    from ashiato.collector.cors import CorsPolicy
    from ashiato.collector.loader import WriterGroup
    from ashiato.collector.metrics import Metrics
    from ashiato.collector.rdns import ReverseDNS
    from ashiato.collector.roles import Role
    from ashiato.collector.secrets import LiveSecrets
    from ashiato.collector.shaping import RawShaper
    from ashiato.storage.backend import Store

CONFIG: web.AppKey[Config] = web.AppKey("config")
STORE: web.AppKey[Store] = web.AppKey("store")
WRITER: web.AppKey[WriterGroup] = web.AppKey("writer")
ROLE: web.AppKey[Role] = web.AppKey("role")
SHAPER: web.AppKey[RawShaper] = web.AppKey("shaper")
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
TOKENS: web.AppKey[TokenStore] = web.AppKey("tokens")
ENRICHER: web.AppKey[Enricher] = web.AppKey("enricher")
SECRETS: web.AppKey[LiveSecrets] = web.AppKey("secrets")
RDNS: web.AppKey[ReverseDNS | None] = web.AppKey("rdns")
SUPPRESSED: web.AppKey[Suppressed] = web.AppKey("suppressed")
BATCHER: web.AppKey[TurnBatcher] = web.AppKey("batcher")
CORS: web.AppKey[CorsPolicy] = web.AppKey("cors")
