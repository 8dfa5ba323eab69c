"""Which e-mail opens and clicks are marked automated, and which signal is named for each."""

from __future__ import annotations

import pytest

from ashiato.beacon.automation import AutomationRules, automated_reason
from ashiato.beacon.scanner_networks import SCANNER_NETWORKS, parse_asn, parse_asns
from ashiato.beacon.useragent import UserAgentParser
from ashiato.beacon.vocabulary import AUTOMATED_REASONS

PARSER = UserAgentParser()
RULES = AutomationRules.from_settings(open_seconds=5, click_seconds=10, extra_asns=[64500])

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
GMAIL_PROXY = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)
SLACKBOT = "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"
HEADLESS_CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/76.0.3803.0 Safari/537.36"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
OFFICE_CHECK = "Microsoft Office Existence Discovery"

ISSUED_MS = 1_700_000_000_000
LATER_MS = ISSUED_MS + 3_600_000  # an hour after the link was made
HOME_ASN = 7922  # a consumer ISP's network
MICROSOFT = 8075


def _reason(
    kind: str = "email_open",
    user_agent: str = CHROME,
    asn: int = HOME_ASN,
    issued_ms: int = ISSUED_MS,
    ts_ms: int = LATER_MS,
    rules: AutomationRules = RULES,
) -> str:
    return automated_reason(
        kind=kind,
        user_agent=user_agent,
        device=PARSER.parse(user_agent),
        asn=asn,
        issued_ms=issued_ms,
        ts_ms=ts_ms,
        rules=rules,
    )


@pytest.mark.parametrize("kind", ["email_open", "email_click"])
def test_a_person_reading_later_is_not_automated(kind: str) -> None:
    assert _reason(kind) == ""


@pytest.mark.parametrize(
    ("kind", "seconds"),
    [("email_open", 5), ("email_click", 10)],
)
def test_a_hit_within_the_threshold_of_issue_is_too_soon(kind: str, seconds: int) -> None:
    assert _reason(kind, ts_ms=ISSUED_MS) == "too_soon"
    assert _reason(kind, ts_ms=ISSUED_MS + seconds * 1000 - 1) == "too_soon"
    assert _reason(kind, ts_ms=ISSUED_MS + seconds * 1000) == ""


def test_a_hit_stamped_before_its_issue_time_is_too_soon() -> None:
    # The collector's clock a little behind the signer's: the hit still came at once.
    assert _reason(ts_ms=ISSUED_MS - 2000) == "too_soon"


def test_tokens_without_an_issue_time_are_never_too_soon() -> None:
    assert _reason(issued_ms=0, ts_ms=1) == ""
    assert _reason("email_click", issued_ms=0, ts_ms=1) == ""


def test_a_zero_threshold_turns_the_timing_check_off() -> None:
    off = AutomationRules.from_settings(open_seconds=0, click_seconds=0)
    assert _reason(ts_ms=ISSUED_MS, rules=off) == ""
    assert _reason("email_click", ts_ms=ISSUED_MS - 2000, rules=off) == ""
    assert AutomationRules().open_seconds == 0  # what an Enricher given no rules uses


@pytest.mark.parametrize("kind", ["email_open", "email_click"])
@pytest.mark.parametrize("asn", sorted(SCANNER_NETWORKS))
def test_hits_from_a_mail_security_network_are_scanner_network(kind: str, asn: int) -> None:
    # A Chrome user agent, an hour later: only the network gives a scanner away.
    assert _reason(kind, asn=asn) == "scanner_network"


def test_the_setting_adds_networks_to_the_built_in_ones() -> None:
    assert _reason(asn=64500) == "scanner_network"
    assert _reason(asn=64500, rules=AutomationRules()) == ""
    assert _reason(asn=MICROSOFT, rules=AutomationRules()) == "scanner_network"
    assert _reason(asn=0) == ""  # no ASN database, or an address it does not know


@pytest.mark.parametrize("user_agent", [SLACKBOT, GOOGLEBOT, OFFICE_CHECK, HEADLESS_CHROME])
@pytest.mark.parametrize("kind", ["email_open", "email_click"])
def test_known_bots_and_fetchers_are_fetcher_agents(kind: str, user_agent: str) -> None:
    assert _reason(kind, user_agent) == "fetcher_agent"


def test_what_the_user_agent_names_comes_first() -> None:
    assert _reason(user_agent=GMAIL_PROXY, asn=MICROSOFT, ts_ms=ISSUED_MS) == "mail_proxy"
    assert _reason("email_click", "curl/8.5.0", MICROSOFT, ts_ms=ISSUED_MS) == "link_scanner"
    assert _reason(user_agent=SLACKBOT, asn=MICROSOFT, ts_ms=ISSUED_MS) == "fetcher_agent"
    assert _reason(asn=MICROSOFT, ts_ms=ISSUED_MS) == "scanner_network"


def test_apples_bare_mozilla_is_a_mail_proxy_on_opens_only() -> None:
    assert _reason(user_agent="Mozilla/5.0") == "mail_proxy"
    assert _reason("email_click", "Mozilla/5.0") == ""
    assert _reason("pageview", "Mozilla/5.0") == ""


@pytest.mark.parametrize("kind", ["pageview", "event", "access_log"])
def test_other_hits_are_judged_by_their_user_agent_alone(kind: str) -> None:
    # Network and timing speak of e-mail scanners; people browse from Microsoft's network too.
    assert _reason(kind, asn=MICROSOFT, issued_ms=0, ts_ms=ISSUED_MS) == ""
    assert _reason(kind, GOOGLEBOT) == ""  # a bot, but `is_bot` says so; nothing was fetched
    assert _reason(kind, "curl/8.5.0") == "link_scanner"


def test_every_reason_given_is_one_of_the_vocabulary() -> None:
    seen = {
        _reason(kind, user_agent, asn, ts_ms=ts_ms)
        for kind in ("email_open", "email_click")
        for user_agent in (CHROME, GMAIL_PROXY, SLACKBOT, "curl/8.5.0", "Mozilla/5.0")
        for asn in (HOME_ASN, MICROSOFT)
        for ts_ms in (ISSUED_MS, LATER_MS)
    }
    assert seen == {"", *AUTOMATED_REASONS}


@pytest.mark.parametrize(
    ("text", "number"), [("8075", 8075), ("AS8075", 8075), (" as15324 ", 15324)]
)
def test_asns_are_written_with_or_without_as(text: str, number: int) -> None:
    assert parse_asn(text) == number


@pytest.mark.parametrize("text", ["", "AS", "Microsoft", "0", "-1", "4294967296", "8075.1", "٨٠٧٥"])
def test_anything_else_is_not_an_asn(text: str) -> None:
    with pytest.raises(ValueError, match="not an AS number"):
        parse_asn(text)


def test_a_list_of_asns_names_the_bad_one() -> None:
    assert parse_asns(["AS64500", "64501"]) == {64500, 64501}
    with pytest.raises(ValueError, match="'AS-1'"):
        parse_asns(["AS64500", "AS-1"])
