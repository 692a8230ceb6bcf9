"""AdamW with float32 master weights for a policy held in bfloat16 / float16 (no DeepSpeed).

Adam's step is about lr x sign(gradient): at lr 1e-6 it is far below a bfloat16 weight's
resolution (2^-8 relative), so an optimizer stepping bf16 parameters in place rounds most
updates away (measured: 2 % of the weights changed, by 11 % of the float32 run's distance).
Mixed-precision training keeps a float32 master copy that accumulates the small steps and
copies the rounded result back into the low-precision weights the forward uses (Micikevicius et
al. 2018, "Mixed Precision Training", arXiv 1710.03740; DeepSpeed's bf16 optimizer does the same,
so runs under DeepSpeed keep DeepSpeed's own). Sampling and the update both run the low-precision
weights, so they still evaluate the same function.
"""
from __future__ import annotations

import torch


class MasterWeightAdamW(torch.optim.AdamW):
    """AdamW over float32 masters of low-precision parameters.

    The parameters stay those of the model (so clipping, accelerate and checkpoints see them as
    usual); at ``step`` each one's master, gradient and Adam moments are float32, and the weight
    is rewritten from its master. The masters are saved in ``state_dict`` (an exact resume).
    """

    def __init__(self, params, **kwargs):
        super().__init__(params, **kwargs)
        self.masters: dict[torch.Tensor, torch.Tensor] = {}

    def _master(self, p: torch.Tensor) -> torch.Tensor:
        """p's master; (re)started from the weight when something else wrote the weight (a warm-up
        with its own optimizer between building this one and its first step, a checkpoint load)."""
        master = self.masters.get(p)
        if master is None or not torch.equal(master.to(p.dtype), p.data):
            master = self.masters[p] = p.detach().float().clone()
        return master

    @torch.no_grad()
    def step(self, closure=None):
        swapped = []
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                master = self._master(p)
                low, grad = p.data, p.grad
                p.data, p.grad = master, grad.float()  # AdamW steps the float32 master
                swapped.append((p, low, grad))
        try:
            loss = super().step(closure)
        finally:
            for p, low, grad in swapped:
                self.masters[p] = p.data
                low.copy_(p.data)  # rounded once, from the accumulated master
                p.data, p.grad = low, grad
        return loss

    def state_dict(self):
        out = super().state_dict()
        out["masters"] = [self._master(p) for group in self.param_groups for p in group["params"]]
        return out

    def load_state_dict(self, state_dict):
        state_dict = dict(state_dict)
        masters = state_dict.pop("masters", None)
        super().load_state_dict(state_dict)
        params = [p for group in self.param_groups for p in group["params"]]
        if masters is None:  # an optimizer saved without masters: start them from the weights
            masters = [p.detach() for p in params]
        for p, m in zip(params, masters, strict=True):
            self.masters[p] = m.detach().to(device=p.device, dtype=torch.float32).clone()
            p.data.copy_(self.masters[p])


def make_optimizer(params: list, *, master_weights: bool, **adamw_kwargs) -> torch.optim.Optimizer:
    """AdamW over ``params`` (tensors, or torch's parameter-group dicts); with ``master_weights``,
    over float32 masters of low-precision parameters."""
    flat = [p for item in params for p in (item["params"] if isinstance(item, dict) else [item])]
    if master_weights and any(p.dtype in (torch.bfloat16, torch.float16) for p in flat):
        return MasterWeightAdamW(params, **adamw_kwargs)
    return torch.optim.AdamW(params, **adamw_kwargs)
