"""gpg-vl bench --engine: the reasoning-length workload, TRL's colocated-vLLM options, and the
cross-engine ratios (hand-made results; the runs themselves are recorded in docs/benchmarks.md)."""
from __future__ import annotations

import pytest

from gpg_vl.bench.cli import engine_ratios
from gpg_vl.bench.trl_side import vllm_options
from gpg_vl.bench.workload import get_workload


def test_reasoning_workload_has_long_completions_and_an_engine_switch():
    work = get_workload("reasoning", engine="vllm", vllm_memory=0.5)
    assert work.max_new_tokens >= 256 and work.engine == "vllm" and work.vllm_memory == 0.5
    assert get_workload("reasoning").engine == "hf"


def test_trl_side_uses_colocated_vllm_only_when_asked():
    assert vllm_options(get_workload("tiny")) == {}
    opts = vllm_options(get_workload("tiny", engine="vllm", vllm_memory=0.4))
    assert opts["use_vllm"] is True and opts["vllm_mode"] == "colocate"
    assert opts["vllm_gpu_memory_utilization"] == 0.4


def test_engine_ratios_divide_by_gpg_vl_hf():
    hf = {"gpg_vl": {"step_seconds": 10.0, "gen_seconds": 8.0}, "trl": {"step_seconds": 20.0, "gen_seconds": 16.0}}
    vllm = {"gpg_vl": {"step_seconds": 5.0, "gen_seconds": 2.0}, "trl": None}
    r = engine_ratios(hf, vllm)
    assert r["gpg-vl vllm / gpg-vl hf, step_seconds"] == pytest.approx(0.5)
    assert r["gpg-vl vllm / gpg-vl hf, gen_seconds"] == pytest.approx(0.25)
    assert r["TRL hf / gpg-vl hf, gen_seconds"] == pytest.approx(2.0)
    assert r["TRL vllm colocate / gpg-vl hf, step_seconds"] is None  # TRL's vLLM side did not run
