"""What ``lmforge models`` shows about each bundled model, read without loading weights."""

from __future__ import annotations

import json
from pathlib import Path

from safetensors import safe_open

from lmforge.core.models import BUNDLED, bundled_installed, converted_dir, resolve

NOT_YET = "-"


def _parameter_count(folder: Path) -> int:
    """Parameters in a model directory's safetensors files, from their headers only."""
    total = 0
    for file in folder.glob("*.safetensors"):
        with safe_open(file, framework="pt") as f:
            for name in f.keys():  # noqa: SIM118 - safe_open is not a mapping
                shape = f.get_slice(name).get_shape()
                count = 1
                for dim in shape:
                    count *= dim
                total += count
    return total


def _chat_template(folder: Path) -> bool:
    if (folder / "chat_template.jinja").is_file():
        return True
    config = folder / "tokenizer_config.json"
    return config.is_file() and bool(json.loads(config.read_text()).get("chat_template"))


def bundled_model_rows(*, convert: bool = False) -> list[dict[str, object]]:
    """One row per bundled model; size columns are filled once the model is usable locally."""
    rows = []
    for name, model in BUNDLED.items():
        installed = bundled_installed(name)
        if installed and convert:
            resolve(name)
        folder = converted_dir(name) if model.is_gguf else model.locate()
        cached = folder is not None and (folder / "config.json").is_file()
        row: dict[str, object] = {
            "name": name,
            "installed": "yes" if installed else "no",
            "cached": ("yes" if cached else "no") if model.is_gguf else "n/a",
            "params": NOT_YET,
            "layers": NOT_YET,
            "hidden": NOT_YET,
            "chat template": NOT_YET,
        }
        if cached and folder is not None:
            config = json.loads((folder / "config.json").read_text())
            row |= {
                "params": f"{_parameter_count(folder) / 1e6:.1f}M",
                "layers": config.get("num_hidden_layers", NOT_YET),
                "hidden": config.get("hidden_size", NOT_YET),
                "chat template": "yes" if _chat_template(folder) else "no",
            }
        rows.append(row)
    return rows
