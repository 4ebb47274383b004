"""Model registry: spec resolution, one-line errors, and the once-only, atomic GGUF conversion."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch

from lmforge.core import models
from lmforge.core.errors import LmforgeError, ModelNotFoundError
from lmforge.core.models import default_device


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LMFORGE_CACHE", str(tmp_path / "cache"))


def test_missing_directory_and_gguf_file_are_one_line_errors(tmp_path):
    with pytest.raises(ModelNotFoundError, match="no such model directory"):
        models.resolve(str(tmp_path / "nope" / "model"))
    with pytest.raises(ModelNotFoundError, match="no such GGUF file"):
        models.resolve(str(tmp_path / "model.gguf"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotFoundError, match=r"no config\.json"):
        models.resolve(str(tmp_path / "empty"))


def test_uninstalled_bundled_model_says_how_to_install(monkeypatch):
    bundled = models.BUNDLED["smollm2-135m-instruct"]
    monkeypatch.setitem(
        models.BUNDLED, "smollm2-135m-instruct", models.BundledModel(**{**bundled.__dict__, "locate": lambda: None})
    )
    with pytest.raises(ModelNotFoundError, match=r"requirements-assets\.txt"):
        models.resolve("smollm2-135m-instruct")


def test_unknown_hub_id_offline_names_the_alternatives(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError) as info:
        models.load_tokenizer("no-such-org/no-such-model")
    assert "smollm2-135m-instruct" in str(info.value)
    assert "\n" not in str(info.value)


def test_local_directory_round_trip(tmp_path, tiny_llama, tiny_tokenizer):
    tiny_llama.save_pretrained(tmp_path / "m")
    tiny_tokenizer.save_pretrained(tmp_path / "m")
    loaded = models.load_causal_lm(str(tmp_path / "m"))
    ids = torch.tensor([[1, 5, 9]])
    assert torch.equal(loaded(ids).logits, tiny_llama(ids).logits)
    classifier = models.load_encoder(str(tmp_path / "m"), num_labels=3)
    assert classifier.config.num_labels == 3 and classifier.config.pad_token_id is not None
    assert models.fingerprint(str(tmp_path / "m")).startswith(str(tmp_path / "m") + "@")


def test_gguf_conversion_runs_once_under_concurrency(tmp_path, monkeypatch, tiny_llama, tiny_tokenizer):
    """Two threads ask for the same GGUF model: one converts, the other waits and reuses it."""
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF")
    loads = []

    def fake_model_load(folder, gguf_file, dtype):
        loads.append(gguf_file)
        threading.Event().wait(0.3)  # a slow conversion, so the second caller has to wait on the lock
        return tiny_llama

    monkeypatch.setattr(models.AutoModelForCausalLM, "from_pretrained", fake_model_load)
    monkeypatch.setattr(models.AutoTokenizer, "from_pretrained", lambda folder, gguf_file: tiny_tokenizer)
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(models.resolve(str(gguf)))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert loads == ["tiny.gguf"]
    assert results[0] == results[1]
    folder = Path(results[0])
    assert (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file()
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no half-written copy left


def test_mistyped_bundled_name_suggests_the_right_one():
    with pytest.raises(ModelNotFoundError, match="did you mean 'smollm2-135m-instruct'"):
        models.resolve("smollm2-135m")


def test_default_device_follows_lmforge_device(monkeypatch):
    monkeypatch.setenv("LMFORGE_DEVICE", "cpu")
    assert default_device() == torch.device("cpu")
    monkeypatch.setenv("LMFORGE_DEVICE", "gpu0")
    with pytest.raises(LmforgeError, match="LMFORGE_DEVICE='gpu0' is not a torch device"):
        default_device()
    monkeypatch.delenv("LMFORGE_DEVICE")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert default_device().type == expected
