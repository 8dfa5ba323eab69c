"""The access-log, cookie and web-beacon section of a privacy notice, from the running settings.

A privacy officer must be able to say at any time what the access log holds and for how long.
Every fact here comes from where it is enforced: the columns and the purpose each needs from
`beacon.columns`, the default purposes from `beacon.consent.decide`, the days of each class
from the retention policy the jobs run with, the cookies' names and lifetime from the code that
sets them, the recipients from the provision ledger. Change a setting, and the notice says so.
The words are in `collector.notice_text`; `ashiato policy render` and `GET /policy` both
render through `render_notice`.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from ashiato.beacon.columns import EVENT_COLUMNS
from ashiato.beacon.consent import ConsentPolicy, decide
from ashiato.beacon.vocabulary import PURPOSES, RETENTION_PERIODS, Purpose
from ashiato.collector._notice_doc import (
    Block,
    Bullets,
    Code,
    Heading,
    Inline,
    Para,
    Table,
    fill,
    joined,
    to_html,
    to_markdown,
)
from ashiato.collector.config import Config
from ashiato.collector.hits import CONSENT_COOKIE, VISITOR_COOKIE
from ashiato.collector.notice_text import FORMATS, LANGUAGES, Wording
from ashiato.collector.operations import retention_policy
from ashiato.retention.policy import RetentionPolicy
from ashiato.retention.provisions import ThirdParty

__all__ = ["FORMATS", "LANGUAGES", "render_notice"]


def render_notice(config: Config, parties: Sequence[ThirdParty], lang: str, fmt: str) -> str:
    """The notice in `lang` (a key of LANGUAGES) as `fmt` ("md" or "html").

    Raises ValueError naming the language or format when it is not one of those.
    """
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}; one of {', '.join(LANGUAGES)}")
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    blocks = _Notice(config, parties, LANGUAGES[lang]).blocks()
    return to_markdown(blocks) if fmt == "md" else to_html(blocks, lang)


class _Notice:
    """One rendering: the settings, the ledger and the words, made into blocks."""

    def __init__(self, config: Config, parties: Sequence[ThirdParty], words: Wording) -> None:
        self.config = config
        self.parties = parties
        self.w = words
        self.policy: RetentionPolicy = retention_policy(config)
        consent = config.consent
        granted = decide(
            ConsentPolicy(regime=consent.consent_regime, opt_out_purposes=consent.opt_out_purposes),
            None,
        ).purposes
        # What a visitor who said nothing is recorded under: the collector's own decision.
        self.defaults: tuple[Purpose, ...] = tuple(p for p in PURPOSES if p in granted)

    def blocks(self) -> list[Block]:
        w = self.w
        return [
            Heading(1, fill(w.title)),
            Para(fill(w.intro, version=self.config.consent.policy_version)),
            *self._recorded(),
            *self._retention(),
            *self._cookies(),
            *self._beacons(),
            *self._security(),
            Heading(2, fill(w.pseudonyms_heading)),
            Para(fill(w.pseudonyms)),
            Para(fill(w.pseudonym_key)),
            Heading(2, fill(w.linking_heading)),
            Para(fill(w.linking, days=self._days_of("marketing"))),
            Para(fill(w.linking_withdrawal)),
            Heading(2, fill(w.rights_heading)),
            Bullets(tuple(fill(right) for right in w.rights)),
            Para(fill(w.rights_how, days=self._days_of("audit"), cookie=Code(VISITOR_COOKIE))),
            Para(fill(w.rights_after_erasure)),
            *self._third_parties(),
        ]

    # --- facts in words ---------------------------------------------------------------------

    def _days(self, days: int) -> str:
        if days == 0:
            return self.w.not_kept
        return self.w.one_day if days == 1 else self.w.days.format(days=days)

    def _days_of(self, period: str) -> str:
        return self._days(self.policy.days_for(period))

    def _purpose(self, purpose: Purpose) -> Inline:
        name = self.w.purpose_names[purpose]
        return fill(self.w.purpose_heading, name=name, code=Code(purpose))

    def _list(self, items: Sequence[Inline], last: str) -> Inline:
        return joined(items, self.w.list_sep, last)

    # --- sections ---------------------------------------------------------------------------

    def _recorded(self) -> list[Block]:
        w, consent = self.w, self.config.consent
        rules = [fill(w.choice)]
        # The settings that honour a browser's signal, by their names in ConsentConfig.
        signals = {flag: getattr(consent, flag) for flag in ("honor_gpc", "honor_dnt")}
        honoured = [fill(w.signal_names[flag]) for flag, on in signals.items() if on]
        ignored = [fill(w.signal_names[flag]) for flag, on in signals.items() if not on]
        if honoured:
            rules.append(fill(w.signals_honoured, signals=self._list(honoured, w.or_last)))
        if ignored:
            rules.append(fill(w.signals_ignored, signals=self._list(ignored, w.or_last)))
        if len(self.defaults) > 1:
            named = [self._purpose(p) for p in self.defaults]
            rules.append(fill(w.default_opt_out, purposes=self._list(named, w.and_last)))
        else:
            rules.append(fill(w.default_opt_in))
        rules.append(fill(w.server_logs))
        out: list[Block] = [
            Heading(2, fill(w.recorded_heading)),
            Para(fill(w.recorded_intro)),
            Bullets(tuple(rules)),
        ]
        for purpose in PURPOSES:
            rows = tuple(
                ((Code(c.name),), (c.meaning_ja if w.lang == "ja" else c.meaning,))
                for c in EVENT_COLUMNS
                if c.needs == purpose
            )
            out += [
                Heading(3, self._purpose(purpose)),
                Para(fill(w.purpose_about[purpose])),
                Table(tuple(fill(h) for h in w.columns_head), rows),
            ]
        out.append(Para(fill(w.empty_note)))
        for column in EVENT_COLUMNS:
            for kind in sorted(column.kept_by):
                out.append(Para(fill(w.kept_by[kind], column=Code(column.name))))
        collection = self.config.collection
        geo = collection.geoip_city_db or collection.geoip_asn_db
        out.append(Para(fill(w.geo_on if geo else w.geo_off)))
        return out

    def _retention(self) -> list[Block]:
        w = self.w
        rows = tuple(
            ((Code(p.name),), fill(w.period_holds[p.name]), (self._days_of(p.name),))
            for p in RETENTION_PERIODS
        )
        return [
            Heading(2, fill(w.retention_heading)),
            Para(fill(w.retention_intro)),
            Table(tuple(fill(h) for h in w.retention_head), rows),
            Para(fill(w.blocks_note)),
            Para(fill(w.suppressions_note)),
        ]

    def _cookies(self) -> list[Block]:
        w = self.w
        host = urlsplit(self.config.server.base_url).hostname or self.config.server.base_url
        lifetime = (self._days(self.config.consent.cookie_days),)
        rows = (
            (
                (Code(CONSENT_COOKIE),),
                lifetime,
                fill(w.consent_cookie_purpose),
                fill(w.consent_cookie_when),
            ),
            (
                (Code(VISITOR_COOKIE),),
                lifetime,
                fill(w.visitor_cookie_purpose),
                fill(w.visitor_cookie_when),
            ),
        )
        out: list[Block] = [
            Heading(2, fill(w.cookies_heading)),
            Para(fill(w.cookies_intro, host=host)),
            Table(tuple(fill(h) for h in w.cookies_head), rows),
            Para(fill(w.no_visitor_cookie)),
        ]
        if "personalization" in self.defaults:
            out.append(Para(fill(w.visitor_cookie_by_default)))
        out.append(Para(fill(w.cookies_refuse)))
        return out

    def _beacons(self) -> list[Block]:
        w = self.w
        token_days = str(self.config.collection.token_days)
        return [
            Heading(2, fill(w.beacons_heading)),
            Para(fill(w.beacon_about)),
            Para(fill(w.email_about, token_days=token_days, days=self._days_of("email"))),
            Para(fill(w.email_optout)),
        ]

    def _security(self) -> list[Block]:
        w = self.w
        window = self.policy.full_ip
        if window == 0:
            text = fill(w.security_none)
        else:
            items = [fill(w.security_full_ip)]
            if self.config.collection.reverse_dns:
                items.append(fill(w.security_host))
            items.append(fill(w.security_user_agent))
            text = fill(
                w.security_kept, items=self._list(items, w.and_last), days=self._days(window)
            )
        return [Heading(2, fill(w.security_heading)), Para(text)]

    def _third_parties(self) -> list[Block]:
        w = self.w
        out: list[Block] = [Heading(2, fill(w.parties_heading))]
        if not self.parties:
            out.append(Para(fill(w.parties_none)))
        else:
            rows = tuple(
                (
                    (party.recipient,),
                    self._list([(p,) for p in party.purposes], w.list_sep),
                    self._list([(c,) for c in party.categories], w.list_sep),
                    self._list(self._forms(party), w.list_sep),
                )
                for party in self.parties
            )
            out += [
                Para(fill(w.parties_intro, days=self._days_of("provisions"))),
                Table(tuple(fill(h) for h in w.parties_head), rows),
            ]
        out.append(Para(fill(w.parties_suspended)))
        return out

    def _forms(self, party: ThirdParty) -> list[Inline]:
        forms: list[Inline] = []
        if party.per_member:
            forms.append((self.w.parties_per_member,))
        if party.aggregate:
            forms.append((self.w.parties_aggregate,))
        return forms
