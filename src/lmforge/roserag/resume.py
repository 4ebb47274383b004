"""Guard for resumable JSONL outputs: never append one run's rows to a file written with other settings."""

from __future__ import annotations

from pathlib import Path

from lmforge.core.data import read_records
from lmforge.core.errors import LmforgeError


def check_settings(output: str | Path, settings: dict, key: str = "settings") -> None:
    """Refuse to resume ``output`` when its first row was written with different ``settings``."""
    path = Path(output)
    if not path.is_file() or not path.stat().st_size:
        return
    first = read_records(path, limit=1)
    if first and first[0].get(key) != settings:
        old = first[0].get(key) or {}
        changed = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))
        raise LmforgeError(
            f"{path} was written with other settings ({', '.join(changed)} differ); "
            "rerun with the same settings to resume, or choose another output"
        )
