"""vLLM as the rollout engine: one in-process engine per training process (colocated).

Like TRL's ``vllm_mode="colocate"`` (trl/generation/vllm_generation.py) and EasyR1, every
training process holds its own ``vllm.LLM`` on its own device; the trainer's weights are pushed
into it, in process, before the first rollout after each optimizer step (``sync``). Sampling
follows the hf engine (gpg_vl/rollout.py): temperature, top-p, the same end tokens, vision
placeholder tokens never sampled, G samples per prompt from one request (``n=G``: vLLM's prefix
cache shares the prompt's KV blocks across the group), and a per-prompt seed so that a prompt
draws the same samples whatever its rank or batch. Rows come back in the ``Rollout`` layout,
with vLLM's log-probability of every sampled token (``sampler_logprobs``) for the mismatch log
and the importance correction.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from gpg_vl.engines.weights import SYNC_CHUNK_BYTES, named_weights
from gpg_vl.errors import ConfigError
from gpg_vl.rollout import Rollout, end_token_ids, suppressed_token_ids

# vLLM caps logit_bias at -100: exp(-100) ~ 4e-44, never drawn in practice (the hf engine uses -inf).
BANNED_BIAS = -100.0


class VllmEngineError(ConfigError):
    """vLLM cannot be used as configured (not installed, model not supported, memory)."""


@dataclass
class SampledRollout(Rollout):
    """A rollout drawn by a separate engine: also the engine's log-prob of each sampled token."""

    sampler_logprobs: torch.Tensor | None = None  # [N, C], 0 past the completion mask


def import_vllm():
    try:
        import vllm
    except ImportError as exc:
        raise VllmEngineError(f"rollout.engine=vllm needs vLLM: pip install 'gpg-vl[vllm]' ({exc})") from None
    return vllm


def check_supported(model_config) -> None:
    """One line naming the model type when vLLM has no implementation of its architecture."""
    from vllm import ModelRegistry

    archs = list(getattr(model_config, "architectures", None) or [])
    supported = set(ModelRegistry.get_supported_archs())
    if not archs or not any(a in supported for a in archs):
        raise VllmEngineError(f"vLLM cannot run model type {model_config.model_type!r} (architectures {archs}): "
                              "use rollout.engine=hf")


def _is_memory_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(k in text for k in ("memory", "kv cache", "cache blocks", "gpu_memory_utilization", "out of memory"))


