"""Storage errors: one root, split by what the caller can do about them."""


class StorageError(Exception):
    """Base class for every error raised by `storage`."""


class StorageUnavailable(StorageError):
    """ClickHouse cannot be reached right now; the same request may succeed later."""


class QueryRejected(StorageError):
    """ClickHouse refused the statement itself; sending it again will not help."""

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.code = code


class QueryRefused(QueryRejected):
    """A person's query is not one plain read of ashiato's own tables; the message says why."""


class QueryLimitExceeded(QueryRejected):
    """ClickHouse stopped a person's query at one of its limits (time, memory, result size)."""

    def __init__(self, message: str, code: int, limit: str) -> None:
        super().__init__(message, code)
        self.limit = limit


class UnstorableRow(StorageError):
    """A row holds a value no spool record can carry (text that is not Unicode, an integer
    past 64 bits); it will never be stored as it is."""


class EmbeddedUnavailable(StorageError):
    """The embedded engine (chdb) is not installed or its data directory is in use."""


class StoreInUse(EmbeddedUnavailable):
    """The embedded data directory is held by another process (a running server)."""


class MigrationError(StorageError):
    """A schema migration failed; the message names the migration."""
