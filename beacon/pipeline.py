"""From raw request facts to a stored event: consent, enrichment and minimisation."""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from ashiato.beacon import raw as r
from ashiato.beacon.automation import AutomationRules, automated_reason
from ashiato.beacon.columns import COLUMNS, withheld
from ashiato.beacon.consent import ConsentDecision, ConsentPolicy, decide, retention_class
from ashiato.beacon.consent_signals import NO_SIGNALS, ConsentSignals
from ashiato.beacon.event import Event
from ashiato.beacon.geo import GeoInfo, GeoLookup
from ashiato.beacon.language import primary_language
from ashiato.beacon.netaddr import TrustedProxies, client_ip, normalize_ip, truncate_ip
from ashiato.beacon.raw import raw_values
from ashiato.beacon.referrer import ReferrerClassifier
from ashiato.beacon.text import CHECKED_FIELDS, check_clean, clean
from ashiato.beacon.useragent import UserAgentParser
from ashiato.beacon.vocabulary import ALWAYS

_NO_GEO = GeoInfo()
_INDEX = {name: i for i, name in enumerate(COLUMNS)}
_EPOCH = date(1970, 1, 1).toordinal()


@functools.lru_cache(maxsize=1024)
def _day(days: int) -> date:
    """The date `days` after 1970-01-01 (the UTC day of a timestamp), cached: hits share days."""
    return date.fromordinal(_EPOCH + days)


@functools.lru_cache(maxsize=256)
def _withheld_at(
    purposes: frozenset[str], kind: str, suppressed: bool
) -> tuple[tuple[int, Any], ...]:
    """(column index, empty value) of each column a hit may not keep (`beacon.columns`)."""
    return tuple((_INDEX[c.name], c.empty) for c in withheld(purposes, kind, suppressed))


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
    token_issued_ms: int = 0  # when the e-mail token was made; 0: unknown or no token


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
        automation: AutomationRules | None = None,
    ) -> None:
        self.policy = policy
        self.user_agents = user_agents
        self.geo = geo
        self.referrers = referrers
        self.trusted_proxies = trusted_proxies
        self._visitor_key = visitor_key
        self._keep_full_ip = keep_full_ip
        self._max = max_field_length
        self.automation = automation or AutomationRules()
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

        The same work the loader does for a spooled raw record (`row`), for one hit at hand.
        """
        decision = decision or self.decide(hit)
        visitor = (
            visitor_pseudonym(hit.visitor_cookie, self._visitor_key) if hit.visitor_cookie else None
        )
        values = dict(zip(COLUMNS, self.row(raw_values(hit, decision, visitor)), strict=True))
        del values["day"]  # the event derives it from ts_ms
        values["is_bot"] = bool(values["is_bot"])
        return Built(Event(**values), decision)

    def row(self, raw: list[Any]) -> list[Any]:
        """The events-table row of one raw record (`beacon.raw`), its values in column order.

        Every value is worked out first; then each column whose purpose the hit did not grant
        (per `beacon.columns`) is emptied, so the rule lives in one table, not in this code.
        """
        cut = self._cut
        kind, user_agent, purposes = raw[r.KIND], raw[r.USER_AGENT], raw[r.PURPOSES]
        ip, truncated, geo = self._addresses(raw[r.PEER], raw[r.XFF], raw[r.FORWARDED])
        device = self.user_agents.parse(user_agent)
        ts_ms, host, props = raw[r.TS_MS], raw[r.HOST], raw[r.PROPS]
        automated = automated_reason(
            kind=kind,
            user_agent=user_agent,
            device=device,
            asn=geo.asn,
            issued_ms=raw[r.TOKEN_ISSUED_MS],
            ts_ms=ts_ms,
            rules=self.automation,
        )
        url, referrer = cut(raw[r.URL]), cut(raw[r.REFERRER])
        ref = self.referrers.classify(referrer, url)
        # `necessary` is always granted, whatever a decision built elsewhere lists.
        granted = tuple(purposes) if ALWAYS in purposes else (ALWAYS, *purposes)
        values = [
            raw[r.EVENT_ID],
            ts_ms,
            _day(ts_ms // 86_400_000),
            kind,
            cut(raw[r.SITE], 128),
            cut(raw[r.NAME], 128),
            url,
            referrer,
            ref.medium,
            ref.source,
            ref.term,
            truncated,
            (ip or None) if self._keep_full_ip else None,
            cut(host, 255) if host else None,
            cut(user_agent, 512),
            device.browser,
            device.browser_version,
            device.os,
            device.os_version,
            device.device,
            int(device.is_bot),
            automated,
            cut(raw[r.LANGUAGE], 35).lower() or primary_language(raw[r.ACCEPT_LANGUAGE]),
            cut(raw[r.SCREEN], 16),
            geo.country,
            geo.region,
            geo.city,
            geo.asn,
            geo.as_org,
            raw[r.VISITOR_ID],
            None,  # member_id: filled only by linking, later
            cut(raw[r.CAMPAIGN], 128),
            raw[r.RECIPIENT] or None,
            cut(raw[r.TARGET_URL]),
            cut(raw[r.METHOD], 16),
            raw[r.STATUS],
            raw[r.BYTES_SENT],
            raw[r.REQUEST_TIME_MS],
            granted,
            raw[r.CONSENT_SIGNAL],
            self.policy.version,
            retention_class(purposes, kind),
            raw[r.SOURCE],
            cut(json.dumps(props, ensure_ascii=False), 4096) if props else "",
        ]
        for index, empty in _withheld_at(frozenset(purposes), kind, bool(raw[r.SUPPRESSED])):
            values[index] = empty
        return values

    def _cut(self, text: str, limit: int = 0) -> str:
        """Truncate a field to its limit (the configured maximum unless a smaller one is given)."""
        limit = limit or self._max
        return text if len(text) <= limit else text[:limit]
