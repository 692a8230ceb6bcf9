"""The KV cache of the shared-prefix forward, for attention and linear-attention layers alike.

Each prompt is prefilled once and its cache repeated over the G rows of its group
(``models.forward``, ``rollout``). Hybrid models (Qwen3.5: Gated DeltaNet layers between
full-attention layers) cache a convolution state and a recurrent state per row instead of keys and
values; both must be copied per row, and the gradient of the grouped update must reach each
prompt's states through every row.
"""
from __future__ import annotations

import torch
from transformers.cache_utils import DynamicLayer

try:  # transformers releases with hybrid (linear-attention) caches
    from transformers.cache_utils import LinearAttentionLayer
except ImportError:  # older 5.x (the vLLM CPU environment's): attention layers only
    LinearAttentionLayer = None


class GradSafeLinearAttentionLayer(LinearAttentionLayer or DynamicLayer):
    """transformers' ``LinearAttentionLayer`` whose recurrent state is replaced, not overwritten.

    The stock layer copies the new state into the old tensor in place (a fixed address for CUDA
    graphs); the chunked delta rule has saved that old tensor as its initial state for backward, so
    a loss through a continued prefix fails ("modified by an inplace operation"). Assigning keeps
    every state of the graph intact; nothing here runs under CUDA graphs.
    """

    def update_recurrent_state(self, recurrent_states: torch.Tensor, state_idx: int = 0, **kwargs):
        self.recurrent_states[state_idx] = recurrent_states
        self.is_recurrent_states_initialized[state_idx] = True
        return recurrent_states


def _cache_with(trunk, layer_classes: dict):
    """An empty DynamicCache for ``trunk`` (layer types from its config), each stock layer whose
    type is in ``layer_classes`` replaced by the class given there; other layers stay as they are."""
    from transformers import DynamicCache

    cache = DynamicCache(config=trunk.config)
    cache.layers = [layer_classes[type(layer)](**_layer_kwargs(layer)) if type(layer) in layer_classes else layer
                    for layer in cache.layers]
    return cache


def new_cache(trunk):
    """An empty dynamic cache for ``trunk`` (sampling: decoding grows it)."""
    return _cache_with(trunk, {LinearAttentionLayer: GradSafeLinearAttentionLayer})


def repeat_rows(cache, rows: torch.Tensor) -> None:
    """Make row i of ``cache`` a copy of prompt ``rows[i]``'s cached state, in every layer.

    ``Cache.batch_select_indices`` fails on linear-attention layers (transformers 5.2x's
    ``LinearAttentionLayer`` has no such method); ``reorder_cache`` index-selects keys / values and
    the convolution and recurrent states alike, into new tensors (so autograd sums each prompt's
    gradient over its rows).
    """
    cache.reorder_cache(rows)


# --- the update's prompt cache: recorded once, then read-only -----------------------------------
# The update prefills each prompt once and feeds its rows' completions after it, with gradients,
# and under gradient checkpointing every layer runs a second time in backward. A cache that a
# forward writes into would hand that recomputation a state the first run did not see (a longer
# KV cache, an advanced recurrent state). So the prefill records each layer's state on its first
# run only, and the completion forward reads a per-row copy that no forward writes.


def prefix_cache(trunk):
    """An empty cache for the update's prefill (layer types from the config, as ``new_cache``).

    Each layer records its state on the first call and returns what a prefill returns; a second
    call (the layer recomputed in backward) returns its own new state and records nothing.
    """
    record = {DynamicLayer: _RecordOnceLayer, LinearAttentionLayer: _RecordOnceLinearLayer}
    cache = _cache_with(trunk, record)
    for layer in cache.layers:
        if type(layer) not in record.values():
            raise NotImplementedError(f"the grouped update has no prompt cache for {type(layer).__name__} layers")
    return cache


