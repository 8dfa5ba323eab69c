"""User-Agent parsing: device classes, bots, mail proxies, link scanners and hostile input."""

from __future__ import annotations

import pytest
import user_agents
from hypothesis import given
from hypothesis import strategies as st

from ashiato.beacon.crawlers import CrawlerList
from ashiato.beacon.errors import BeaconError
from ashiato.beacon.useragent import (
    MAX_USER_AGENT_LENGTH,
    Device,
    UserAgentParser,
    is_generic_mail_fetcher,
)

# Building the parser compiles ua-parser's regexes; once per module is plenty.
PARSER = UserAgentParser()
DEVICE_CLASSES = {"desktop", "mobile", "tablet", "bot", "other"}

CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.130 Safari/537.36"
)
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
SAFARI_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.2 Safari/605.1.15"
)
EDGE_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1"
)
ANDROID_PHONE = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.144 Mobile Safari/537.36"
)
IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.2 Mobile/15E148 Safari/604.1"
)
ANDROID_TABLET = (
    "Mozilla/5.0 (Linux; Android 13; SM-X200) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
GOOGLEBOT_SMARTPHONE = (
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/120.0.6099.216 Mobile Safari/537.36 "
    "(compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
)
BINGBOT = "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"
GMAIL_PROXY = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)
YAHOO_PROXY = "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html"


@pytest.mark.parametrize(
    ("user_agent", "browser", "version", "os", "device"),
    [
        (CHROME_WINDOWS, "Chrome", "120.0.6099", "Windows", "desktop"),
        (FIREFOX_LINUX, "Firefox", "121.0", "Linux", "desktop"),
        (SAFARI_MAC, "Safari", "17.2", "Mac OS X", "desktop"),
        (EDGE_WINDOWS, "Edge", "120.0.2210", "Windows", "desktop"),
        (IPHONE, "Mobile Safari", "17.2", "iOS", "mobile"),
        (ANDROID_PHONE, "Chrome Mobile", "120.0.6099", "Android", "mobile"),
        (IPAD, "Mobile Safari", "17.2", "iOS", "tablet"),
        (ANDROID_TABLET, "Chrome", "120.0.0", "Android", "tablet"),
    ],
)
def test_people_browsing(user_agent: str, browser: str, version: str, os: str, device: str) -> None:
    parsed = PARSER.parse(user_agent)
    assert (parsed.browser, parsed.browser_version, parsed.os, parsed.device) == (
        browser,
        version,
        os,
        device,
    )
    assert not parsed.is_bot
    assert parsed.automated == ""


def test_os_versions() -> None:
    assert PARSER.parse(IPHONE).os_version == "17.2"
    assert PARSER.parse(ANDROID_PHONE).os_version == "14"
    assert PARSER.parse(SAFARI_MAC).os_version == "10.15.7"


@pytest.mark.parametrize("user_agent", [GOOGLEBOT, GOOGLEBOT_SMARTPHONE, BINGBOT])
def test_crawlers_are_bots(user_agent: str) -> None:
    parsed = PARSER.parse(user_agent)
    assert parsed.is_bot
    assert parsed.device == "bot"
    assert parsed.automated == ""


@pytest.mark.parametrize(
    "user_agent",
    [
        "curl/8.5.0",
        "Wget/1.21.4",
        "python-requests/2.31.0",
        "Go-http-client/1.1",
        "Barracuda Sentinel (EE)",
        "Mozilla/5.0 (compatible; Mimecast URL Protect)",
        "Proofpoint URL Defense",
        "Mozilla/5.0 (Windows NT; Windows NT 10.0; en-US) WindowsPowerShell/5.1.19041.3570",
    ],
)
def test_fetchers_and_security_scanners_are_link_scanners(user_agent: str) -> None:
    parsed = PARSER.parse(user_agent)
    assert parsed.automated == "link_scanner"
    assert parsed.is_bot
    assert parsed.device == "bot"


@pytest.mark.parametrize("user_agent", [GMAIL_PROXY, YAHOO_PROXY])
def test_mail_image_proxies(user_agent: str) -> None:
    parsed = PARSER.parse(user_agent)
    assert parsed.automated == "mail_proxy"
    # The proxy stands for a person opening the message, and says nothing of their device.
    assert not parsed.is_bot
    assert parsed.device == "other"


