"""rollout.engine settings: defaults, checks, and the one-line errors of the vLLM engine that need
no vLLM (runs in the main environment)."""
from __future__ import annotations

import importlib.util
from types import SimpleNamespace

import pytest

from gpg_vl.config import Config, load_config


def test_hf_is_the_default_and_tis_is_off():
    cfg = load_config(Config, None, [])
    assert cfg.rollout.engine == "hf" and cfg.rollout.importance_correction == "none"
    assert cfg.rollout.vllm.tensor_parallel_size == 1


def test_engine_settings_are_checked():
    cfg = load_config(Config, None, ["rollout.engine=vllm", "rollout.vllm.gpu_memory_utilization=0.5",
                                     "rollout.vllm.max_model_len=2048", "rollout.importance_correction=tis",
                                     "rollout.tis_cap=3"])
    assert cfg.rollout.vllm.max_model_len == 2048 and cfg.rollout.tis_cap == 3.0
    with pytest.raises(ValueError, match="gpu_memory_utilization"):
        load_config(Config, None, ["rollout.vllm.gpu_memory_utilization=1.5"])
    with pytest.raises(ValueError, match="rollout.engine=vllm"):
        load_config(Config, None, ["rollout.importance_correction=tis"])
    with pytest.raises(ValueError, match="engine"):
        load_config(Config, None, ["rollout.engine=sglang"])


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed here")
def test_missing_vllm_is_one_line_naming_the_extra():
    from gpg_vl.engines.vllm import VllmEngineError, import_vllm

    with pytest.raises(VllmEngineError) as info:
        import_vllm()
    msg = str(info.value)
    assert "gpg-vl[vllm]" in msg and "\n" not in msg


def test_memory_suggestion_moves_toward_what_can_fit():
    from gpg_vl.engines.vllm import suggest_fraction

    assert suggest_fraction(0.05) == "0.10"  # too small for weights + KV cache: more
    assert suggest_fraction(0.92) == "0.46"  # too large beside the trainer (or host memory on CPU): less
    assert suggest_fraction(0.001) == "0.05"  # never a fraction that rounds to 0.00


@pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="needs vLLM's model registry")
def test_unsupported_model_type_is_one_line_naming_it():
    from gpg_vl.engines.vllm import VllmEngineError, check_supported

    check_supported(SimpleNamespace(model_type="qwen2_vl", architectures=["Qwen2VLForConditionalGeneration"]))
    with pytest.raises(VllmEngineError, match="model type 'toy_vl'") as info:
        check_supported(SimpleNamespace(model_type="toy_vl", architectures=["ToyVLForConditionalGeneration"]))
    assert "\n" not in str(info.value)


def test_deepspeed_extension_builds_are_kept_apart_per_torch_version(monkeypatch):
    """The vLLM environment (torch 2.13) and the main one (2.14) must not share DeepSpeed's JIT
    build folder: 2.13 waited forever on the lock file 2.14 leaves there (a ZeRO launch hung)."""
    import os

    import torch
    from torch.utils.cpp_extension import get_default_build_root

    from gpg_vl.trainer.setup import separate_extension_builds

    monkeypatch.delenv("TORCH_EXTENSIONS_DIR", raising=False)
    separate_extension_builds()
    folder = os.environ["TORCH_EXTENSIONS_DIR"]
    assert folder != get_default_build_root() and folder.endswith(f"torch-{torch.__version__}")
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", "/somewhere/else")
    separate_extension_builds()
    assert os.environ["TORCH_EXTENSIONS_DIR"] == "/somewhere/else"  # a user's choice is kept
