"""BAGAN-GP (Huang and Jafari 2021), the gradient-penalty successor of BAGAN (Mariani et al. 2018): a
class-conditional GAN whose generator starts as the decoder of an autoencoder trained on all classes.

1. Autoencoder (the first half of the budget's steps): encoder E(x) -> code, class embedding e(c), decoder
   G(z * e(c)) trained to reconstruct x from E(x) * e(c) with the mean absolute error (BAGAN-GP's supervised
   autoencoder, which conditions the decoder on the label; the authors' file compiles it with loss 'mae').
2. Labelled latents: the generator's noise is z ~ N(0, I) and the label enters through the embedding,
   z * e(c) (the paper's eq. 14 and section 3.2.2: this embedding replaces BAGAN's per-class Gaussians of
   the codes, which it finds overlapping and frozen once the GAN starts).
3. GAN (the second half): the generator is G with e, initialised from the autoencoder; the critic is the
   encoder's convolutions (initialised from E) with a projection to a score conditioned on the label
   (features concatenated with a learned label embedding). The paper's conditional DRAGAN-like losses with
   the WGAN-GP "model interpolation" penalty (eq. 14, 15): the critic minimises
   softplus(-D(x, y)) + softplus(D(G(z, y_f), y_f)) + softplus(D(x, y_wrong)) + 10 * gradient penalty (the
   last term teaches it the labels of real images: a real image under a random label counts as fake), the
   generator softplus(-D(G(z, y_f), y_f)); fake and wrong labels are drawn uniformly over the classes, so the
   minority classes get as much adversarial signal as the majority ones; the critic takes ``n_critic``
   steps per generator step. Adam (lr 2e-4, betas 0.5, 0.9). tests/reference/test_bagan_gp_reference.py
   checks the penalty, both losses and the labelled latent against the authors' code.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch import nn

from benchmark.errors import BenchmarkError
from benchmark.methods._papers import BAGAN_BIB, BAGAN_GP_BIB, WGAN_GP_BIB
from benchmark.methods.base import MethodContext, Recipe, register_method
from benchmark.methods.generative._base import (
    GenerativeOversampler,
    Generator,
    GeneratorBudget,
    image_width,
    ratio_space,
    requested,
)
from benchmark.methods.generative._nets import (
    ConvDecoder,
    ConvEncoder,
    batches,
    check_image_rows,
    module_state,
    seeded,
    to_uint8,
    to_unit,
)

GP_WEIGHT = 10.0


class Critic(nn.Module):
    """The encoder's convolutions and a label-conditioned linear score."""

    def __init__(self, encoder: ConvEncoder, num_classes: int, embed_dim: int = 32):
        super().__init__()
        self.features = copy.deepcopy(encoder.features)
        # batch norm mixes real and fake rows of a batch, which the gradient penalty forbids: WGAN-GP's critic has none
        for i, layer in enumerate(self.features):
            if isinstance(layer, nn.BatchNorm2d):
                self.features[i] = nn.Identity()
        self.embed = nn.Embedding(num_classes, embed_dim)
        self.score = nn.Linear(encoder.feature_dim + embed_dim, 1)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.score(torch.cat([self.features(x), self.embed(c)], dim=1)).flatten()


def critic_loss(real: torch.Tensor, fake: torch.Tensor, wrong: torch.Tensor) -> torch.Tensor:
    """BAGAN-GP's critic cost without the penalty (eq. 14): sigmoid cross-entropy of real images with their
    labels as real, generated images and real images under wrong labels as fake (each a batch mean)."""
    softplus = nn.functional.softplus
    return softplus(-real).mean() + softplus(fake).mean() + softplus(wrong).mean()


def generator_loss(fake: torch.Tensor) -> torch.Tensor:
    """BAGAN-GP's generator loss (eq. 15): the non-saturating -log sigmoid(D(G(z, y_f), y_f))."""
    return nn.functional.softplus(-fake).mean()


def gradient_penalty(critic: Critic, real: torch.Tensor, fake: torch.Tensor, c: torch.Tensor,
                     gen: torch.Generator) -> torch.Tensor:
    """WGAN-GP: (||grad D(x_hat)||_2 - 1)^2 at random interpolates of real and fake images."""
    t = torch.rand((real.shape[0], 1, 1, 1), generator=gen, device=real.device)
    mixed = (t * real + (1 - t) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mixed, c).sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


