"""train.vision_lr under DeepSpeed ZeRO-2 and ZeRO-3 on 2 processes: the vision tower steps at its own rate,
and a resume allowed to change the rates steps at the new ones (DeepSpeed restores the saved
optimizer groups, rates included, with each rank's shard).

AdamW's step moves a weight by at most about its rate (|m_hat / sqrt(v_hat)| <= ~1, equal to 1
on the first step), so each tensor's largest move shows the rate it got."""
from __future__ import annotations

import json

import pytest

from launch_helpers import final_weights, pick_free_port, run_bounded, train_args

pytestmark = [pytest.mark.slow, pytest.mark.multiprocess]


def largest_moves(before: dict, after: dict) -> tuple[float, float]:
    """(largest move of a vision-tower weight, largest move of any other weight)."""
    vision = [k for k in before if k.startswith(("visual.", "model.visual."))]  # saved / loaded names
    others = [k for k in before if k not in vision]
    assert vision and others and sorted(before) == sorted(after)
    move = {k: (after[k].float() - before[k].float()).abs().max().item() for k in before}
    return max(move[k] for k in vision), max(move[k] for k in others)


@pytest.mark.timeout(900)  # two bounded launches (420 s each); ~30 s on 2 cores
@pytest.mark.parametrize("mode", ["zero2", "zero3"])
def test_vision_rate_and_a_changed_rate_on_resume_under_deepspeed(tiny_dirs, synthetic_data, tmp_path, mode):
    from safetensors.torch import load_file
    from test_multiprocess_equivalence import launch_command

    model, data, out = tiny_dirs["qwen2_vl"], synthetic_data["train"], tmp_path / "run"
    args = train_args(model, data, out, 1, "train.save_every=1", "train.lr=1e-4", "train.vision_lr=1e-2")
    log = run_bounded([*launch_command(mode, pick_free_port()), *args])
    assert f"2 processes (DeepSpeed ZeRO-{mode[-1]}" in log, log[-2000:]
    start, first = load_file(str(model / "model.safetensors")), final_weights(out)
    vision, others = largest_moves(start, first)
    assert vision == pytest.approx(1e-2, rel=0.02) and others == pytest.approx(1e-4, rel=0.02)

    args = train_args(model, data, out, 2, "train.save_every=1", "train.lr=2e-4", "train.vision_lr=2e-2",
                      "train.resume_from=auto", "train.allow_change=[train.lr, train.vision_lr]")
    log = run_bounded([*launch_command(mode, pick_free_port()), *args])
    assert "resumed from" in log, log[-2000:]
    vision, others = largest_moves(first, final_weights(out))
    assert 0.8 * 2e-2 < vision <= 1.01 * 2e-2  # the saved rate would give at most 1e-2
    assert 0.8 * 2e-4 < others <= 1.01 * 2e-4
    logged = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [(r["step"], r["lr"]) for r in logged] == [(1, 1e-4), (2, 2e-4)]
