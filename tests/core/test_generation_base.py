"""The backend-independent generation logic: seeds, greedy de-duplication, caching, resume."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from lmforge.core.errors import LmforgeError
from lmforge.core.generation import GenerationConfig, Generator, Prompt, ResponseCache, derive_seed
from lmforge.core.generation.base import truncate_at_stop


@dataclass
class EchoGenerator(Generator):
    """Returns a text built from the prompt and the sample's seed; counts what it was asked."""

    calls: list = field(default_factory=list)
    fail_after: int | None = None

    def __post_init__(self) -> None:
        self.backend = "echo"

    @property
    def model_id(self) -> str:
        return "echo-model"

    def _run(self, jobs, config, done):
        for k, job in enumerate(jobs):
            if self.fail_after is not None and len(self.calls) >= self.fail_after:
                raise RuntimeError("simulated crash")
            self.calls.append((job.prompt.id, job.sample_index, job.seed))
            seed = "greedy" if config.greedy else job.seed
            done(k, f"{job.prompt.messages[-1]['content']}|{seed}|STOP tail")


def test_config_validates_and_requires_max_new_tokens():
    with pytest.raises(TypeError):
        GenerationConfig()  # type: ignore[call-arg]
    for bad in (
        {"max_new_tokens": 0},
        {"max_new_tokens": 4, "temperature": -1},
        {"max_new_tokens": 4, "n": 0},
        {"max_new_tokens": 4, "top_p": 0},
    ):
        with pytest.raises(LmforgeError):
            GenerationConfig(**bad)


def test_seed_depends_on_run_seed_prompt_and_sample_only():
    assert derive_seed(0, "a", 0) == derive_seed(0, "a", 0)
    seeds = {derive_seed(s, p, j) for s in (0, 1) for p in ("a", "b") for j in (0, 1)}
    assert len(seeds) == 8
    assert all(0 <= s < 2**31 for s in seeds)


def test_prompt_of_accepts_strings_messages_and_rejects_bad_roles():
    p = Prompt.of("hi")
    assert p.messages == ({"role": "user", "content": "hi"},)
    assert Prompt.of("hi").id == p.id != Prompt.of("ho").id
    assert Prompt.of([{"role": "system", "content": "s"}, {"role": "user", "content": "u"}], id=7).id == "7"
    with pytest.raises(LmforgeError, match="unknown chat role"):
        Prompt.of([{"role": "bot", "content": "x"}])


def test_greedy_computes_one_sample_and_replicates():
    gen = EchoGenerator()
    out = gen.generate(["a", "b"], GenerationConfig(max_new_tokens=4, n=3, stop=("STOP",)))
    assert out == [["a|greedy|"] * 3, ["b|greedy|"] * 3]
    assert len(gen.calls) == 2


def test_sampling_gives_each_sample_its_derived_seed():
    gen = EchoGenerator()
    out = gen.generate(["a"], GenerationConfig(max_new_tokens=4, n=2, temperature=0.7, seed=5), ids=["q1"])
    assert out == [[f"a|{derive_seed(5, 'q1', 0)}|STOP tail", f"a|{derive_seed(5, 'q1', 1)}|STOP tail"]]


def test_cache_resumes_after_a_crash_without_recomputing(tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    config = GenerationConfig(max_new_tokens=4, n=2, temperature=1.0)
    prompts = ["a", "b", "c"]
    crashing = EchoGenerator(cache=cache, fail_after=3)
    with pytest.raises(RuntimeError):
        crashing.generate(prompts, config)
    assert len(cache) == 3  # what finished before the crash is kept
    resumed = EchoGenerator(cache=cache)
    out = resumed.generate(prompts, config)
    assert len(resumed.calls) == 3  # only the missing samples
    assert out == EchoGenerator().generate(prompts, config)


def test_cache_key_separates_parameters_and_models(tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    gen = EchoGenerator(cache=cache)
    gen.generate(["a"], GenerationConfig(max_new_tokens=4))
    gen.generate(["a"], GenerationConfig(max_new_tokens=5))
    gen.generate(["a"], GenerationConfig(max_new_tokens=4, stop=("x",)))
    gen.generate(["a"], GenerationConfig(max_new_tokens=4))
    assert len(gen.calls) == 3
    # greedy results do not depend on the run seed, so a new seed reuses them
    gen.generate(["a"], GenerationConfig(max_new_tokens=4, seed=9))
    assert len(gen.calls) == 3


def test_ids_must_match_prompts():
    with pytest.raises(LmforgeError, match="ids"):
        EchoGenerator().generate(["a", "b"], GenerationConfig(max_new_tokens=1), ids=["x"])


@pytest.mark.parametrize(
    ("text", "stop", "expected"),
    [("abc</s>def", ["</s>"], "abc"), ("abc", ["x"], "abc"), ("a1b2", ["2", "1"], "a"), ("abc", [""], "abc")],
)
def test_truncate_at_stop(text, stop, expected):
    assert truncate_at_stop(text, stop) == expected
