"""Where lmforge keeps what it computes once per machine (converted models, responses)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """``$LMFORGE_CACHE``, or ``~/.cache/lmforge``."""
    root = os.environ.get("LMFORGE_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "lmforge"
