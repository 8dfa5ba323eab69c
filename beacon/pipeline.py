"""From raw request facts to a stored event: consent, enrichment and minimisation."""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
from dataclasses import dataclass, field, replace
from typing import Any

from ashiato.beacon.columns import withheld
from ashiato.beacon.consent import ConsentDecision, ConsentPolicy, decide, retention_class
from ashiato.beacon.consent_signals import NO_SIGNALS, ConsentSignals
from ashiato.beacon.event import Event
from ashiato.beacon.geo import GeoInfo, GeoLookup
from ashiato.beacon.language import primary_language
from ashiato.beacon.netaddr import TrustedProxies, client_ip, normalize_ip, truncate_ip
from ashiato.beacon.referrer import ReferrerClassifier
from ashiato.beacon.text import CHECKED_FIELDS, check_clean, clean
from ashiato.beacon.useragent import UserAgentParser, is_generic_mail_fetcher
from ashiato.beacon.vocabulary import ALWAYS

_NO_GEO = GeoInfo()


@dataclass(frozen=True, slots=True)
class Hit:
    """What one request says, as plain values; nothing here is trusted yet."""

    kind: str
    ts_ms: int
    source: str
    peer: str
    site: str = ""
    name: str = ""
    url: str = ""
    referrer: str = ""
    user_agent: str = ""
    accept_language: str = ""
    language: str = ""
    screen: str = ""
    x_forwarded_for: str | None = None
    forwarded: str | None = None
    gpc: bool = False
    dnt: bool = False
    consent: str | None = None
    signals: ConsentSignals = NO_SIGNALS  # TCF and Consent Mode parameters, as sent
    visitor_cookie: str = ""
    campaign: str = ""
    recipient: str = ""
    target_url: str = ""
    props: dict[str, Any] = field(default_factory=dict)
    host: str | None = None
    method: str = ""
    status: int = 0
    bytes_sent: int = 0
    request_time_ms: int = 0
    suppressed: bool = False


@dataclass(frozen=True, slots=True)
class Built:
    """The event to store and the consent decision the response must honour."""

    event: Event
    decision: ConsentDecision


def checked_hit(hit: Hit) -> Hit:
    """`hit` with its header text cleaned; InvalidInput if an id or a URL is dirty.

    Which text is refused and which is cleaned, and why: `beacon.text`.
    """
    for name in CHECKED_FIELDS:
        check_clean(getattr(hit, name), name)
    user_agent, accept_language = clean(hit.user_agent), clean(hit.accept_language)
    language = clean(hit.language)
    if (user_agent, accept_language, language) == (
        hit.user_agent,
        hit.accept_language,
        hit.language,
    ):
        return hit
    return replace(hit, user_agent=user_agent, accept_language=accept_language, language=language)


def visitor_pseudonym(cookie: str, key: bytes) -> str:
    """The stored visitor id: a keyed hash of the cookie, so the id alone identifies no one."""
    return hmac.new(key, cookie.encode(), hashlib.sha256).hexdigest()[:32]


