"""The schedule, the keep rules and the sparsifier in a custom training loop."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model

from lmforge.core.errors import LmforgeError
from lmforge.roselora import RoseLoraConfig, RoseLoraSparsifier, keep_count, keep_ratio, topk_mask
from lmforge.roselora.sparsity import lora_pairs

# The note's table for t_i = 3, t_f = 20, τ = 0.05: step, τ(t) to 3 decimals, kept of 4096 (kthvalue rule).
OFFICIAL_TABLE = [
    (0, 1.0, 4096),
    (3, 1.0, 4096),
    (4, 0.842, 3450),
    (5, 0.703, 2879),
    (6, 0.581, 2380),
    (8, 0.384, 1575),
    (10, 0.243, 998),
    (12, 0.149, 612),
    (14, 0.092, 377),
    (16, 0.062, 257),
    (18, 0.052, 213),
    (20, 0.050, 206),
    (24, 0.050, 206),
]


@pytest.mark.parametrize(("step", "ratio", "kept"), OFFICIAL_TABLE)
def test_schedule_reproduces_the_official_table(step: int, ratio: float, kept: int) -> None:
    rho = keep_ratio(step, RoseLoraConfig())
    assert rho == pytest.approx(ratio, abs=5e-4)
    assert keep_count(rho, 4096, parity=True) == kept
    # Exact top-⌈ρn⌉ keeps one fewer than kthvalue's n−k+1 whenever pruning is on.
    assert keep_count(rho, 4096) == (kept if rho == 1.0 else kept - 1)


def test_schedule_endpoints_and_midpoint() -> None:
    config = RoseLoraConfig(target_density=0.1, warmup_steps=2, prune_end_step=12)
    assert keep_ratio(2, config) == 1.0
    assert keep_ratio(7, config) == pytest.approx(0.1 + 0.9 * 0.5**3)
    assert keep_ratio(12, config) == 0.1
    assert keep_ratio(100, config) == 0.1


def test_keep_count_is_never_zero_and_never_above_n() -> None:
    assert keep_count(1e-6, 10) == 1
    assert keep_count(1e-6, 10, parity=True) == 2  # n − int(n(1−ρ)) + 1 is at least 1 by construction
    assert keep_count(0.99999, 10, parity=True) == 10  # the official rule asks for 11 (kthvalue k = 0 crashes)
    assert keep_count(0.1, 10) == 1  # 0.1 * 10 is 1.0000000000000002 in floating point
    assert keep_count(0.3, 10) == 3
    assert keep_count(0.05, 576) == 29


@pytest.mark.parametrize("dim", [0, 1])
def test_topk_mask_keeps_exactly_k_with_ties(dim: int) -> None:
    scores = torch.zeros(6, 9)  # all tied, as B's importance before it leaves zero
    scores[:, :3] = 1.0  # and partial ties
    for k in (1, 2, 5, scores.shape[dim]):
        assert (topk_mask(scores, k, dim).sum(dim) == k).all()
    with pytest.raises(ValueError):
        topk_mask(scores, 0, dim)


@pytest.mark.parametrize("ratio", [0.9, 0.5, 0.23, 0.05])
def test_parity_count_equals_official_kthvalue_mask(ratio: float) -> None:
    """Without ties, top-k with the parity count is the official `imp < kthvalue` masking."""
    scores = torch.rand(4, 50, generator=torch.Generator().manual_seed(1))
    n = scores.shape[1]
    threshold = torch.kthvalue(scores, int(n * (1 - ratio)), dim=1, keepdim=True).values
    official_keep = ~(scores < threshold)
    assert torch.equal(topk_mask(scores, keep_count(ratio, n, parity=True), 1), official_keep)


def _train(
    model: PeftModel,
    sparsifier: RoseLoraSparsifier,
    tokens: torch.Tensor,
    steps: int,
    lr: float = 1e-2,
    check: Callable[[int, float], None] | None = None,
) -> torch.optim.Optimizer:
    """The official loop: backward, accumulate, step, prune, zero_grad."""
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    model.train()
    for step in range(steps):
        model(input_ids=tokens, labels=tokens).loss.backward()
        sparsifier.accumulate()
        optimizer.step()
        ratio = sparsifier.prune(step, optimizer)
        optimizer.zero_grad()
        if check is not None:
            check(step, ratio)
    return optimizer


def _assert_row_column_counts(model: PeftModel, ratio: float, parity: bool = False) -> None:
    for name, lora_a, lora_b in lora_pairs(model, "default"):
        rows = (lora_a != 0).sum(dim=1)
        cols = (lora_b != 0).sum(dim=0)
        assert (rows <= keep_count(ratio, lora_a.shape[1], parity=parity)).all(), name
        assert (cols <= keep_count(ratio, lora_b.shape[0], parity=parity)).all(), name
        assert (rows >= 1).all(), name


@pytest.mark.parametrize("parity", [False, True])
def test_custom_loop_keeps_at_most_k_per_row_and_column(make_peft, make_batch, parity: bool) -> None:
    model = make_peft(parity_kthvalue=parity)
    sparsifier = RoseLoraSparsifier(model)
    seen = []

    def check(step: int, ratio: float) -> None:
        seen.append(ratio)
        _assert_row_column_counts(model, ratio, parity)
        if parity and ratio < 1:  # A starts dense (Kaiming), so every row keeps exactly its count
            for _, lora_a, _ in lora_pairs(model, "default"):
                assert ((lora_a != 0).sum(dim=1) == keep_count(ratio, lora_a.shape[1], parity=True)).all()

    _train(model, sparsifier, make_batch(), steps=7, check=check)
    assert seen[:2] == [1.0, 1.0] and seen[-1] == 0.25
    assert keep_count(0.25, 32) == 8 and keep_count(0.25, 32, parity=True) == 9


def test_reset_pruned_optimizer_moments(make_peft, make_batch) -> None:
    def pruned_moments(reset: bool) -> list[torch.Tensor]:
        model = make_peft(reset_pruned_optimizer_state=reset)
        optimizer = _train(model, RoseLoraSparsifier(model), make_batch(), steps=6)
        moments = []
        for _, lora_a, lora_b in lora_pairs(model, "default"):
            for weight in (lora_a, lora_b):
                pruned = weight == 0
                assert pruned.any()
                state = optimizer.state[weight]
                moments += [state["exp_avg"][pruned], state["exp_avg_sq"][pruned]]
        return moments

    assert all((m == 0).all() for m in pruned_moments(reset=True))
    assert any((m != 0).any() for m in pruned_moments(reset=False))  # official: pruned entries keep momentum


def test_clamp_applies_only_once_pruning_starts(make_peft, make_batch) -> None:
    clamp = 1e-3
    model = make_peft(value_clamp=clamp)
    largest = {}

    def check(step: int, ratio: float) -> None:
        largest[step] = max(max(a.abs().max().item(), b.abs().max().item()) for _, a, b in lora_pairs(model, "default"))

    _train(model, RoseLoraSparsifier(model), make_batch(), steps=4, check=check)
    assert largest[0] > clamp and largest[1] > clamp  # dense steps (t ≤ t_i) are not clamped
    bound = torch.tensor(clamp, dtype=torch.float32).item()  # the clamp value as the fp32 weights hold it
    assert largest[2] <= bound and largest[3] <= bound


def test_mask_interval_skips_off_steps(make_peft, make_batch) -> None:
    model = make_peft(mask_interval=2)
    sparsifier = RoseLoraSparsifier(model)
    _train(model, sparsifier, make_batch(), steps=2)  # dense steps 0 and 1
    before = [a.detach().clone() for _, a, _ in lora_pairs(model, "default")]
    sparsifier.prune(3)  # off-interval: weights untouched
    assert all(torch.equal(b, a) for b, (_, a, _) in zip(before, lora_pairs(model, "default"), strict=True))
    sparsifier.prune(4)
    _assert_row_column_counts(model, keep_ratio(4, sparsifier.config))
    sparsifier.finalize()
    _assert_row_column_counts(model, 0.25)


def test_only_the_active_adapter_is_masked(make_peft, make_batch, make_config) -> None:
    model = make_peft()
    model.add_adapter("other", make_config())
    other = [a.detach().clone() for _, a, _ in lora_pairs(model, "other")]
    sparsifier = RoseLoraSparsifier(model)
    assert sparsifier.adapter_name == "default"
    _train(model, sparsifier, make_batch(), steps=6)
    assert all(torch.equal(o, a) for o, (_, a, _) in zip(other, lora_pairs(model, "other"), strict=True))


def test_state_dict_round_trip(make_peft, make_batch) -> None:
    model = make_peft()
    sparsifier = RoseLoraSparsifier(model)
    _train(model, sparsifier, make_batch(), steps=2)
    state = sparsifier.state_dict()
    assert len(state) == 2 * len(lora_pairs(model, "default"))
    fresh = RoseLoraSparsifier(model)
    fresh.load_state_dict(state)
    assert all(torch.equal(state[k], v) for k, v in fresh.state_dict().items())
    with pytest.raises(LmforgeError, match="unknown modules"):
        fresh.load_state_dict({"nowhere.lora_A": torch.zeros(1)})


def test_prune_before_any_importance_is_a_bug(make_peft) -> None:
    with pytest.raises(RuntimeError, match="accumulate"):
        RoseLoraSparsifier(make_peft()).prune(10)


def test_plain_lora_adapter_needs_an_explicit_config(make_base, make_config) -> None:
    model = get_peft_model(make_base(), LoraConfig(r=4, target_modules=["q_proj"]))
    with pytest.raises(LmforgeError, match="RoseLoraConfig"):
        RoseLoraSparsifier(model)
    assert RoseLoraSparsifier(model, make_config()).config.target_density == 0.25


def test_non_finite_gradients_do_not_poison_the_importance(make_peft, make_batch) -> None:
    model = make_peft()
    sparsifier = RoseLoraSparsifier(model)
    _train(model, sparsifier, make_batch(), steps=1)
    for _, lora_a, lora_b in lora_pairs(model, "default"):
        lora_a.grad = torch.full_like(lora_a, float("inf"))
        lora_b.grad = torch.full_like(lora_b, float("nan"))
    sparsifier.accumulate()
    assert all(torch.isfinite(ema).all() for ema in sparsifier.state_dict().values())


def test_embedding_targets_are_refused(make_peft) -> None:
    with pytest.raises(LmforgeError, match="Linear targets only"):
        RoseLoraSparsifier(make_peft(target_modules=["embed_tokens", "q_proj"]))


def _official_loop(model: PeftModel, tokens: torch.Tensor, steps: int, rate_at: Callable[[int], float]) -> None:
    """The released EasyEdit loop's sparsity mechanics (EMA 0.8, kthvalue threshold, ±3e-3 clamp), restated."""
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    importance: dict[str, torch.Tensor] = {}
    lora = [(n, p) for n, p in model.named_parameters() if "lora_" in n]
    for it in range(steps):
        optimizer.zero_grad()
        model(input_ids=tokens, labels=tokens).loss.backward()
        for n, p in lora:
            score = (p.grad * p).abs().detach()
            importance[n] = score if n not in importance else importance[n] * 0.8 + score * 0.2
        optimizer.step()
        rate = rate_at(it)
        if rate < 1.0:
            for n, p in lora:
                dim = 1 if "lora_A" in n else 0
                k = int(importance[n].shape[dim] * (1 - rate))
                threshold = torch.kthvalue(importance[n], k, dim, True)[0]
                p.data.masked_fill_(importance[n] < threshold, 0.0)
                p.data.clamp_(-3e-3, 3e-3)


