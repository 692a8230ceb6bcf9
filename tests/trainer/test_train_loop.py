"""train(): the files it writes, the model it leaves, resuming; warm-up, evaluation, checkpoints."""
from __future__ import annotations

import json
import random

import pytest
import torch

from gpg_vl.config import Config, RewardSpec, WarmupConfig, load_config, to_dict
from gpg_vl.models import load_policy
from gpg_vl.trainer.checkpoint import complete_checkpoints, prune, resolve_resume, write_manifest
from gpg_vl.trainer.evaluate import evaluate
from gpg_vl.trainer.loop import TrainingStopped, train
from gpg_vl.trainer.rewards import RewardModel
from gpg_vl.trainer.warmup import run_warmup, target_texts, tokenize_targets
from gpg_vl.verifiers import VERIFIERS

TASKS = ("classification", "counting", "grounding")


@pytest.fixture
def test_verifiers(monkeypatch):
    def test_hash(prompts, completions, **columns):
        return [float(sum(map(ord, c)) % 5) for c in completions]

    def test_is_counting(prompts, completions, task, **columns):
        return [1.0 if t == "counting" else 0.0 for t in task]

    monkeypatch.setitem(VERIFIERS, "test_hash", test_hash)
    monkeypatch.setitem(VERIFIERS, "test_is_counting", test_is_counting)


def tiny_run(tiny_dirs, synthetic_data, out, *overrides: str) -> Config:
    return load_config(Config, None, [
        f"model.path={tiny_dirs['qwen2_vl']}", "model.min_pixels=12544", "model.max_pixels=12544",
        f"data.train={synthetic_data['train']}", "rollout.num_generations=2", "rollout.max_new_tokens=4",
        "rewards=[{name: test_hash}]", "train.prompts_per_step=2", "train.lr=1e-3",
        "train.tensorboard=false", f"train.output_dir={out}", *overrides])


@pytest.mark.slow
def test_train_writes_metrics_summary_checkpoints_and_a_loadable_final_model(
        tiny_dirs, synthetic_data, tmp_path, test_verifiers):
    out = tmp_path / "run"
    cfg = tiny_run(tiny_dirs, synthetic_data, out, f"data.test={synthetic_data['test']}", "train.eval_limit=3",
                   "train.steps=2", "train.save_every=1", "train.keep_last=1")
    logged = []
    summary = train(cfg, log=logged.append)

    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in lines] == [1, 2]
    for row in lines:
        for key in ("reward", "alpha", "valid_fraction", "loss", "grad_norm", "draws", "skipped_steps", "lr"):
            assert key in row, key
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk["steps"] == 2 and on_disk["skipped_steps"] == summary["skipped_steps"]
    for phase in ("before", "after"):  # eval_limit=3: the first test row of each task
        assert on_disk[phase]["n"] == 3
        assert set(on_disk[phase]["by_task"]) == set(TASKS)
        assert all(v["n"] == 1 and "test_hash" in v for v in on_disk[phase]["by_task"].values())
    assert len(summary["history"]) == 2
    assert json.loads((out / "config.json").read_text()) == json.loads(json.dumps(to_dict(cfg)))
    assert any("before:" in line for line in logged) and any("after:" in line for line in logged)

    # keep_last=1: step 1's checkpoint was pruned once step 2's was complete.
    assert [p.name for p in complete_checkpoints(out / "checkpoints")] == ["step-000002"]
    assert not (out / "checkpoints" / "step-000001").exists()
    assert not list(out.rglob("*.tmp"))
    assert json.loads((out / "checkpoints" / "step-000002" / "gpg_vl_state.json").read_text())["step"] == 2
    final, _, family = load_policy(str(out / "final"))
    assert family.name == "qwen2_vl"
    initial, _, _ = load_policy(str(tiny_dirs["qwen2_vl"]))
    assert summary["skipped_steps"] < 2  # at least one real update happened (seeded: always)...
    assert not torch.equal(final.lm_head.weight, initial.lm_head.weight)  # ...and final/ holds it
    ckpt, _, _ = load_policy(str(out / "checkpoints" / "step-000002"))
    assert torch.equal(ckpt.lm_head.weight, final.lm_head.weight)


