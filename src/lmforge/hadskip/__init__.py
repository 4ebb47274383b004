"""HadSkip: budgeted, input-adaptive layer skipping for sequence classifiers (encoders and decoders)."""

from lmforge.hadskip.config import HadSkipConfig
from lmforge.hadskip.importance import estimate_layer_importance, initial_keep_probabilities, initialise_gates
from lmforge.hadskip.model import HadSkipModel, HadSkipOutput
from lmforge.hadskip.trainer import HadSkipController, HadSkipTrainer
from lmforge.hadskip.training_args import HadSkipTrainingArguments
from lmforge.hadskip.usage import UsageStats

__all__ = [
    "HadSkipConfig",
    "HadSkipController",
    "HadSkipModel",
    "HadSkipOutput",
    "HadSkipTrainer",
    "HadSkipTrainingArguments",
    "UsageStats",
    "estimate_layer_importance",
    "initial_keep_probabilities",
    "initialise_gates",
]