def recorded_prefix(cache, rows: torch.Tensor):
    """The prompts' recorded state picked per row [N] -> a cache that no forward writes into.

    Attention layers return (prefix keys/values ; new) without storing; linear-attention layers
    return (prefix conv state ; new) and the new recurrent state without storing, so each
    completion row starts from its prompt's state however often a layer runs.
    """
    from transformers.cache_utils import Cache

    layers = [_ReadOnlyLinearLayer(layer, rows) if isinstance(layer, _RecordOnceLinearLayer)
              else _ReadOnlyLayer(layer.keys[rows], layer.values[rows]) for layer in cache.layers]
    return Cache(layers=layers)


def _layer_kwargs(layer) -> dict:
    return {"number_of_states": layer.number_of_states} if hasattr(layer, "number_of_states") else {}


class _RecordOnceLayer(DynamicLayer):
    def update(self, key_states, value_states, *args, **kwargs):
        if not self.is_initialized:  # the first run records; a prefill starts empty, so (empty ; new) = new
            self.lazy_initialization(key_states, value_states)
            self.keys, self.values = key_states, value_states
        return key_states, value_states


class _ReadOnlyLayer(DynamicLayer):
    def __init__(self, keys: torch.Tensor, values: torch.Tensor):
        super().__init__()
        self.lazy_initialization(keys, values)
        self.keys, self.values = keys, values  # [N, heads, P, d]

    def update(self, key_states, value_states, *args, **kwargs):
        return torch.cat([self.keys, key_states], dim=-2), torch.cat([self.values, value_states], dim=-2)


class _RecordOnceLinearLayer(LinearAttentionLayer or DynamicLayer):
    """A prefill's conv and recurrent states, recorded on the first run (assigned, so that autograd
    keeps the graph: the stock layer copies into a fixed tensor in place)."""

    def update_conv_state(self, conv_states, state_idx: int = 0, conv_kernel_size: int | None = None, **kwargs):
        k = conv_kernel_size or conv_states.shape[-1]
        full = torch.nn.functional.pad(conv_states, (max(k - conv_states.shape[-1], 0), 0))  # as a prefill pads
        if not self.is_conv_states_initialized[state_idx]:
            self.conv_kernel_size[state_idx] = k
            self.conv_states[state_idx] = full[..., -k:]
            self.is_conv_states_initialized[state_idx] = True  # has_previous_state stays False: the
            # model reads previous states before it updates them, and a recomputed prefill must see none
            self.dtype, self.device = conv_states.dtype, conv_states.device
        return full

    def update_recurrent_state(self, recurrent_states, state_idx: int = 0, **kwargs):
        if not self.is_recurrent_states_initialized[state_idx]:
            self.recurrent_states[state_idx] = recurrent_states
            self.is_recurrent_states_initialized[state_idx] = True
        return recurrent_states


class _ReadOnlyLinearLayer(LinearAttentionLayer or DynamicLayer):
    """Per-row copies of recorded prefill states. ``record_past`` keeps the model off its fused
    one-token kernel, which would update the conv state in place."""

    def __init__(self, recorded, rows: torch.Tensor):
        super().__init__(number_of_states=recorded.number_of_states)
        self.record_past = True
        self.dtype, self.device = recorded.dtype, recorded.device
        for i in range(self.number_of_states):
            self.conv_kernel_size[i] = recorded.conv_kernel_size[i]
            if recorded.is_conv_states_initialized[i]:
                self.conv_states[i] = recorded.conv_states[i][rows]
                self.is_conv_states_initialized[i] = self.has_previous_state[i] = True
            if recorded.is_recurrent_states_initialized[i]:
                self.recurrent_states[i] = recorded.recurrent_states[i][rows]
                self.is_recurrent_states_initialized[i] = self.has_previous_state[i] = True

    def update_conv_state(self, conv_states, state_idx: int = 0, **kwargs):
        return torch.cat([self.conv_states[state_idx], conv_states], dim=-1)

    def update_recurrent_state(self, recurrent_states, state_idx: int = 0, **kwargs):
        return recurrent_states
