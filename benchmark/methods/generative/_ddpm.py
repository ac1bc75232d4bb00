"""Class-conditional denoising diffusion: one training loop and one DDIM sampler for every denoiser.

The pixel-space U-Net (``_unet.py``), the feature-space MLP of LDMLR and TabDDPM's MLP
(``_tabular_models.py``) all predict the noise ``eps(x_t, t, label)``; this module trains them with
diffusers' :class:`~diffusers.DDPMScheduler` (Ho et al. 2020: epsilon prediction, uniform timesteps,
mean-squared error) and samples them with :class:`~diffusers.DDIMScheduler` (eta = 0, a few dozen
steps). Labels are dropped to a *null class* (id ``num_classes``) with probability ``p_uncond``
during training, so one network is both conditional and unconditional and sampling can use
classifier-free guidance (Ho & Salimans 2022): ``eps = (1 + w) eps(x, c) - w eps(x, null)``.

CBDM's class-balancing regulariser (Qin et al., CVPR 2023) is optional: for a second label y' drawn
uniformly over the classes, it pulls ``eps(x_t, y)`` towards a stopped-gradient ``eps(x_t, y')``
(and, with a quarter of the weight, the other way round: the commitment term), weighted by t / T and
``cbdm_tau``, which transfers what the network knows of the head classes to the tail ones.

Every random draw (parameters aside) comes from one ``torch.Generator`` seeded by the caller, on the
device, so a seed reproduces a run on the same hardware.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from benchmark.errors import BenchmarkError, DivergedError

# denoiser(x_t, timesteps (B,) long, labels (B,) long) -> predicted noise, shaped like x_t
Denoiser = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]

TRAIN_TIMESTEPS = 1000


@dataclass(frozen=True)
class DiffusionTraining:
    """How a denoiser is trained: steps and batch (the suite's generator budget), the optimiser's
    learning rate, the label-dropout probability of classifier-free guidance, CBDM's weight (0 = off),
    the noise schedule (diffusers' ``beta_schedule``) and whether samples are clipped to [-1, 1]
    (images: yes; standardised features: no)."""

    steps: int
    batch_size: int
    lr: float = 1e-3
    p_uncond: float = 0.1
    cbdm_tau: float = 0.0
    beta_schedule: str = "squaredcos_cap_v2"
    clip_sample: bool = False
    ema_decay: float = 0.999

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1:
            raise BenchmarkError(f"diffusion training with steps={self.steps}, batch_size={self.batch_size}",
                                 "give the generator budget at least one step of at least one row")
        if not 0.0 <= self.p_uncond < 1.0:
            raise BenchmarkError(f"label-dropout probability {self.p_uncond}", "use a probability in [0, 1)")

    def scheduler(self):
        from diffusers import DDPMScheduler

        return DDPMScheduler(num_train_timesteps=TRAIN_TIMESTEPS, beta_schedule=self.beta_schedule,
                             clip_sample=self.clip_sample, prediction_type="epsilon")


def _uniform_over_present(num_classes: int, y: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """n labels drawn uniformly over the classes that have training rows (CBDM's balanced y')."""
    present = torch.nonzero(torch.bincount(y, minlength=num_classes) > 0).flatten()
    return present[torch.randint(present.numel(), (n,), generator=generator, device=y.device)]


def train_denoiser(net: torch.nn.Module, denoise: Denoiser, x0: torch.Tensor, y: torch.Tensor, num_classes: int,
                   training: DiffusionTraining, seed: int) -> tuple[torch.nn.Module, list[float]]:
    """Train ``net`` (through ``denoise``) to predict the noise added to ``x0`` rows of labels ``y``.

    Returns an exponential moving average of the weights (the model diffusion samples come from; its
    decay warms up as (1 + step) / (10 + step), so short budgets are not dominated by the random
    initialisation) and the mean loss of each tenth of the run. ``x0`` and ``y`` sit on the training
    device; ``num_classes`` is the null label's id.
    """
    import copy

    dev = x0.device
    scheduler = training.scheduler()
    generator = torch.Generator(device=dev).manual_seed(int(seed) % 2**63)
    # CBDM's balanced labels come from their own stream: the regulariser leaves every other draw unchanged
    balanced = torch.Generator(device=dev).manual_seed((int(seed) + 1) % 2**63)
    optimiser = torch.optim.AdamW(net.parameters(), lr=training.lr, weight_decay=0.0)
    ema = copy.deepcopy(net).eval().requires_grad_(False)
    net.train()
    n = x0.shape[0]
    batch = min(training.batch_size, n)
    losses, window = [], max(1, training.steps // 10)
    running = torch.zeros((), device=dev)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if dev.type == "cuda" else torch.autocast("cpu", enabled=False)
    for step in range(training.steps):
        idx = torch.randint(n, (batch,), generator=generator, device=dev)
        x, labels = x0[idx], y[idx]
        noise = torch.randn(x.shape, generator=generator, device=dev, dtype=x.dtype)
        t = torch.randint(TRAIN_TIMESTEPS, (batch,), generator=generator, device=dev)
        x_t = scheduler.add_noise(x, noise, t)
        drop = torch.rand(batch, generator=generator, device=dev) < training.p_uncond
        cond = torch.where(drop, torch.full_like(labels, num_classes), labels)
        with autocast:
            eps = denoise(x_t, t, cond).float()
            loss = F.mse_loss(eps, noise)
            if training.cbdm_tau > 0:
                other = _uniform_over_present(num_classes, y, batch, balanced)
                eps_other = denoise(x_t, t, other).float()
                w = (t.float() / TRAIN_TIMESTEPS * training.cbdm_tau).view(-1, *[1] * (x.ndim - 1))
                # CBDM: conditional prediction towards a balanced label's (sg), plus 1/4 commitment back
                reg = w * (eps - eps_other.detach()).pow(2) + 0.25 * w * (eps.detach() - eps_other).pow(2)
                loss = loss + reg[~drop].mean() if bool((~drop).any()) else loss
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        decay = min(training.ema_decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for e, p in zip(ema.parameters(), net.parameters(), strict=True):
                e.lerp_(p.detach(), 1.0 - decay)
            for e, b in zip(ema.buffers(), net.buffers(), strict=True):
                e.copy_(b)
        running += loss.detach()
        if (step + 1) % window == 0 or step + 1 == training.steps:
            mean = float(running) / ((step % window) + 1)
            if mean != mean or mean == float("inf"):
                raise DivergedError(f"diffusion training diverged: loss {mean} at step {step + 1}",
                                    "lower the generator's learning rate")
            losses.append(mean)
            running.zero_()
    return ema, losses


@torch.no_grad()
def ddim_sample(denoise: Denoiser, labels: torch.Tensor, row_shape: tuple[int, ...], num_classes: int,
                training: DiffusionTraining, *, steps: int, guidance: float, seed: int,
                batch_size: int) -> torch.Tensor:
    """Rows of the given ``labels`` (on the sampling device), by DDIM (eta = 0) from Gaussian noise in
    ``steps`` steps with classifier-free guidance weight ``guidance`` (0 = the conditional model
    alone), ``batch_size`` rows at a time. Deterministic for a seed."""
    from diffusers import DDIMScheduler

    if steps < 1:
        raise BenchmarkError(f"DDIM sampling with {steps} steps", "use at least one sampling step")
    if guidance < 0:
        raise BenchmarkError(f"classifier-free guidance weight {guidance}", "use a weight >= 0")
    dev = labels.device
    generator = torch.Generator(device=dev).manual_seed(int(seed) % 2**63)
    out = []
    for start in range(0, labels.numel(), batch_size):
        c = labels[start : start + batch_size]
        scheduler = DDIMScheduler.from_config(training.scheduler().config)
        scheduler.set_timesteps(min(steps, TRAIN_TIMESTEPS))
        x = torch.randn((c.numel(), *row_shape), generator=generator, device=dev)
        null = torch.full_like(c, num_classes)
        for t in scheduler.timesteps:
            tt = torch.full((c.numel(),), int(t), device=dev, dtype=torch.long)
            if guidance > 0:  # one batched pass for the conditional and the unconditional prediction
                both = denoise(torch.cat([x, x]), torch.cat([tt, tt]), torch.cat([c, null])).float()
                eps_c, eps_u = both.chunk(2)
                eps = (1.0 + guidance) * eps_c - guidance * eps_u
            else:
                eps = denoise(x, tt, c).float()
            x = scheduler.step(eps, t, x, eta=0.0).prev_sample
        out.append(x)
    if not out:
        return torch.zeros((0, *row_shape), device=dev)
    return torch.cat(out)
