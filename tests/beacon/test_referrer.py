"""Referrer classification: search keywords in every encoding, channels, and hostile input."""

from __future__ import annotations

from urllib.parse import quote_plus

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ashiato.beacon.errors import BeaconError
from ashiato.beacon.referrer import MAX_TERM_LENGTH, ReferrerClassifier, ReferrerInfo

CLASSIFIER = ReferrerClassifier(own_hosts=["www.ashiato.example", "Docs.Ashiato.Example:8443"])
MEDIUMS = {"", "internal", "search", "social", "email", "paid", "unknown"}


def _q(term: str, encoding: str = "utf-8") -> str:
    """Percent-encode a keyword as a search form would, in the given charset."""
    return quote_plus(term, encoding=encoding)


@pytest.mark.parametrize(
    ("referrer", "source", "term"),
    [
        # Google, across country domains, with and without a charset parameter.
        (
            "https://www.google.com/search?q=privacy+analytics&sca_esv=1",
            "google",
            "privacy analytics",
        ),
        (
            f"https://www.google.co.jp/search?q={_q('検索 テスト')}&ie=UTF-8",
            "google",
            "検索 テスト",
        ),
        (
            f"https://www.google.co.jp/search?q={_q('検索', 'shift_jis')}&ie=Shift_JIS",
            "google",
            "検索",
        ),
        ("https://www.google.com.br/search?q=an%C3%A1lise+de+dados", "google", "análise de dados"),
        ("https://www.google.de/search?q=datenschutz", "google", "datenschutz"),
        ("https://google.fr/search?q=vie+priv%C3%A9e", "google", "vie privée"),
        ("https://www.google.com/", "google", ""),
        ("https://www.google.co.uk/url?sa=t&source=web&rct=j", "google", ""),
        ("https://www.google.com/#q=fragment+only", "google", "fragment only"),
        # Bing, Yahoo and Yahoo! JAPAN.
        (f"https://www.bing.com/search?q={_q('こんにちは')}&form=QBLH", "bing", "こんにちは"),
        ("https://cn.bing.com/search?q=hello", "bing", "hello"),
        ("https://search.yahoo.com/search?p=web+beacons&fr=yfp-t", "yahoo", "web beacons"),
        ("https://uk.search.yahoo.com/search?p=cookie+banner", "yahoo", "cookie banner"),
        (
            f"https://search.yahoo.co.jp/search?p={_q('天気 東京')}&ei=UTF-8",
            "yahoo_japan",
            "天気 東京",
        ),
        (
            f"https://search.yahoo.co.jp/search?p={_q('天気', 'euc-jp')}&ei=EUC-JP",
            "yahoo_japan",
            "天気",
        ),
        (
            f"https://search.yahoo.co.jp/search?p={_q('足跡', 'shift_jis')}&ei=Shift_JIS",
            "yahoo_japan",
            "足跡",
        ),
        # Yahoo! JAPAN without "ei": old EUC-JP links are recognised by their bytes.
        (f"https://search.yahoo.co.jp/search?p={_q('天気', 'euc-jp')}", "yahoo_japan", "天気"),
        (f"https://search.yahoo.co.jp/search?p={_q('検索', 'shift_jis')}", "yahoo_japan", "検索"),
        (f"https://tw.search.yahoo.com/search?p={_q('你好')}", "yahoo_taiwan", "你好"),
        (
            f"https://hk.search.yahoo.com/search?p={_q('香港', 'big5')}&ei=big5",
            "yahoo_hongkong",
            "香港",
        ),
        # Baidu: UTF-8, GBK and GB2312 keywords, desktop "wd" and mobile "word".
        (f"https://www.baidu.com/s?ie=utf-8&wd={_q('数据分析')}", "baidu", "数据分析"),
        (f"https://www.baidu.com/s?wd={_q('数据分析', 'gbk')}&ie=gbk", "baidu", "数据分析"),
        (f"https://www.baidu.com/s?wd={_q('你好', 'gb2312')}&ie=gb2312", "baidu", "你好"),
        (f"https://www.baidu.com/s?wd={_q('你好', 'gbk')}", "baidu", "你好"),
        (f"https://m.baidu.com/s?word={_q('手机')}", "baidu", "手机"),
        # Yandex across its country domains.
        (f"https://yandex.ru/search/?text={_q('погода')}&lr=213", "yandex", "погода"),
        ("https://yandex.com.tr/search/?text=merhaba+d%C3%BCnya", "yandex", "merhaba dünya"),
        ("https://ya.ru/search/?text=test", "yandex", "test"),
        ("https://duckduckgo.com/?q=tracker+blocking&t=h_", "duckduckgo", "tracker blocking"),
        ("https://duckduckgo.com/", "duckduckgo", ""),
        (
            f"https://search.naver.com/search.naver?where=nexearch&query={_q('한글')}",
            "naver",
            "한글",
        ),
        (f"https://search.goo.ne.jp/web.jsp?MT={_q('あしあと')}&IE=UTF-8", "goo", "あしあと"),
        (f"https://search.goo.ne.jp/web.jsp?MT={_q('足跡', 'euc-jp')}&IE=EUC-JP", "goo", "足跡"),
        ("https://www.ecosia.org/search?method=index&q=trees", "ecosia", "trees"),
        ("https://search.seznam.cz/?q=po%C4%8Das%C3%AD", "seznam", "počasí"),
        (f"https://www.sogou.com/web?query={_q('搜索')}&ie=utf8", "sogou", "搜索"),
        (f"https://www.so.com/s?q={_q('搜索', 'gbk')}&ie=gbk", "360", "搜索"),
        (f"https://search.daum.net/search?w=tot&q={_q('검색')}", "daum", "검색"),
        ("https://www.ask.com/web?q=what+is+a+beacon", "ask", "what is a beacon"),
        ("https://search.aol.com/aol/search?q=mail", "aol", "mail"),
        ("https://www.qwant.com/?q=vie+priv%C3%A9e&t=web", "qwant", "vie privée"),
        ("https://www.startpage.com/do/search?query=privacy", "startpage", "privacy"),
        ("https://www.startpage.com/", "startpage", ""),
        ("https://search.brave.com/search?q=brave+search", "brave", "brave search"),
        (f"https://search.biglobe.ne.jp/cgi-bin/search2-b?q={_q('旅行')}", "biglobe", "旅行"),
        (f"https://search.nifty.com/websearch/search?q={_q('天気')}", "nifty", "天気"),
        (f"https://websearch.rakuten.co.jp/Web?qt={_q('楽天')}&col=OW", "rakuten", "楽天"),
        (f"https://coccoc.com/search?query={_q('thời tiết')}", "coccoc", "thời tiết"),
    ],
)
def test_search_engines_give_source_and_decoded_term(referrer: str, source: str, term: str) -> None:
    assert CLASSIFIER.classify(referrer) == ReferrerInfo("search", source, term)


