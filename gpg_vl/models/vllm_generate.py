"""Greedy generation with vLLM for ``gpg-vl check-export``: the vLLM half of the export check.

Run by path with a Python that has vLLM (it imports nothing from gpg_vl, since vLLM usually
lives in an environment of its own with its own torch and transformers pins):

    python gpg_vl/models/vllm_generate.py probe.json result.json

probe.json: {"model": DIR, "max_tokens": N, "requests": [{"prompt": TEXT, "image": PNG}, ...]}.
result.json: {"vllm_version": V, "outputs": [{"token_ids": [...], "logprobs": [...]}, ...]}, the
log-probability vLLM gives each generated token. The engine loads the folder exactly as a user's
``vllm serve DIR`` would (Hugging Face format, safetensors), in float32 so that the comparison
with transformers is not lost in bfloat16 rounding.
"""
from __future__ import annotations

import json
import os
import sys


def main(probe_path: str, result_path: str) -> int:
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # one process: faster start, clean exit
    import vllm
    from PIL import Image
    from vllm import LLM, SamplingParams

    with open(probe_path) as f:
        probe = json.load(f)
    llm = LLM(model=probe["model"], dtype="float32", max_model_len=probe.get("max_model_len", 2048),
              enforce_eager=True, seed=0, limit_mm_per_prompt={"image": 1},
              gpu_memory_utilization=float(probe.get("memory_fraction", 0.1)))
    inputs = [{"prompt": r["prompt"], "multi_modal_data": {"image": Image.open(r["image"]).convert("RGB")}}
              for r in probe["requests"]]
    params = SamplingParams(temperature=0.0, max_tokens=int(probe["max_tokens"]), logprobs=0)
    outputs = []
    for out in llm.generate(inputs, params, use_tqdm=False):
        seq = out.outputs[0]
        lps = [step[tok].logprob for tok, step in zip(seq.token_ids, seq.logprobs)]
        outputs.append({"token_ids": list(seq.token_ids), "logprobs": lps, "text": seq.text})
    with open(result_path, "w") as f:
        json.dump({"vllm_version": vllm.__version__, "outputs": outputs}, f)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print("usage: python vllm_generate.py PROBE.json RESULT.json", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
