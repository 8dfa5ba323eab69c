"""The parts a running collector is made of, and the pace at which they hand work over.

`ashiato serve` supervises edges and loaders (the README's design notes). An **edge** answers
the collection endpoints: it reads a request once, decides consent, sets cookies, appends one
raw record to its spool and answers; it never touches ClickHouse. A **loader** reads the edges'
spools, enriches in batches and inserts; it owns the store (chdb, in embedded mode), runs the
retention schedule and answers the admin API, which the edges pass on to it. A process in the
role **all** does both: `--loaders 0`, and the application the tests build.
"""

from __future__ import annotations

from typing import Final, Literal

Role = Literal["all", "edge", "loader"]
ROLES: Final[tuple[Role, ...]] = ("all", "edge", "loader")

HANDOFF_SECONDS: Final = 0.2
"""How often an edge hands its current segment to the loader (when it holds records)."""
LOADER_POLL_SECONDS: Final = 0.1
"""How often a loader looks for segments an edge handed over."""
ROLE_FLAG: Final = "--role"
"""The flag the supervisor starts its children with, so `ps` shows which is which."""
