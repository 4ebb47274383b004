"""RoseLoraConfig: validation, defaults and the two-file save/reload contract."""

from __future__ import annotations

import json
import warnings

import pytest
from peft import LoraConfig, PeftConfig

from lmforge.core.errors import LmforgeError
from lmforge.roselora import RoseLoraConfig
from lmforge.roselora.config import ROSELORA_CONFIG_NAME


def test_defaults_are_the_official_schedule() -> None:
    config = RoseLoraConfig()
    assert (config.target_density, config.importance_beta) == (0.05, 0.8)
    assert (config.warmup_steps, config.prune_end_step, config.schedule_power) == (3, 20, 3.0)
    assert config.value_clamp is None
    assert not config.reset_pruned_optimizer_state
    assert not config.parity_kthvalue
    assert config.peft_type.value == "LORA"


def test_paper_recipe_and_overrides() -> None:
    config = RoseLoraConfig.paper_knowledge_editing(value_clamp=None)
    assert (config.r, config.lora_alpha, config.lora_dropout) == (8, 32, 0.1)
    assert config.target_modules == {"q_proj", "v_proj"}
    assert config.parity_kthvalue and config.total_step == 25
    assert config.value_clamp is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"target_density": 0.0}, "target_density"),
        ({"target_density": 1.5}, "target_density"),
        ({"importance_beta": 1.0}, "importance_beta"),
        ({"warmup_steps": 5, "prune_end_step": 5}, "warmup_steps < prune_end_step"),
        ({"warmup_steps": -1}, "warmup_steps"),
        ({"total_step": 10}, "total_step"),
        ({"schedule_power": 0}, "schedule_power"),
        ({"mask_interval": 0}, "mask_interval"),
        ({"value_clamp": -1e-3}, "value_clamp"),
        ({"use_dora": True}, "use_dora"),
        ({"init_lora_weights": "pissa"}, "init_lora_weights"),
        ({"init_lora_weights": "olora"}, "init_lora_weights"),
    ],
)
def test_bad_values_raise_lmforge_error(fields: dict[str, object], message: str) -> None:
    with pytest.raises(LmforgeError, match=message):
        RoseLoraConfig(target_modules=["q_proj"], **fields)


def test_save_writes_plain_lora_and_a_sidecar(tmp_path) -> None:
    config = RoseLoraConfig(r=4, target_modules=["q_proj"], target_density=0.1, value_clamp=0.01, total_step=40)
    config.save_pretrained(str(tmp_path))

    adapter = json.loads((tmp_path / "adapter_config.json").read_text())
    assert adapter["peft_type"] == "LORA"
    assert not set(RoseLoraConfig.sparsity_field_names()) & set(adapter)
    assert json.loads((tmp_path / ROSELORA_CONFIG_NAME).read_text()) == config.sparsity_dict()

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # plain PEFT sees an ordinary LoRA config: no "unexpected keys" warning
        plain = PeftConfig.from_pretrained(str(tmp_path))
    assert type(plain) is LoraConfig and plain.r == 4

    reloaded = RoseLoraConfig.from_pretrained(str(tmp_path))
    assert reloaded == config


def test_reload_of_plain_lora_warns_and_uses_defaults(tmp_path) -> None:
    LoraConfig(r=4, target_modules=["q_proj"]).save_pretrained(str(tmp_path))
    with pytest.warns(UserWarning, match=ROSELORA_CONFIG_NAME):
        config = RoseLoraConfig.from_pretrained(str(tmp_path))
    assert config.r == 4 and config.target_density == RoseLoraConfig().target_density


def test_reload_rejects_unknown_sidecar_fields(tmp_path) -> None:
    RoseLoraConfig(target_modules=["q_proj"]).save_pretrained(str(tmp_path))
    (tmp_path / ROSELORA_CONFIG_NAME).write_text(json.dumps({"sparsity": 0.1}))
    with pytest.raises(LmforgeError, match="unknown RoseLoRA fields"):
        RoseLoraConfig.from_pretrained(str(tmp_path))