@pytest.mark.slow
def test_resumed_run_continues_exactly_like_an_uninterrupted_one(
        tiny_dirs, synthetic_data, tmp_path, test_verifiers):
    whole = train(tiny_run(tiny_dirs, synthetic_data, tmp_path / "whole", "train.steps=3"), log=lambda *_: None)
    part = tmp_path / "part"
    train(tiny_run(tiny_dirs, synthetic_data, part, "train.steps=2", "train.save_every=2"), log=lambda *_: None)
    logged = []
    resumed = train(tiny_run(tiny_dirs, synthetic_data, part, "train.steps=3", "train.resume_from=auto"),
                    log=logged.append)
    assert any("resumed from" in line and "step-000002" in line for line in logged)
    assert len(resumed["history"]) == 1  # only step 3 ran
    a, b = whole["history"][2], resumed["history"][0]
    assert b["reward"] == a["reward"]  # the same prompts and the same sampled completions
    assert b["loss"] == pytest.approx(a["loss"], rel=1e-5)
    w1, _, _ = load_policy(str(tmp_path / "whole" / "final"))
    w2, _, _ = load_policy(str(part / "final"))
    for (name, p1), p2 in zip(w1.named_parameters(), w2.parameters()):
        torch.testing.assert_close(p1, p2, atol=1e-6, rtol=1e-5, msg=name)


@pytest.mark.slow
def test_training_stops_after_too_many_nonfinite_steps(tiny_dirs, synthetic_data, tmp_path, monkeypatch):
    # Finite rewards whose group sum overflows float32: the advantages and the loss are not finite.
    monkeypatch.setitem(VERIFIERS, "test_huge", lambda prompts, completions, **_: [
        3e38 if i % 2 else 0.0 for i in range(len(completions))])
    cfg = tiny_run(tiny_dirs, synthetic_data, tmp_path / "run", "rewards=[{name: test_huge}]",
                   "rollout.num_generations=4", "train.steps=3", "train.max_consecutive_skips=2")
    with pytest.warns(RuntimeWarning, match="non-finite"), pytest.raises(TrainingStopped, match="2 consecutive"):
        train(cfg, log=lambda *_: None)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]
    assert all(r["nonfinite"] == 1 and r["skipped"] == 1 for r in rows)
    assert [r["nonfinite_steps"] for r in rows] == [1, 2]


def test_evaluate_means_per_task_and_component(tiny_dirs, synthetic_data, test_verifiers):
    from gpg_vl.data.dataset import load_samples

    model, processor, family = load_policy(str(tiny_dirs["qwen2_5_vl"]), min_pixels=12544, max_pixels=12544)
    samples = load_samples(str(synthetic_data["test"]))
    rewards = RewardModel([RewardSpec("test_is_counting", weight=2.0),
                           RewardSpec("test_is_counting", weight=0.5, tasks=["grounding"])], family.box_frame)
    result = evaluate(model, processor, samples, rewards, encode_kwargs={}, max_new_tokens=2, batch_size=5)
    assert result["n"] == 12
    by_task = result["by_task"]
    assert {t: v["n"] for t, v in by_task.items()} == {t: 4 for t in TASKS}
    assert by_task["counting"]["test_is_counting#0"] == 1.0
    assert by_task["classification"]["test_is_counting#0"] == 0.0
    assert by_task["grounding"] == {"test_is_counting#0": 0.0, "test_is_counting#1": 0.0, "n": 4}
    assert "test_is_counting#1" not in by_task["counting"]  # restricted to grounding
    assert result["reward"] == pytest.approx(2.0 * 4 / 12)


def test_warmup_targets_and_padding():
    rows = [{"task": "counting", "answer": "3"}, {"task": "classification", "answer": "red"}]
    assert target_texts(rows, "<answer>{answer}</answer>", False, random.Random(0), "qwen2_vl", "<|im_end|>") == [
        "<answer>3</answer><|im_end|>", "<answer>red</answer><|im_end|>"]
    randoms = target_texts(rows, "{answer}", True, random.Random(0), "qwen2_vl", "!")
    assert randoms[0][:-1] in {"1", "2", "3", "4"} and randoms[1][:-1] in {"red", "green", "blue", "yellow"}

    class Tok:  # characters as ids
        pad_token_id = 0

        def __call__(self, text, add_special_tokens=False):
            return {"input_ids": [ord(c) for c in text]}

    ids, mask = tokenize_targets(Tok(), ["ab", "abcd", "a"])
    assert ids.tolist() == [[97, 98, 0, 0], [97, 98, 99, 100], [97, 0, 0, 0]]
    assert mask.tolist() == [[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]]


