"""Work counters attached from outside the model: vision patches encoded, prompt tokens prefilled.

Both trainers run the same Hugging Face modules, so forward hooks on those modules count the
same things on both sides without touching either trainer (issue 6 asks for "vision-tower
patches encoded per step" and "prompt tokens prefilled per step"):

- vision: a hook on ``model.model.visual`` adds the rows of each ``pixel_values`` it receives
  (one row per 14 px patch) and times the tower's forward.
- prompt tokens: a hook on the multimodal trunk ``model.model`` looks at every forward that
  starts from an empty KV cache (a prefill, or a training forward over prompt + completion) and
  counts the real (unpadded) tokens up to the end of the chat template's generation prompt
  ``<|im_start|>assistant\\n``; what follows it is completion. Decoding steps, which extend a
  cache, add to ``decode_tokens``.

Counts go to the current phase (``gen`` or ``update``), which the benchmark sets around each
phase of a step.
"""
from __future__ import annotations

import time
from collections import defaultdict
from contextlib import contextmanager

import torch

GENERATION_PROMPT = "<|im_start|>assistant\n"
KINDS = ("patches", "vision_seconds", "prompt_tokens", "decode_tokens")


def _inner(model):
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def prompt_token_counts(input_ids: torch.Tensor, attention_mask: torch.Tensor | None,
                        header: torch.Tensor) -> torch.Tensor:
    """Real tokens of each row [N] up to and including the first ``header`` occurrence (or all)."""
    n, t = input_ids.shape
    k = header.numel()
    real = attention_mask.bool() if attention_mask is not None else torch.ones_like(input_ids, dtype=torch.bool)
    real = real[:, -t:]  # [N, T]: a 2-D mask may also cover cached positions
    if t >= k:
        hits = (input_ids.unfold(1, k, 1) == header.to(input_ids.device)).all(-1)  # [N, T-k+1]
        end = torch.where(hits.any(1), hits.float().argmax(1) + k, torch.full_like(hits[:, 0], t, dtype=torch.long))
    else:
        end = torch.full((n,), t, dtype=torch.long, device=input_ids.device)
    before = torch.arange(t, device=input_ids.device)[None] < end[:, None]  # [N, T]
    return (real & before).sum(1)


class WorkCounter:
    """Per-phase totals of vision patches / seconds, prompt tokens prefilled and tokens decoded."""

    def __init__(self, model, tokenizer):
        inner = _inner(model)
        self.header = torch.tensor(tokenizer.encode(GENERATION_PROMPT, add_special_tokens=False))
        self.phase = "other"
        self.totals: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(KINDS, 0.0))
        self._t0 = None
        self.handles = [
            inner.model.visual.register_forward_pre_hook(self._vision_in, with_kwargs=True),
            inner.model.visual.register_forward_hook(self._vision_out),
            inner.model.register_forward_pre_hook(self._trunk_in, with_kwargs=True),
        ]

    def _vision_in(self, module, args, kwargs):
        pixels = args[0] if args else kwargs.get("hidden_states", kwargs.get("pixel_values"))
        self.totals[self.phase]["patches"] += int(pixels.shape[0])
        self._t0 = time.perf_counter()

    def _vision_out(self, module, args, output):
        if self._t0 is not None:
            self.totals[self.phase]["vision_seconds"] += time.perf_counter() - self._t0
            self._t0 = None

    def _trunk_in(self, module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        if ids is None:
            return
        # transformers 5.2x passes the KV cache as ``cache`` (``past_key_values`` before).
        cache = kwargs.get("cache", kwargs.get("past_key_values"))
        cached = cache is not None and cache.get_seq_length() > 0
        if cached:
            mask = kwargs.get("attention_mask")
            real = mask[:, -ids.shape[1]:].sum() if mask is not None and mask.dim() == 2 else ids.numel()
            self.totals[self.phase]["decode_tokens"] += int(real)
        else:
            counts = prompt_token_counts(ids, kwargs.get("attention_mask"), self.header)
            self.totals[self.phase]["prompt_tokens"] += int(counts.sum())

    @contextmanager
    def in_phase(self, name: str):
        before, self.phase = self.phase, name
        try:
            yield
        finally:
            self.phase = before

    def take(self) -> dict[str, float]:
        """This step's counts (``gen_patches``, ``update_patches``, ..., and totals), then reset."""
        out = {}
        for kind in KINDS:
            out[kind] = sum(t[kind] for t in self.totals.values())
            for phase, t in self.totals.items():
                out[f"{phase}_{kind}"] = t[kind]
        self.totals.clear()
        return out

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


def reset_peak_rss() -> bool:
    """Reset the process's peak resident set size to its current size (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _status_mb(field: str) -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def rss_mb() -> float | None:
    """Current resident set size of this process in MiB (None without /proc)."""
    return _status_mb("VmRSS")


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MiB (VmHWM; ru_maxrss where /proc is missing)."""
    peak = _status_mb("VmHWM")
    if peak is not None:
        return peak
    import resource
    import sys

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 1024


def peak_gpu_mb() -> float | None:
    """Peak CUDA memory allocated by torch in MiB, or None without a GPU."""
    if not torch.cuda.is_available():
        return None
    return torch.cuda.max_memory_allocated() / 2**20
