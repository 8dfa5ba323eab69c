"""Individual rights in one place: disclosure, erasure, suspension of use, provision records.

Each call writes an audit row (who, what, whose, why, how many rows). The implementations
live in one module per right; this module is what the admin API and the CLI import.
"""

from ashiato.retention.erase import EraseResult, erase
from ashiato.retention.export import export
from ashiato.retention.provisions import audit_entries, record_provision
from ashiato.retention.suppress import is_suppressed, suppress, suppressed_subjects, unsuppress

__all__ = [
    "EraseResult",
    "audit_entries",
    "erase",
    "export",
    "is_suppressed",
    "record_provision",
    "suppress",
    "suppressed_subjects",
    "unsuppress",
]
