"""IP truncation in SQL, matching `beacon.netaddr.truncate_ip` (/24 for IPv4, /48 for IPv6).

ClickHouse 18.16's IPv4StringToNum/IPv6StringToNum return zero for text that is not an
address; from 22.3 they throw, and a throwing mutation blocks every later mutation on the
table, so newer servers use the *OrDefault variants (zero on bad input as well). Mutations
evaluate every branch of if/multiIf for every row, so neither branch may throw. Text that is
no address becomes "", like truncate_ip. IPv4-mapped IPv6 keeps its /24 (cutIPv6's third
argument), though normalize_ip already stores such addresses as plain IPv4.
"""

from __future__ import annotations

from ashiato.storage.capabilities import Capabilities

_OR_DEFAULT_SINCE = (22, 3)


def truncated_ip_sql(caps: Capabilities, column: str = "ip") -> str:
    """An expression giving `column`'s address with its host bits zeroed, as text."""
    suffix = "OrDefault" if caps.version >= _OR_DEFAULT_SINCE else ""
    v4 = f"IPv4StringToNum{suffix}({column})"
    v6 = f"IPv6StringToNum{suffix}({column})"
    zero6 = f"IPv6StringToNum{suffix}('::')"
    return (
        f"multiIf({column} = '', '',"
        f" position({column}, ':') > 0, if({v6} = {zero6}, '', cutIPv6({v6}, 10, 1)),"
        f" {v4} = 0, '', IPv4NumToString(bitAnd({v4}, 4294967040)))"
    )
