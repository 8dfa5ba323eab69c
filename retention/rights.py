"""Individual rights in one place: disclosure, erasure, suspension of use, provision records.

Each call writes an audit row (who, what, whose, why, how many rows). The implementations
live in one module per right; this module is what the admin API and the CLI import.
"""

from ashiato.retention.erase import EraseResult, erase
from ashiato.retention.export import export
from ashiato.retention.provisions import audit_entries, record_provision
from ashiato.retention.suppress import (
    EVERY_PURPOSE,
    SuppressionList,
    is_suppressed,
    suppress,
    suppressions,
    unsuppress,
)

__all__ = [
    "EVERY_PURPOSE",
    "EraseResult",
    "SuppressionList",
    "audit_entries",
    "erase",
    "export",
    "is_suppressed",
    "record_provision",
    "suppress",
    "suppressions",
    "unsuppress",
]
