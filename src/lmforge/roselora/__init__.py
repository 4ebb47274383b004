"""RoseLoRA: LoRA with row-wise sparse A and column-wise sparse B (Wang et al., EMNLP 2024).

The adapter is an ordinary PEFT LoRA adapter; only training differs. Build it with
`get_peft_model(model, RoseLoraConfig(...))`, then train with `RoseLoraCallback` in a
`Trainer`, or call `RoseLoraSparsifier.accumulate()` / `.prune()` in a custom loop;
`sparsity_report` checks ΔW against the proven bound and `save_sparse` stores only non-zeros.
Knowledge editing (EasyEdit conventions) lives in `requests`, `metrics`, `editing` and
`edit_run`, behind `lmforge lora edit`.
"""

from lmforge.roselora.callback import RoseLoraCallback
from lmforge.roselora.config import RoseLoraConfig
from lmforge.roselora.export import load_sparse, save_sparse
from lmforge.roselora.report import ModuleSparsity, nominal_bound, sparsity_report
from lmforge.roselora.sparsity import RoseLoraSparsifier, keep_count, keep_ratio, topk_mask

__all__ = [
    "ModuleSparsity",
    "RoseLoraCallback",
    "RoseLoraConfig",
    "RoseLoraSparsifier",
    "keep_count",
    "keep_ratio",
    "load_sparse",
    "nominal_bound",
    "save_sparse",
    "sparsity_report",
    "topk_mask",
]