def test_warmup_lowers_the_loss_on_its_targets(tiny_dirs, synthetic_data):
    from gpg_vl.data.dataset import load_samples

    model, processor, family = load_policy(str(tiny_dirs["qwen2_vl"]))
    samples = load_samples(str(synthetic_data["train"]), limit=1)
    cfg = WarmupConfig(steps=4, lr=1e-2, batch_size=2, random_answers=False)
    losses = run_warmup(model, processor, samples, cfg, encode_kwargs={"min_pixels": 12544, "max_pixels": 12544},
                        box_frame=family.box_frame, seed=0, log=lambda *_: None)
    assert len(losses) == 4 and all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < losses[0] - 0.5  # the same target every step: learnt fast


def fake_checkpoint(root, step: int, complete: bool = True):
    path = root / f"step-{step:06d}"
    (path / "trainer_state").mkdir(parents=True)
    if complete:
        (path / "gpg_vl_state.json").write_text(json.dumps({"step": step}))
        write_manifest(path)
    return path


def test_complete_checkpoints_prune_and_resolve_resume(tmp_path):
    root = tmp_path / "out" / "checkpoints"
    for step in (10, 2, 30):
        fake_checkpoint(root, step)
    fake_checkpoint(root, 40, complete=False)  # crashed before its state file: never listed
    (root / "step-000050.tmp" / "trainer_state").mkdir(parents=True)  # an unfinished save
    (root / "step-000050.tmp" / "gpg_vl_state.json").write_text("{}")
    assert [p.name for p in complete_checkpoints(root)] == ["step-000002", "step-000010", "step-000030"]
    assert resolve_resume("auto", str(tmp_path / "out")) == root / "step-000030"
    assert resolve_resume(None, str(tmp_path / "out")) is None
    assert resolve_resume("auto", str(tmp_path / "elsewhere")) is None  # a fresh run
    assert resolve_resume(str(root / "step-000010"), "unused") == root / "step-000010"
    with pytest.raises(ValueError, match="step-000040"):
        resolve_resume(str(root / "step-000040"), "unused")
    prune(root, 2)
    assert [p.name for p in complete_checkpoints(root)] == ["step-000010", "step-000030"]
    assert (root / "step-000040").exists() and (root / "step-000050.tmp").exists()  # only complete ones pruned
    prune(root, 0)  # 0 keeps all
    assert len(complete_checkpoints(root)) == 2


@pytest.mark.slow
def test_lora_trains_only_language_adapters_and_exports_merged_weights(
        tiny_dirs, synthetic_data, tmp_path, test_verifiers):
    out = tmp_path / "lora"
    summary = train(tiny_run(tiny_dirs, synthetic_data, out, "train.steps=1", "model.lora.enabled=true",
                             "model.lora.r=4", "model.lora.alpha=8"), log=lambda *_: None)
    assert summary["skipped_steps"] == 0
    merged, _, _ = load_policy(str(out / "final"))
    base, _, _ = load_policy(str(tiny_dirs["qwen2_vl"]))
    merged_params, base_params = dict(merged.named_parameters()), dict(base.named_parameters())
    assert merged_params.keys() == base_params.keys()  # a plain model: adapters folded in, none left
    changed = {n for n in base_params if not torch.equal(merged_params[n], base_params[n])}
    targets = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    assert changed and all(n.startswith("model.language_model.") and n.split(".")[-2] in targets
                           for n in changed)  # never the vision tower, embeddings, norms or head


@pytest.mark.slow
def test_a_corrupt_image_is_skipped_counted_and_training_runs(tiny_dirs, synthetic_data, tmp_path, test_verifiers):
    """Issue 5: a corrupt image in the training set drops its row with a counted warning (the
    default), the run trains on the rest, and summary.json says how many rows were dropped;
    data.on_bad_image=error stops before training instead."""
    rows = [json.loads(line) for line in synthetic_data["train"].read_text().splitlines()]
    for row in rows:
        row["images"] = [str(synthetic_data["dir"] / p) for p in row["images"]]
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not an image" * 10)
    rows[1]["images"] = [str(broken)]
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))

    out = tmp_path / "run"
    logged = []
    train(tiny_run(tiny_dirs, synthetic_data, out, f"data.train={data}", "train.steps=1"), log=logged.append)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["data"] == {"train_rows": len(rows) - 1, "skipped_bad_images": 1, "skipped_long_prompts": 0,
                               "skipped_bad_rows": 0}
    assert any("1 skipped for bad images" in line for line in logged)

    with pytest.raises(Exception, match="broken.png"):
        train(tiny_run(tiny_dirs, synthetic_data, tmp_path / "strict", f"data.train={data}", "train.steps=1",
                       "data.on_bad_image=error"), log=lambda *_: None)
    assert not (tmp_path / "strict" / "checkpoints").exists()
