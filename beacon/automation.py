"""Why an e-mail open or click looks made by a machine rather than by its reader.

Mail privacy proxies and corporate link scanners fetch a message's pixel and follow its links
as the message arrives, often with an ordinary browser's user agent. Three signals beyond the
user agent give them away: the network they come from (`beacon.scanner_networks`), a user
agent on the lists of known bots and fetchers, and speed: a hit within seconds of the moment
the link was made is no person reading. One reason is stored per hit, in the order of
`vocabulary.AUTOMATED_REASONS`, so a report can say which signal fired.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from ashiato.beacon.scanner_networks import SCANNER_NETWORKS
from ashiato.beacon.useragent import Device, is_generic_mail_fetcher
from ashiato.beacon.vocabulary import Automated

__all__ = ["AutomationRules", "automated_reason"]


@dataclass(frozen=True, slots=True)
class AutomationRules:
    """The thresholds and networks the rule uses, fixed at start-up.

    The defaults turn the timing signal off (0 seconds) and know only the built-in networks;
    the collector passes its settings in through `from_settings`.
    """

    open_seconds: float = 0.0
    click_seconds: float = 0.0
    scanner_asns: frozenset[int] = field(default_factory=lambda: frozenset(SCANNER_NETWORKS))

    @classmethod
    def from_settings(
        cls, *, open_seconds: float, click_seconds: float, extra_asns: Iterable[int] = ()
    ) -> AutomationRules:
        """Rules with these thresholds, knowing the built-in networks and `extra_asns`."""
        return cls(open_seconds, click_seconds, frozenset(SCANNER_NETWORKS).union(extra_asns))


def automated_reason(
    *,
    kind: str,
    user_agent: str,
    device: Device,
    asn: int,
    issued_ms: int,
    ts_ms: int,
    rules: AutomationRules,
) -> Automated | Literal[""]:
    """The reason a hit looks automated, or "" when it looks like a person.

    `device` is the parsed `user_agent`; `asn` the client network's number (0: unknown);
    `issued_ms` when the e-mail token was made (0: unknown, as for tokens made before tokens
    carried it) and `ts_ms` when the hit arrived, both in Unix milliseconds. Only e-mail opens
    and clicks are judged beyond what the user agent itself says.
    """
    if device.automated:
        return device.automated
    if kind == "email_open":
        # A bare "Mozilla/5.0" says nothing on a page view; on an open it is Apple's proxy.
        if is_generic_mail_fetcher(user_agent):
            return "mail_proxy"
        seconds = rules.open_seconds
    elif kind == "email_click":
        seconds = rules.click_seconds
    else:
        return ""
    if device.is_bot:
        return "fetcher_agent"
    if asn in rules.scanner_asns:
        return "scanner_network"
    # A clock behind the signer's makes the hit seem to come first: that is still "at once".
    if seconds > 0 and issued_ms > 0 and ts_ms - issued_ms < seconds * 1000:
        return "too_soon"
    return ""
