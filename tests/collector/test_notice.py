"""The privacy notice's access-log section says what the running settings make true."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest

from ashiato.beacon.columns import BY_NAME, EVENT_COLUMNS
from ashiato.beacon.vocabulary import PERIOD_NAMES, PURPOSES
from ashiato.collector.config import load_config
from ashiato.collector.hits import CONSENT_COOKIE, VISITOR_COOKIE
from ashiato.collector.notice import FORMATS, LANGUAGES, render_notice
from ashiato.retention.provisions import ThirdParty

LANGS = tuple(LANGUAGES)


def render(lang: str = "en", fmt: str = "md", parties: Any = (), **settings: Any) -> str:
    config = load_config({k: str(v) for k, v in settings.items()}, env={})
    return render_notice(config, list(parties), lang, fmt)


class _Page(HTMLParser):
    """The text a reader sees, the page's language, and each table row as its cells."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.lang = ""
        self.text: list[str] = []
        self.rows: list[list[str]] = []
        self.in_cell = False
        self.feed(page)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "html":
            self.lang = dict(attrs).get("lang") or ""
        elif tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th") and self.rows:
            self.rows[-1].append("")
            self.in_cell = True

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self.in_cell = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self.in_cell:
            self.rows[-1][-1] += data

    def row(self, first_cell: str) -> list[str]:
        return next(r for r in self.rows if r and r[0] == first_cell)

    @property
    def all_text(self) -> str:
        return "".join(self.text)


def page(**settings: Any) -> _Page:
    return _Page(render(fmt="html", **settings))


@pytest.mark.parametrize("lang", LANGS)
def test_every_column_of_the_schema_is_described(lang: str) -> None:
    rows = _Page(render(lang, "html"))
    for column in EVENT_COLUMNS:
        meaning = column.meaning_ja if lang == "ja" else column.meaning
        assert rows.row(column.name)[1] == meaning, column.name


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("fmt", FORMATS)
def test_both_languages_render_in_both_formats(lang: str, fmt: str) -> None:
    text = render(lang, fmt)
    title = LANGUAGES[lang].title
    if fmt == "html":
        parsed = _Page(text)
        assert parsed.lang == lang and text.startswith("<!DOCTYPE html>")
        assert title in parsed.all_text
    else:
        assert text.startswith(f"# {title}\n")
        # Every purpose has its section, with the columns it needs as table rows.
        for purpose in PURPOSES:
            assert f"(`{purpose}`)" in text or f"（`{purpose}`）" in text
        assert "| `member_id` |" in text and "| `ashiato_vid` |" in text


def test_retention_days_are_the_configured_ones() -> None:
    default = page()
    changed = page(retention_statistics_days=30, retention_audit_days=400)
    assert default.row("statistics")[2] == "395 days"
    assert changed.row("statistics")[2] == "30 days"
    assert changed.row("audit")[2] == "400 days"
    assert "kept for 400 days" in changed.all_text  # where requests are said to be recorded
    ja = _Page(render("ja", "html", retention_email_days=45))
    assert ja.row("email")[2] == "45日間"
    assert "開封とクリックの記録は45日間保存します" in ja.all_text


def test_every_retention_class_has_a_row_in_both_languages() -> None:
    for lang in LANGS:
        rows = _Page(render(lang, "html"))
        for name in PERIOD_NAMES:
            assert rows.row(name)[1], (lang, name)


def test_cookie_lifetime_is_the_configured_one() -> None:
    default, changed = page(), page(cookie_days=30)
    for cookie in (CONSENT_COOKIE, VISITOR_COOKIE):
        assert default.row(cookie)[1] == "395 days"
        assert changed.row(cookie)[1] == "30 days"
    assert _Page(render("ja", "html", cookie_days=1)).row(VISITOR_COOKIE)[1] == "1日間"


