"""Check that an exported policy loads and runs in vLLM as it does in transformers (issue 5).

vLLM generates greedily from a few image prompts (``vllm_generate.py``, run with the Python of
a vLLM environment); transformers then scores vLLM's own tokens by teacher forcing. The export
passes when, at every generated token,
- vLLM's log-probability of its token equals transformers' within ``tol``, and
- the token is transformers' greedy choice up to ``tol`` (a near-tie may pick either side).
Comparing on vLLM's tokens keeps one early near-tie from turning every later token into a
mismatch. A weight vLLM loaded wrongly (a missing or misnamed tensor, a dropped merge) shows as
log-probabilities that disagree; an export vLLM cannot read at all fails in vLLM's load.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch

VLLM_SCRIPT = Path(__file__).with_name("vllm_generate.py")
PROBE_QUESTIONS = ["What colour is the shape?", "How many shapes are there?",
                   "Where is the square? Give its box.", "Describe the picture."]


class ExportCheckError(RuntimeError):
    """vLLM could not run the export (its output is in the message)."""


@dataclass
class ExportCheck:
    """Per-request agreement of vLLM with transformers on vLLM's greedy tokens."""

    vllm_version: str
    tokens: list[int] = field(default_factory=list)  # tokens generated per request
    max_logprob_diff: list[float] = field(default_factory=list)  # max |lp_vllm - lp_hf| per request
    max_greedy_gap: list[float] = field(default_factory=list)  # max (best lp_hf - lp_hf of vLLM's token)
    tol: float = 1e-3

    @property
    def ok(self) -> bool:
        return all(d <= self.tol for d in self.max_logprob_diff) and all(g <= self.tol for g in self.max_greedy_gap)

    def report(self) -> str:
        lines = [f"vLLM {self.vllm_version}: {len(self.tokens)} requests, tolerance {self.tol:g}",
                 "request  tokens  max|lp diff|  max greedy gap"]
        for i, (n, d, g) in enumerate(zip(self.tokens, self.max_logprob_diff, self.max_greedy_gap)):
            lines.append(f"{i:7d}  {n:6d}  {d:12.2e}  {g:14.2e}")
        lines.append("PASS: vLLM runs the export as transformers does" if self.ok else
                     "FAIL: vLLM's log-probabilities differ from transformers' on the same tokens")
        return "\n".join(lines)


