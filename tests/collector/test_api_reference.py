"""The README's admin API reference lists every admin route with the scope it really needs."""

from __future__ import annotations

import re
from pathlib import Path

from aiohttp import web

from ashiato.collector import admin
from ashiato.collector.operations import OPERATIONS, PATHS

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
# Routes whose handlers are not in the operations table, and the scope each checks.
OTHER_SCOPES = {
    "/admin/sql": "sql",
    "/admin/ingest": "admin",
    "/admin/spool/redrive": "admin",
    "/admin/keys/reload": "admin",
}


def _documented() -> dict[str, str]:
    rows = re.findall(r"^\| `(/admin/[^`]*)` \| `(\w+)` \|", README, flags=re.M)
    return dict(rows)


def test_every_admin_route_is_documented_with_its_scope() -> None:
    app = web.Application()
    admin.add_routes(app)
    routes = {
        r.resource.canonical
        for r in app.router.routes()
        if r.resource is not None and r.resource.canonical.startswith("/admin/")
    }
    documented = _documented()
    assert routes == set(documented), "README's API reference and the routes differ"
    scopes = {PATHS[name]: op.scope for name, op in OPERATIONS.items()} | OTHER_SCOPES
    for route in routes:
        assert documented[route] == scopes[route], route
