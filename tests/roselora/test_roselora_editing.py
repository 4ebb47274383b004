"""The editing loop on a tiny random Llama: loss definition, a successful sparse edit, early stop."""

from __future__ import annotations

import pytest
import torch

from lmforge.core.errors import LmforgeError
from lmforge.roselora import RoseLoraSparsifier, keep_count, sparsity_report
from lmforge.roselora.editing import target_loss, train_edit
from lmforge.roselora.metrics import encode_probes, token_accuracy
from lmforge.roselora.requests import EditRequest

EDIT = EditRequest(prompt="t5 t6 t7", target_new="t40 t41")


def test_loss_is_the_mean_of_per_request_target_means(make_peft, tokenizer) -> None:
    model = make_peft()
    requests = [EDIT, EditRequest(prompt="t9", target_new="t10 t11 t12 t13")]
    separate = []
    for request in requests:  # one sequence: transformers' loss is the mean over its target tokens
        batch = encode_probes(tokenizer, [request.edit_probe])
        with torch.no_grad():
            separate.append(model(input_ids=batch.input_ids, labels=batch.labels).loss)
    with torch.no_grad():
        joint = target_loss(model, encode_probes(tokenizer, [r.edit_probe for r in requests]))
    assert joint == pytest.approx(torch.stack(separate).mean().item(), rel=1e-5)


def test_roselora_edit_reaches_the_target_and_ends_sparse(make_peft, tokenizer, make_batch) -> None:
    model = make_peft(target_density=0.5, warmup_steps=3, prune_end_step=20)
    tokens = make_batch()
    with torch.no_grad():
        original = model(input_ids=tokens).logits
    assert token_accuracy(model, tokenizer, [EDIT.edit_probe]) == [0.0]

    result = train_edit(model, tokenizer, [EDIT], steps=25, lr=3e-2, sparsifier=RoseLoraSparsifier(model))
    assert result.steps == 25 and result.seconds > 0
    assert token_accuracy(model, tokenizer, [EDIT.edit_probe]) == [1.0]
    for module in sparsity_report(model):
        assert module.nnz_a <= module.rank * keep_count(0.5, module.d_in)
        assert module.density_delta_w <= module.bound
    with model.disable_adapter(), torch.no_grad():  # the base model is untouched
        assert torch.equal(model(input_ids=tokens).logits, original)


def test_early_stop_waits_for_the_end_of_the_schedule(make_peft, tokenizer) -> None:
    model = make_peft(warmup_steps=1, prune_end_step=5)
    sparse = train_edit(model, tokenizer, [EDIT], steps=25, stop_loss=10.0, sparsifier=RoseLoraSparsifier(model))
    assert sparse.steps == 7  # first step after t_f = 5 is step 6
    assert train_edit(make_peft(), tokenizer, [EDIT], steps=25, stop_loss=10.0).steps == 1  # dense: at once


def test_a_later_edit_continues_the_schedule(make_peft, tokenizer) -> None:
    """Sequential editing: past t_f, early stop is allowed from the first step of the next edit."""
    model = make_peft(warmup_steps=1, prune_end_step=5)
    sparsifier = RoseLoraSparsifier(model)
    first = train_edit(model, tokenizer, [EDIT], steps=6, stop_loss=None, sparsifier=sparsifier)
    later = train_edit(
        model, tokenizer, [EDIT], steps=25, stop_loss=10.0, sparsifier=sparsifier, start_step=first.steps
    )
    assert (first.steps, later.steps) == (6, 1)


def test_edit_pruned_to_tau_even_when_stopped_before_the_schedule_ends(make_peft, tokenizer) -> None:
    model = make_peft(warmup_steps=3, prune_end_step=20)
    train_edit(model, tokenizer, [EDIT], steps=2, sparsifier=RoseLoraSparsifier(model))
    for module in sparsity_report(model):
        assert module.density_a <= 0.25 and module.density_b <= 0.25


def test_bad_edit_arguments(make_peft, make_base, tokenizer) -> None:
    with pytest.raises(LmforgeError, match="steps"):
        train_edit(make_peft(), tokenizer, [EDIT], steps=0)
    frozen = make_base().requires_grad_(False)
    with pytest.raises(LmforgeError, match="trainable"):
        train_edit(frozen, tokenizer, [EDIT])