def test_whitespace_in_terms_is_collapsed_including_full_width_spaces() -> None:
    term = "  東京\u3000 天気\t\n"
    referrer = "https://www.google.co.jp/search?q=" + _q(term)
    assert CLASSIFIER.classify(referrer).term == "東京 天気"


def test_control_characters_in_terms_become_spaces() -> None:
    assert CLASSIFIER.classify("https://www.bing.com/search?q=a%00b%1Fc").term == "a b c"


def test_terms_are_capped() -> None:
    referrer = "https://www.google.com/search?q=" + "a" * 2000
    assert CLASSIFIER.classify(referrer).term == "a" * MAX_TERM_LENGTH


def test_undecodable_bytes_become_replacement_characters() -> None:
    declared = CLASSIFIER.classify("https://search.yahoo.co.jp/search?p=%FF%FE&ei=UTF-8")
    undeclared = CLASSIFIER.classify("https://www.google.com/search?q=ok%FF")
    assert declared == ReferrerInfo("search", "yahoo_japan", "\ufffd\ufffd")
    assert undeclared.term == "ok\ufffd"


@pytest.mark.parametrize("charset", ["x-bogus", "zlib", "base64", "rot13", ""])
def test_unknown_or_non_text_charsets_are_ignored(charset: str) -> None:
    referrer = f"https://www.google.com/search?q=caf%C3%A9&ie={charset}"
    assert CLASSIFIER.classify(referrer).term == "café"


