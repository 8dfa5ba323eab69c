"""Everything ClickHouse: the backend protocol, its two implementations, schema and writer."""

from storage.backend import Backend, QueryResult, Store, open_store
from storage.capabilities import Capabilities
from storage.errors import (
    EmbeddedUnavailable,
    QueryRejected,
    StorageError,
    StorageUnavailable,
)

__all__ = [
    "Backend",
    "Capabilities",
    "EmbeddedUnavailable",
    "QueryRejected",
    "QueryResult",
    "StorageError",
    "StorageUnavailable",
    "Store",
    "open_store",
]
