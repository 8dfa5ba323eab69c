"""From raw request facts to a stored event: consent, enrichment and minimisation."""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
from collections.abc import Sequence
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


def _props(props: dict[str, Any] | None) -> str:
    """A hit's custom properties as the JSON text stored (at most 4096 characters)."""
    return json.dumps(props, ensure_ascii=False)[:4096] if props else ""


# Headers repeat: parsing each one costs more than the rest of its language column.
_primary_language = functools.lru_cache(maxsize=4096)(primary_language)


@functools.lru_cache(maxsize=256)
def _consent_facts(
    purposes: tuple[str, ...], kind: str, suppressed: bool
) -> tuple[tuple[str, ...], str, tuple[tuple[int, Any], ...]]:
    """What a hit's consent decides, worked out once per combination: the purposes stored
    (`necessary` is always granted, whatever a decision built elsewhere lists), the retention
    class, and (column index, empty value) of each column it may not keep (`beacon.columns`)."""
    granted = purposes if ALWAYS in purposes else (ALWAYS, *purposes)
    withheld_at = tuple((_INDEX[c.name], c.empty) for c in withheld(purposes, kind, suppressed))
    return granted, retention_class(purposes, kind), withheld_at


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
        """The events-table row of one raw record (`beacon.raw`), its values in column order."""
        return [column[0] for column in self.columns([raw])]

    def columns(self, raws: Sequence[list[Any]]) -> list[list[Any]]:
        """The events-table rows of raw records (`beacon.raw`), one list per column, in
        column order: the loader's batch, built column by column rather than row by row.

        Every value is worked out first; then each column whose purpose a hit did not grant
        (per `beacon.columns`) is emptied in that hit's row, so the rule lives in one table,
        not in this code.
        """
        if not raws:
            return [[] for _ in COLUMNS]
        raw = list(zip(*raws, strict=True))
        cut, at_most = self._cut_all, self._max
        kind, user_agent, ts_ms = raw[r.KIND], raw[r.USER_AGENT], raw[r.TS_MS]
        facts = [
            _consent_facts(tuple(p), k, bool(s))
            for p, k, s in zip(raw[r.PURPOSES], kind, raw[r.SUPPRESSED], strict=True)
        ]
        addresses = [
            self._addresses(p, x, f)
            for p, x, f in zip(raw[r.PEER], raw[r.XFF], raw[r.FORWARDED], strict=True)
        ]
        geos = [a[2] for a in addresses]
        parse = self.user_agents.parse
        devices = [parse(u) for u in user_agent]
        rules = self.automation
        automated = [
            automated_reason(
                kind=k, user_agent=u, device=d, asn=g.asn, issued_ms=i, ts_ms=t, rules=rules
            )
            for k, u, d, g, i, t in zip(
                kind, user_agent, devices, geos, raw[r.TOKEN_ISSUED_MS], ts_ms, strict=True
            )
        ]
        url, referrer = cut(raw[r.URL], at_most), cut(raw[r.REFERRER], at_most)
        classify = self.referrers.classify
        refs = [classify(f, u) for f, u in zip(referrer, url, strict=True)]
        keep_ip = self._keep_full_ip
        columns: list[list[Any]] = [
            list(raw[r.EVENT_ID]),
            list(ts_ms),
            [_day(t // 86_400_000) for t in ts_ms],
            list(kind),
            cut(raw[r.SITE], 128),
            cut(raw[r.NAME], 128),
            url,
            referrer,
            [f.medium for f in refs],
            [f.source for f in refs],
            [f.term for f in refs],
            [a[1] for a in addresses],
            [(a[0] or None) if keep_ip else None for a in addresses],
            [(h if len(h) <= 255 else h[:255]) if h else None for h in raw[r.HOST]],
            cut(user_agent, 512),
            [d.browser for d in devices],
            [d.browser_version for d in devices],
            [d.os for d in devices],
            [d.os_version for d in devices],
            [d.device for d in devices],
            [int(d.is_bot) for d in devices],
            automated,
            [
                (given[:35] if len(given) > 35 else given).lower() or _primary_language(header)
                for given, header in zip(raw[r.LANGUAGE], raw[r.ACCEPT_LANGUAGE], strict=True)
            ],
            cut(raw[r.SCREEN], 16),
            [g.country for g in geos],
            [g.region for g in geos],
            [g.city for g in geos],
            [g.asn for g in geos],
            [g.as_org for g in geos],
            list(raw[r.VISITOR_ID]),
            [None] * len(raws),  # member_id: filled only by linking, later
            cut(raw[r.CAMPAIGN], 128),
            [v or None for v in raw[r.RECIPIENT]],
            cut(raw[r.TARGET_URL], at_most),
            cut(raw[r.METHOD], 16),
            list(raw[r.STATUS]),
            list(raw[r.BYTES_SENT]),
            list(raw[r.REQUEST_TIME_MS]),
            [f[0] for f in facts],
            list(raw[r.CONSENT_SIGNAL]),
            [self.policy.version] * len(raws),
            [f[1] for f in facts],
            list(raw[r.SOURCE]),
            [_props(p) for p in raw[r.PROPS]],
        ]
        for i, (_, _, withheld_at) in enumerate(facts):
            for index, empty in withheld_at:
                columns[index][i] = empty
        return columns

    @staticmethod
    def _cut_all(values: Sequence[str], limit: int) -> list[str]:
        """Each text truncated to `limit` characters."""
        return [v if len(v) <= limit else v[:limit] for v in values]

    def _cut(self, text: str, limit: int = 0) -> str:
        """Truncate a field to its limit (the configured maximum unless a smaller one is given)."""
        limit = limit or self._max
        return text if len(text) <= limit else text[:limit]