class BAGANGPGenerator(Generator):
    """BAGAN-GP as a :class:`Generator` (see the module docstring)."""

    name = "bagan-gp"

    def __init__(self, latent_dim: int = 64, width: int = 32, n_critic: int = 5, lr: float = 2e-4):
        if int(n_critic) < 1:
            raise BenchmarkError(f"BAGAN-GP with n_critic={n_critic}", "use at least one critic step per generator step")
        self.latent_dim, self.width, self.n_critic, self.lr = int(latent_dim), int(width), int(n_critic), float(lr)
        self.device = "cpu"

    def settings(self) -> dict[str, Any]:  # "losses": generators cached under the earlier WGAN losses are not reused
        return {"latent_dim": self.latent_dim, "width": self.width, "n_critic": self.n_critic, "lr": self.lr,
                "losses": "cdragan"}

    def _build(self, shape: tuple[int, int, int], num_classes: int) -> None:
        self.shape, self.num_classes = shape, num_classes
        self.encoder = ConvEncoder(shape, self.width, self.latent_dim).to(self.device)
        self.embed = nn.Embedding(num_classes, self.latent_dim).to(self.device)
        self.decoder = ConvDecoder(shape, self.width, self.latent_dim).to(self.device)

    def generate(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.decoder(z * self.embed(c))

    def fit(self, X: np.ndarray, y: np.ndarray, *, budget: GeneratorBudget, device: str, seed: int) -> None:
        self.device = device
        torch.manual_seed(seed)
        self._build(check_image_rows(X, "BAGAN-GP"), int(np.max(y)) + 1)
        x, labels, gen = to_unit(X, device), torch.as_tensor(y, device=device), seeded(seed, device)
        steps = budget.steps(len(y))
        ae_steps = max(1, steps // 2)
        # 1. the supervised autoencoder
        params = [*self.encoder.parameters(), *self.embed.parameters(), *self.decoder.parameters()]
        optimiser = torch.optim.Adam(params, lr=1e-3)
        for idx in batches(len(y), budget, gen, device, ae_steps):
            loss = nn.functional.l1_loss(self.decoder(self.encoder(x[idx]) * self.embed(labels[idx])), x[idx])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
        # 2-3. the GAN: generator from the decoder and the embedding, critic from the encoder
        critic = Critic(self.encoder, self.num_classes).to(device)
        opt_d = torch.optim.Adam(critic.parameters(), lr=self.lr, betas=(0.5, 0.9))
        opt_g = torch.optim.Adam([*self.decoder.parameters(), *self.embed.parameters()], lr=self.lr, betas=(0.5, 0.9))
        self.decoder.train()
        for step, idx in enumerate(batches(len(y), budget, gen, device, max(1, steps - ae_steps))):
            real, c_real = x[idx], labels[idx]
            c_fake = torch.randint(self.num_classes, (len(idx),), generator=gen, device=device)
            c_wrong = torch.randint(self.num_classes, (len(idx),), generator=gen, device=device)
            fake = self.generate(self._codes(c_fake, gen), c_fake)
            gp = gradient_penalty(critic, real, fake.detach(), c_real, gen)
            loss_d = critic_loss(critic(real, c_real), critic(fake.detach(), c_fake), critic(real, c_wrong))
            loss_d = loss_d + GP_WEIGHT * gp
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            if (step + 1) % self.n_critic == 0:
                loss_g = generator_loss(critic(self.generate(self._codes(c_fake, gen), c_fake), c_fake))
                opt_g.zero_grad(set_to_none=True)
                loss_g.backward()
                opt_g.step()
        self.decoder.eval()

    def _codes(self, c: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """The generator's noise for labels ``c``: z ~ N(0, I) whatever the class (the label enters through
        the embedding in :meth:`generate`)."""
        return torch.randn((c.shape[0], self.latent_dim), generator=gen, device=c.device)

    @torch.no_grad()
    def sample(self, counts: dict[int, int], *, seed: int) -> np.ndarray:
        gen = seeded(seed, self.device)
        out = []
        for c, n in requested(counts, self.num_classes, "BAGAN-GP"):
            label = torch.full((n,), int(c), dtype=torch.long, device=self.device)
            z = self._codes(label, gen)
            out += [to_uint8(self.generate(z[s:s + 1024], label[s:s + 1024])) for s in range(0, n, 1024)]
        return np.concatenate(out) if out else np.zeros((0, *self.shape), np.uint8)

    def state_dict(self) -> dict[str, Any]:
        embed, decoder = module_state(self.embed, self.decoder)
        return {"shape": list(self.shape), "num_classes": self.num_classes, "embed": embed, "decoder": decoder}

    def load_state_dict(self, state: dict[str, Any], *, device: str = "cpu") -> None:
        self.device = device
        self._build(tuple(state["shape"]), int(state["num_classes"]))
        self.embed.load_state_dict(state["embed"]), self.decoder.load_state_dict(state["decoder"])
        self.decoder.eval()


@register_method(
    "bagan-gp",
    family="generative",
    modalities=("image",),
    engines=("deep",),
    summary="BAGAN-GP: a class-conditional WGAN-GP whose generator starts as a label-conditioned autoencoder's "
            "decoder and draws codes from per-class Gaussians; its minority images top classes up.",
    paper="\n".join((BAGAN_GP_BIB, BAGAN_BIB, WGAN_GP_BIB)),
    search_space=ratio_space,
    differences="DCGAN-style networks sized from the image shape (the paper's are fixed per dataset, 64x64), a "
                "64-dimensional code (the paper's 128); the suite's generator budget split in half between the "
                "autoencoder (Adam lr 1e-3; the authors' file 2e-4) and the GAN (each critic step is one batch; "
                "the authors' file takes 5 critic steps on one batch); the critic's label enters by "
                "concatenation (the authors' multiplies a projected embedding into the features) and it is "
                "initialised from the encoder as the paper says (the authors' file leaves it uninitialised); the "
                "penalty's interpolation weight is U(0, 1) as in the paper (the authors' file draws N(0, 1)); "
                "every class below the tuned target ratio is topped up (the paper balances fully).",
)
def bagan_gp(params: dict, ctx: MethodContext) -> Recipe:
    """BAGAN-GP (Huang and Jafari 2021; Mariani et al. 2018) as a generative over-sampler of training images."""
    width = image_width(ctx) // 2
    return Recipe(resample=GenerativeOversampler(lambda: BAGANGPGenerator(width=width), params.get("target_ratio", 1.0),
                                                 caption="BAGAN-GP"))
