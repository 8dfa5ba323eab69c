"""Everything ClickHouse: the backend protocol, its two implementations, schema and writer."""

from ashiato.storage.backend import Backend, QueryResult, Store, open_store
from ashiato.storage.capabilities import Capabilities
from ashiato.storage.errors import (
    EmbeddedUnavailable,
    QueryLimitExceeded,
    QueryRefused,
    QueryRejected,
    StorageError,
    StorageUnavailable,
)
from ashiato.storage.limits import QueryLimits

__all__ = [
    "Backend",
    "Capabilities",
    "EmbeddedUnavailable",
    "QueryLimitExceeded",
    "QueryLimits",
    "QueryRefused",
    "QueryRejected",
    "QueryResult",
    "StorageError",
    "StorageUnavailable",
    "Store",
    "open_store",
]
