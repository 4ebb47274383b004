"""RoseLoRA: LoRA with row-wise sparse A and column-wise sparse B (Wang et al., EMNLP 2024).

The adapter is an ordinary PEFT LoRA adapter; only training differs. Build it with
`get_peft_model(model, RoseLoraConfig(...))`, then train with `RoseLoraCallback` in a
`Trainer`, or call `RoseLoraSparsifier.accumulate()` / `.prune()` in a custom loop;
`sparsity_report` checks ΔW against the proven bound and `save_sparse` stores only non-zeros.
Knowledge editing (EasyEdit conventions; RoseLoRA against LoRA, AdaLoRA and FT-L) lives in
`requests`, `metrics`, `editing`, `methods` and `edit_run`, behind `lmforge lora edit`;
fine-tuning (classification or chat SFT) in `finetune_data` and `finetune`, behind
`lmforge lora finetune`. User docs: docs/roselora.md.

Exports load on first use, so ``lmforge --help`` does not import the training stack.
"""

from lmforge.core.lazy import lazy_exports

__getattr__, __all__ = lazy_exports(
    __name__,
    {
        "RoseLoraCallback": "lmforge.roselora.callback",
        "RoseLoraConfig": "lmforge.roselora.config",
        "load_sparse": "lmforge.roselora.export",
        "save_sparse": "lmforge.roselora.export",
        "ModuleSparsity": "lmforge.roselora.report",
        "nominal_bound": "lmforge.roselora.report",
        "sparsity_report": "lmforge.roselora.report",
        "RoseLoraSparsifier": "lmforge.roselora.sparsity",
        "keep_count": "lmforge.roselora.sparsity",
        "keep_ratio": "lmforge.roselora.sparsity",
        "topk_mask": "lmforge.roselora.sparsity",
    },
)
