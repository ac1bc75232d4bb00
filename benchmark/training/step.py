"""The hot loop of the deep engine: one optimisation step per batch of indices, eager or as a CUDA graph.

A step gathers its batch from the device-resident training tensor by indexing, converts uint8
images to [0, 1] floats, lets the ``augment`` hook change them, standardises, runs the model
(under bf16 autocast where asked), the ``loss`` hook, backward and the optimiser step, and adds
the loss to a device-side sum. Nothing in it waits for the host: the divergence check reads that
sum once per epoch.

On CUDA a step of a small model is dominated by kernel launches (docs/performance.md, 'CUDA
graphs'), so :class:`StepRunner` captures the whole step (forward, backward and optimiser) once per
batch size and replays it. Capture needs every per-batch hook to be pure device work: the default loss is;
a component declares it with a class attribute ``graph_safe = True`` (only tensor operations on
the device, no ``.item()`` or host-side randomness, random draws from torch's default generator or
from the trial's ``state.generator``). A loss hook gets the epoch as a Python number, so a custom
loss is captured anew every epoch.

Random draws in a graph: a draw records the generator's philox seed and offset as device values that
each replay advances, so replays draw fresh numbers; a non-default generator must be registered with
the graph for that (``CUDAGraph.register_generator_state``), and the runner registers
``state.generator``. The warm-up before a capture draws too: :func:`capture_step` puts the generators
back where they were, so the first replay draws what an eager step would, and a graphed run takes the
same steps as an eager one.

The first graph use of a device in a process runs a self-check (:func:`cuda_graphs_work`): a tiny
step captured and replayed must train as the same step taken eagerly. If it fails, one warning says
why and the process trains eagerly from then on (same steps, slower).

On the CPU, where a small model's step is per-call overhead rather than arithmetic, the optimiser is
torch's fused kernel (:func:`make_optimizer`; docs/performance.md, 'The CPU engine', has what else was
measured there and bought nothing).

CUDA graphs, bf16 autocast and channels_last are on by default because each sped up the measured
steps (channels_last only ResNet-32's; it costs the small CNN nothing); cudnn.benchmark stays off
(``TrainingConfig.deterministic``) because its algorithm search costs more than one trial gains.
Figures and the commands that reproduce them: docs/performance.md ('CUDA graphs', 'bf16 autocast
and channels_last', 'cudnn.benchmark').
"""

from __future__ import annotations

import gc
import time
import warnings
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from typing import Any

import torch
import torch.nn.functional as F

from benchmark.errors import DivergedError
from benchmark.training.base import TrainingConfig


def default_loss(logits: torch.Tensor, target: torch.Tensor, epoch: int) -> torch.Tensor:
    """Cross-entropy; soft targets (B, C) from mixing augmentations are accepted as they are."""
    return F.cross_entropy(logits, target)


default_loss.graph_safe = True  # type: ignore[attr-defined]


def uses_bf16(config: TrainingConfig, device: torch.device) -> bool:
    return config.precision == "bf16" or (config.precision == "auto" and device.type == "cuda")


def autocast_for(config: TrainingConfig, device: torch.device, cache: bool = True):
    """bf16 autocast where asked (CUDA by default). Graph capture needs the weight-cast cache off."""
    if uses_bf16(config, device):
        return torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=cache)
    return nullcontext()


def graph_safe(component: Any) -> bool:
    return component is None or bool(getattr(component, "graph_safe", False))


def use_cuda_graphs(config: TrainingConfig, device: torch.device, components: Sequence[Any],
                    rate_changes: bool) -> bool:
    """Whether a stage's steps replay as CUDA graphs: on CUDA, when the settings ask for it and every
    per-batch component is graph-safe. AdamW replayed from graphs while its learning rate changed between
    epochs (``rate_changes``: a schedule or warm-up in this stage) took other steps than eager AdamW (SGD
    matched; docs/performance.md, 'CUDA graphs'): such stages run eagerly."""
    return (config.cuda_graphs and graph_device(device) and all(graph_safe(c) for c in components)
            and not (rate_changes and config.optimizer == "adam") and cuda_graphs_work(device))


def graph_device(device: torch.device) -> bool:
    """Whether steps on ``device`` may be captured at all (CUDA only; a test widens it to run the self-check
    and its fallback on the CPU)."""
    return device.type == "cuda"


_graph_verdicts: dict[tuple[str, int], bool] = {}  # (device type, index) -> the self-check passed, once per process


