"""RoseRAG: robust retrieval-augmented generation for small LMs (Liu et al., Findings of ACL 2025).

Three stages, each runnable and resumable on its own (``lmforge rag ...`` mirrors them):

- **A, sample** (:func:`sample`): multi-turn prompting with the model's own chat template;
  positives are rationales written with the gold answer shown and kept when the model's answer
  from them is right, negatives are inference trajectories whose answer is wrong.
- **B, select** (:func:`select`): score kept candidates with the frozen starting model and keep
  the least likely correct vs the most likely wrong response per question.
- **C, train** (:class:`PreferenceTrainer`): ORPO with its NLL term on response tokens only
  (DPO, SimPO and SFT behind ``loss``), a HF ``Trainer``.

Data readers (FlashRAG, HotpotQA, StrategyQA), bm25s / dense retrieval and evaluation
(EM / F1 / containment with bootstrap intervals) complete the pipeline.

Exports load on first use, so ``lmforge --help`` does not import the training stack.
"""

from lmforge.core.lazy import lazy_exports

_EXPORTS = {
    "Dialogue": "lmforge.roserag.prompting",
    "GivenContextsConfig": "lmforge.roserag.contexts_config",
    "Passage": "lmforge.roserag.data",
    "PreferenceConfig": "lmforge.roserag.preference_config",
    "PreferenceTrainer": "lmforge.roserag.preference_trainer",
    "PromptConfig": "lmforge.roserag.prompting_config",
    "Question": "lmforge.roserag.data",
    "Retriever": "lmforge.roserag.retrieval",
    "RetrieverConfig": "lmforge.roserag.retrieval_config",
    "SampleConfig": "lmforge.roserag.sampling_config",
    "SampleSummary": "lmforge.roserag.sampling",
    "SelectConfig": "lmforge.roserag.selection_config",
    "bootstrap_ci": "lmforge.roserag.evaluation",
    "build_dialogue": "lmforge.roserag.prompting",
    "build_index": "lmforge.roserag.retrieval",
    "corpus_from_questions": "lmforge.roserag.data",
    "evaluate": "lmforge.roserag.evaluation",
    "extract_answer": "lmforge.roserag.answers",
    "given_contexts": "lmforge.roserag.contexts",
    "is_correct": "lmforge.roserag.answers",
    "load_index": "lmforge.roserag.retrieval",
    "paired_bootstrap_ci": "lmforge.roserag.evaluation",
    "read_corpus": "lmforge.roserag.data",
    "read_questions": "lmforge.roserag.data",
    "robustness": "lmforge.roserag.robustness",
    "sample": "lmforge.roserag.sampling",
    "score_samples": "lmforge.roserag.selection",
    "select": "lmforge.roserag.selection",
    "select_pairs": "lmforge.roserag.selection",
    "train_preferences": "lmforge.roserag.training",
    "write_corpus": "lmforge.roserag.data",
    "write_questions": "lmforge.roserag.data",
}
__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
