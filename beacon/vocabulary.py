"""The words every package shares: consent purposes and signals, retention classes, fsync
policies, and the reasons a hit is marked automated.

Each is declared here once, as a `Literal` type and the tuple of its values in canonical order.
Configuration, enrichment, storage and the retention jobs import them from here, so adding a
purpose or a class is one edit that every check and help text follows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal, get_args

Purpose = Literal["necessary", "statistics", "personalization", "marketing"]
PURPOSES: Final[tuple[Purpose, ...]] = get_args(Purpose)
"""Consent purposes, narrowest first; `necessary` is always granted."""

ALWAYS: Final[Purpose] = "necessary"

ConsentSignal = Literal["explicit", "tcf", "gcm", "gpc", "dnt", "default", "server_log"]
CONSENT_SIGNALS: Final[tuple[ConsentSignal, ...]] = get_args(ConsentSignal)
"""What decided a hit's purposes (its `consent_signal`), strongest first.

`explicit`: ashiato's own consent value (`c` or its cookie); `tcf`: an IAB TCF v2 TC string;
`gcm`: Google Consent Mode (`gcs`, `gcd`); `gpc`, `dnt`: the browser's privacy signals;
`default`: the regime default for a visitor who said nothing. `server_log` marks events read
from web-server logs, which carry no signal at all.
"""

RetentionClass = Literal["necessary", "statistics", "personalization", "marketing", "email"]
RETENTION_CLASSES: Final[tuple[RetentionClass, ...]] = get_args(RetentionClass)
"""The classes an event is kept under: one per purpose, plus e-mail tracking.

The events table is partitioned by (retention class, week), so expiring a class is a drop of
whole partitions.
"""

Held = Literal["full_ip", "audit", "provisions"]
"""What else has a retention period: the security window, the audit trail, the ledger."""

PeriodName = RetentionClass | Held

FsyncPolicy = Literal["always", "interval", "roll", "never"]
FSYNC_POLICIES: Final[tuple[FsyncPolicy, ...]] = get_args(FsyncPolicy)
"""When spooled records are forced to disk: every append, every interval, at segment roll,
or when the operating system writes back."""

Automated = Literal["mail_proxy", "link_scanner", "fetcher_agent", "scanner_network", "too_soon"]
AUTOMATED_REASONS: Final[tuple[Automated, ...]] = get_args(Automated)
"""Why a hit looks made by a machine, as the `automated` column names it ("" for a person).

`mail_proxy`: a mail image proxy fetched an open for its reader (Gmail, Yahoo, Apple Mail
Privacy Protection); `link_scanner`: a security gateway or a scripted HTTP client named in the
user agent; `fetcher_agent`: an e-mail open or click by a user agent on the lists of known
bots and fetchers; `scanner_network`: an e-mail open or click from the network of a mail
security company; `too_soon`: an e-mail open or click faster after its link was made than a
person reads. The first that applies is stored, in this order.
"""


@dataclass(frozen=True, slots=True)
class RetentionPeriod:
    """How long one kind of record is kept by default, and the setting that changes it."""

    name: PeriodName
    days: int
    holds: str
    setting: str


RETENTION_PERIODS: Final[tuple[RetentionPeriod, ...]] = (
    RetentionPeriod(
        "full_ip",
        7,
        "full IP and reverse-DNS host, for security and abuse investigation",
        "security_window_days",
    ),
    RetentionPeriod(
        "necessary",
        90,
        "events with necessary consent only: security and abuse investigation",
        "retention_necessary_days",
    ),
    RetentionPeriod(
        "statistics",
        395,
        "consented statistics: 13 months, so a year can be compared with the last",
        "retention_statistics_days",
    ),
    RetentionPeriod(
        "personalization",
        395,
        "events with a visitor id: as long as the cookie (cookie_days) plus a month",
        "retention_personalization_days",
    ),
    RetentionPeriod(
        "marketing",
        395,
        "marketing-consented events that may be linked to a member",
        "retention_marketing_days",
    ),
    RetentionPeriod("email", 395, "e-mail opens and clicks", "retention_email_days"),
    RetentionPeriod(
        "audit",
        1095,
        "audit trail: three years, to answer for every access to personal data",
        "retention_audit_days",
    ),
    RetentionPeriod(
        "provisions",
        1095,
        "records of provision to third parties: three years",
        "retention_provisions_days",
    ),
)
PERIOD_NAMES: Final[tuple[PeriodName, ...]] = tuple(p.name for p in RETENTION_PERIODS)


def spoken(values: Iterable[str]) -> str:
    """The values as a sentence lists them: "a, b or c" (for help texts and errors)."""
    items = list(values)
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"
