"""Diagnostic for the embedded demo: after its format warm-up, how are sampled answers spread?

Builds the run as training would (configs/demo.yaml, the assets of a demo or compare folder),
runs the warm-up, then samples G = 32 completions for 8 test images per task and prints, per
task, each image's probability of a right answer, the chance that a G = 8 group is degenerate
(all right or all wrong: no gradient), and the answer marginal over those images.

    PYTHONPATH=. .venv/bin/python scripts/demo_answer_probe.py SEED ASSETS_DIR [overrides...]
"""
import collections
import sys

import torch

from gpg_vl.config import Config, load_config
from gpg_vl.processing import encode_prompts, render_prompt
from gpg_vl.rollout import generate
from gpg_vl.trainer.setup import build_run
from gpg_vl.trainer.warmup import run_warmup

G, IMAGES = 32, 8
seed, assets = int(sys.argv[1]), sys.argv[2]
cfg = load_config(Config, "configs/demo.yaml", [
    f"model.path={assets}/tiny-model", f"data.train={assets}/data/train.jsonl", f"data.test={assets}/data/test.jsonl",
    f"train.seed={seed}", "train.output_dir=/tmp/demo-probe", *sys.argv[3:]])
run = build_run(cfg)
model, data = run.model, run.data
run_warmup(model.policy, model.processor, data.train_samples, cfg.warmup, encode_kwargs=data.encode_kwargs,
           box_frame=model.family.box_frame, seed=seed, log=lambda *a: None)
model.policy.eval()
by_task = collections.defaultdict(list)
for s in data.test_samples:
    if len(by_task[s["task"]]) < IMAGES:
        by_task[s["task"]].append(s)
for task, samples in by_task.items():
    batch = encode_prompts(model.processor, samples, **data.encode_kwargs)
    with torch.no_grad():
        ro = generate(model.policy, model.processor, batch, max_new_tokens=cfg.rollout.max_new_tokens,
                      num_generations=G, generator=torch.Generator().manual_seed(0))
    rows = [s for s in samples for _ in range(G)]
    prompts = [render_prompt(s, data.encode_kwargs["prompt_template"]) for s in rows]
    _, parts = run.reward_model.score(prompts, ro.texts, rows)
    right = parts["grounding_iou" if task == "grounding" else task] > 0.5  # [IMAGES * G]
    ps = [float(right[i * G:(i + 1) * G].float().mean()) for i in range(len(samples))]
    degenerate = sum(p ** 8 + (1 - p) ** 8 for p in ps) / len(ps)
    print(f"seed {seed} {task}: p(right) per image {[round(p, 2) for p in ps]}, P(G=8 group degenerate) {degenerate:.2f}")
    print("   answers:", collections.Counter(t.strip() for t in ro.texts).most_common(6))
