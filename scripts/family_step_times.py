"""Side by side: one demo-sized GPG step's phases on each family's tiny demo model.

For every family named: builds the demo's tiny model and synthetic data (``gpg_vl.demo.prepare_assets``)
in a temporary folder, encodes 16 training prompts at the demo's pixel limits, then times (wall and
this process's CPU seconds) a rollout of G = 8 completions of 8 tokens each (no early stop) and the
update's forward + backward over them, and counts the vision-tower and decoder runs. Second of two
repetitions printed (the first warms up). ``--threads`` sets torch's intra-op threads: compare 1
and 2 on a busy machine to see what oversubscribing the cores costs.

    PYTHONPATH=. OMP_NUM_THREADS=1 .venv/bin/python scripts/family_step_times.py qwen2_vl qwen3_vl --threads 1
"""
import argparse
import tempfile
import time
from pathlib import Path

import torch

from gpg_vl.config import Config, load_config
from gpg_vl.demo import DEFAULT_CONFIG, pixel_overrides, prepare_assets
from gpg_vl.models.forward import grouped_completion_logprobs
from gpg_vl.models.loading import load_policy
from gpg_vl.processing import encode_prompts
from gpg_vl.rollout import generate
from gpg_vl.trainer.setup import load_data, prompt_kwargs


def timed(fn):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def one_family(family: str, root: Path) -> dict:
    cfg = load_config(Config, DEFAULT_CONFIG, [*prepare_assets(root / family, 0, family), *pixel_overrides(family)])
    model, processor, _ = load_policy(cfg.model.path, min_pixels=cfg.model.min_pixels, max_pixels=cfg.model.max_pixels)
    samples = list(load_data(cfg, processor)[0])[:16]
    calls = {"vision": 0, "decoder": 0}
    trunk = model.model
    trunk.visual.register_forward_hook(lambda *_: calls.__setitem__("vision", calls["vision"] + 1))
    trunk.language_model.register_forward_hook(lambda *_: calls.__setitem__("decoder", calls["decoder"] + 1))
    for _ in range(2):
        batch, enc_wall, _ = timed(lambda: encode_prompts(processor, samples, **prompt_kwargs(cfg)))
        gen = torch.Generator().manual_seed(0)
        calls.update(vision=0, decoder=0)
        ro, gen_wall, gen_cpu = timed(lambda: generate(model, processor, batch, max_new_tokens=8, num_generations=8,
                                                       generator=gen, all_done=lambda done: False))
        gen_calls = dict(calls)
        calls.update(vision=0, decoder=0)
        _, upd_wall, upd_cpu = timed(lambda: grouped_completion_logprobs(
            model, ro.prompt, ro.prompt_index, ro.completion_ids, ro.completion_mask).sum().backward())
    return {"family": family, "params": sum(p.numel() for p in model.parameters()),
            "prompt": tuple(batch["input_ids"].shape), "patches": batch["pixel_values"].shape[0],
            "encode": enc_wall, "gen": (gen_wall, gen_cpu), "gen_calls": gen_calls,
            "update": (upd_wall, upd_cpu), "update_calls": dict(calls)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("families", nargs="+")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [one_family(f, Path(tmp)) for f in args.families]
    print(f"torch threads {args.threads}; 16 prompts x G = 8, 8 new tokens; seconds wall / CPU")
    print("| family | parameters | prompt [B, P] | patches | encode | rollout | update "
          "| vision / decoder runs (rollout; update) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['family']} | {r['params'] / 1e6:.2f}M | {list(r['prompt'])} | {r['patches']} "
              f"| {r['encode']:.2f} | "
              f"{r['gen'][0]:.2f} / {r['gen'][1]:.2f} | {r['update'][0]:.2f} / {r['update'][1]:.2f} | "
              f"{r['gen_calls']['vision']} / {r['gen_calls']['decoder']}; "
              f"{r['update_calls']['vision']} / {r['update_calls']['decoder']} |")


if __name__ == "__main__":
    main()
