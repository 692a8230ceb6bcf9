"""Two processes with several micro-batches per rank reach the weights of one process, on every
engine (gloo DDP, DeepSpeed ZeRO-2, ZeRO-3), and a non-finite loss on one rank skips the step on
every rank.

``train.micro_batch_size=2`` splits each rank's 8 rows into several forward/backward passes, so
the accumulation boundary is crossed: gradients must be synchronised (DDP) or reduced and
stepped (DeepSpeed) at the last pass only. A linear LR schedule checks that the schedule
advances once per training step on every engine.

The ZeRO-2 and ZeRO-3 runs use gpg-vl's gradient checkpointing (``model.gradient_checkpointing``),
the path the recipes take, against a plain run without it: each decoder layer is recomputed in
backward over the read-only prompt cache, under ZeRO-3 with every parameter partitioned (so the
recomputation must gather them again). ``train_probe.py`` counts the recomputations, so a run
that matched only because checkpointing was off would fail.

Negative control: ``GPG_VL_TEST_BREAK_BOUNDARY=1`` makes the 2-process runs of
``test_several_micro_batches_per_rank_match_one_process`` step at every micro-batch (a broken
boundary, see ``train_probe.py``); the test must then fail (figures in docs/benchmarks.md).
"""
from __future__ import annotations

import json
import os
import sys

import pytest

from launch_helpers import BIN, REPO, final_weights, max_diff, pick_free_port, run_bounded, train_args

pytestmark = [pytest.mark.slow, pytest.mark.multiprocess]

LAUNCH = [str(BIN / "accelerate"), "launch", "--num_processes", "2", "--num_machines", "1",
          "--mixed_precision", "no", "--dynamo_backend", "no"]
ENGINES = {"ddp": ["--multi_gpu"],
           "zero2": ["--use_deepspeed", "--deepspeed_config_file", str(REPO / "configs/deepspeed/zero2.json")],
           "zero3": ["--use_deepspeed", "--deepspeed_config_file", str(REPO / "configs/deepspeed/zero3.json")]}
MICRO = ("train.micro_batch_size=2", "train.lr_schedule=linear", "train.log_every=1")
INJECT = REPO / "tests" / "distributed" / "inject_nonfinite.py"
PROBE = REPO / "tests" / "distributed" / "train_probe.py"
# engine -> gradient checkpointing in its clean run (DDP with checkpointing: test_gradient_equivalence)
CLEAN = {"ddp": False, "zero2": True, "zero3": True}
BREAK_BOUNDARY = os.environ.get("GPG_VL_TEST_BREAK_BOUNDARY") == "1"