class Enricher:
    """Builds events; its parsers, readers and keys are created once and reused per hit."""

    def __init__(
        self,
        *,
        policy: ConsentPolicy,
        user_agents: UserAgentParser,
        geo: GeoLookup,
        referrers: ReferrerClassifier,
        trusted_proxies: TrustedProxies,
        visitor_key: bytes,
        keep_full_ip: bool = True,
        max_field_length: int = 2048,
    ) -> None:
        self.policy = policy
        self.user_agents = user_agents
        self.geo = geo
        self.referrers = referrers
        self.trusted_proxies = trusted_proxies
        self._visitor_key = visitor_key
        self._keep_full_ip = keep_full_ip
        self._max = max_field_length
        # Parsing addresses with `ipaddress` was the costliest step per hit; they repeat.
        self._addresses = functools.lru_cache(maxsize=65_536)(self._resolve)

    def set_visitor_key(self, key: bytes) -> None:
        """Use a new visitor pseudonym key from the next hit on (keys were reloaded)."""
        self._visitor_key = key

    def decide(self, hit: Hit) -> ConsentDecision:
        """The consent decision for `hit`'s signals."""
        return decide(self.policy, hit.consent, gpc=hit.gpc, dnt=hit.dnt, signals=hit.signals)

    def client_ip(self, hit: Hit) -> str:
        """The client's address, believing forwarding headers only from trusted proxies."""
        return self._addresses(hit.peer, hit.x_forwarded_for, hit.forwarded)[0]

    def _resolve(
        self, peer: str, xff: str | None, forwarded: str | None
    ) -> tuple[str, str, GeoInfo]:
        """The client's address, normalized, its truncated form, and where it is."""
        ip = normalize_ip(client_ip(peer, xff, forwarded, self.trusted_proxies))
        return ip, truncate_ip(ip), self.geo.lookup(ip) if ip else _NO_GEO

    def build(self, hit: Hit, decision: ConsentDecision | None = None) -> Built:
        """Turn a hit into the event to store, keeping only what its consent allows.

        Every value is worked out first; then each column whose purpose the hit did not grant
        (per `beacon.columns`) is emptied, so the rule lives in one table, not in this code.
        """
        cut = self._cut
        decision = decision or self.decide(hit)
        ip, truncated, geo = self._addresses(hit.peer, hit.x_forwarded_for, hit.forwarded)
        device = self.user_agents.parse(hit.user_agent)
        automated = device.automated
        if hit.kind == "email_open" and not automated and is_generic_mail_fetcher(hit.user_agent):
            automated = "mail_proxy"
        elif hit.kind == "email_click" and device.device == "bot" and not automated:
            automated = "link_scanner"
        ref = self.referrers.classify(cut(hit.referrer), cut(hit.url))
        values: dict[str, Any] = {
            "ts_ms": hit.ts_ms,
            "kind": hit.kind,
            "site": cut(hit.site, 128),
            "name": cut(hit.name, 128),
            "url": cut(hit.url),
            "referrer": cut(hit.referrer),
            "ref_medium": ref.medium,
            "ref_source": ref.source,
            "ref_term": ref.term,
            "ip": truncated,
            "ip_full": (ip or None) if self._keep_full_ip else None,
            "host": cut(hit.host, 255) if hit.host else None,
            "user_agent": cut(hit.user_agent, 512),
            "browser": device.browser,
            "browser_version": device.browser_version,
            "os": device.os,
            "os_version": device.os_version,
            "device": device.device,
            "is_bot": device.is_bot,
            "automated": automated,
            "language": cut(hit.language, 35).lower() or primary_language(hit.accept_language),
            "screen": cut(hit.screen, 16),
            "country": geo.country,
            "region": geo.region,
            "city": geo.city,
            "asn": geo.asn,
            "as_org": geo.as_org,
            "visitor_id": (
                visitor_pseudonym(hit.visitor_cookie, self._visitor_key)
                if hit.visitor_cookie
                else None
            ),
            "campaign": cut(hit.campaign, 128),
            "recipient": hit.recipient or None,
            "target_url": cut(hit.target_url),
            "method": cut(hit.method, 16),
            "status": hit.status,
            "bytes_sent": hit.bytes_sent,
            "request_time_ms": hit.request_time_ms,
            # `necessary` is always granted, whatever a decision built elsewhere lists.
            "purposes": decision.purposes
            if ALWAYS in decision.purposes
            else (ALWAYS, *decision.purposes),
            "consent_signal": decision.signal,
            "policy_version": self.policy.version,
            "retention_class": retention_class(decision.purposes, hit.kind),
            "source": hit.source,
            "props": cut(json.dumps(hit.props, ensure_ascii=False), 4096) if hit.props else "",
        }
        for column in withheld(decision.purposes, hit.kind, hit.suppressed):
            values[column.name] = column.empty
        return Built(Event(**values), decision)

    def _cut(self, text: str, limit: int = 0) -> str:
        """Truncate a field to its limit (the configured maximum unless a smaller one is given)."""
        limit = limit or self._max
        return text if len(text) <= limit else text[:limit]
