"""RoseLoraCallback inside a real HF Trainer (and TRL's SFTTrainer) on a tiny random Llama."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file

from lmforge.roselora import RoseLoraCallback, keep_count, sparsity_report
from lmforge.roselora.callback import STATE_NAME
from lmforge.roselora.sparsity import lora_pairs


def test_hooks_fire_once_per_optimizer_step_with_0_based_steps(trained) -> None:
    assert trained.callback.pruned_at == list(range(trained.steps))
    assert trained.callback.accumulations == trained.steps  # not once per micro-batch (accumulation is 2)


def test_trained_adapter_is_row_and_column_sparse_within_the_bound(trained) -> None:
    tau = trained.tau
    for name, lora_a, lora_b in lora_pairs(trained.model, "default"):
        assert ((lora_a != 0).sum(dim=1) <= keep_count(tau, lora_a.shape[1])).all(), name
        assert ((lora_b != 0).sum(dim=0) <= keep_count(tau, lora_b.shape[0])).all(), name
        assert (lora_b != 0).any(), name  # training moved B off its zero init
    report = sparsity_report(trained.model)
    assert len(report) == 4  # q and v in 2 layers
    for module in report:
        assert module.density_a <= tau and module.density_b <= tau
        assert 0 < module.density_delta_w <= module.bound <= module.rank * tau**2


def test_pruned_entries_have_no_adam_moments(trained) -> None:
    optimizer = trained.trainer.optimizer
    for _, lora_a, lora_b in lora_pairs(trained.model, "default"):
        for weight in (lora_a, lora_b):
            state = optimizer.state[weight]
            pruned = weight == 0
            assert (state["exp_avg"][pruned] == 0).all() and (state["exp_avg_sq"][pruned] == 0).all()


def test_checkpoints_carry_the_importance_and_resume_restores_it(
    trained, make_peft, make_trainer, make_recorder
) -> None:
    checkpoint = trained.output_dir / "checkpoint-4"
    saved = load_file(checkpoint / STATE_NAME)
    assert set(saved) == set(trained.callback.sparsifier.state_dict())

    callback = make_recorder()
    model = make_peft(reset_pruned_optimizer_state=True)
    make_trainer(model, trained.dataset, trained.output_dir, callback).train(resume_from_checkpoint=str(checkpoint))
    assert callback.pruned_at == list(range(4, trained.steps))
    assert set(callback.ema_at_begin) == set(saved)
    assert all(torch.equal(saved[k], v) for k, v in callback.ema_at_begin.items())


def test_trl_sft_trainer_takes_the_config_and_the_callback(
    tmp_path: Path, make_base, make_config, make_batch, tokenizer
) -> None:
    """SFTTrainer builds the adapter from the RoseLoraConfig itself; the callback finds it there."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    config = make_config()
    vocab_size = make_base().config.vocab_size
    dataset = Dataset.from_dict({"input_ids": (make_batch(size=8, length=10, seed=2) % (vocab_size - 3) + 3).tolist()})
    args = SFTConfig(
        output_dir=str(tmp_path),
        max_steps=6,
        per_device_train_batch_size=4,
        learning_rate=1e-2,
        save_strategy="no",
        logging_strategy="no",
        report_to=[],
        use_cpu=True,
        bf16=False,
        disable_tqdm=True,
    )
    trainer = SFTTrainer(
        model=make_base(),
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=config,
        callbacks=[RoseLoraCallback()],
    )
    trainer.train()
    for module in sparsity_report(trainer.model):
        assert module.density_a <= config.target_density and module.density_b <= config.target_density
        assert 0 < module.density_delta_w <= module.bound
