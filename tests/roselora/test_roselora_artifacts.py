"""A trained RoseLoRA adapter as PEFT artefacts: save/reload, merge, and the sparse file format."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model

from lmforge.core.errors import LmforgeError
from lmforge.roselora import RoseLoraConfig, sparsity_report
from lmforge.roselora.export import SPARSE_WEIGHTS_NAME, load_sparse, save_sparse
from lmforge.roselora.sparsity import lora_pairs


def test_save_reload_gives_identical_logits(trained, tmp_path: Path, make_base, logits) -> None:
    trained.model.save_pretrained(str(tmp_path))
    expected = logits(trained.model, trained.tokens)

    plain = PeftModel.from_pretrained(make_base(), str(tmp_path))
    assert type(plain.peft_config["default"]) is LoraConfig
    assert torch.equal(logits(plain, trained.tokens), expected)

    config = RoseLoraConfig.from_pretrained(str(tmp_path))
    assert config.target_density == trained.tau and config.reset_pruned_optimizer_state
    ours = PeftModel.from_pretrained(make_base(), str(tmp_path), config=config)
    assert isinstance(ours.peft_config["default"], RoseLoraConfig)
    assert torch.equal(logits(ours, trained.tokens), expected)


def test_merge_equals_adapter_and_changes_at_most_the_bound(trained, tmp_path: Path, make_base, logits) -> None:
    trained.model.save_pretrained(str(tmp_path))
    model = PeftModel.from_pretrained(make_base(), str(tmp_path))
    expected = logits(model, trained.tokens)
    bounds = {m.name.removeprefix("base_model.model."): m.bound for m in sparsity_report(model)}

    original = {name: p.detach().clone() for name, p in make_base().named_parameters()}
    merged = model.merge_and_unload()
    assert torch.allclose(logits(merged, trained.tokens), expected, atol=1e-5)
    for name, bound in bounds.items():
        changed = (merged.get_parameter(f"{name}.weight") != original[f"{name}.weight"]).float().mean()
        assert 0 < changed <= bound, name


def test_sparse_file_holds_only_the_kept_entries_and_loads_back(trained, tmp_path: Path, make_base, logits) -> None:
    save_sparse(trained.model, str(tmp_path))
    path = tmp_path / SPARSE_WEIGHTS_NAME
    with open(path, "rb") as handle:  # safetensors: 8-byte header length, JSON header, then the raw tensor data
        header_length = int.from_bytes(handle.read(8), "little")
    kept = sum(m.nnz_a + m.nnz_b for m in sparsity_report(trained.model))
    assert path.stat().st_size - 8 - header_length == kept * (4 + 4)  # int32 index + fp32 value per kept entry

    model = load_sparse(make_base(), str(tmp_path))
    assert isinstance(model.peft_config["default"], RoseLoraConfig)
    assert not any(p.requires_grad for p in model.parameters())
    assert torch.equal(logits(model, trained.tokens), logits(trained.model, trained.tokens))
    assert load_sparse(make_base(), str(tmp_path), is_trainable=True).get_nb_trainable_parameters()[0] > 0


def test_sparse_round_trip_of_an_untrained_plain_lora(tmp_path: Path, make_base, make_batch, logits) -> None:
    """B = 0 at init gives empty index tensors; a plain LoraConfig comes back as a LoraConfig."""
    model = get_peft_model(make_base(), LoraConfig(r=4, target_modules=["q_proj"]))
    save_sparse(model, str(tmp_path))
    loaded = load_sparse(make_base(seed=1), str(tmp_path))
    assert type(loaded.peft_config["default"]) is LoraConfig
    for (_, a_saved, b_saved), (_, a_loaded, b_loaded) in zip(
        lora_pairs(model, "default"), lora_pairs(loaded, "default"), strict=True
    ):
        assert torch.equal(a_saved, a_loaded) and not b_loaded.any() and not b_saved.any()


def test_load_sparse_refuses_a_dense_adapter_folder(trained, tmp_path: Path, make_base) -> None:
    trained.model.save_pretrained(str(tmp_path))
    with pytest.raises(LmforgeError, match="save_sparse"):
        load_sparse(make_base(), str(tmp_path))