class VllmEngine:
    """An in-process vLLM engine for one training process."""

    sync_chunk_bytes = SYNC_CHUNK_BYTES  # a test lowers it to see ZeRO-3 gather in several chunks

    def __init__(self, model_path: str, policy, processor, rollout_cfg, *, seed: int = 0,
                 rank: int = 0, world_size: int = 1, mm_kwargs: dict | None = None):
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # the engine lives in this process
        import_vllm()
        from vllm import LLM

        check_supported(policy.config)
        v = rollout_cfg.vllm
        if v.tensor_parallel_size != 1:  # needs prompts gathered over each TP group (TRL's tp_group): not built
            raise VllmEngineError(f"rollout.vllm.tensor_parallel_size={v.tensor_parallel_size} is not supported yet: "
                                  "use 1 (one engine per training process)")
        self.cfg = rollout_cfg
        self.processor = processor
        self.end_ids = end_token_ids(policy, processor.tokenizer)
        self.banned = suppressed_token_ids(processor.tokenizer)
        self.image_token = policy.config.image_token_id
        self.synced_version = None  # no sync yet: the engine holds model_path's weights
        kwargs = dict(model=model_path, dtype=str(next(policy.parameters()).dtype).removeprefix("torch."),
                      gpu_memory_utilization=v.gpu_memory_utilization, tensor_parallel_size=v.tensor_parallel_size,
                      enable_sleep_mode=v.enable_sleep_mode, max_model_len=v.max_model_len,
                      enforce_eager=v.enforce_eager, enable_prefix_caching=True, seed=seed,
                      # the log-probs of the distribution actually sampled (after temperature and
                      # top-p), as TRL does for its importance correction
                      logprobs_mode="processed_logprobs", limit_mm_per_prompt={"image": 8, "video": 0},
                      mm_processor_kwargs=mm_kwargs or None)
        if world_size > 1:  # one engine per rank on the trainer's process group (TRL's colocate launch)
            kwargs["distributed_executor_backend"] = "external_launcher"
        if not torch.cuda.is_available():
            kwargs.update(whole_prefills(policy.config, v.max_model_len))
        try:
            self.llm = LLM(**kwargs)
        except Exception as exc:  # vLLM raises plain ValueError / RuntimeError for memory
            if _is_memory_error(exc):
                raise VllmEngineError(
                    f"vLLM could not fit its weights and KV cache in rollout.vllm.gpu_memory_utilization="
                    f"{v.gpu_memory_utilization:g}; try rollout.vllm.gpu_memory_utilization="
                    f"{suggest_fraction(v.gpu_memory_utilization)} (or a smaller rollout.vllm.max_model_len)") from exc
            raise
        self.asleep = False
        self.sleep()  # with rollout.vllm.enable_sleep_mode: asleep until the first sync

    def sleep(self) -> None:
        """Sleep mode (GPU): free the KV cache and offload the weights to host memory for the update."""
        if self.cfg.vllm.enable_sleep_mode and not self.asleep:
            self.llm.sleep(level=1)
            self.asleep = True

    def wake(self) -> None:
        if self.asleep:
            self.llm.wake_up()  # weights back on the device (before loading into them, as TRL does)
            self.asleep = False

    # -- weights ---------------------------------------------------------------------------------
    def sync(self, policy, version) -> int:
        """Push the trainer's weights (all of them the first time, afterwards only what can change);
        returns the number of tensors sent. Collective under ZeRO-3."""
        from vllm.model_executor.model_loader.reload import finalize_layerwise_reload, initialize_layerwise_reload

        # vLLM post-processes weights after loading (the CPU build repacks every linear weight and
        # leaves a size-0 parameter behind), so a plain load_weights cannot overwrite them; its
        # layerwise reload (what its own weight-transfer engines use) re-runs that processing.
        self.wake()
        model_config = self.llm.llm_engine.model_config
        only_changing = self.synced_version is not None
        sent = 0
        self.llm.apply_model(initialize_layerwise_reload)
        for chunk in named_weights(policy, only_changing, self.sync_chunk_bytes):
            self.llm.apply_model(lambda model, chunk=chunk: model.load_weights(chunk))
            sent += len(chunk)
        self.llm.apply_model(lambda model: finalize_layerwise_reload(model, model_config))
        # cached prompt blocks and image embeddings were computed with the old weights
        self.llm.reset_prefix_cache()
        self.llm.llm_engine.reset_encoder_cache()
        self.synced_version = version
        return sent

    # -- sampling --------------------------------------------------------------------------------
    def sampling_params(self, seed: int | None, n: int, greedy: bool = False):
        from vllm import SamplingParams

        c = self.cfg
        return SamplingParams(n=n, temperature=0.0 if greedy else c.temperature, top_p=1.0 if greedy else c.top_p,
                              max_tokens=c.max_new_tokens, seed=seed, logprobs=0, stop_token_ids=self.end_ids,
                              logit_bias={t: BANNED_BIAS for t in self.banned}, skip_special_tokens=True)

    def requests(self, batch: dict, images: list[list]) -> list[dict]:
        """One vLLM request per prompt: its token ids (left padding removed, each image's run of
        placeholder tokens collapsed to one, which vLLM's processor expands again) and its images,
        resized as the trainer's were. vLLM then sees exactly the trainer's prompt tokens."""
        out = []
        for ids, keep, imgs in zip(batch["input_ids"], batch["attention_mask"].bool(), images):
            req = {"prompt_token_ids": collapse_runs(ids[keep].tolist(), self.image_token)}
            if imgs:
                req["multi_modal_data"] = {"image": imgs}
            out.append(req)
        return out

    @torch.no_grad()
    def generate(self, batch: dict, images: list[list], seeds: list[int] | None, num_generations: int,
                 greedy: bool = False) -> SampledRollout:
        """G completions per prompt of ``batch`` (``images``: each prompt's PIL images)."""
        self.wake()
        requests = self.requests(batch, images)
        params = [self.sampling_params(None if seeds is None else seeds[i], num_generations, greedy)
                  for i in range(len(requests))]
        outputs = self.llm.generate(requests, params, use_tqdm=False)
        self.sleep()
        return self.to_rollout(batch, outputs, num_generations)

    def to_rollout(self, batch: dict, outputs, g: int) -> SampledRollout:
        """vLLM outputs -> the hf engine's layout: prompt-major rows, padded to the longest row."""
        tokenizer = self.processor.tokenizer
        seqs = [sorted(o.outputs, key=lambda s: s.index) for o in outputs]
        rows = [s for group in seqs for s in group]
        width = max(1, max(len(s.token_ids) for s in rows))
        ids = torch.full((len(rows), width), tokenizer.pad_token_id, dtype=torch.long)  # [N, C]
        lps = torch.zeros(len(rows), width)  # [N, C]
        mask = torch.zeros(len(rows), width, dtype=torch.long)  # [N, C]
        for i, s in enumerate(rows):
            n = len(s.token_ids)
            ids[i, :n] = torch.tensor(s.token_ids, dtype=torch.long)
            lps[i, :n] = torch.tensor([step[t].logprob for t, step in zip(s.token_ids, s.logprobs)])
            mask[i, :n] = 1
        ended = torch.tensor([len(s.token_ids) > 0 and s.token_ids[-1] in self.end_ids for s in rows])
        texts = tokenizer.batch_decode(ids.masked_fill(mask == 0, tokenizer.pad_token_id), skip_special_tokens=True)
        index = torch.arange(len(outputs)).repeat_interleave(g)  # [N]
        return SampledRollout(prompt=batch, prompt_index=index, completion_ids=ids, completion_mask=mask,
                              texts=texts, truncated=~ended, sampler_logprobs=lps)

    def prompt_logprobs(self, batch: dict, images: list[list], completions: list[list[int]]) -> list[torch.Tensor]:
        """vLLM's log-prob of each token of a fixed completion after each prompt (teacher forcing):
        one tensor [C_i] per prompt, at the rollout temperature's scale (1 here: raw log-probs)."""
        from vllm import SamplingParams

        requests = self.requests(batch, images)
        for req, comp in zip(requests, completions):
            req["prompt_token_ids"] = req["prompt_token_ids"] + list(comp)
        params = SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0)
        outs = self.llm.generate(requests, params, use_tqdm=False)
        result = []
        for out, comp in zip(outs, completions):
            steps = out.prompt_logprobs[-len(comp):]
            result.append(torch.tensor([step[t].logprob for t, step in zip(comp, steps)]))
        return result


