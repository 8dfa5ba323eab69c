"""How long each kind of record is kept, in days, per retention class.

The classes and their defaults are declared once, in `beacon.vocabulary.RETENTION_PERIODS`.
Why the defaults are what they are:

- `full_ip` 7: long enough to investigate an attack or abuse report that surfaces over a
  weekend, short enough that the full address is not a browsing record.
- `necessary` 90: operating logs (truncated IP only) for diagnosing failures and abuse
  patterns across a quarter.
- `statistics`, `personalization`, `marketing`, `email` 395 (about 13 months): a full
  year-over-year comparison plus a month of slack, the common ceiling regulators accept for
  audience measurement and the lifetime of the consent cookie itself.
- `audit` 1095 (3 years): the access trail must outlive the data it describes so a late
  complaint can still be answered; three years matches common limitation periods.
- `provisions` 1095 (3 years): records of provision to third parties are kept for the
  statutory record-keeping period (up to three years) so disclosure requests can be met.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ashiato.beacon.vocabulary import PERIOD_NAMES, RETENTION_PERIODS, spoken


def default_days() -> dict[str, int]:
    """Days per class as the vocabulary declares them."""
    return {p.name: p.days for p in RETENTION_PERIODS}


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """Days each retention class is kept before it is expired (or, for `full_ip`, cleared)."""

    days: Mapping[str, int] = field(default_factory=default_days)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.days) - set(PERIOD_NAMES))
        if unknown:
            raise ValueError(
                f"retention {unknown[0]}: unknown retention class; known: {spoken(PERIOD_NAMES)}"
            )
        # Every class has a period: what is not given keeps its default.
        object.__setattr__(self, "days", {**default_days(), **self.days})
        for name, value in self.days.items():
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"retention {name}: must be a whole number of days, got {value!r}")
            # A zero security window means the full IP is never kept past the first run;
            # every other class needs at least a day or its data would vanish as it arrives.
            if value < (0 if name == "full_ip" else 1):
                raise ValueError(f"retention {name}: {value} days is too short")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> RetentionPolicy:
        """A policy from `{class: days}` (numbers or digit strings); missing classes keep their
        default. Raises ValueError naming the key for an unknown class or a bad number of days.
        """
        parsed: dict[str, Any] = {}
        for key, value in values.items():
            text = value.strip() if isinstance(value, str) else None
            parsed[key] = int(text) if text is not None and text.isdigit() else value
        return cls(parsed)

    @property
    def full_ip(self) -> int:
        """Days the full IP, reverse-DNS host and user-agent text are kept (the security window)."""
        return self.days_for("full_ip")

    def days_for(self, retention_class: str) -> int:
        """Days kept for `retention_class`; ValueError for a class the policy does not know."""
        if retention_class not in self.days:
            raise ValueError(f"no retention period for class {retention_class!r}")
        return self.days[retention_class]

    def as_dict(self) -> dict[str, int]:
        """Days per class, for reports and exports."""
        return dict(self.days)
