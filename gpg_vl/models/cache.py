"""The KV cache of the shared-prefix forward, for attention and linear-attention layers alike.

Each prompt is prefilled once and its cache repeated over the G rows of its group
(``models.forward``, ``rollout``). Hybrid models (Qwen3.5: Gated DeltaNet layers between
full-attention layers) cache a convolution state and a recurrent state per row instead of keys and
values; both must be copied per row, and the gradient of the grouped update must reach each
prompt's states through every row.
"""
from __future__ import annotations

import torch


def _grad_safe_linear_layer():
    """transformers' ``LinearAttentionLayer`` whose recurrent state is replaced, not overwritten.

    The stock layer copies the new state into the old tensor in place (a fixed address for CUDA
    graphs); the chunked delta rule has saved that old tensor as its initial state for backward, so
    a loss through a continued prefix fails ("modified by an inplace operation"). Assigning keeps
    every state of the graph intact; nothing here runs under CUDA graphs.
    """
    from transformers.cache_utils import LinearAttentionLayer

    class GradSafeLinearAttentionLayer(LinearAttentionLayer):
        def update_recurrent_state(self, recurrent_states: torch.Tensor, state_idx: int = 0, **kwargs):
            self.recurrent_states[state_idx] = recurrent_states
            self.is_recurrent_states_initialized[state_idx] = True
            return recurrent_states

    return LinearAttentionLayer, GradSafeLinearAttentionLayer


def new_cache(trunk):
    """An empty dynamic cache for ``trunk`` (layer types from its config)."""
    from transformers import DynamicCache

    cache = DynamicCache(config=trunk.config)
    stock, safe = _grad_safe_linear_layer()
    cache.layers = [safe(number_of_states=layer.number_of_states) if type(layer) is stock else layer
                    for layer in cache.layers]
    return cache


def repeat_rows(cache, rows: torch.Tensor) -> None:
    """Make row i of ``cache`` a copy of prompt ``rows[i]``'s cached state, in every layer.

    ``Cache.batch_select_indices`` fails on linear-attention layers (transformers 5.2x's
    ``LinearAttentionLayer`` has no such method); ``reorder_cache`` index-selects keys / values and
    the convolution and recurrent states alike, into new tensors (so autograd sums each prompt's
    gradient over its rows).
    """
    cache.reorder_cache(rows)