@pytest.mark.parametrize(
    ("referrer", "source"),
    [
        ("https://l.facebook.com/l.php?u=https%3A%2F%2Fashiato.example%2F", "facebook"),
        ("https://m.facebook.com/", "facebook"),
        ("https://www.instagram.com/", "instagram"),
        ("https://t.co/AbCdEf", "twitter"),
        ("https://x.com/someone/status/1", "twitter"),
        ("https://www.linkedin.com/feed/", "linkedin"),
        ("https://lnkd.in/abc", "linkedin"),
        ("https://out.reddit.com/t3_x", "reddit"),
        ("https://www.youtube.com/watch?v=abc", "youtube"),
        ("https://jp.pinterest.com/pin/1/", "pinterest"),
        ("https://www.pinterest.co.uk/", "pinterest"),
        ("https://www.tiktok.com/@someone", "tiktok"),
        ("https://line.me/R/msg/text/", "line"),
        ("https://b.hatena.ne.jp/entry/s/ashiato.example/", "hatena_bookmark"),
        ("https://mixi.jp/view_diary.pl", "mixi"),
        ("https://www.threads.net/@someone", "threads"),
        ("https://bsky.app/profile/someone", "bluesky"),
    ],
)
def test_social_sites(referrer: str, source: str) -> None:
    assert CLASSIFIER.classify(referrer) == ReferrerInfo("social", source, "")


@pytest.mark.parametrize(
    ("referrer", "source"),
    [
        ("https://mail.google.com/mail/u/0/", "gmail"),
        ("https://outlook.live.com/mail/0/inbox", "outlook"),
        ("https://outlook.office.com/mail/", "outlook"),
        ("https://mail.yahoo.com/d/folders/1", "yahoo_mail"),
        ("https://jp.mail.yahoo.co.jp/", "yahoo_japan_mail"),
        ("https://mail.yandex.ru/", "yandex_mail"),
        ("https://webmail.example.org/?_task=mail", "webmail.example.org"),
        ("https://mail.example.net/owa/", "mail.example.net"),
    ],
)
def test_webmail_hosts(referrer: str, source: str) -> None:
    assert CLASSIFIER.classify(referrer) == ReferrerInfo("email", source, "")


@pytest.mark.parametrize(
    "referrer",
    [
        "https://www.ashiato.example/pricing",
        "https://ashiato.example/",
        "http://WWW.ASHIATO.EXAMPLE/blog?q=x",
        "https://docs.ashiato.example/start",
    ],
)
def test_own_hosts_are_internal_with_or_without_www(referrer: str) -> None:
    assert CLASSIFIER.classify(referrer).medium == "internal"


def test_ipv6_own_hosts_match_bracketed_referrers() -> None:
    classifier = ReferrerClassifier(["[2001:db8::1]:8443"])
    assert classifier.classify("https://[2001:db8::1]:8443/a").medium == "internal"


def test_internal_wins_over_campaign_tags() -> None:
    info = CLASSIFIER.classify("https://ashiato.example/a", "https://ashiato.example/b?gclid=x")
    assert info.medium == "internal"


@pytest.mark.parametrize("own", ["", "  ", "https://ashiato.example/", "user@ashiato.example"])
def test_malformed_own_hosts_fail_loudly(own: str) -> None:
    with pytest.raises(BeaconError):
        ReferrerClassifier([own])


@pytest.mark.parametrize(
    ("referrer", "page_url", "expected"),
    [
        (
            f"https://www.google.com/search?q={_q('running shoes')}",
            "https://ashiato.example/?gclid=EAIaIQ",
            ReferrerInfo("paid", "google", "running shoes"),
        ),
        ("", "https://ashiato.example/?gclid=EAIaIQ", ReferrerInfo("paid", "google", "")),
        (
            "https://www.bing.com/",
            "https://ashiato.example/?msclkid=abc",
            ReferrerInfo("paid", "bing", ""),
        ),
        (
            "https://www.facebook.com/",
            "https://ashiato.example/?fbclid=x&utm_medium=paid&utm_source=fb",
            ReferrerInfo("paid", "facebook", ""),
        ),
        (
            "https://ads.example.net/",
            "https://ashiato.example/?utm_source=Partner&utm_medium=CPC",
            ReferrerInfo("paid", "partner", ""),
        ),
        (
            "",
            "https://ashiato.example/?utm_medium=display&utm_source=network",
            ReferrerInfo("paid", "network", ""),
        ),
        (
            "",
            "https://ashiato.example/?utm_source=newsletter&utm_medium=email",
            ReferrerInfo("email", "newsletter", ""),
        ),
        (
            "https://mail.google.com/",
            "https://ashiato.example/?utm_medium=email&utm_source=spring",
            ReferrerInfo("email", "gmail", ""),
        ),
    ],
)
def test_landing_page_tags_mark_paid_and_email(
    referrer: str, page_url: str, expected: ReferrerInfo
) -> None:
    assert CLASSIFIER.classify(referrer, page_url) == expected


