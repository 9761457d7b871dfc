"""The five NTM optimizers (``adagrad``, ``adam``, ``rmsprop``, ``sgd``, ``adadelta``) as small in-place updates.

Why not ``torch.optim``: its ``step`` imports ``torch._dynamo`` on first use, which costs 1.5-3 s of CPU at every
process start; an NTM training job is often shorter than a minute (the tutorial's 20 Newsgroups run), so that import
was a large share of it. The update rules are the textbook ones and match ``torch.optim`` step for step (unit tests
compare them), with MXNet's constants where the built-in NTM (an MXNet program) used them: AdaDelta ``rho=0.9,
epsilon=1e-5`` and learning-rate free (Zeiler 2012), RMSProp ``gamma=0.9, epsilon=1e-8``, AdaGrad
``epsilon=1e-7``; Adam ``beta1=0.9, beta2=0.999, epsilon=1e-8``; SGD without momentum. ``weight_decay`` is L2: it
adds ``weight_decay * w`` to the gradient before the update.

``state_dict`` holds only tensors, numbers and strings, so checkpoints load with ``weights_only=True``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch

NAMES = ("adagrad", "adam", "rmsprop", "sgd", "adadelta")
SLOTS = {"sgd": (), "adagrad": ("sum",), "rmsprop": ("square_avg",), "adam": ("m", "v"),
         "adadelta": ("square_avg", "acc_delta")}


class Optimizer:
    """Updates ``params`` in place from their ``.grad`` with one of the five rules."""

    def __init__(self, name: str, params: Iterable[torch.nn.Parameter], lr: float, weight_decay: float = 0.0):
        if name not in SLOTS:
            raise ValueError(f"unknown optimizer {name!r}; use one of {NAMES}")
        self.name = name
        self.params = list(params)
        self.lr = lr
        self.weight_decay = weight_decay
        self.step_scale = 1.0  # multiplies every update (train.py: the host count, so a step keeps its size)
        self.steps = 0
        self.slots = [{slot: torch.zeros_like(p) for slot in SLOTS[name]} for p in self.params]

    def zero_grad(self) -> None:
        for param in self.params:
            if param.grad is not None:
                param.grad.zero_()

    @torch.no_grad()
    def step(self) -> None:
        self.steps += 1
        for param, slots in zip(self.params, self.slots, strict=True):
            if param.grad is None:
                continue
            grad = param.grad
            if self.weight_decay:
                grad = grad.add(param, alpha=self.weight_decay)
            getattr(self, "_" + self.name)(param, grad, slots)

    def _sgd(self, param: torch.Tensor, grad: torch.Tensor, slots: dict[str, torch.Tensor]) -> None:
        param.add_(grad, alpha=-self.lr * self.step_scale)

    def _adagrad(self, param: torch.Tensor, grad: torch.Tensor, slots: dict[str, torch.Tensor]) -> None:
        slots["sum"].addcmul_(grad, grad, value=1.0)
        param.addcdiv_(grad, slots["sum"].sqrt().add_(1e-7), value=-self.lr * self.step_scale)

    def _rmsprop(self, param: torch.Tensor, grad: torch.Tensor, slots: dict[str, torch.Tensor]) -> None:
        slots["square_avg"].mul_(0.9).addcmul_(grad, grad, value=0.1)
        param.addcdiv_(grad, slots["square_avg"].sqrt().add_(1e-8), value=-self.lr * self.step_scale)

    def _adam(self, param: torch.Tensor, grad: torch.Tensor, slots: dict[str, torch.Tensor]) -> None:
        beta1, beta2 = 0.9, 0.999
        slots["m"].lerp_(grad, 1 - beta1)
        slots["v"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        correction1 = 1 - beta1**self.steps
        correction2 = 1 - beta2**self.steps
        denominator = (slots["v"].sqrt() / math.sqrt(correction2)).add_(1e-8)
        param.addcdiv_(slots["m"], denominator, value=-self.lr * self.step_scale / correction1)

    def _adadelta(self, param: torch.Tensor, grad: torch.Tensor, slots: dict[str, torch.Tensor]) -> None:
        rho, eps = 0.9, 1e-5
        square_avg, acc_delta = slots["square_avg"], slots["acc_delta"]
        square_avg.mul_(rho).addcmul_(grad, grad, value=1 - rho)
        delta = acc_delta.add(eps).sqrt_().div_(square_avg.add(eps).sqrt_()).mul_(grad)
        acc_delta.mul_(rho).addcmul_(delta, delta, value=1 - rho)
        param.sub_(delta, alpha=self.step_scale)

    def state_dict(self) -> dict[str, Any]:
        return {"name": self.name, "steps": self.steps, "slots": self.slots}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("name") != self.name or len(state["slots"]) != len(self.params):
            raise ValueError(f"optimizer state is for {state.get('name')!r}, not {self.name!r}")
        for mine, theirs in zip(self.slots, state["slots"], strict=True):
            for slot, tensor in mine.items():
                tensor.copy_(theirs[slot])
        self.steps = int(state["steps"])
