"""The preferred language from Accept-Language."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ashiato.beacon.language import preferred_language, primary_language


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("ja-JP", "ja-jp"),
        ("ja-JP,ja;q=0.9,en-US;q=0.8,en;q=0.7", "ja-jp"),
        ("de", "de"),
        ("en;q=0.5, fr-CA;q=0.9", "fr-ca"),
        ("en ; q = 0.5 , fr ; q=0.6", "fr"),
        ("zh-Hant-TW", "zh-tw"),
        ("zh-yue-HK", "zh-hk"),
        ("es-419", "es-419"),
        ("sr-Latn", "sr"),
        ("de-DE-1996", "de-de"),
        ("en-x-private", "en"),
        ("*;q=1, nl;q=0.1", "nl"),
        ("fr;q=0, it;q=0.2", "it"),
        ("en, de", "en"),  # ties go to the first listed
        ("EN-gb", "en-gb"),
        ("garbage!!, pt-BR;q=0.3", "pt-br"),
        ("ko;q=2, ko-KR;q=0.4", "ko-kr"),  # q above 1 is malformed
        ("sv;level=1, da;q=0.2", "da"),
    ],
)
def test_primary_language(header: str, expected: str) -> None:
    assert primary_language(header) == expected


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "*",
        "en;q=0",
        "en;q=0.000",
        ";q=1",
        "i-klingon",
        "x-pig-latin",
        "english-language",
        "日本語",
        "en;q=abc",
        ",,,",
    ],
)
def test_nothing_usable_gives_empty(header: str | None) -> None:
    assert primary_language(header) == ""


def test_oversized_header_is_cut_at_an_entry_boundary() -> None:
    header = ", ".join(["xx;q=0.001"] * 200) + ", de;q=1"

    assert primary_language(header) == "xx"
    assert primary_language("fr-CA;q=0.5, " + "a" * 5000) == "fr-ca"


@settings(database=None, max_examples=300)
@given(
    header=st.one_of(
        st.none(),
        st.text(max_size=200),
        st.text(alphabet="abcdefXYZ-;=q0.1*, ", max_size=80),
    )
)
def test_primary_language_never_raises(header: str | None) -> None:
    result = primary_language(header)

    assert result == result.lower() and len(result) <= 7


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("ja-JP,ja;q=0.9,en-US;q=0.8,en;q=0.7", "ja"),
        ("en-GB,en;q=0.9,ja;q=0.8", "en"),
        ("fr, ja;q=0.5, en;q=0.3", "ja"),  # the first offered one the reader ranks highest
        ("de;q=1, en;q=0.2, ja;q=0.1", "en"),
        ("en, ja", "en"),  # ties go to the first listed
        ("ja;q=0, en;q=0.1", "en"),  # q=0 means "not this one"
        ("*", None),
        ("de, fr", None),
        ("", None),
        (None, None),
    ],
)
def test_preferred_language_among_those_offered(header: str | None, expected: str | None) -> None:
    assert preferred_language(header, ("en", "ja")) == expected
