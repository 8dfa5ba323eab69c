"""How long each kind of record is kept, in days, per retention class."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """Days each retention class is kept before it is expired (or, for `full_ip`, cleared).

    The defaults follow the policies' "only as long as needed" promise:

    - `full_ip` 7: long enough to investigate an attack or abuse report that surfaces over a
      weekend, short enough that the full address is not a browsing record.
    - `necessary` 90: operating logs (truncated IP only) for diagnosing failures and abuse
      patterns across a quarter.
    - `statistics`, `personalization`, `marketing`, `email` 395 (about 13 months): a full
      year-over-year comparison plus a month of slack, the common ceiling regulators accept
      for audience measurement and the lifetime of the consent cookie itself.
    - `audit` 1095 (3 years): the access trail must outlive the data it describes so a late
      complaint can still be answered; three years matches common limitation periods.
    - `provisions` 1095 (3 years): records of provision to third parties are kept for the
      statutory record-keeping period (up to three years) so disclosure requests can be met.
    """

    full_ip: int = 7
    necessary: int = 90
    statistics: int = 395
    personalization: int = 395
    marketing: int = 395
    email: int = 395
    audit: int = 1095
    provisions: int = 1095

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"retention {f.name}: must be a whole number of days")
            # A zero security window means the full IP is never kept past the first run;
            # every other class needs at least a day or its data would vanish as it arrives.
            if value < (0 if f.name == "full_ip" else 1):
                raise ValueError(f"retention {f.name}: {value} days is too short")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> RetentionPolicy:
        """A policy from `{class: days}`; missing classes keep their default.

        Raises ValueError naming the key for an unknown class or a bad number of days.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        parsed: dict[str, int] = {}
        for key, value in values.items():
            if key not in known:
                raise ValueError(f"retention {key}: unknown retention class")
            if isinstance(value, str) and value.strip().isdigit():
                value = int(value.strip())
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"retention {key}: must be a whole number of days, got {value!r}")
            parsed[key] = value
        return cls(**parsed)

    def days_for(self, retention_class: str) -> int:
        """Days kept for `retention_class`; ValueError for a class the policy does not know."""
        if retention_class not in {f.name for f in dataclasses.fields(self)}:
            raise ValueError(f"no retention period for class {retention_class!r}")
        days: int = getattr(self, retention_class)
        return days

    def as_dict(self) -> dict[str, int]:
        """Days per class, for reports and exports."""
        return dataclasses.asdict(self)
