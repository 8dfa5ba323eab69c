"""Tell where a visit came from: a search engine and its keyword, a social site, e-mail, an ad.

Every hit goes through `ReferrerClassifier.classify`, so all host tables are folded into one
dict at start-up and a lookup costs a handful of dict probes per host, whatever the table size.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Final
from urllib.parse import unquote, unquote_to_bytes, urlsplit

from ashiato.beacon.errors import BeaconError

__all__ = ["ReferrerClassifier", "ReferrerInfo", "own_host_name"]

# Longer headers are padding or abuse; the first 8 KiB hold any real host and keyword.
MAX_REFERRER_LENGTH: Final = 8192
MAX_TERM_LENGTH: Final = 500


@dataclass(frozen=True, slots=True)
class ReferrerInfo:
    """Where a visit came from, as a channel, a site and the words searched for."""

    medium: str  # "", "internal", "search", "social", "email", "paid", "unknown"
    source: str  # "google", "facebook", a bare host name, ...; "" when none
    term: str  # the decoded search keyword; "" when none or unknown


_DIRECT: Final = ReferrerInfo("", "", "")
_UNPARSEABLE: Final = ReferrerInfo("unknown", "", "")


@dataclass(frozen=True, slots=True)
class _Engine:
    """A search engine: where its keyword sits and how to read keywords that are not UTF-8."""

    source: str
    params: tuple[str, ...]  # lowercased query parameter names, preferred first
    legacy: tuple[str, ...] = ()  # codecs to try, strictly, when the bytes are not UTF-8


@dataclass(frozen=True, slots=True)
class _Site:
    """A non-search site that stands for a channel, such as a social network or a webmail."""

    medium: str
    source: str


_Rule = _Engine | _Site

# Sites that pre-date UTF-8 everywhere still send old links and forms without a charset
# parameter. EUC-JP goes before Shift_JIS: EUC byte pairs often also read as half-width
# katakana in Shift_JIS, while Shift_JIS kana and kanji lead bytes are invalid in EUC-JP.
_JAPANESE: Final = ("euc_jp", "cp932")
_CHINESE: Final = ("gb18030",)
_KOREAN: Final = ("cp949",)

# Host patterns: "a.b" is that host only; ".a.b" is a.b and every host under it; a trailing
# "*" stands for a country or generic ending such as "com", "de", "co.jp" or "com.br".
_SEARCH_ENGINES: Final[tuple[tuple[_Engine, tuple[str, ...]], ...]] = (
    (
        _Engine("google", ("q",)),
        (
            "google.*",
            "www.google.*",
            "images.google.*",
            "m.google.*",
            "encrypted.google.com",
            "ipv6.google.com",
        ),
    ),
    (_Engine("bing", ("q",)), (".bing.com",)),
    (_Engine("yahoo", ("p", "q")), (".search.yahoo.com",)),
    (_Engine("yahoo_japan", ("p",), _JAPANESE), (".search.yahoo.co.jp",)),
    (_Engine("yahoo_taiwan", ("p",), ("big5hkscs",)), (".tw.search.yahoo.com",)),
    (_Engine("yahoo_hongkong", ("p",), ("big5hkscs",)), (".hk.search.yahoo.com",)),
    (_Engine("baidu", ("wd", "word"), _CHINESE), ("baidu.com", "www.baidu.com", "m.baidu.com")),
    (_Engine("yandex", ("text",), ("cp1251",)), (".yandex.*", ".ya.ru")),
    (_Engine("duckduckgo", ("q",)), (".duckduckgo.com",)),
    (_Engine("naver", ("query",), _KOREAN), (".search.naver.com",)),
    (_Engine("goo", ("mt",), _JAPANESE), (".search.goo.ne.jp",)),
    (_Engine("ecosia", ("q",)), (".ecosia.org",)),
    (_Engine("seznam", ("q",)), (".search.seznam.cz",)),
    (
        _Engine("sogou", ("query", "keyword"), _CHINESE),
        ("sogou.com", "www.sogou.com", "m.sogou.com"),
    ),
    (_Engine("360", ("q",), _CHINESE), ("so.com", "www.so.com", "m.so.com")),
    (_Engine("daum", ("q",), _KOREAN), (".search.daum.net",)),
    (_Engine("ask", ("q",)), ("ask.com", "www.ask.com")),
    (_Engine("aol", ("q", "query")), (".search.aol.com",)),
    (_Engine("qwant", ("q",)), (".qwant.com",)),
    (_Engine("startpage", ("query", "q")), (".startpage.com",)),
    (_Engine("brave", ("q",)), ("search.brave.com",)),
    (_Engine("kagi", ("q",)), ("kagi.com",)),
    (_Engine("biglobe", ("q",), _JAPANESE), (".search.biglobe.ne.jp",)),
    (_Engine("nifty", ("q", "text"), _JAPANESE), (".search.nifty.com",)),
    (_Engine("rakuten", ("qt",), _JAPANESE), (".websearch.rakuten.co.jp",)),
    (_Engine("coccoc", ("query",)), ("coccoc.com", "www.coccoc.com")),
)

_SOCIAL_SITES: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    ("facebook", (".facebook.com", "fb.me", ".fb.com")),
    ("instagram", (".instagram.com",)),
    ("twitter", ("t.co", ".twitter.com", ".x.com")),
    ("linkedin", (".linkedin.com", "lnkd.in")),
    ("reddit", (".reddit.com", "redd.it")),
    ("youtube", (".youtube.com", "youtu.be")),
    ("pinterest", (".pinterest.*", "pin.it")),
    ("tiktok", (".tiktok.com",)),
    ("line", (".line.me",)),
    ("hatena_bookmark", ("b.hatena.ne.jp",)),
    ("mixi", (".mixi.jp",)),
    ("threads", (".threads.net", ".threads.com")),
    ("bluesky", (".bsky.app",)),
    ("weibo", (".weibo.com", ".weibo.cn", "t.cn")),
    ("vk", (".vk.com",)),
    ("telegram", ("t.me", "web.telegram.org")),
    ("whatsapp", ("web.whatsapp.com", "wa.me")),
    ("tumblr", (".tumblr.com",)),
    ("quora", (".quora.com",)),
    ("hacker_news", ("news.ycombinator.com",)),
)

_WEBMAIL_SITES: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    ("gmail", ("mail.google.com", "inbox.google.com")),
    ("outlook", ("outlook.live.com", "outlook.office.com", "outlook.office365.com")),
    ("yahoo_mail", (".mail.yahoo.com",)),
    ("yahoo_japan_mail", (".mail.yahoo.co.jp",)),
    ("aol_mail", ("mail.aol.com",)),
    ("yandex_mail", ("mail.yandex.*",)),
    ("proton_mail", ("mail.proton.me",)),
    ("naver_mail", ("mail.naver.com",)),
    ("qq_mail", ("mail.qq.com",)),
    ("zoho_mail", ("mail.zoho.*",)),
)

# Any other webmail host is recognised by its first label.
_WEBMAIL_PREFIXES: Final = ("mail.", "webmail.")

# Second-level labels under which country domains register names: google.co.jp, yandex.com.tr.
_COUNTRY_SECOND_LEVELS: Final = frozenset({"co", "com", "ne", "or", "net", "org", "ac", "go"})

# Parameters naming the charset a search form submitted its keyword in; "oe" (output) last
# because the keyword follows the input encoding when both are given.
_CHARSET_PARAMS: Final = ("ie", "ei", "inputencoding", "enc", "oe")

# Charset names as sites spell them (lowercased, "_" as "-") to the Python codec to read them
# with. Where browsers actually send a superset (windows-31j for Shift_JIS, GB18030 for GBK),
# the superset is used. An allowlist also keeps bytes-to-bytes codecs such as "zlib" out.
_CODECS: Final = {
    **dict.fromkeys(("utf-8", "utf8", "unicode-1-1-utf-8"), "utf-8"),
    **dict.fromkeys(
        ("shift-jis", "sjis", "s-jis", "x-sjis", "cp932", "windows-31j", "ms932", "ms-kanji"),
        "cp932",
    ),
    **dict.fromkeys(("euc-jp", "eucjp", "x-euc-jp", "ujis"), "euc_jp"),
    **dict.fromkeys(("iso-2022-jp", "jis", "csiso2022jp"), "iso2022_jp"),
    **dict.fromkeys(
        ("gbk", "gb2312", "gb18030", "cp936", "x-gbk", "euc-cn", "chinese", "csgb2312"),
        "gb18030",
    ),
    **dict.fromkeys(("big5", "big-5", "cp950", "x-x-big5", "big5-hkscs", "cn-big5"), "big5hkscs"),
    **dict.fromkeys(
        ("euc-kr", "euckr", "cp949", "uhc", "windows-949", "ks-c-5601-1987", "korean"), "cp949"
    ),
    **dict.fromkeys(("windows-1251", "cp1251", "x-cp1251"), "cp1251"),
    **dict.fromkeys(("koi8-r", "koi8r"), "koi8_r"),
    **dict.fromkeys(
        ("iso-8859-1", "latin1", "latin-1", "windows-1252", "cp1252", "us-ascii", "ascii"),
        "cp1252",
    ),
}

# Click identifiers that ad networks append to landing pages, and the network they imply.
_CLICK_IDS: Final = (
    ("gclid", "google"),
    ("gbraid", "google"),
    ("wbraid", "google"),
    ("dclid", "google"),
    ("msclkid", "bing"),
    ("yclid", "yandex"),
)
# A landing page without one of these parameters (or an escape that may spell one) names no
# campaign: no need to parse it.
_MAYBE_CAMPAIGN: Final = re.compile(
    r"[?&]\s*(?:utm_medium|" + "|".join(name for name, _ in _CLICK_IDS) + r")\s*=|%",
    re.IGNORECASE,
)
_PAID_MEDIUMS: Final = frozenset(
    {
        "cpc",
        "ppc",
        "paid",
        "paidsearch",
        "paid-search",
        "paid_search",
        "display",
        "cpm",
        "paidsocial",
        "paid-social",
        "paid_social",
    }
)
_EMAIL_MEDIUMS: Final = frozenset({"email", "e-mail", "e_mail", "newsletter"})

# Control characters in a keyword are noise from broken encoders; they become spaces and are
# then collapsed with the rest of the whitespace.
_CONTROLS: Final = {code: " " for code in (*range(0x20), *range(0x7F, 0xA0))}


class ReferrerClassifier:
    """Classify a hit's Referer header (and landing page URL) into medium, source and term."""

    def __init__(self, own_hosts: Iterable[str] = ()) -> None:
        self._own_hosts = frozenset(own_host_name(host) for host in own_hosts)
        rules: dict[str, _Rule] = {}
        for engine, patterns in _SEARCH_ENGINES:
            rules.update(dict.fromkeys(patterns, engine))
        for source, patterns in _SOCIAL_SITES:
            rules.update(dict.fromkeys(patterns, _Site("social", source)))
        for source, patterns in _WEBMAIL_SITES:
            rules.update(dict.fromkeys(patterns, _Site("email", source)))
        self._rules = rules
        # Referrers repeat (search result pages, social sites, the site's own pages); parsing and
        # decoding one costs tens of microseconds on every hit.
        self._referrer_info = functools.lru_cache(maxsize=32_768)(self._from_referrer)

    def classify(self, referrer: str, page_url: str = "") -> ReferrerInfo:
        """Say which channel, site and keyword brought a visitor to `page_url`."""
        seen = self._referrer_info(referrer[:MAX_REFERRER_LENGTH].strip())
        if seen.medium == "internal" or not _MAYBE_CAMPAIGN.search(page_url):
            return seen
        campaign = _campaign(page_url[:MAX_REFERRER_LENGTH])
        if campaign is None:
            return seen
        medium, implied_source = campaign
        # A known engine or network in the referrer names the source better than a tag that
        # marketers type by hand.
        if seen.medium in ("search", "social", "email") and seen.source:
            source = seen.source
        else:
            source = implied_source or seen.source
        return ReferrerInfo(medium, source, seen.term)

    def _from_referrer(self, referrer: str) -> ReferrerInfo:
        """Classify the Referer header alone."""
        if not referrer:
            return _DIRECT
        try:
            parts = urlsplit(referrer)
            host = parts.hostname
        except ValueError:
            # Malformed brackets or netlocs that change under NFKC normalisation.
            return _UNPARSEABLE
        if parts.scheme not in ("http", "https") or not host:
            return _UNPARSEABLE
        host = host.rstrip(".")
        bare = host.removeprefix("www.")
        if bare in self._own_hosts:
            return ReferrerInfo("internal", bare, "")
        rule = self._lookup(host)
        if isinstance(rule, _Site):
            return ReferrerInfo(rule.medium, rule.source, "")
        if host.startswith(_WEBMAIL_PREFIXES):
            return ReferrerInfo("email", bare, "")
        if rule is None:
            return ReferrerInfo("unknown", bare, "") if bare else _UNPARSEABLE
        return ReferrerInfo("search", rule.source, _search_term(rule, parts.query, parts.fragment))

    def _lookup(self, host: str) -> _Rule | None:
        """Find the rule for a host, the most specific pattern first."""
        for key in _host_keys(host.split(".")):
            rule = self._rules.get(key)
            if rule is not None:
                return rule
        return None