def cuda_graphs_work(device: torch.device) -> bool:
    """The self-check of the first graph use of ``device`` in this process (:func:`graph_self_check`), kept
    for the process. When it fails, one warning says why, and every stage of this process on that device
    trains eagerly: the same steps, without the speed of graphs, rather than failed trials or wrong ones."""
    cuda = device.type == "cuda"
    index = device.index if device.index is not None else (torch.cuda.current_device() if cuda else 0)
    key = (device.type, index)
    if key not in _graph_verdicts:
        try:  # the check's draws (its model's initialisation) must not move the trial's random streams
            with torch.random.fork_rng(devices=[index] if cuda else []):
                reason = graph_self_check(device)
        except Exception as exc:  # any failure of the check means graphs cannot be trusted here
            reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no message'}"
        if reason is not None:
            warnings.warn(f"CUDA graphs are off on {device} for this process: the self-check failed ({reason}); "
                          "training runs eagerly (same steps, slower)", stacklevel=2)
        _graph_verdicts[key] = reason is None
    return _graph_verdicts[key]


def graph_self_check(device: torch.device) -> str | None:
    """Train a tiny linear model 4 steps eagerly and 4 steps replayed from one captured step (the
    engine's own :func:`capture_step` and optimiser), on the same batches; None when they end with the
    same parameters and loss sum, else what differed. A driver, torch build or device that captures
    wrongly or not at all is found here, before any trial relies on it."""
    gen = torch.Generator(device=device)
    gen.manual_seed(0)
    X = torch.randn(32, 8, generator=gen, device=device)
    y = torch.randint(0, 3, (32,), generator=gen, device=device)
    init = 0.3 * torch.randn(3, 9, generator=gen, device=device)
    config = TrainingConfig(lr=0.05)
    ends = []
    for graphed in (False, True):
        model = torch.nn.Linear(8, 3).to(device)
        with torch.no_grad():
            model.weight.copy_(init[:, :8])
            model.bias.copy_(init[:, 8])
        optimizer = make_optimizer(model.parameters(), config, device, capturable=graphed)
        idx = torch.arange(8, device=device)
        total = torch.zeros((), device=device)

        def body(model=model, optimizer=optimizer, idx=idx, total=total) -> None:
            loss = F.cross_entropy(model(X[idx]), y[idx])
            loss.backward()
            optimizer.step()
            total.add_(loss.detach())

        graph = None
        if graphed:
            graph = capture_step(body, lambda m=model, o=optimizer, t=total: _state_tensors(m, o, [t]),
                                 optimizer.zero_grad, device)
        for k in range(4):
            idx.copy_(torch.arange(8 * k, 8 * k + 8, device=device))
            if graph is not None:
                graph.replay()
            else:
                optimizer.zero_grad(set_to_none=True)
                body()
        ends.append(torch.cat([model.weight.detach().flatten(), model.bias.detach(), total.view(1)]))
    gap = float((ends[0] - ends[1]).abs().max())
    if not gap <= 1e-5:  # NaN too
        return f"4 replayed steps ended {gap:.3g} away from 4 eager ones"
    return None


def check_finite(total: torch.Tensor, epoch: int, stage: str) -> None:
    """The divergence check of a stage's epoch: one host sync per epoch, not per batch (a NaN anywhere
    in the epoch makes the sum of its batch losses NaN)."""
    if not torch.isfinite(total).item():
        raise DivergedError(
            f"training diverged: the loss became {total.item()} in epoch {epoch} (stage {stage})",
            "lower the learning rate, or check the method's loss for invalid values",
        )


def make_optimizer(params, config: TrainingConfig, device: torch.device, capturable: bool) -> torch.optim.Optimizer:
    """AdamW or Nesterov SGD with torch's fused kernels (one call for all parameters) on CUDA and on the
    CPU, and for graph replay AdamW's capturable form (its step count lives on the device). On the CPU
    torch's default is a Python loop over the parameters, whose per-tensor calls cost a small MLP's
    step more than its arithmetic: in whole engine fits the fused kernel trained 1.22x (yeast3's MLP)
    and 1.49x (SMS spam's) the samples per second of that loop, ``foreach`` 0.96x and 1.0x
    (docs/performance.md, 'The CPU engine'). It rounds in another order: parameters agree to about
    1e-7 after a step, and tests/training/test_cpu_engine.py checks that whole fits score alike."""
    params = list(params)
    fused = device.type in ("cuda", "cpu") or None
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=0.9, nesterov=True, weight_decay=config.weight_decay,
                               fused=fused)
    return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay, fused=fused,
                             capturable=capturable)


def set_lr(optimizer: torch.optim.Optimizer, value: float) -> None:
    """Set every parameter group's learning rate. A captured step has the rate baked in: the
    :class:`StepRunner` re-captures when it changes (once per epoch at most; a tensor rate read by the
    graph gave AdamW steps that differ from eager ones: docs/performance.md, 'CUDA graphs')."""
    for group in optimizer.param_groups:
        group["lr"] = value


