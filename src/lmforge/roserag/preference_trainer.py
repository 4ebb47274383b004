"""A HF ``Trainer`` for multi-turn preference pairs whose losses see response tokens only.

TRL's ORPO trainer puts the prompt into its NLL term and holds a single completion message;
RoseRAG responses span several assistant turns with a user turn between them, and prompts of
1–2k passage tokens would dominate the NLL. Here each pair is tokenized with the core
assistant-token mask (every assistant turn scored, its end-of-turn marker included, every
system/user token masked), chosen and rejected go through the model in one batch, and the LM
head runs only at the scored positions (``logits_to_keep`` as a boolean mask), so a 262k
vocabulary costs memory per response token. Being a ``Trainer``, it runs under
``accelerate launch``, with PEFT models, gradient accumulation and checkpoints unchanged.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch.utils.data import Dataset
from transformers import PreTrainedTokenizerBase, Trainer

from lmforge.core.errors import LmforgeError
from lmforge.core.scoring import tokenize_with_assistant_mask
from lmforge.roserag.losses import dpo_loss, orpo_loss, sft_loss, simpo_loss
from lmforge.roserag.preference_config import PreferenceConfig


def tokenize_pair(tokenizer: PreTrainedTokenizerBase, pair: Mapping[str, Any]) -> dict[str, list]:
    """Token ids and response masks of ``prompt + chosen`` and ``prompt + rejected``."""
    out: dict[str, list] = {}
    for side in ("chosen", "rejected"):
        ids, mask = tokenize_with_assistant_mask(tokenizer, [*pair["prompt"], *pair[side]])
        out[f"{side}_ids"], out[f"{side}_mask"] = ids, mask
    return out


class PairDataset(Dataset):
    """Tokenized preference pairs (TRL conversational layout with multi-message completions)."""

    def __init__(self, pairs: Sequence[Mapping[str, Any]], tokenizer: PreTrainedTokenizerBase) -> None:
        self.items = []
        for pair in pairs:
            missing = [k for k in ("prompt", "chosen", "rejected") if not pair.get(k)]
            if missing:
                raise LmforgeError(
                    f"pair {pair.get('id', '?')}: missing {', '.join(missing)}; use `lmforge rag select`"
                )
            self.items.append({"id": str(pair.get("id", len(self.items)))} | tokenize_pair(tokenizer, pair))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        return self.items[index]

    def longest(self) -> tuple[int, str]:
        """(tokens, pair id) of the longest sequence."""
        return max((max(len(it["chosen_ids"]), len(it["rejected_ids"])), it["id"]) for it in self.items)


class PairCollator:
    """Right-pads chosen rows then rejected rows into one batch, with the response mask beside them."""

    def __init__(self, pad_token_id: int) -> None:
        self.pad_token_id = pad_token_id

    def __call__(self, items: list[dict]) -> dict[str, torch.Tensor]:
        seqs = [(it["chosen_ids"], it["chosen_mask"]) for it in items] + [
            (it["rejected_ids"], it["rejected_mask"]) for it in items
        ]
        width = max(len(ids) for ids, _ in seqs)
        input_ids = torch.full((len(seqs), width), self.pad_token_id, dtype=torch.long)
        attention = torch.zeros((len(seqs), width), dtype=torch.long)
        scored = torch.zeros((len(seqs), width), dtype=torch.bool)
        for row, (ids, mask) in enumerate(seqs):
            input_ids[row, : len(ids)] = torch.tensor(ids)
            attention[row, : len(ids)] = 1
            scored[row, : len(ids)] = torch.tensor(mask)
        scored[:, 0] = False  # nothing predicts the first token
        batch = {"input_ids": input_ids, "attention_mask": attention, "response_mask": scored}
        if "ref_sum" in items[0]:
            batch["ref_sum"] = torch.tensor(
                [it["ref_sum"][0] for it in items] + [it["ref_sum"][1] for it in items], dtype=torch.float64
            )
        return batch


def response_logprobs(model: torch.nn.Module, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row: (sum, mean) log-probability of the response tokens, log-softmax in fp32."""
    scored = batch["response_mask"]
    keep = torch.zeros_like(scored)
    keep[:, :-1] = scored[:, 1:]  # the state at t predicts token t + 1
    logits = model(
        input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], logits_to_keep=keep, use_cache=False
    ).logits
    logits = logits.reshape(-1, logits.shape[-1]).float()  # (scored tokens, vocab), row-major like the mask
    targets = batch["input_ids"][:, 1:][scored[:, 1:]]
    token_logps = logits.log_softmax(dim=-1).gather(-1, targets[:, None]).squeeze(-1)
    rows = keep.nonzero(as_tuple=True)[0]
    sums = torch.zeros(scored.shape[0], dtype=token_logps.dtype, device=token_logps.device).index_add(
        0, rows, token_logps
    )
    counts = scored.sum(dim=1).clamp(min=1)
    return sums, sums / counts


