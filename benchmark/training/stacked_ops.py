"""The arithmetic of exactly stacked trials (:mod:`benchmark.training.stacked_mlp`): linear layers batched
over the members that sum as ``F.linear`` does for each member alone (sparse TF-IDF rows: member by member,
by the single fit's functions), and the engine's optimiser applied to each member's parameters with its own
learning rate and weight decay."""

from __future__ import annotations

import functools

import torch

from benchmark.models.sparse_rows import SparseBatch, sparse_product, sparse_weight_grad
from benchmark.training.base import TrainingConfig
from benchmark.training.step import make_optimizer

# Floats: each member's parameters start on a 64-byte boundary, as a parameter allocated alone does. MKL's
# products may round otherwise on misaligned operands (found: a member at an odd offset drifted in the 8th digit).
ALIGN = 16

# Each product of a single fit's linear layer (F.linear = addmm, and autograd's backward of it), one member
# at a time; and the same product batched over the members.
_PRODUCTS = {
    "forward": (lambda x, w, b, g: torch.addmm(b, x, w.t()),
                lambda x, w, b, g: torch.baddbmm(b.unsqueeze(1), x, w.transpose(1, 2))),
    "grad_x": (lambda x, w, b, g: g.mm(w), lambda x, w, b, g: torch.bmm(g, w)),
    # autograd's addmm backward for a transposed weight forms grad^T @ x, not (x^T @ grad)^T
    "grad_w": (lambda x, w, b, g: g.t().mm(x), lambda x, w, b, g: torch.bmm(g.transpose(1, 2), x)),
    "grad_b": (lambda x, w, b, g: g.sum(0), lambda x, w, b, g: g.sum(1)),
}


