"""Method packages export lazily: importing their CLI must not import the training stack."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lmforge.core.lazy import lazy_exports


def test_lazy_exports_resolve_on_first_use():
    getattr_, names = lazy_exports("pkg", {"JSONDecodeError": "json", "dumps": "json"})
    assert names == ["JSONDecodeError", "dumps"]
    assert getattr_("dumps")([1]) == "[1]"
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        getattr_("nope")


def test_root_cli_import_does_not_import_training_libraries():
    heavy = "('torch', 'peft', 'trl', 'sentence_transformers')"
    code = f"import sys, lmforge.cli; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
