"""Exports load and run in vLLM (issue 5, item 6): vLLM's greedy tokens and their log-probs
agree with transformers' on the same export, for every family vLLM's CPU build runs, after real
training runs (full fine-tuning and a merged LoRA); and the check fails on exports that are wrong.

vLLM runs from its own environment (.venv-vllm: the CPU build here, scripts/setup_vllm.sh).
"""
from __future__ import annotations

import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from gpg_vl.config import Config, load_config
from gpg_vl.families import FAMILIES
from gpg_vl.models import load_policy
from gpg_vl.models.export_check import ExportCheckError, check_export, up_to_vision_token
from gpg_vl.trainer.loop import train
from gpg_vl.verifiers import VERIFIERS

pytestmark = [pytest.mark.slow, pytest.mark.vllm]
# family -> overrides of its 2-step training run, for the families vLLM's CPU build runs
RUNS = {"qwen2_vl": ["model.lora.enabled=true", "model.lora.r=4", "model.lora.alpha=8"],  # merged LoRA
        "qwen2_5_vl": [],  # full fine-tuning, vision tower included
        "qwen3_vl": []}  # full fine-tuning, deepstack mergers included
# ... and why the others are not checked here (measured with vLLM 0.32.0 CPU, docs/benchmarks.md)
NOT_ON_VLLM_CPU = {
    "qwen3_5": "vLLM's CPU Gated DeltaNet runs in bfloat16 only ('CPU GDN attention requires BF16'); "
               "the check compares float32 log-probs within 1e-3",
    "qwen3_vl_moe": "vLLM 0.32 reads text_config.norm_topk_prob, which transformers 5.24 does not write for "
                    "Qwen3-VL MoE ('Qwen3VLMoeTextConfig' object has no attribute 'norm_topk_prob')",
}


def test_every_family_is_checked_or_says_why_not():
    assert set(RUNS) | set(NOT_ON_VLLM_CPU) == set(FAMILIES) and not set(RUNS) & set(NOT_ON_VLLM_CPU)


def test_folders_vllm_cannot_load_are_named_before_anything_starts(tmp_path, capsys):
    from gpg_vl.cli import main

    assert main(["check-export", str(tmp_path / "nope"), "--vllm-python", "/nonexistent/python"]) == 1
    assert "no such folder" in capsys.readouterr().err
    (tmp_path / "adapters").mkdir()
    (tmp_path / "adapters" / "adapter_config.json").write_text("{}")
    (tmp_path / "adapters" / "adapter_model.safetensors").write_bytes(b"")
    assert main(["check-export", str(tmp_path / "adapters"), "--vllm-python", "/nonexistent/python"]) == 1
    assert "LoRA adapters" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["check-export", str(tmp_path / "empty"), "--vllm-python", "/nonexistent/python"]) == 1
    assert "not a Hugging Face model folder" in capsys.readouterr().err


def test_a_missing_vllm_python_is_a_clear_error(tiny_dirs, capsys):
    from gpg_vl.cli import main

    assert main(["check-export", str(tiny_dirs["qwen2_vl"]), "--vllm-python", "/nonexistent/python"]) == 1
    err = capsys.readouterr().err
    assert "cannot run /nonexistent/python" in err and "setup_vllm.sh" in err


def test_up_to_vision_token_cuts_after_the_first_placeholder():
    assert up_to_vision_token([5, 6, 7], {9}) == [5, 6, 7]
    assert up_to_vision_token([5, 9, 7, 9], {9}) == [5, 9]
    assert up_to_vision_token([9], {9}) == [9]


@pytest.fixture(scope="module")
def trained_exports(tiny_dirs, synthetic_data, tmp_path_factory, scrambler):
    """family -> (start checkpoint, final export) of a 2-step GPG run from scrambled weights."""
    VERIFIERS["test_len"] = lambda prompts, completions, **_: [float(len(c) % 3) for c in completions]
    root = tmp_path_factory.mktemp("vllm_exports")
    exports = {}
    try:
        for family, extra in RUNS.items():
            start = root / f"{family}_start"
            model, processor, _ = load_policy(str(tiny_dirs[family]))
            scrambler(model)  # outputs that depend visibly on every weight and on the image
            model.save_pretrained(start)
            processor.save_pretrained(start)
            cfg = load_config(Config, None, [
                f"model.path={start}", "model.min_pixels=12544", "model.max_pixels=12544",
                f"data.train={synthetic_data['train']}", "rollout.num_generations=4", "rollout.max_new_tokens=6",
                "rewards=[{name: test_len}]", "train.prompts_per_step=2", "train.lr=1e-2", "train.steps=2",
                "train.tensorboard=false", f"train.output_dir={root / family}", *extra])
            train(cfg, log=lambda *_: None)
            exports[family] = (start, root / family / "final")
    finally:
        VERIFIERS.pop("test_len", None)
    return exports


@pytest.mark.parametrize("family", list(RUNS))
def test_vllm_runs_a_trained_export_as_transformers_does(family, trained_exports, vllm_python):
    start, final = trained_exports[family]
    before, after = load_file(start / "model.safetensors"), load_file(final / "model.safetensors")
    assert before.keys() == after.keys()  # the release's key layout, adapters merged away
    assert any(not torch.equal(before[k], after[k]) for k in before)  # training changed the weights

    check = check_export(str(final), vllm_python)
    print(check.report())
    assert check.ok, check.report()
    assert check.vllm_version and sum(check.tokens) >= 4 * 2  # something was generated and compared
    assert max(check.max_logprob_diff) < 1e-3


def test_check_fails_when_vllm_gets_different_vision_weights(trained_exports, vllm_python, tmp_path):
    """A 5 % change to one vision-tower matrix is visible: the check sees the image path."""
    _, good = trained_exports["qwen2_5_vl"]
    bad = tmp_path / "bad"
    shutil.copytree(good, bad)
    state = load_file(bad / "model.safetensors")
    name = next(k for k in state if k.startswith("visual.") and k.endswith("mlp.up_proj.weight"))
    gen = torch.Generator().manual_seed(0)
    state[name] = state[name] * (1 + 0.05 * torch.randn(state[name].shape, generator=gen))
    save_file(state, bad / "model.safetensors", metadata={"format": "pt"})

    check = check_export(str(bad), vllm_python, reference_dir=str(good))
    assert not check.ok
    assert max(check.max_logprob_diff) > 1e-2


def test_check_reports_an_export_vllm_cannot_load(trained_exports, vllm_python, tmp_path):
    """The ``model.model.*`` layout that transformers 5 wrote under ZeRO-3 before the fix."""
    _, good = trained_exports["qwen2_vl"]
    bad = tmp_path / "bad"
    shutil.copytree(good, bad)
    state = load_file(bad / "model.safetensors")
    save_file({("model." + k if k.startswith("model.") else k): v for k, v in state.items()},
              bad / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ExportCheckError, match="could not run"):
        check_export(str(bad), vllm_python, reference_dir=str(good))