def _state_tensors(model: torch.nn.Module, optimizer: torch.optim.Optimizer, extra: list[torch.Tensor]):
    tensors = [*model.parameters(), *model.buffers(), *extra]
    for per_param in optimizer.state.values():
        tensors += [t for t in per_param.values() if torch.is_tensor(t)]
    return tensors


class StepRunner:
    """Runs the training steps of one stage of one trial.

    Args:
        model: the module trained (a whole backbone, or only its head for feature-space stages).
        X, y: the training tensors on the device (X uint8 images, float features or int token ids).
        normalise: maps a float batch to the model's input (image standardisation; identity otherwise).
        augment, loss_fn: the recipe's per-batch hooks (``augment`` may be None).
        state: the :class:`~benchmark.training.deep.TrainState` hooks read.
        use_graphs: replay captured CUDA graphs (the caller checked that the hooks allow it).
    """

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, X: torch.Tensor, y: torch.Tensor,
                 normalise: Callable[[torch.Tensor], torch.Tensor], augment: Any, loss_fn: Callable, state: Any,
                 config: TrainingConfig, device: torch.device, use_graphs: bool):
        self.model, self.optimizer, self.X, self.y = model, optimizer, X, y
        self.normalise, self.augment, self.loss_fn, self.state = normalise, augment, loss_fn, state
        self.config, self.device, self.use_graphs = config, device, use_graphs
        self.channels_last = config.channels_last and device.type == "cuda" and X.dim() == 4
        self.total = torch.zeros((), device=device)  # sum of the batch losses of the current epoch
        self.loss_needs_epoch = loss_fn is not default_loss
        self._graphs: dict[int, tuple[torch.cuda.CUDAGraph, torch.Tensor]] = {}
        self._graph_epoch: int | None = None
        self._graph_lrs: tuple[float, ...] | None = None
        if use_graphs:
            gc.collect()  # free earlier trials' graphs now, not in the middle of a capture
        self.capture_seconds = 0.0  # warm-up and capture of the graphs, reported in the timings
        self.steps = 0  # optimiser steps taken, and the samples they trained (host counters, no sync)
        self.samples = 0

    def _body(self, idx: torch.Tensor, autocast_cache: bool = True) -> None:
        xb, target = self.X[idx], self.y[idx]
        if xb.dtype == torch.uint8:
            xb = xb.float().div_(255)
        if self.augment is not None:
            xb, target = self.augment.augment(xb, target, self.state)
        xb = self.normalise(xb)
        if self.channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        with autocast_for(self.config, self.device, autocast_cache):
            logits = self.model(xb)
        loss = self.loss_fn(logits.float(), target, self.state.epoch)
        loss.backward()
        self.optimizer.step()
        self.total += loss.detach()

    def run_epoch(self, order: torch.Tensor) -> None:
        """One pass over ``order`` (indices into X) in batches of ``config.batch_size``; a trailing
        batch of one sample is skipped (it breaks batch statistics; the engine's epochs never hold one:
        :func:`~benchmark.training.epochs.epoch_compute`). The epoch's batch sizes are the same every
        epoch, so each is captured once as a CUDA graph and replayed."""
        self.total.zero_()
        bs = self.config.batch_size
        n = order.numel()
        if self.use_graphs and self.loss_needs_epoch and self._graph_epoch != self.state.epoch:
            self._graphs.clear()  # the epoch is a constant inside a captured custom loss
        self._graph_epoch = self.state.epoch
        lrs = tuple(float(g["lr"]) for g in self.optimizer.param_groups)
        if self.use_graphs and lrs != self._graph_lrs:
            self._graphs.clear()  # the learning rate is a constant inside a captured optimiser step
        self._graph_lrs = lrs
        for start in range(0, n, bs):
            idx = order[start : start + bs]
            if idx.numel() < 2 and n > 1:
                continue
            self.steps += 1
            self.samples += idx.numel()
            captured = self._graphs.get(idx.numel()) if self.use_graphs else None
            if self.use_graphs and captured is None:
                captured = self._capture(idx)
            if captured is not None:
                graph, static_idx = captured
                static_idx.copy_(idx)
                graph.replay()
            else:
                self.optimizer.zero_grad(set_to_none=True)
                self._body(idx)

    def _capture(self, idx: torch.Tensor) -> tuple[torch.cuda.CUDAGraph, torch.Tensor] | None:
        """Capture the step for this batch size; if capture fails, train this stage eagerly (same
        steps, slower) rather than fail the trial."""
        t0 = time.perf_counter()
        static_idx = idx.clone()
        try:
            graph = capture_step(lambda: self._body(static_idx, autocast_cache=False),
                                 lambda: _state_tensors(self.model, self.optimizer, [self.total]),
                                 self.optimizer.zero_grad, self.device, generators=self._generators())
        except GraphCaptureError as exc:
            warnings.warn(f"CUDA graph capture failed ({exc}); this stage trains without graphs", stacklevel=2)
            self.use_graphs = False  # capture_step restored every state tensor: the batch runs eagerly next
            return None
        finally:
            self.capture_seconds += time.perf_counter() - t0
        self._graphs[idx.numel()] = (graph, static_idx)
        return graph, static_idx

    def _generators(self) -> list[torch.Generator]:
        """The hooks' generator (``state.generator``) when it lives on this CUDA device."""
        gen = getattr(self.state, "generator", None)
        if isinstance(gen, torch.Generator) and gen.device.type == "cuda":
            return [gen]
        return []


