"""Retention errors: one root, split by what the caller can do about them."""


class RetentionError(Exception):
    """Base class for every error raised by `retention`."""


class MutationFailed(RetentionError):
    """ClickHouse reported a mutation it cannot apply; it was killed where the server allows."""


class SubjectSuppressed(RetentionError):
    """The operation would process data of a subject whose processing is suppressed."""
