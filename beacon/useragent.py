"""Turn a User-Agent header into a browser, an OS and a device class.

ua-parser 1.0 with its Rust accelerator does the regex work; user-agents 2.2 decides whether
the result is a phone, a tablet, a PC or a spider, and the crawler-user-agents list
(`beacon.crawlers`) names the bots ua-parser does not know. user-agents would normally run
ua-parser's legacy pure-Python API itself, which is roughly ten times slower, so
`_Classification` hands it the fast parser's result instead and keeps only its classification
rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Final, Literal

from ua_parser import BestAvailableResolver, DefaultedResult, Parser, load_lazy_builtins
from user_agents.parsers import (
    UserAgent,
    parse_browser,
    parse_device,
    parse_operating_system,
)

from ashiato.beacon.crawlers import CrawlerList
from ashiato.beacon.errors import BeaconError
from ashiato.beacon.vocabulary import Automated

__all__ = ["Device", "UserAgentParser", "is_generic_mail_fetcher"]

# Real user agents stay well under this; anything longer is padding or an attack, and the
# regexes' cost grows with the input.
MAX_USER_AGENT_LENGTH: Final = 512

# Image proxies that fetch an e-mail's pictures on behalf of a reader. The UA says nothing
# about the reader's own device, so the collector records these opens apart.
_MAIL_PROXY_TOKENS: Final = (
    "googleimageproxy",  # Gmail: "... (via ggpht.com GoogleImageProxy)"
    "yahoomailproxy",  # Yahoo Mail
)

# Security gateways that open every link in a message before the reader sees it. Matched
# anywhere in the lowercased UA: none of these words appear in a browser's own UA.
_SCANNER_TOKENS: Final = (
    "barracuda",
    "mimecast",
    "proofpoint",
    "symantec",
    "trendmicro",
    "trend micro",
    "ironport",
    "forcepoint",
    "fireeye",
    "windowspowershell/",  # Invoke-WebRequest keeps a browser-like prefix
)

# Scripted HTTP clients. Matched only at the start of the UA, because words such as "java"
# can appear inside real browsers' strings.
_FETCHER_PREFIXES: Final = (
    "curl/",
    "wget/",
    "python-requests/",
    "python-urllib/",
    "python-httpx/",
    "python/",
    "aiohttp/",
    "httpx/",
    "go-http-client/",
    "java/",
    "okhttp/",
    "apache-httpclient/",
    "libwww-perl/",
    "node-fetch",
    "axios/",
    "undici",
    "httpie/",
    "powershell/",
)

# What Apple Mail Privacy Protection and a few other prefetchers send: no platform at all.
_GENERIC_MAIL_FETCHER_UA: Final = "Mozilla/5.0"


@dataclass(frozen=True, slots=True)
class Device:
    """What a user agent says about the software and hardware behind a hit."""

    browser: str
    browser_version: str
    os: str
    os_version: str
    device: str  # "desktop", "mobile", "tablet", "bot", "other"
    is_bot: bool
    automated: Automated | Literal[""]  # "", "mail_proxy" or "link_scanner"


class _Classification(UserAgent):  # type: ignore[misc]  # user-agents ships no type hints
    """user-agents' device rules, fed from ua-parser 1.0's fast result.

    `UserAgent.__init__` would parse the string again with ua-parser's legacy API; the
    properties (`is_mobile`, `is_tablet`, `is_pc`, `is_bot`) only read the four attributes
    set here, built with user-agents' own helpers so their shape is unchanged.
    """

    def __init__(self, result: DefaultedResult) -> None:
        ua, os, device = result.user_agent, result.os, result.device
        self.ua_string = result.string
        self.browser = parse_browser(ua.family, ua.major, ua.minor, ua.patch, ua.patch_minor)
        self.os = parse_operating_system(os.family, os.major, os.minor, os.patch, os.patch_minor)
        self.device = parse_device(device.family, device.brand, device.model)


def is_generic_mail_fetcher(user_agent: str) -> bool:
    """Tell whether a UA is the bare "Mozilla/5.0" that Apple Mail Privacy Protection sends.

    Kept out of `UserAgentParser.parse` because the same UA on a page view means nothing in
    particular; only the e-mail open endpoint should read it as a proxy fetch.
    """
    return user_agent.strip() == _GENERIC_MAIL_FETCHER_UA


def _automation(user_agent: str) -> Automated | Literal[""]:
    """Name the kind of machine that sent a UA, or "" for none we recognise."""
    lowered = user_agent.lower()
    if any(token in lowered for token in _MAIL_PROXY_TOKENS):
        return "mail_proxy"
    if lowered.startswith(_FETCHER_PREFIXES) or any(token in lowered for token in _SCANNER_TOKENS):
        return "link_scanner"
    return ""


class UserAgentParser:
    """Parse User-Agent headers, remembering the most recent ones."""

    def __init__(self, cache_size: int = 10_000) -> None:
        if cache_size < 0:
            raise BeaconError(f"cache_size must be 0 or more, got {cache_size}")
        # No cache inside ua-parser: ours holds the finished `Device`, which is what repeats.
        self._parser = Parser(BestAvailableResolver(load_lazy_builtins()))
        self._crawlers = CrawlerList()
        self._cached_parse = lru_cache(maxsize=cache_size)(self._parse_uncached)

    def parse(self, user_agent: str) -> Device:
        """Describe the browser, OS and device class behind a User-Agent header."""
        return self._cached_parse(user_agent[:MAX_USER_AGENT_LENGTH])

    def _parse_uncached(self, user_agent: str) -> Device:
        """Parse one (already truncated) UA without the cache."""
        result = self._parser.parse(user_agent).with_defaults()
        seen = _Classification(result)
        automated = _automation(user_agent)
        # A mail proxy stands for a person opening a message, so it is not counted as a bot
        # even where ua-parser or the crawler list files it as one (both do Yahoo's).
        is_bot = automated == "link_scanner" or (
            automated == "" and (bool(seen.is_bot) or user_agent in self._crawlers)
        )
        return Device(
            browser=result.user_agent.family,
            browser_version=str(seen.browser.version_string),
            os=result.os.family,
            os_version=str(seen.os.version_string),
            device=_device_class(seen, is_bot=is_bot, automated=automated),
            is_bot=is_bot,
            automated=automated,
        )


def _device_class(seen: _Classification, *, is_bot: bool, automated: str) -> str:
    """Pick the one device class to report, most telling first."""
    if is_bot:
        return "bot"
    if automated:
        # A proxy's UA describes the proxy's machine, not the reader's.
        return "other"
    # Tablet before mobile: user-agents treats some tablets as both.
    if seen.is_tablet:
        return "tablet"
    if seen.is_mobile:
        return "mobile"
    if seen.is_pc:
        return "desktop"
    return "other"