class PreferenceTrainer(Trainer):
    """ORPO / DPO / SimPO / SFT on (prompt, chosen, rejected) conversations, response tokens only."""

    def __init__(
        self,
        model: torch.nn.Module,
        args: PreferenceConfig,
        train_dataset: Sequence[Mapping[str, Any]] | PairDataset,
        processing_class: PreTrainedTokenizerBase,
        **kwargs: Any,
    ) -> None:
        dataset = (
            train_dataset if isinstance(train_dataset, PairDataset) else PairDataset(train_dataset, processing_class)
        )
        if not len(dataset):
            raise LmforgeError("no preference pairs to train on")
        _check_lengths(dataset, args, model)
        if args.disable_dropout:
            for module in model.modules():
                if isinstance(module, torch.nn.Dropout):
                    module.p = 0.0
        pad = processing_class.pad_token_id
        collator = PairCollator(pad if pad is not None else 0)
        super().__init__(
            model=model,
            args=args,
            train_dataset=dataset,
            data_collator=collator,
            processing_class=processing_class,
            **kwargs,
        )
        self.model_accepts_loss_kwargs = False  # the loss is a mean over pairs: let Trainer scale it for accumulation
        self._stats: dict[str, list[float]] = defaultdict(list)
        if args.loss == "dpo":
            self._reference_sums(dataset, collator)

    @torch.no_grad()
    def _reference_sums(self, dataset: PairDataset, collator: PairCollator) -> None:
        """DPO's frozen reference: the starting model's summed response log-probs, computed once."""
        was_training = self.model.training
        self.model.eval()
        size = self.args.per_device_train_batch_size
        for start in range(0, len(dataset), size):
            items = dataset.items[start : start + size]
            batch = {k: v.to(self.args.device) for k, v in collator(items).items()}
            sums, _ = response_logprobs(self.model, batch)
            for i, item in enumerate(items):
                item["ref_sum"] = (float(sums[i]), float(sums[len(items) + i]))
        self.model.train(was_training)

    def compute_loss(
        self,
        model: torch.nn.Module,
        inputs: dict[str, torch.Tensor],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, Any]:
        sums, means = response_logprobs(model, inputs)
        n = sums.shape[0] // 2
        args: PreferenceConfig = self.args
        if args.loss == "orpo":
            loss, stats = orpo_loss(means[:n], means[n:], args.beta)
        elif args.loss == "simpo":
            loss, stats = simpo_loss(means[:n], means[n:], args.beta, args.simpo_gamma)
        elif args.loss == "dpo":
            ref = inputs["ref_sum"].to(sums.dtype)
            loss, stats = dpo_loss(sums[:n], sums[n:], ref[:n], ref[n:], args.beta)
        else:
            loss, stats = sft_loss(means[:n])
        stats |= {
            "chosen_logps": means[:n].mean(),
            "rejected_logps": means[n:].mean(),
            "accuracy": (means[:n] > means[n:]).float().mean(),
        }
        for name, value in stats.items():
            self._stats[name].append(float(value.detach()))
        return (loss, {"chosen": means[:n], "rejected": means[n:]}) if return_outputs else loss

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Add the mean of each preference statistic since the last log."""
        if "loss" in logs and self._stats:
            logs = logs | {f"pref/{k}": sum(v) / len(v) for k, v in self._stats.items()}
            self._stats.clear()
        super().log(logs, start_time)


def _check_lengths(dataset: PairDataset, args: PreferenceConfig, model: torch.nn.Module) -> None:
    """No silent truncation: every pair must fit ``max_length`` and the model's positions."""
    tokens, pair_id = dataset.longest()
    if args.max_length is not None and tokens > args.max_length:
        raise LmforgeError(
            f"pair {pair_id} has {tokens} tokens, more than max_length={args.max_length}; raise max_length "
            "(nothing is truncated) or use fewer/shorter passages"
        )
    positions = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    if positions is not None and tokens > positions:
        raise LmforgeError(f"pair {pair_id} has {tokens} tokens but the model handles {positions}; use fewer passages")
