"""Lazy package exports: ``from lmforge.<method> import X`` works, ``lmforge --help`` stays fast.

A method package lists its public names and the modules that define them; a name is imported
on first access (PEP 562), so mounting every method's CLI does not import torch training stacks.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], Any], list[str]]:
    """``(__getattr__, __all__)`` for ``package``, resolving each name from its module on first use."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(exports[name]), name)

    return __getattr__, sorted(exports)