def probe_images(out_dir: Path, n: int) -> list[Path]:
    """``n`` small PNGs with a coloured square on a grey ground, one per probe request."""
    from PIL import Image, ImageDraw

    colours = [(220, 40, 40), (40, 160, 60), (40, 80, 220), (230, 200, 40)]
    paths = []
    for i in range(n):
        img = Image.new("RGB", (112, 112), (128, 128, 128))
        x = 8 + 24 * (i % 4)
        ImageDraw.Draw(img).rectangle([x, x // 2, x + 40, x // 2 + 40], fill=colours[i % len(colours)])
        paths.append(out_dir / f"probe_{i}.png")
        img.save(paths[-1])
    return paths


def chat_prompt(processor, question: str, image: Path) -> str:
    """The user turn with one image, as training renders it with the export's chat template."""
    from gpg_vl.processing import prompt_text

    return prompt_text(processor, {"problem": question, "images": [image]}, [image])[0]


def run_vllm(vllm_python: str, probe: dict, work: Path, timeout: float) -> dict:
    """Run ``vllm_generate.py`` under ``vllm_python``; its parsed result."""
    probe_path, result_path = work / "probe.json", work / "vllm_result.json"
    probe_path.write_text(json.dumps(probe))
    try:
        proc = subprocess.Popen([vllm_python, str(VLLM_SCRIPT), str(probe_path), str(result_path)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=work,
                                start_new_session=True)  # its own process group: vLLM may fork workers
    except OSError as exc:
        raise ExportCheckError(f"cannot run {vllm_python} ({exc}): make .venv-vllm with "
                               "scripts/setup_vllm.sh or pass --vllm-python") from exc
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        raise ExportCheckError(f"vLLM ({vllm_python}) did not finish within {timeout:g} s:\n{output[-3000:]}")
    if proc.returncode != 0 or not result_path.exists():
        tail = "\n".join(output.splitlines()[-30:])
        raise ExportCheckError(f"vLLM ({vllm_python}) could not run {probe['model']} "
                               f"(exit {proc.returncode}):\n{tail}")
    return json.loads(result_path.read_text())


@torch.no_grad()
def hf_logprobs(model, processor, prompt: str, image_path: Path, tokens: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """transformers' log-probability of each of ``tokens`` [C] and of its greedy choice [C]."""
    from PIL import Image

    from gpg_vl.models.forward import base_and_head

    image = Image.open(image_path).convert("RGB")
    batch = processor(text=[prompt], images=[image], return_tensors="pt")
    ids = torch.tensor([tokens], dtype=torch.long)  # [1, C]
    inputs = ids[:, :-1]  # [1, C-1]: the last token is only a target
    p = batch["input_ids"].shape[1]
    trunk, head = base_and_head(model)
    out = trunk(input_ids=torch.cat([batch["input_ids"], inputs], 1),
                attention_mask=torch.ones(1, p + inputs.shape[1], dtype=torch.long),
                mm_token_type_ids=torch.cat([batch["mm_token_type_ids"], torch.zeros_like(inputs)], 1),
                pixel_values=batch["pixel_values"], image_grid_thw=batch["image_grid_thw"], use_cache=False)
    logp = torch.log_softmax(head(out.last_hidden_state[0, p - 1:]).float(), dim=-1)  # [C, V]
    return logp.gather(-1, ids[0, :, None]).squeeze(-1), logp.max(dim=-1).values  # [C], [C]


def up_to_vision_token(tokens: list[int], vision_ids: set[int]) -> list[int]:
    """``tokens`` up to and including the first vision placeholder: vLLM does not suppress them
    (gpg-vl's sampler does), and fed back as input one would need an image of its own."""
    for i, tok in enumerate(tokens):
        if tok in vision_ids:
            return tokens[:i + 1]
    return tokens


def check_export(export_dir: str, vllm_python: str, *, requests: int = 4, max_tokens: int = 16,
                 tol: float = 1e-3, reference_dir: str | None = None, timeout: float = 900) -> ExportCheck:
    """Generate with vLLM from ``export_dir`` and score with transformers from ``reference_dir``
    (default: the same folder; a different one makes the check compare two exports)."""
    from gpg_vl.models.loading import load_policy
    from gpg_vl.rollout import suppressed_token_ids

    check_export_folder(Path(export_dir))
    model, processor, family = load_policy(reference_dir or export_dir, dtype="float32")
    model.eval()
    with tempfile.TemporaryDirectory(prefix="gpg_vl_export_check_") as tmp:
        work = Path(tmp)
        images = probe_images(work, requests)
        prompts = [chat_prompt(processor, PROBE_QUESTIONS[i % len(PROBE_QUESTIONS)], image)
                   for i, image in enumerate(images)]
        probe = {"model": str(Path(export_dir).resolve()), "max_tokens": max_tokens,
                 "requests": [{"prompt": t, "image": str(p)} for t, p in zip(prompts, images)]}
        result = run_vllm(vllm_python, probe, work, timeout)
        check = ExportCheck(vllm_version=result["vllm_version"], tol=tol)
        vision_ids = set(suppressed_token_ids(processor.tokenizer, family.vision_tokens))
        for prompt, image, out in zip(prompts, images, result["outputs"]):
            tokens = up_to_vision_token(out["token_ids"], vision_ids)
            lp_hf, best_hf = hf_logprobs(model, processor, prompt, image, tokens)
            lp_vllm = torch.tensor(out["logprobs"][:len(tokens)], dtype=torch.float32)
            check.tokens.append(len(tokens))
            check.max_logprob_diff.append(float((lp_vllm - lp_hf).abs().max()))
            check.max_greedy_gap.append(float((best_hf - lp_hf).max()))
    return check


def check_export_folder(folder: Path) -> None:
    """A clear error for what vLLM cannot load as a model folder (before anything starts)."""
    if not folder.is_dir():
        raise ExportCheckError(f"{folder}: no such folder (the export is OUTPUT_DIR/final)")
    if (folder / "adapter_config.json").exists():
        raise ExportCheckError(f"{folder} holds LoRA adapters, not a model: export merged weights "
                               "(model.lora.merge_on_export=true, the default) or serve the adapters "
                               "with vLLM's --enable-lora on the base model")
    if not (folder / "config.json").exists() or not any(folder.glob("*.safetensors")):
        raise ExportCheckError(f"{folder}: no config.json and *.safetensors: not a Hugging Face model folder")


def default_vllm_python(repo_root: Path) -> str:
    """The project's vLLM environment (scripts/setup_vllm.sh) if present, else this Python."""
    candidate = repo_root / ".venv-vllm" / "bin" / "python"
    return str(candidate) if candidate.exists() else sys.executable
