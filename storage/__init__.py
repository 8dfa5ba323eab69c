"""Everything ClickHouse: the backend protocol, its two implementations, schema and writer."""

from ashiato.storage.backend import Backend, QueryResult, Store, open_store
from ashiato.storage.capabilities import Capabilities
from ashiato.storage.errors import (
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