def test_organic_facebook_click_ids_are_not_paid() -> None:
    info = CLASSIFIER.classify("https://l.facebook.com/", "https://ashiato.example/?fbclid=IwAR")
    assert info == ReferrerInfo("social", "facebook", "")


def test_unrelated_utm_medium_keeps_the_referrer() -> None:
    info = CLASSIFIER.classify("https://t.co/x", "https://ashiato.example/?utm_medium=social")
    assert info == ReferrerInfo("social", "twitter", "")


@pytest.mark.parametrize(
    ("referrer", "source"),
    [
        ("https://www.example.org/some/page", "example.org"),
        ("http://Blog.Example.COM.:8080/post", "blog.example.com"),
        ("https://docs.google.com/document/d/1", "docs.google.com"),
        ("https://google.example.com/search?q=x", "google.example.com"),
        ("https://news.example.co.jp/", "news.example.co.jp"),
    ],
)
def test_other_hosts_are_unknown_with_the_host_as_source(referrer: str, source: str) -> None:
    assert CLASSIFIER.classify(referrer) == ReferrerInfo("unknown", source, "")


def test_no_referrer_is_direct() -> None:
    assert CLASSIFIER.classify("") == ReferrerInfo("", "", "")
    assert CLASSIFIER.classify("   ") == ReferrerInfo("", "", "")


@pytest.mark.parametrize(
    "referrer",
    [
        "garbage",
        "/relative/path?q=x",
        "www.google.com/search?q=x",
        "ftp://ftp.example.org/",
        "android-app://com.google.android.gm/",
        "javascript:alert(1)",
        "data:text/html,hi",
        "http://",
        "https://[::1",
        "http://\uff10\uff0f",
        "https://user:pass@/",
    ],
)
def test_garbage_is_unknown_without_a_source(referrer: str) -> None:
    assert CLASSIFIER.classify(referrer) == ReferrerInfo("unknown", "", "")


def test_a_huge_referrer_is_classified_without_error() -> None:
    info = CLASSIFIER.classify("https://www.google.com/search?q=x" + "%E3%81%82" * 100_000)
    assert info.source == "google"
    assert len(info.term) <= MAX_TERM_LENGTH


def _check(info: ReferrerInfo) -> None:
    assert info.medium in MEDIUMS
    assert len(info.term) <= MAX_TERM_LENGTH
    assert info.term == info.term.strip()


@given(st.text(), st.text())
def test_arbitrary_text_never_raises(referrer: str, page_url: str) -> None:
    _check(CLASSIFIER.classify(referrer, page_url))


ENGINE_URLS = st.sampled_from(
    [
        "https://www.google.co.jp/search?",
        "https://search.yahoo.co.jp/search?",
        "https://www.baidu.com/s?",
        "https://yandex.ru/search/?",
        "https://search.goo.ne.jp/web.jsp?",
        "https://search.naver.com/search.naver?",
    ]
)
QUERY_TEXT = st.text(alphabet=st.sampled_from("pqwdMTtextiequryeiIE=&%+0123456789ABCDEFxyz検"))


@given(ENGINE_URLS, QUERY_TEXT)
def test_arbitrary_search_queries_never_raise(prefix: str, query: str) -> None:
    info = CLASSIFIER.classify(prefix + query)
    assert info.medium == "search"
    _check(info)


@given(st.binary(max_size=40), st.sampled_from(["Shift_JIS", "EUC-JP", "GBK", "Big5", "UTF-8"]))
def test_arbitrary_bytes_in_any_declared_charset_never_raise(data: bytes, charset: str) -> None:
    referrer = f"https://www.google.com/search?ie={charset}&q={quote_plus(data)}"
    _check(CLASSIFIER.classify(referrer))


@given(st.text(min_size=1, max_size=30).filter(lambda s: s.strip() != ""))
def test_utf8_terms_round_trip(term: str) -> None:
    info = CLASSIFIER.classify(f"https://www.bing.com/search?q={_q(term)}")
    assert info.source == "bing"
    _check(info)