def own_host_name(host: str) -> str:
    """Normalise one of the site's own host names the way referrer hosts are normalised."""
    name = host.strip().lower()
    if "/" in name or "@" in name:
        raise BeaconError(f"own host {host!r} is not a host name")
    # Drop a port; urlsplit also reports IPv6 hosts without their brackets.
    bracketed = name.startswith("[")
    name = name[1:].partition("]")[0] if bracketed else name.partition(":")[0]
    name = name.rstrip(".").removeprefix("www.")
    if not name:
        raise BeaconError(f"own host {host!r} is not a host name")
    return name


def _host_keys(labels: list[str]) -> Iterator[str]:
    """Yield the table keys that could match a host, most specific first."""
    for start in range(len(labels)):
        names = [".".join(labels[start:])]
        names.extend(_with_country_wildcard(labels[start:]))
        for name in names:
            if start == 0:
                yield name
            yield "." + name


def _with_country_wildcard(labels: list[str]) -> Iterator[str]:
    """Yield a host with its country or generic ending replaced by "*"."""
    if (
        len(labels) >= 3
        and labels[-2] in _COUNTRY_SECOND_LEVELS
        and len(labels[-1]) == 2
        and labels[-1].isalpha()
    ):
        yield ".".join(labels[:-2]) + ".*"
    if len(labels) >= 2 and 2 <= len(labels[-1]) <= 3 and labels[-1].isalpha():
        yield ".".join(labels[:-1]) + ".*"