@functools.lru_cache(maxsize=256)
def batched_sums_alike(product: str, rows: int, inputs: int, outputs: int, threads: int) -> bool:
    """Whether the batched kernel of ``product`` sums as the single one does at this shape. BLAS picks its
    blocking by shape: at some shapes (measured: 16 x 12 -> 2) a batched product rounds otherwise, and
    there the stack computes member by member. Probed once per shape on random numbers (a different order
    of sums shows in the last bits of some of 2 x rows x outputs results)."""
    gen = torch.Generator().manual_seed(rows * 7919 + inputs * 31 + outputs)
    slot = -(-outputs * inputs // ALIGN) * ALIGN + -(-outputs // ALIGN) * ALIGN  # parameters laid out as the stack's
    params = torch.randn(3, slot, generator=gen)
    w = params[:, : outputs * inputs].view(3, outputs, inputs)
    b = params[:, slot - -(-outputs // ALIGN) * ALIGN:][:, :outputs]
    x, g = torch.randn(3, rows, inputs, generator=gen), torch.randn(3, rows, outputs, generator=gen)
    single, batched = _PRODUCTS[product]
    out = batched(x, w, b, g)  # against each member alone, in fresh (aligned) memory as in a single fit
    return all(torch.equal(single(x[m].clone(), w[m].clone(), b[m].clone(), g[m].clone()), out[m]) for m in range(3))


def _product(name: str, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, g: torch.Tensor | None):
    rows, inputs, outputs = x.shape[1], w.shape[2], w.shape[1]
    single, batched = _PRODUCTS[name]
    if x.device.type == "cpu" and batched_sums_alike(name, rows, inputs, outputs, torch.get_num_threads()):
        return batched(x, w, b, g)
    return torch.stack([single(x[m].clone(), w[m].clone(), None if b is None else b[m].clone(),
                               None if g is None else g[m].clone()) for m in range(x.shape[0])])


class StackedLinear(torch.autograd.Function):
    """(M, B, I) x (M, O, I) weights + (M, O) biases -> (M, B, O), each member's sums as ``F.linear``'s."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        return _product("forward", x, weight, bias, None)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, weight = ctx.saved_tensors
        grad_x = _product("grad_x", x, weight, None, grad) if ctx.needs_input_grad[0] else None
        return grad_x, _product("grad_w", x, weight, None, grad), _product("grad_b", x, weight, None, grad)


class StackedSparseLinear(torch.autograd.Function):
    """Sparse rows (one :class:`~benchmark.models.sparse_rows.SparseBatch` per member) x (M, O, I) weights + (M, O)
    biases -> (M, B, O): each member by the single fit's own functions, so it sums as that fit does."""

    @staticmethod
    def forward(ctx, weight: torch.Tensor, bias: torch.Tensor, batches: list[SparseBatch]) -> torch.Tensor:
        ctx.save_for_backward(weight)
        ctx.batches = batches
        return torch.stack([sparse_product(x, weight[m]).add_(bias[m]) for m, x in enumerate(batches)])

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (weight,) = ctx.saved_tensors
        grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_w = grad.new_zeros(weight.shape)
            for m, x in enumerate(ctx.batches):
                sparse_weight_grad(x, grad[m], grad_w[m])
        if ctx.needs_input_grad[1]:
            grad_b = torch.stack([grad[m].sum(0) for m in range(grad.shape[0])])
        return grad_w, grad_b, None


@functools.lru_cache(maxsize=8)
def engine_optimizer(kind: str, device_type: str) -> tuple[bool, tuple[float, float], float]:
    """(fused, betas, eps) of the optimiser :func:`make_optimizer` builds (asked once: building one costs
    about a second the first time in a process)."""
    config = TrainingConfig(optimizer=kind)
    probe = make_optimizer([torch.zeros(1, device=device_type, requires_grad=True)], config, torch.device(device_type),
                           capturable=False)
    return bool(probe.defaults.get("fused")), probe.defaults.get("betas", (0.9, 0.999)), probe.defaults.get("eps", 1e-8)


class StackedOptimizer:
    """The engine's optimiser (:func:`~benchmark.training.step.make_optimizer`: AdamW or Nesterov SGD, fused
    or not, as configured there) on each member's parameters, each member with its own learning rate and
    weight decay. It is called on every parameter of every member as its own tensor, as ``torch.optim``
    calls it in a single fit (a fused kernel rounds a 2-float bias otherwise inside a longer row); one
    call per distinct (lr, weight decay). State starts at zero each stage, as the engine builds a new
    optimiser per stage."""

    def __init__(self, params: list[torch.Tensor], grads: list[torch.Tensor], trained: list[int],
                 configs: list[TrainingConfig], dev: torch.device):
        """``params`` and ``grads``: (M, ...) views of each parameter of the stack; ``trained``: which of them
        this stage trains."""
        self.fused, self.betas, self.eps = engine_optimizer(configs[0].optimizer, dev.type)
        self.kind, self.trained = configs[0].optimizer, trained
        self.wd, self.lrs = [c.weight_decay for c in configs], [c.lr for c in configs]
        self.step_count = 0

        def views(per_param: list[torch.Tensor]) -> list[list[torch.Tensor]]:  # [member][trained parameter]
            return [[per_param[i][k] for i in trained] for k in range(len(configs))]

        self.params, self.grads = views(params), views(grads)
        self.exp_avg = views([torch.zeros_like(p) for p in params])
        self.exp_avg_sq = views([torch.zeros_like(p) for p in params]) if self.kind == "adam" else None
        self.steps = [[torch.zeros((), device=dev) for _ in trained] for _ in configs]  # fused AdamW's counts
        self.momentum: list[list[torch.Tensor] | None] = [None] * len(configs)

    @torch.no_grad()
    def step(self, active: list[int]) -> None:
        self.step_count += 1
        groups: dict[tuple[float, float], list[int]] = {}
        for k in active:
            groups.setdefault((self.lrs[k], self.wd[k]), []).append(k)
        for (lr, wd), ks in groups.items():
            if self.kind == "adam":
                self._adam(ks, lr, wd)
            else:
                self._sgd(ks, lr, wd)

    def _rows(self, lists: list[list[torch.Tensor]], ks: list[int]) -> list[torch.Tensor]:
        return [t for k in ks for t in lists[k]]

    def _adam(self, ks: list[int], lr: float, wd: float) -> None:
        p, g = self._rows(self.params, ks), self._rows(self.grads, ks)
        m, v = self._rows(self.exp_avg, ks), self._rows(self.exp_avg_sq, ks)
        if self.fused:
            steps = self._rows(self.steps, ks)
            torch._foreach_add_(steps, 1)
            torch._fused_adamw_(p, g, m, v, [], steps, amsgrad=False, lr=lr, beta1=self.betas[0],
                                beta2=self.betas[1], weight_decay=wd, eps=self.eps, maximize=False, grad_scale=None,
                                found_inf=None)
            return
        (beta1, beta2), step = self.betas, float(self.step_count)  # torch's single-tensor AdamW
        if wd != 0:
            torch._foreach_mul_(p, 1 - lr * wd)
        torch._foreach_lerp_(m, g, 1 - beta1)
        torch._foreach_mul_(v, beta2)
        torch._foreach_addcmul_(v, g, g, value=1 - beta2)
        bias1, bias2 = 1 - beta1 ** step, 1 - beta2 ** step
        denom = torch._foreach_add_(torch._foreach_div(torch._foreach_sqrt(v), bias2 ** 0.5), self.eps)
        torch._foreach_addcdiv_(p, m, denom, -(lr / bias1))

    def _sgd(self, ks: list[int], lr: float, wd: float) -> None:
        p, g = self._rows(self.params, ks), self._rows(self.grads, ks)
        first = self.momentum[ks[0]] is None
        if first:
            for k in ks:
                self.momentum[k] = [torch.empty_like(t) for t in self.grads[k]]
        bufs = self._rows(self.momentum, ks)
        if self.fused:
            torch._fused_sgd_(p, g, bufs, weight_decay=wd, momentum=0.9, lr=lr, dampening=0.0, nesterov=True,
                              maximize=False, is_first_step=first, grad_scale=None, found_inf=None)
            return
        for param, grad, buf in zip(p, g, bufs, strict=True):  # torch's single-tensor SGD, Nesterov, L2 decay
            grad = grad.add(param, alpha=wd) if wd != 0 else grad
            buf.copy_(grad) if first else buf.mul_(0.9).add_(grad)
            param.add_(grad.add(buf, alpha=0.9), alpha=-lr)
