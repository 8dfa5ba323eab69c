"""Cross-origin answers: credentialed CORS only for pages of the tracked sites' own hosts.

A page on one of `own_hosts` may read the collector's answers (`GET /consent`, say) and have
its cookies sent with the call. Any other origin gets no Access-Control-Allow-* header, so the
browser keeps the answer from it. With no own host configured nothing is allowed: echoing any
Origin with credentials would let every site on the web read a visitor's consent state under
the visitor's cookies. Only https origins count unless `cors_allow_http` is set (development),
because a page served over http can be rewritten by anyone on the network path.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import web

from ashiato.beacon.referrer import own_host_name
from ashiato.collector.appkeys import CORS
from ashiato.collector.config import CollectionConfig


@dataclass(frozen=True, slots=True)
class CorsPolicy:
    """The origins allowed to read answers with credentials, built once at start-up."""

    hosts: frozenset[str]
    allow_http: bool = False

    @classmethod
    def from_config(cls, collection: CollectionConfig) -> CorsPolicy:
        """The policy the collection settings give (`own_hosts`, `cors_allow_http`)."""
        hosts = frozenset(own_host_name(host) for host in collection.own_hosts)
        return cls(hosts, collection.cors_allow_http)

    def allows(self, origin: str) -> bool:
        """True when `origin` (an Origin header's value) is a page of an own host."""
        if not self.hosts:
            return False
        try:
            parts = urlsplit(origin)
            host = parts.hostname
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError:
            return False
        schemes = ("https", "http") if self.allow_http else ("https",)
        # An Origin is scheme://host[:port] and nothing more; anything else is not a browser's.
        if parts.scheme not in schemes or not host or "@" in parts.netloc:
            return False
        if parts.path or parts.query or parts.fragment:
            return False
        return host.rstrip(".").removeprefix("www.") in self.hosts


def allow_origin(request: web.Request, response: web.StreamResponse) -> None:
    """Let an own host's page read this answer and keep its cookies on the call."""
    policy = request.app[CORS]
    if not policy.hosts:
        return
    # The answer differs by Origin from here on, so shared caches must keep them apart.
    response.headers["Vary"] = "Origin"
    origins = request.headers.getall("Origin", ())
    if len(origins) == 1 and policy.allows(origins[0]):
        response.headers["Access-Control-Allow-Origin"] = origins[0]
        response.headers["Access-Control-Allow-Credentials"] = "true"
