"""Generation under DeepSpeed ZeRO-3: full weights once per rollout, or layer by layer.

ZeRO-3 keeps 1/N of every weight on each rank and gathers a layer's weights through forward
hooks each time the layer runs. Decoding runs the model once per token, so without help a
64-token rollout gathers every weight 64 times, and each forward is collective: a rank that is
done must keep stepping until every rank is done.

``rollout.gather_zero3_for_generation`` (default on) gathers every weight once, for the whole
rollout, and takes the hooks off meanwhile (as TRL's ``unwrap_model_for_generation`` does,
trl/models/utils.py): generation then runs like a plain model and each rank stops when its own
samples are done. It costs one full copy of the policy's weights per rank while generating;
turn it off when that does not fit, and decoding falls back to the per-layer gathering.
"""
from __future__ import annotations

from contextlib import contextmanager

from gpg_vl.trainer.collectives import global_max


def is_zero3(accelerator) -> bool:
    plugin = getattr(accelerator.state, "deepspeed_plugin", None)
    return plugin is not None and plugin.zero_stage == 3


def all_done_everywhere(accelerator):
    """Per-layer gathering: decoding continues until every rank is done (each forward is collective)."""
    if accelerator.num_processes == 1:
        return None
    return lambda done: global_max(accelerator, float(not bool(done.all()))) == 0.0


def _offload(engine):
    """The ZeRO-3 object that owns the parameter-gathering hooks of ``engine``."""
    optimizer = engine.optimizer
    if optimizer is None:
        raise RuntimeError("ZeRO-3 engine without an optimizer: nothing to take the hooks from")
    return getattr(optimizer, "parameter_offload", optimizer)


def _remove_hooks(offload) -> None:
    for module in offload.module.modules():
        for param in [*module.parameters(recurse=False), *(p for _, p in module.ds_external_parameters())]:
            param.ds_active_sub_modules.clear()
    for hook in [*offload.forward_hooks, *offload.backward_hooks]:
        hook.remove()
    offload.forward_hooks, offload.backward_hooks = [], []


def _add_hooks(offload) -> None:
    coordinator = getattr(offload, "param_coordinator", None)
    if coordinator is not None and not coordinator.is_invalid_trace():
        coordinator._invalidate_trace()  # the generation forwards must not become the prefetch trace
    offload._register_deepspeed_module(offload.module)


@contextmanager
def weights_for_generation(accelerator, engine, gather: bool):
    """Context for a rollout or an evaluation; yields the ``all_done`` rule for ``generate``.

    ``engine``: the prepared model; ``gather``: rollout.gather_zero3_for_generation.
    """
    if not is_zero3(accelerator):
        yield None
        return
    if not gather:
        yield all_done_everywhere(accelerator)
        return
    import deepspeed

    with deepspeed.zero.GatheredParameters(list(engine.module.parameters())):  # read-only gather
        offload = _offload(engine)
        _remove_hooks(offload)
        try:
            yield None  # full weights on every rank: each stops when its own rows are done
        finally:
            _add_hooks(offload)
