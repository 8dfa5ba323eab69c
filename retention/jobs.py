"""The scheduled retention jobs, for the collector to run periodically (in this order)."""

from retention.anonymize import AnonymizeResult, anonymize
from retention.expire import DroppedPartition, ExpireResult, expire
from retention.link import LinkResult, link

__all__ = [
    "AnonymizeResult",
    "DroppedPartition",
    "ExpireResult",
    "LinkResult",
    "anonymize",
    "expire",
    "link",
]
