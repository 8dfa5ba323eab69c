"""The events table's columns, declared once: name, type, the purpose each needs, its meaning
(in English, and in Japanese for the privacy notice).

The DDL (`storage.schema`), the event model's field order (`beacon.event`), the insert column
list and the spool's record layout all come from this table, and so does the rule of what a
hit keeps: a column is filled only when the hit's consent grants the purpose it names (the
README's consent table says the same in prose). Types are what ClickHouse 18.16 declares;
`repeats` columns become LowCardinality(String) where the server has it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from ashiato.beacon.vocabulary import ALWAYS, AUTOMATED_REASONS, CONSENT_SIGNALS, Purpose, spoken


@dataclass(frozen=True, slots=True)
class Column:
    """One column of the events table."""

    name: str
    type: str
    needs: Purpose
    meaning: str
    meaning_ja: str  # the same in Japanese, for the privacy notice (`collector.notice`)
    repeats: bool = False  # few distinct values: LowCardinality(String) from ClickHouse 19.0
    identifies: bool = False  # names a person or a browser: never kept for a suppressed subject
    kept_by: frozenset[str] = frozenset()  # hit kinds that keep it whatever the purposes

    def clickhouse_type(self, low_cardinality: bool) -> str:
        """The declared type on a server that has (or lacks) LowCardinality."""
        return "LowCardinality(String)" if self.repeats and low_cardinality else self.type

    @property
    def empty(self) -> Any:
        """The value of the column when the hit may not keep it."""
        if self.type.startswith("Nullable("):
            return None
        if self.type.startswith("Array("):
            return ()
        if self.type.startswith(("UInt", "Int")):
            return 0
        return ""


def _c(
    name: str,
    type_: str,
    needs: Purpose,
    meaning: str,
    meaning_ja: str,
    *,
    repeats: bool = False,
    identifies: bool = False,
    kept_by: Iterable[str] = (),
) -> Column:
    return Column(name, type_, needs, meaning, meaning_ja, repeats, identifies, frozenset(kept_by))


EVENT_COLUMNS: Final[tuple[Column, ...]] = (
    _c(
        "event_id",
        "UUID",
        "necessary",
        "the event's id; a replayed hit carries the same id",
        "イベントの識別子（再送されたアクセスも同じ識別子を持つ）",
    ),
    _c(
        "ts_ms",
        "UInt64",
        "necessary",
        "when the hit happened, milliseconds since the epoch (UTC)",
        "アクセスの日時（UTC、ミリ秒単位）",
    ),
    _c(
        "day",
        "Date",
        "necessary",
        "the UTC day of ts_ms; with the retention class, the partition",
        "アクセスの日付（UTC）。保存区分とあわせて保存の単位となる",
    ),
    _c(
        "kind",
        "String",
        "necessary",
        "pageview, event, email_open, email_click, consent or access_log",
        "記録の種類（ページ閲覧、イベント、メールの開封、メール内リンクのクリック、同意の変更、サーバーのアクセスログ）",
        repeats=True,
    ),
    _c(
        "site",
        "String",
        "necessary",
        "the site the hit belongs to",
        "アクセスのあったサイト",
        repeats=True,
    ),
    _c("name", "String", "necessary", "the custom event's name", "カスタムイベントの名前"),
    _c(
        "url",
        "String",
        "necessary",
        "the page or request path",
        "閲覧されたページのURL、またはリクエストのパス",
    ),
    _c("referrer", "String", "necessary", "the referring URL", "参照元（リンク元）のURL"),
    _c(
        "ref_medium",
        "String",
        "necessary",
        "kind of referrer: internal, search, social, email, paid or unknown",
        "参照元の種類（サイト内、検索、ソーシャル、メール、広告、不明）",
        repeats=True,
    ),
    _c(
        "ref_source",
        "String",
        "necessary",
        "the referring site or search engine",
        "参照元のサイトまたは検索エンジン",
        repeats=True,
    ),
    _c(
        "ref_term",
        "String",
        "necessary",
        "the search keyword typed into a search site",
        "検索サイトで入力された検索キーワード",
    ),
    _c(
        "ip",
        "String",
        "necessary",
        "the client IP truncated to /24 (IPv4) or /48 (IPv6)",
        "IPアドレス（IPv4は上位24ビット、IPv6は上位48ビットのみ）",
    ),
    _c(
        "ip_full",
        "Nullable(String)",
        "necessary",
        "the full client IP, for the security window only",
        "IPアドレスの全桁（不正アクセス対策の期間のみ）",
    ),
    _c(
        "host",
        "Nullable(String)",
        "necessary",
        "the client's reverse-DNS host name, for the security window only",
        "IPアドレスの逆引きで得たホスト名（不正アクセス対策の期間のみ）",
    ),
    _c(
        "user_agent",
        "String",
        "necessary",
        "the User-Agent header, cleared after the security window",
        "User-Agentヘッダーの文字列（不正アクセス対策の期間の経過後に消去）",
    ),
    _c(
        "browser",
        "String",
        "necessary",
        "browser family from the user agent",
        "User-Agentから判定したブラウザの種類",
        repeats=True,
    ),
    _c(
        "browser_version",
        "String",
        "necessary",
        "browser version from the user agent",
        "User-Agentから判定したブラウザのバージョン",
    ),
    _c(
        "os",
        "String",
        "necessary",
        "operating system from the user agent",
        "User-Agentから判定したOS",
        repeats=True,
    ),
    _c(
        "os_version",
        "String",
        "necessary",
        "operating system version from the user agent",
        "User-Agentから判定したOSのバージョン",
    ),
    _c(
        "device",
        "String",
        "necessary",
        "device class: desktop, mobile, tablet or bot",
        "端末の種類（デスクトップ、モバイル、タブレット、ボット）",
        repeats=True,
    ),
    _c(
        "is_bot",
        "UInt8",
        "necessary",
        "1 when the user agent is a known bot",
        "既知のボットからのアクセスかどうか",
    ),
    _c(
        "automated",
        "String",
        "necessary",
        f"why the hit looks automated: {spoken(AUTOMATED_REASONS)}; else empty",
        "自動的なアクセスと判断した理由（"
        + "、".join(AUTOMATED_REASONS)
        + "）。該当しない場合は空欄",
        repeats=True,
    ),
    _c(
        "language",
        "String",
        "statistics",
        "the visitor's primary language (Accept-Language or the tracker's)",
        "閲覧者が主に使用する言語（Accept-Languageヘッダーまたはトラッカーから取得）",
        repeats=True,
    ),
    _c(
        "screen",
        "String",
        "statistics",
        "screen size, from the tracker",
        "画面のサイズ（トラッカーから取得）",
    ),
    _c(
        "country",
        "String",
        "necessary",
        "country of the client IP",
        "IPアドレスから推定した国",
        repeats=True,
    ),
    _c(
        "region",
        "String",
        "statistics",
        "region of the client IP",
        "IPアドレスから推定した地域（都道府県など）",
    ),
    _c("city", "String", "statistics", "city of the client IP", "IPアドレスから推定した市区町村"),
    _c(
        "asn",
        "UInt32",
        "necessary",
        "autonomous system number of the client IP",
        "IPアドレスが属する自律システム（AS）の番号",
    ),
    _c(
        "as_org",
        "String",
        "necessary",
        "organisation owning that autonomous system",
        "そのASを運用する組織（通信事業者など）",
    ),
    _c(
        "visitor_id",
        "Nullable(String)",
        "personalization",
        "pseudonymous visitor id: a keyed hash of the visitor cookie",
        "仮名の訪問者ID（訪問者クッキーの鍵付きハッシュ値）",
        identifies=True,
        # A consent change keeps the browser's pseudonym even when it withdraws: the record of
        # the withdrawal is what stops any later linking of that visitor.
        kept_by=("consent",),
    ),
    _c(
        "member_id",
        "Nullable(String)",
        "marketing",
        "the registered member the hit is linked to; never taken from a browser",
        "紐付けた登録会員の会員ID（ブラウザから受け取ることはない）",
        identifies=True,
    ),
    _c(
        "campaign",
        "String",
        "necessary",
        "the e-mail or marketing campaign",
        "メールまたはマーケティングのキャンペーン",
    ),
    _c(
        "recipient",
        "Nullable(String)",
        "necessary",
        "e-mail recipient pseudonym (a keyed hash), from a signed e-mail token",
        "メール受信者の仮名（署名付きメールトークンから得た鍵付きハッシュ値）",
        identifies=True,
    ),
    _c(
        "target_url",
        "String",
        "necessary",
        "where a tracked e-mail click led",
        "計測対象のメール内リンクのクリック先",
    ),
    _c(
        "method",
        "String",
        "necessary",
        "HTTP method, for access-log lines",
        "HTTPメソッド（サーバーのアクセスログ）",
        repeats=True,
    ),
    _c(
        "status",
        "UInt16",
        "necessary",
        "HTTP status, for access-log lines",
        "HTTPステータスコード（サーバーのアクセスログ）",
    ),
    _c(
        "bytes_sent",
        "UInt64",
        "necessary",
        "response bytes, for access-log lines",
        "応答のバイト数（サーバーのアクセスログ）",
    ),
    _c(
        "request_time_ms",
        "UInt32",
        "necessary",
        "time to answer, for access-log lines",
        "応答に要した時間（サーバーのアクセスログ）",
    ),
    _c(
        "purposes",
        "Array(String)",
        "necessary",
        "the consent purposes the hit granted",
        "そのアクセスに適用された利用目的",
    ),
    _c(
        "consent_signal",
        "String",
        "necessary",
        f"what decided the purposes: {spoken(CONSENT_SIGNALS)}",
        "利用目的を決めた根拠（" + "、".join(CONSENT_SIGNALS) + "）",
        repeats=True,
    ),
    _c(
        "policy_version",
        "String",
        "necessary",
        "the privacy policy version in force at the hit",
        "アクセス時に有効だったプライバシーポリシーの版",
        repeats=True,
    ),
    _c(
        "retention_class",
        "String",
        "necessary",
        "how long the event is kept (the partition's class)",
        "保存期間を決める保存区分（保存の単位）",
    ),
    _c(
        "source",
        "String",
        "necessary",
        "where the hit came from: pixel, beacon, consent, email or log",
        "記録の取得経路（ピクセル、ビーコン、同意、メール、ログ）",
        repeats=True,
    ),
    _c(
        "props",
        "String",
        "necessary",
        "custom event properties, as JSON",
        "カスタムイベントの属性（JSON形式）",
    ),
)

BY_NAME: Final[dict[str, Column]] = {c.name: c for c in EVENT_COLUMNS}
COLUMNS: Final[tuple[str, ...]] = tuple(c.name for c in EVENT_COLUMNS)
"""Column names in table order: the insert column list and the spool's record layout."""


@functools.lru_cache(maxsize=256)
def _withheld(purposes: frozenset[str], kind: str, suppressed: bool) -> tuple[Column, ...]:
    granted = purposes | {ALWAYS}
    return tuple(
        c
        for c in EVENT_COLUMNS
        if (suppressed and c.identifies) or (c.needs not in granted and kind not in c.kept_by)
    )


def withheld(purposes: Iterable[str], kind: str, suppressed: bool = False) -> tuple[Column, ...]:
    """The columns a hit may not keep, given the purposes it granted.

    `necessary` counts as granted whether listed or not. A suppressed subject keeps nothing
    that identifies it, whatever it granted.
    """
    return _withheld(frozenset(purposes), kind, suppressed)