def whole_prefills(model_config, max_model_len: int | None) -> dict:
    """vLLM arguments that schedule every prompt's prefill in one step, for the CPU build.

    A seeded request whose prefill is split over steps (chunked prefill: a batch of more prompt
    tokens than ``max_num_batched_tokens``, e.g. 16 prompts x G = 8) makes vLLM rewind the
    request's generator (vllm/v1/worker/gpu_model_runner.py ``_bookkeeping_sync``:
    ``gen.set_offset(...)``), which a CPU generator refuses: "CPU Generator does not use offset".
    Without chunking, a prompt that does not fit this step's budget waits for the next one.
    """
    longest = max_model_len or getattr(model_config.get_text_config(), "max_position_embeddings", 2048)
    return {"enable_chunked_prefill": False, "max_num_batched_tokens": max(2048, longest)}


def collapse_runs(ids: list[int], token: int) -> list[int]:
    """``ids`` with every run of ``token`` shortened to one token."""
    return [t for i, t in enumerate(ids) if t != token or i == 0 or ids[i - 1] != token]


def suggest_fraction(fraction: float) -> str:
    """A memory fraction to try after ``fraction`` failed: more room if it was small, less
    (for the trainer) if it was large."""
    if fraction < 0.45:  # at least 0.05: a tiny fraction doubled rounds to "0.00"
        return f"{min(0.9, max(0.05, fraction * 2)):.2f}"
    return f"{fraction / 2:.2f}"