def test_the_consent_regime_changes_what_visitors_who_said_nothing_get() -> None:
    opt_in = render()
    assert "If you have made no choice, only the necessary purpose applies." in opt_in
    assert "set on your first visit" not in opt_in

    statistics = render(consent_regime="opt-out")
    assert (
        "these purposes apply until you refuse them: Necessary (`necessary`) and "
        "Statistics (`statistics`)."
    ) in statistics
    assert "set on your first visit" not in statistics

    personalized = render(consent_regime="opt-out", opt_out_purposes="statistics,personalization")
    assert "Statistics (`statistics`) and Personalization (`personalization`)." in personalized
    assert "the visitor cookie is set on your first visit" in personalized
    ja = render("ja", consent_regime="opt-out", opt_out_purposes="personalization")
    assert "次の利用目的を適用します：必須（`necessary`）およびパーソナライズ" in ja
    assert "訪問者クッキーは初回のアクセス時に設定します" in ja


def test_browser_signals_are_described_as_configured() -> None:
    both = render()
    assert "sends Global Privacy Control (`Sec-GPC`) or Do Not Track (`DNT`) and" in both
    gpc_only = render(honor_dnt="false")
    assert "sends Global Privacy Control (`Sec-GPC`) and" in gpc_only
    assert "Do Not Track (`DNT`) alone does not change which purposes apply." in gpc_only


def test_the_security_window_and_reverse_dns() -> None:
    default = page().all_text
    assert "we keep the full IP address (ip_full) and the full User-Agent text" in default
    assert "for 7 days" in default and "reverse-DNS lookup" not in default
    with_dns = page(security_window_days=3, reverse_dns="true").all_text
    assert (
        "reverse-DNS lookup of it (host) and the full User-Agent text (user_agent) for 3 days"
    ) in with_dns
    none = page(security_window_days=0)
    assert "We do not keep the full IP address" in none.all_text
    assert none.row("full_ip")[2] == "not kept"


def test_the_policy_version_and_the_collectors_host_are_named() -> None:
    text = page(policy_version="2026-04", public_url="https://collect.shop.example/").all_text
    assert "privacy policy version 2026-04" in text
    assert "Our collection server (collect.shop.example)" in text


def test_recipients_come_from_the_ledger_escaped_in_both_formats() -> None:
    parties = [
        ThirdParty("Ad <b>Partner</b> | KK", ("campaign",), ("device", "page views"), True, False),
        ThirdParty("Analytics Ltd", ("benchmarking",), ("daily page views",), False, True),
    ]
    html_page = render(fmt="html", parties=parties)
    assert "<b>" not in html_page and "Ad &lt;b&gt;Partner&lt;/b&gt; | KK" in html_page
    rows = _Page(html_page)
    assert rows.row("Ad <b>Partner</b> | KK")[1:] == [
        "campaign",
        "device, page views",
        "data of individual members",
    ]
    assert rows.row("Analytics Ltd")[3] == "aggregate statistics"
    markdown = render(parties=parties)
    assert "| Ad \\<b\\>Partner\\</b\\> \\| KK | campaign | device, page views |" in markdown
    assert "list no provision" not in markdown
    assert "list no provision" in render()
    assert "提供の形態" in render("ja", parties=parties)


def test_unknown_language_or_format_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="'fr'"):
        render("fr")
    with pytest.raises(ValueError, match="'pdf'"):
        render(fmt="pdf")


def test_every_language_words_every_purpose_class_and_signal() -> None:
    for words in LANGUAGES.values():
        assert set(words.purpose_names) == set(words.purpose_about) == set(PURPOSES)
        assert set(words.period_holds) == set(PERIOD_NAMES)
        kinds = {kind for column in EVENT_COLUMNS for kind in column.kept_by}
        assert kinds <= set(words.kept_by), words.lang


def test_names_the_wording_shows_as_code_are_real_columns() -> None:
    headers = {"Sec-GPC", "DNT"}
    for words in LANGUAGES.values():
        texts = [v for v in vars_of(words) if isinstance(v, str)]
        for text in texts:
            for name in re.findall(r"`([^`]+)`", text):
                assert name in BY_NAME or name in headers, (words.lang, name)


def vars_of(words: Any) -> list[Any]:
    values: list[Any] = []
    for field in words.__dataclass_fields__:
        value = getattr(words, field)
        if isinstance(value, dict):
            values += list(value.values())
        elif isinstance(value, tuple):
            values += list(value)
        else:
            values.append(value)
    return values
