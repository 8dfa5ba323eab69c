"""The tracker as browsers get it: minified from its source, gzipped, cacheable, as documented."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import rjsmin

from ashiato.collector.tracker import load_tracker, snippet
from tests.collector.conftest import CollectorFactory

STATIC = Path(__file__).resolve().parents[2] / "collector" / "static"
README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_the_shipped_script_is_the_minified_source() -> None:
    source = (STATIC / "t.js").read_text()
    shipped = (STATIC / "t.min.js").read_text()
    assert shipped == rjsmin.jsmin(source, keep_bang_comments=False) + "\n", "run make tracker"
    assert "/*" not in shipped and "//" not in shipped.replace("://", "")


def test_the_readme_states_the_true_sizes() -> None:
    script = load_tracker()
    match = re.search(r"\(([\d.]+) KB minified, ([\d.]+) KB gzipped", README)
    assert match, "the README says how large the tracker is"
    minified, gzipped = float(match.group(1)), float(match.group(2))
    assert abs(len(script.plain) / 1000 - minified) <= 0.1
    assert abs(len(script.gzipped) / 1000 - gzipped) <= 0.1


def test_the_banner_snippet_is_the_readmes() -> None:
    assert snippet("https://collector.example", "shop") in README


async def test_served_gzipped_when_accepted_and_revalidated_by_etag(
    collector: CollectorFactory,
) -> None:
    c = await collector()
    script = load_tracker()
    plain = await c.client.get("/t.js", headers={"Accept-Encoding": "identity"})
    assert plain.status == 200
    assert await plain.read() == script.plain
    assert "Content-Encoding" not in plain.headers
    assert plain.headers["Vary"] == "Accept-Encoding"
    zipped = await c.client.get(
        "/t.js", headers={"Accept-Encoding": "gzip, br"}, auto_decompress=False
    )
    assert zipped.headers["Content-Encoding"] == "gzip"
    body = await zipped.read()
    assert len(body) < len(script.plain)
    assert gzip.decompress(body) == script.plain
    again = await c.client.get("/t.js", headers={"If-None-Match": plain.headers["ETag"]})
    assert again.status == 304
