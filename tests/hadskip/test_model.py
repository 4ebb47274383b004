"""HadSkipModel: in-place gating, gather/scatter inference, strict cap, usage statistics, save/load."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForSequenceClassification, GPT2Config, GPT2ForSequenceClassification

from lmforge.core.errors import LmforgeError
from lmforge.hadskip import HadSkipConfig, HadSkipModel
from lmforge.hadskip.model import GATES_NAME

from ._tiny import check_fast_matches_hard, padded_batch, randomise_gates, tiny_classifier, wrap


def _count_rows(model: HadSkipModel) -> list[int]:
    """Rows each inner layer actually receives (hooks on the original layer modules)."""
    counts = [0] * model.num_layers
    for gated in model.gated_layers:

        def hook(module: torch.nn.Module, args: tuple, kwargs: dict, index: int = gated.index) -> None:
            counts[index] += args[0].shape[0] if args else kwargs["hidden_states"].shape[0]

        gated.layer.register_forward_pre_hook(hook, with_kwargs=True)
    return counts


@pytest.mark.parametrize("left", [False, True])
def test_full_mode_equals_the_plain_model(arch: str, left: bool) -> None:
    batch = padded_batch(left=left and arch == "llama")
    plain = tiny_classifier(arch)
    with torch.no_grad():
        expected = plain(**batch).logits
        model = HadSkipModel(plain, HadSkipConfig(gate_hidden=16))
        model.set_mode("full")
        assert torch.equal(model(**batch).logits, expected)
        model.set_mode("soft", temperature=1e-3)  # fresh gates keep with p ≈ 1 at a low temperature
        assert torch.allclose(model(**batch).logits, expected, atol=1e-6)


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize("arch, left", [("bert", False), ("llama", False), ("llama", True)])
def test_gather_scatter_equals_hard_masked_forward(arch: str, left: bool, attn: str, strict: bool) -> None:
    model = wrap(arch, attn, strict_budget=strict, budget=0.5).eval()
    randomise_gates(model, seed=3, bias=1.0)
    batch = padded_batch(batch=8, seed=4, left=left)
    counts = _count_rows(model)
    with torch.no_grad():
        model.set_mode("hard")
        hard = model(**batch)
        ran_hard = sum(counts)
        model.set_mode("fast")
        fast = model(**batch)
    ran_fast = sum(counts) - ran_hard
    assert ran_hard == 8 * model.num_layers
    keep = fast.keep_mask
    assert torch.equal(keep, hard.keep_mask)
    assert 0 < int(keep.sum()) < keep.numel(), "the gates should keep some rows and skip others"
    assert ran_fast == int(keep.sum()), "a row that skips a layer must not be computed by it"
    assert torch.allclose(fast.logits, hard.logits, atol=1e-5)
    if strict:
        assert int(keep.sum(dim=1).max()) <= 2


def test_strict_cap_stops_after_ceil_budget_layers(arch: str) -> None:
    model = wrap(arch, strict_budget=True, budget=0.5).eval()  # fresh gates keep everything
    with torch.no_grad():
        output = model(**padded_batch())
    assert output.keep_mask.tolist() == [[True, True, False, False]] * 6
    uncapped = wrap(arch, budget=0.5).eval()
    with torch.no_grad():
        assert bool(uncapped(**padded_batch()).keep_mask.all())


def test_layer_skipped_by_every_row_is_never_run(arch: str) -> None:
    model = wrap(arch).eval()
    with torch.no_grad():
        model.gated_layers[1].gate.fc2.bias.fill_(-20.0)
    batch = padded_batch()
    with torch.no_grad():
        model(**batch)  # the first skip of a never-run layer probes it on one row to learn its output type
        counts = _count_rows(model)
        fast = model(**batch).logits
        model.set_mode("hard")
        hard = model(**batch).logits
    assert counts[1] == 6  # only the hard-masked reference pass ran it
    assert torch.allclose(fast, hard, atol=1e-5)


def test_usage_statistics_count_executed_layers(arch: str) -> None:
    model = wrap(arch).eval()
    randomise_gates(model, seed=5, bias=0.5)
    with torch.no_grad():
        first = model(**padded_batch(seed=1)).keep_mask
        second = model(**padded_batch(seed=2)).keep_mask
    keep = torch.cat([first, second]).float()
    stats = model.usage.to_dict()
    assert stats["examples"] == 12
    assert stats["usage"] == pytest.approx(float(keep.mean()))
    assert stats["layer_keep_rates"] == pytest.approx(keep.mean(dim=0).tolist())
    assert stats["executed_layers_histogram"] == torch.bincount(keep.sum(1).long(), minlength=5).tolist()
    model.usage.reset()
    assert model.usage.examples == 0


def _usage(model: HadSkipModel, batches: list[dict[str, torch.Tensor]]) -> float:
    model.eval()
    model.set_mode("fast")
    model.usage.reset()
    with torch.no_grad():
        for batch in batches:
            model(**batch)
    return model.usage.usage


def test_calibrate_budget_brings_usage_to_the_budget(arch: str) -> None:
    model = wrap(arch, budget=0.5)
    randomise_gates(model, seed=5, bias=3.0)
    batches = [padded_batch(seed=s) for s in (1, 2, 3)]
    assert _usage(model, batches) > 0.6
    model.train()
    model.set_mode("soft")
    shift = model.calibrate_budget(batches)
    assert shift > 0
    assert model.training and model.gate_mode == "soft"  # the caller's mode is restored
    assert _usage(model, batches) <= 0.5 + model.hadskip_config.budget_tolerance
    assert model.calibrate_budget(batches) == 0.0  # already within: nothing moves


def test_gates_ignore_padding_length(arch: str) -> None:
    """The gate reads the summary token and the mean over real tokens, so extra padding changes nothing."""
    model = wrap(arch).eval()
    randomise_gates(model, seed=6)
    short = padded_batch(batch=3, length=8, seed=7)
    pad = torch.zeros(3, 4, dtype=torch.long)
    long = {key: torch.cat([value, pad], dim=1) for key, value in short.items()}
    with torch.no_grad():
        a, b = model(**short), model(**long)
    assert torch.allclose(a.keep_probs[:, 0], b.keep_probs[:, 0], atol=1e-6)
    assert torch.allclose(a.logits, b.logits, atol=1e-5)


def test_the_backbones_own_forward_keeps_working(arch: str) -> None:
    model = wrap(arch).eval()
    randomise_gates(model, seed=8, bias=0.5)
    batch = padded_batch()
    with torch.no_grad():
        via_wrapper = model(**batch).logits
        via_backbone = model.model(batch["input_ids"], batch["attention_mask"]).logits
    assert torch.equal(via_wrapper, via_backbone)
    assert model.usage.examples == 12
    assert model.config is model.model.config  # attributes are answered by the wrapped objects
    assert model.gated_layers[0].training is False and model.gated_layers[0].gate.fc1.in_features == 64


def test_training_modes_give_gradients_to_gates_and_layers(arch: str) -> None:
    model = wrap(arch).train()
    randomise_gates(model, seed=9, bias=0.5)
    for mode in ("soft", "hard"):
        model.zero_grad()
        model.set_mode(mode, temperature=0.5)
        output = model(**padded_batch(), labels=torch.tensor([0, 1, 0, 1, 1, 0]))
        (output.loss + output.keep_probs.mean()).backward()
        assert all(p.grad is not None for p in model.gate_parameters())
        assert output.keep_probs.shape == (6, 4)


def test_save_and_load_round_trip(arch: str, tmp_path: Path) -> None:
    model = wrap(arch, budget=0.25, strict_budget=True).eval()
    randomise_gates(model, seed=10, bias=0.5)
    batch = padded_batch()
    with torch.no_grad():
        expected = model(**batch)
    model.save_pretrained(tmp_path)
    assert (tmp_path / GATES_NAME).is_file() and (tmp_path / "model.safetensors").is_file()
    assert not list(tmp_path.glob("*.bin"))
    loaded = HadSkipModel.from_pretrained(tmp_path, attn_implementation="eager").eval()
    assert loaded.hadskip_config == model.hadskip_config
    with torch.no_grad():
        output = loaded(**batch)
    assert torch.equal(output.logits, expected.logits)
    assert torch.equal(output.keep_mask, expected.keep_mask)
    # The folder is also the plain backbone: the full model loads with transformers alone.
    plain = AutoModelForSequenceClassification.from_pretrained(tmp_path, attn_implementation="eager").eval()
    with torch.no_grad():
        loaded.set_mode("full")
        assert torch.equal(plain(**batch).logits, loaded(**batch).logits)


def test_load_errors_are_lmforge_errors(tmp_path: Path) -> None:
    model = wrap("bert")
    model.save_pretrained(tmp_path)
    (tmp_path / GATES_NAME).unlink()
    with pytest.raises(LmforgeError, match="missing"):
        HadSkipModel.from_pretrained(tmp_path)
    with pytest.raises(LmforgeError, match="no HadSkip config"):
        HadSkipModel.from_pretrained(tmp_path / "absent")


def test_unsupported_models_and_bad_modes_are_rejected() -> None:
    gpt2 = GPT2ForSequenceClassification(GPT2Config(n_layer=2, n_embd=16, n_head=2, vocab_size=40))
    with pytest.raises(LmforgeError, match="cannot find the layer list"):
        HadSkipModel(gpt2)
    model = wrap("bert")
    with pytest.raises(LmforgeError, match="already wrapped"):
        HadSkipModel(model.model)
    with pytest.raises(LmforgeError, match="gate mode"):
        model.set_mode("sometimes")  # type: ignore[arg-type]
    with pytest.raises(LmforgeError, match="layer_costs"):
        wrap("bert", layer_costs=[1.0, 1.0])


@pytest.mark.parametrize("name", ["deberta-v2", "roberta", "qwen2", "gemma3"])
def test_other_backbones(name: str) -> None:
    """DeBERTa layers return tuples and take shared relative tables; Gemma 3 has per-layer masks."""
    model, _ = check_fast_matches_hard(
        tiny_classifier(name), padded_batch(batch=8, seed=4), HadSkipConfig(gate_hidden=16)
    )
    if name == "gemma3":
        assert [layer.self_attn.is_sliding for layer in model.gated_layers] == [True, False, True, False]