def rows_of(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def zero3_all_partitioned(folder) -> list[str]:
    """The shipped ZeRO-3 config with every parameter partitioned: the tiny model's attention and
    norm weights are under its persistence threshold (1e5 elements), a real model's are not."""
    config = json.loads((REPO / "configs/deepspeed/zero3.json").read_text())
    config["zero_optimization"]["stage3_param_persistence_threshold"] = 0
    (folder / "zero3_all_partitioned.json").write_text(json.dumps(config))
    return ["--use_deepspeed", "--deepspeed_config_file", str(folder / "zero3_all_partitioned.json")]


@pytest.fixture(scope="module")
def runs(tiny_dirs, synthetic_data, tmp_path_factory):
    """``run(engine or None, nonfinite_ranks or None, checkpointing) -> output dir`` of a 3-step
    run, made once each. Clean runs go through ``train_probe.py``."""
    done = {}

    def run(engine: str | None, nonfinite_ranks: str | None = None, checkpointing: bool = False):
        key = (engine, nonfinite_ranks, checkpointing)
        if key not in done:
            folder = tmp_path_factory.mktemp(f"{engine or 'single'}_{nonfinite_ranks or 'clean'}")
            out = folder / "run"
            args = train_args(tiny_dirs["qwen2_vl"], synthetic_data["train"], out, 3, *MICRO,
                              f"model.gradient_checkpointing={str(checkpointing).lower()}")
            entry = [str(INJECT if nonfinite_ranks else PROBE), "train"]
            engine_args = zero3_all_partitioned(folder) if (engine, checkpointing) == ("zero3", True) \
                else ENGINES.get(engine)
            launcher = [sys.executable] if engine is None else \
                [*LAUNCH, *engine_args, "--main_process_port", str(pick_free_port())]
            env = {"NONFINITE_STEP": "2", "NONFINITE_RANKS": nonfinite_ranks} if nonfinite_ranks else {}
            if BREAK_BOUNDARY and engine is not None and not nonfinite_ranks:
                env["BREAK_BOUNDARY"] = "1"
            out.mkdir(parents=True)
            run_bounded([*launcher, *entry, *args], env=env)
            done[key] = out
        return done[key]

    return run


def recomputed(out, ranks=(0,)) -> list[int]:
    """Decoder-layer / vision-block forwards run inside backward, per step and rank (train_probe)."""
    return [r["recomputed"] for rank in ranks for r in rows_of(out / f"probe_rank{rank}.jsonl")]


@pytest.mark.parametrize("engine", sorted(CLEAN), ids=lambda e: f"{e}-checkpointing" if CLEAN[e] else e)
def test_several_micro_batches_per_rank_match_one_process(engine, runs, tiny_dirs):
    from safetensors.torch import load_file

    out = runs(engine, checkpointing=CLEAN[engine])
    two, one = rows_of(out / "metrics.jsonl"), rows_of(runs(None) / "metrics.jsonl")
    final_one, final_two = final_weights(runs(None)), final_weights(out)
    print(f"{engine} (checkpointing {CLEAN[engine]}): grad norms {[r['grad_norm'] for r in two]} against "
          f"{[r['grad_norm'] for r in one]}, max weight difference {max_diff(final_one, final_two):.1e}")
    assert recomputed(runs(None)) == [0, 0, 0]  # the plain run: nothing recomputed
    if CLEAN[engine]:  # every step recomputed layers in backward on every rank
        assert all(n > 0 for n in recomputed(out, (0, 1))), recomputed(out, (0, 1))
    assert [r["step"] for r in two] == [1, 2, 3] and all(r["skipped"] == 0 for r in two)
    assert all(r["micro_batches"] >= 2 for r in two), two  # each rank crosses the boundary
    assert [r["lr"] for r in two] == pytest.approx([r["lr"] for r in one])  # one schedule step per step
    # The gradient of step 1 (same weights, same batch): only the summation order differs.
    assert two[0]["grad_norm"] == pytest.approx(one[0]["grad_norm"], rel=1e-4)
    assert two[0]["loss"] == pytest.approx(one[0]["loss"], abs=1e-6)
    # Later steps start from weights that differ by float rounding; Adam's first steps are about
    # lr * sign(grad), so near-zero gradients of either sign move a few weights by up to ~1e-4
    # (see test_micro_batch_size_does_not_change_the_update). A step applied per micro-batch
    # moves them by several times lr = 1e-3.
    assert [r["grad_norm"] for r in two] == pytest.approx([r["grad_norm"] for r in one], rel=1e-3)
    init = load_file(str(tiny_dirs["qwen2_vl"] / "model.safetensors"))
    assert max_diff(final_one, init) > 1e-3, "training did not move the weights: the comparison would be empty"
    assert max_diff(final_one, final_two) < 5e-4


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_nonfinite_loss_on_one_rank_skips_the_step_on_every_rank(engine, runs):
    out = runs(engine, nonfinite_ranks="1")
    decisions = [rows_of(out / f"rank{r}.jsonl") for r in (0, 1)]
    assert decisions[0] == decisions[1], decisions  # every rank took the same decisions
    assert [(d["skipped"], d["nonfinite"]) for d in decisions[0]] == [(0, 0), (1, 1), (0, 0)]
    # The skipped step changed nothing: the run follows one process that skipped it.
    one = rows_of(runs(None, nonfinite_ranks="0") / "metrics.jsonl")
    two = rows_of(out / "metrics.jsonl")
    assert [r["skipped"] for r in two] == [r["skipped"] for r in one]
    assert [r["lr"] for r in two] == pytest.approx([r["lr"] for r in one])
    assert [r["grad_norm"] for r in two if not r["skipped"]] == \
        pytest.approx([r["grad_norm"] for r in one if not r["skipped"]], rel=1e-3)
    assert max_diff(final_weights(runs(None, nonfinite_ranks="0")), final_weights(out)) < 5e-4
