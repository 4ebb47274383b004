"""HadSkip: budgeted, input-adaptive layer skipping for sequence classifiers (encoders and decoders).

Exports load on first use, so ``lmforge --help`` does not import the training stack.
"""

from lmforge.core.lazy import lazy_exports

__getattr__, __all__ = lazy_exports(
    __name__,
    {
        "EarlyExitModel": "lmforge.hadskip.baselines",
        "keep_layers": "lmforge.hadskip.baselines",
        "run_compare": "lmforge.hadskip.compare",
        "HadSkipConfig": "lmforge.hadskip.config",
        "estimate_layer_importance": "lmforge.hadskip.importance",
        "initial_keep_probabilities": "lmforge.hadskip.importance",
        "initialise_gates": "lmforge.hadskip.importance",
        "HadSkipModel": "lmforge.hadskip.model",
        "HadSkipOutput": "lmforge.hadskip.model",
        "HadSkipController": "lmforge.hadskip.trainer",
        "HadSkipTrainer": "lmforge.hadskip.trainer",
        "HadSkipTrainingArguments": "lmforge.hadskip.training_args",
        "UsageStats": "lmforge.hadskip.usage",
    },
)
