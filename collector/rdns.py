"""Optional reverse-DNS host names: looked up in the background, never delaying a response."""

from __future__ import annotations

import asyncio
import socket
import time
from collections import OrderedDict


class ReverseDNS:
    """A bounded cache of PTR names filled by background lookups.

    `cached()` answers from the cache at once; on a miss it starts a lookup and returns None, so
    the first hit from an address is stored without a name and later hits get it.
    """

    def __init__(self, *, size: int = 50_000, ttl: float = 3600.0, timeout: float = 2.0) -> None:
        self._cache: OrderedDict[str, tuple[float, str | None]] = OrderedDict()
        self._pending: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._size = size
        self._ttl = ttl
        self._timeout = timeout

    def cached(self, ip: str) -> str | None:
        """The host name of `ip` if known; otherwise start looking it up and return None."""
        if not ip:
            return None
        entry = self._cache.get(ip)
        if entry is not None and entry[0] > time.monotonic():
            self._cache.move_to_end(ip)
            return entry[1]
        if ip not in self._pending and len(self._pending) < 1000:
            self._pending.add(ip)
            task = asyncio.get_running_loop().create_task(self._lookup(ip))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return None

    async def _lookup(self, ip: str) -> None:
        loop = asyncio.get_running_loop()
        name: str | None
        try:
            host, _ = await asyncio.wait_for(
                loop.getnameinfo((ip, 0), socket.NI_NAMEREQD), self._timeout
            )
            name = host[:255]
        except (OSError, TimeoutError, UnicodeError):
            name = None
        finally:
            self._pending.discard(ip)
        self._cache[ip] = (time.monotonic() + self._ttl, name)
        while len(self._cache) > self._size:
            self._cache.popitem(last=False)

    async def close(self) -> None:
        """Cancel lookups still running."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
