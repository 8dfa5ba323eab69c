"""Files that hold personal data are private to the service's user, whatever the umask."""

from __future__ import annotations

import os
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path) -> Path:
    """Create `path` (and its parents) and make it 0700; an existing one is tightened too."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    os.chmod(path, DIR_MODE)
    return path


def open_private(path: Path | str, flags: int) -> int:
    """os.open with mode 0600, also for a file that already existed with a looser mode."""
    fd = os.open(path, flags, FILE_MODE)
    if flags & os.O_CREAT:
        os.fchmod(fd, FILE_MODE)
    return fd