def test_generic_mozilla_is_only_flagged_by_the_explicit_helper() -> None:
    assert is_generic_mail_fetcher("Mozilla/5.0")
    assert is_generic_mail_fetcher(" Mozilla/5.0 ")
    assert not is_generic_mail_fetcher(IPHONE)
    assert not is_generic_mail_fetcher("Mozilla/5.0 (compatible)")
    assert not is_generic_mail_fetcher("")
    parsed = PARSER.parse("Mozilla/5.0")
    assert parsed.automated == ""
    assert not parsed.is_bot


@pytest.mark.parametrize("user_agent", ["", " ", "\x00\x01", "garbage ☃ ua", "()" * 300])
def test_empty_and_garbage_user_agents(user_agent: str) -> None:
    parsed = PARSER.parse(user_agent)
    assert parsed.device in DEVICE_CLASSES
    assert parsed.browser == "Other"


def test_huge_user_agents_are_truncated_before_parsing() -> None:
    huge = CHROME_WINDOWS + " x" * 1_000_000
    assert PARSER.parse(huge) == PARSER.parse(huge[:MAX_USER_AGENT_LENGTH])
    assert PARSER.parse(huge).browser == "Chrome"


def test_repeated_user_agents_come_from_the_cache() -> None:
    parser = UserAgentParser(cache_size=2)
    first = parser.parse(IPHONE)
    assert parser.parse(IPHONE) is first
    parser.parse(IPAD)
    parser.parse(ANDROID_PHONE)
    # Evicted as least recently used: parsed again to an equal but new value.
    again = parser.parse(IPHONE)
    assert again == first
    assert again is not first


def test_a_zero_cache_still_parses() -> None:
    assert UserAgentParser(cache_size=0).parse(IPHONE).device == "mobile"


def test_a_negative_cache_size_fails_loudly() -> None:
    with pytest.raises(BeaconError):
        UserAgentParser(cache_size=-1)


def _check(parsed: Device) -> None:
    assert parsed.device in DEVICE_CLASSES
    assert parsed.automated in {"", "mail_proxy", "link_scanner"}
    assert parsed.is_bot == (parsed.device == "bot")


@given(st.text(max_size=2_000))
def test_arbitrary_text_never_raises(user_agent: str) -> None:
    _check(PARSER.parse(user_agent))


@given(
    st.sampled_from([CHROME_WINDOWS, IPHONE, GOOGLEBOT, GMAIL_PROXY, "curl/8.5.0"]),
    st.text(max_size=200),
)
def test_noise_around_real_user_agents_never_raises(user_agent: str, noise: str) -> None:
    _check(PARSER.parse(noise + user_agent + noise))


# --- the crawler-user-agents list ---------------------------------------------------------------


def test_every_example_of_the_crawler_list_is_a_bot() -> None:
    # The list's own examples, read by ua-parser's engine rather than Python's `re`.
    from crawleruseragents import CRAWLER_USER_AGENTS_DATA

    crawlers = CrawlerList()
    missed = [
        ua for entry in CRAWLER_USER_AGENTS_DATA for ua in entry["instances"] if ua not in crawlers
    ]
    assert not missed


@pytest.mark.parametrize(
    "user_agent",
    [CHROME_WINDOWS, FIREFOX_LINUX, SAFARI_MAC, EDGE_WINDOWS, IPHONE, ANDROID_PHONE, IPAD],
)
def test_browsers_are_not_on_the_crawler_list(user_agent: str) -> None:
    assert user_agent not in CrawlerList()


SKYPE_PREVIEW = "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5"
HEADLESS_CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/76.0.3803.0 Safari/537.36"
)


@pytest.mark.parametrize(
    "user_agent",
    [
        SKYPE_PREVIEW,  # the link previews of Skype and Teams chats
        HEADLESS_CHROME,  # what sandboxes open a link in
        "Microsoft Office Existence Discovery",  # Office checking a link before a click
        "Microsoft Office Protocol Discovery",
    ],
)
def test_fetchers_only_the_crawler_list_knows_are_bots(user_agent: str) -> None:
    assert not user_agents.parse(user_agent).is_bot  # ua-parser and user-agents alone miss it
    parsed = PARSER.parse(user_agent)
    assert parsed.is_bot and parsed.device == "bot"
    assert parsed.automated == ""  # what fetched is named only for e-mail hits
