"""The identity-link rule in SQL, for the modules that follow links (linking, suppression).

A link is a row in `identity_links` (action 'link' or 'unlink'); the latest row per
(member, visitor) wins, an unlink winning a tie at the same millisecond.
"""

ACTIVE_LINKS_SQL = (
    "SELECT member_id, visitor_id FROM identity_links GROUP BY member_id, visitor_id"
    " HAVING argMax(action, tuple(ts_ms, action = 'unlink')) = 'link'"
)