def test_parity_mode_matches_the_official_loop(make_base, make_batch) -> None:
    config = RoseLoraConfig.paper_knowledge_editing(r=4, lora_dropout=0.0, target_density=0.2)
    official = get_peft_model(make_base(), config)
    ours = get_peft_model(make_base(), config)
    tokens = make_batch()
    _official_loop(official, tokens, steps=25, rate_at=lambda it: keep_ratio(it, config))

    sparsifier = RoseLoraSparsifier(ours)
    optimizer = torch.optim.Adam(ours.parameters(), lr=5e-3)
    for step in range(25):
        optimizer.zero_grad()
        ours(input_ids=tokens, labels=tokens).loss.backward()
        sparsifier.accumulate()
        optimizer.step()
        sparsifier.prune(step, optimizer)

    for (name, a_off, b_off), (_, a_ours, b_ours) in zip(
        lora_pairs(official, "default"), lora_pairs(ours, "default"), strict=True
    ):
        assert torch.equal(a_off != 0, a_ours != 0) and torch.equal(b_off != 0, b_ours != 0), name
        assert torch.allclose(a_off, a_ours, atol=1e-7) and torch.allclose(b_off, b_ours, atol=1e-7), name
        assert ((a_ours != 0).sum(dim=1) == keep_count(0.2, a_ours.shape[1], parity=True)).all()
