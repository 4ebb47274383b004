"""lmforge: HadSkip, RoseLoRA, RoseRAG and distillation quantification as one toolkit."""

__version__ = "0.1.0"