def _raw_params(query: str) -> dict[str, str]:
    """Split a query string into lowercased names and still-encoded values, first one wins."""
    params: dict[str, str] = {}
    for part in query.split("&"):
        name, _, value = part.partition("=")
        key = unquote(name).strip().lower()
        if key and key not in params:
            params[key] = value
    return params


def _search_term(engine: _Engine, query: str, fragment: str) -> str:
    """Pull the keyword out of a search engine's result URL."""
    params = _raw_params(query)
    raw = next((params[name] for name in engine.params if name in params), None)
    if raw is None and "=" in fragment:
        # Some result pages kept the keyword after "#" so the server never saw it.
        params = _raw_params(fragment)
        raw = next((params[name] for name in engine.params if name in params), None)
    if not raw:
        return ""
    codec = next(
        (_charset(params[name]) for name in _CHARSET_PARAMS if name in params),
        None,
    )
    return _clean(_decode(raw, codec, engine.legacy))


def _charset(raw: str) -> str | None:
    """Map a charset parameter to a codec, or None for a name we do not read."""
    name = unquote(raw).strip().lower().replace("_", "-")
    return _CODECS.get(name)


def _decode(raw: str, codec: str | None, legacy: tuple[str, ...]) -> str:
    """Decode a percent-encoded form value, in the charset it names or the likeliest one."""
    data = unquote_to_bytes(raw.replace("+", " "))
    if codec is not None:
        return data.decode(codec, "replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    for fallback in legacy:
        try:
            return data.decode(fallback)
        except UnicodeDecodeError:
            continue
    return data.decode("utf-8", "replace")


def _clean(term: str) -> str:
    """Collapse whitespace (full-width spaces too) and cap a keyword's length."""
    collapsed = " ".join(term.translate(_CONTROLS).split())
    return collapsed[:MAX_TERM_LENGTH].rstrip()


def _campaign(page_url: str) -> tuple[str, str] | None:
    """Read an ad click or an e-mail campaign off the landing page URL, as (medium, source)."""
    try:
        query = urlsplit(page_url).query
    except ValueError:
        return None
    if not query:
        return None
    params = _raw_params(query)
    for name, network in _CLICK_IDS:
        if params.get(name):
            return "paid", network
    medium = _tag(params, "utm_medium")
    if not medium:
        return None
    source = _tag(params, "utm_source")
    if medium in _PAID_MEDIUMS:
        return "paid", source
    if medium in _EMAIL_MEDIUMS:
        return "email", source
    return None


def _tag(params: dict[str, str], name: str) -> str:
    """Read one UTM tag as lowercased text, "" when absent."""
    raw = params.get(name, "")
    return _clean(unquote(raw.replace("+", " "), errors="replace")).lower() if raw else ""