def capture_step(body: Callable[[], None], state_tensors: Callable[[], list[torch.Tensor]],
                 zero_grad: Callable[..., None], device: torch.device,
                 generators: Sequence[torch.Generator] = ()) -> torch.cuda.CUDAGraph:
    """Capture ``body`` (one whole training step on static inputs) as a CUDA graph.

    Capture needs a warm-up step first (it allocates optimiser state and library workspaces); its
    effect on every tensor of ``state_tensors()`` and on the random generators (the device's default
    one and ``generators``, which ``body`` may draw from) is undone afterwards, so a graph-replayed run
    takes the same steps, with the same draws, as an eager one. ``generators`` are registered with
    the graph, so each replay advances them and draws fresh numbers.
    """
    # A CUDA graph of an earlier trial freed by the garbage collector in the middle of this capture
    # (reference cycles of a pruned trial's traceback hold them) invalidates the capture and, on torch
    # 2.11, leaves the CUDA generator unusable for the rest of the process (docs/performance.md): the
    # StepRunner collects once when it starts, and the collector stays off while capturing.
    before = {id(t): t.detach().clone() for t in state_tensors()}
    rngs = [_default_generator(device), *[g for g in generators if g is not _default_generator(device)]]
    rng_states = [g.get_state() for g in rngs]
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):  # one warm-up step suffices once the optimiser state exists (measured)
        zero_grad(set_to_none=True)
        body()
    torch.cuda.current_stream(device).wait_stream(side)
    with torch.no_grad():
        for t in state_tensors():
            saved = before.get(id(t))
            if saved is None:
                t.zero_()  # optimiser state born in the warm-up starts at zero, as it would have
            else:
                t.copy_(saved)
    for g, state in zip(rngs, rng_states, strict=True):
        g.set_state(state)  # the warm-up's draws are undone: the first replay draws what eager would
    graph = torch.cuda.CUDAGraph()
    for g in rngs[1:]:
        if not hasattr(graph, "register_generator_state"):
            raise GraphCaptureError("this torch cannot register a generator with a CUDA graph (torch >= 2.5 can)")
        graph.register_generator_state(g)
    zero_grad(set_to_none=True)
    collecting = gc.isenabled()
    gc.disable()
    try:
        with torch.cuda.graph(graph):
            body()
    except RuntimeError as exc:
        _reset_generator_capture_state(device, rngs[1:])
        with torch.no_grad():  # undo whatever the aborted capture touched
            for t in state_tensors():
                saved = before.get(id(t))
                if saved is not None:
                    t.copy_(saved)
        for g, state in zip(rngs, rng_states, strict=True):
            g.set_state(state)
        raise GraphCaptureError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from exc
    finally:
        if collecting:
            gc.enable()
    return graph


def _default_generator(device: torch.device) -> torch.Generator:
    index = device.index if device.index is not None else torch.cuda.current_device()
    return torch.cuda.default_generators[index]


class GraphCaptureError(RuntimeError):
    """A training step could not be captured as a CUDA graph."""


def _reset_generator_capture_state(device: torch.device, generators: Sequence[torch.Generator] = ()) -> None:
    """After an aborted capture the CUDA generators may still count offsets "inside a graph"; one
    complete (empty) capture that draws from each runs their prologue and epilogue and brings them
    back to normal."""
    try:
        torch.cuda.synchronize(device)
        graph = torch.cuda.CUDAGraph()
        for g in generators:
            graph.register_generator_state(g)
        with torch.cuda.graph(graph):
            torch.empty(1, device=device).uniform_()
            for g in generators:
                torch.empty(1, device=device).uniform_(generator=g)
    except RuntimeError:
        pass
