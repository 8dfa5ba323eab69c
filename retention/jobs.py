"""The scheduled retention jobs, for the collector to run periodically (in this order)."""

from ashiato.retention.anonymize import AnonymizeResult, anonymize
from ashiato.retention.expire import DroppedPartition, ExpireResult, expire
from ashiato.retention.link import LinkResult, link

__all__ = [
    "AnonymizeResult",
    "DroppedPartition",
    "ExpireResult",
    "LinkResult",
    "anonymize",
    "expire",
    "link",
]
