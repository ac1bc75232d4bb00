"""Self-supervised pre-training by rotation prediction (``ssp-rotation``): Yang & Xu's SSP with Gidaris's task.

Gidaris et al. (2018) train a network to tell which of four rotations (0, 90, 180, 270 degrees) an
image shows: to name the rotation it has to find the objects' orientation, which needs their shape.
Yang & Xu (2020) use this task as the first stage on the long-tailed training images, without labels,
and then train the classifier as usual from the pre-trained weights; the gain is largest on the tail.

Views as Yang & Xu's code draws them (``utils.rotation`` of imbalanced-semi-self): each image of a
batch is rotated once, the batch's rotation labels a random arrangement of 0, 1, 2, 3 repeated, so
every rotation is a quarter of the batch; B images give B inputs (equal compute with a supervised
step). The pretext head is a linear layer on the backbone's features (their network with four
outputs), trained with cross-entropy.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.errors import BenchmarkError
from benchmark.methods._papers import GIDARIS_BIB, YANG_XU_BIB
from benchmark.methods.base import MethodContext, Recipe, register_method
from benchmark.methods.self_supervised._pretext import checked_share, suggest_share

ROTATIONS = 4  # 0, 90, 180 and 270 degrees: pretext labels 0..3 (quarter turns counter-clockwise)


def balanced_rotation_labels(n: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """``n`` rotation labels: a random arrangement of 0, 1, 2, 3 repeated (each a quarter of the batch,
    up to one), as Yang & Xu draw them; from ``generator`` only (a sort of uniform draws, no host sync)."""
    pool = torch.arange(ROTATIONS * -(-n // ROTATIONS), device=device) % ROTATIONS
    order = torch.rand(pool.numel(), generator=generator, device=device).argsort()
    return pool[order][:n]


def rotate(x: torch.Tensor, quarter_turns: torch.Tensor) -> torch.Tensor:
    """Each image ``x[i]`` (B, C, H, W with H == W) turned by ``quarter_turns[i]`` x 90 degrees, as
    ``torch.rot90(x[i], k, dims=(-2, -1))``."""
    if x.dim() != 4 or x.shape[-1] != x.shape[-2]:
        raise BenchmarkError(f"rotation prediction needs square images (B, C, H, H), got {tuple(x.shape)}",
                             "run ssp-rotation on square images (its applies_to refuses other datasets)")
    k = quarter_turns.view(-1, 1, 1, 1)
    out = x
    for q in range(1, ROTATIONS):
        out = torch.where(k == q, torch.rot90(x, q, dims=(-2, -1)), out)
    return out


class RotationPrediction:
    """The ``pretrain`` component: predict each image's rotation (0/90/180/270 degrees) from its features.

    ``share``: the fraction of the suite's epochs the pretext stage takes. ``graph_safe``: its views are
    tensor operations drawing only from the generator the engine passes (the trial's generator, which
    the step runner registers with captured CUDA graphs), and its loss is plain cross-entropy.
    """

    graph_safe = True

    def __init__(self, share: float):
        self.share = checked_share(share)

    def head(self, feature_dim: int, spec) -> nn.Module:
        """A linear layer from the features to the four rotation logits."""
        return nn.Linear(feature_dim, ROTATIONS)

    def views(self, x: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(each image rotated once, its rotation label in 0..3)."""
        labels = balanced_rotation_labels(x.shape[0], generator, x.device)
        return rotate(x, labels), labels

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(outputs, targets)


def square_images(split) -> str | None:
    """``applies_to``: a 90-degree rotation of an H x W image with H != W is W x H, which the backbone
    built for H x W inputs cannot take."""
    shape = tuple(split.train.X.shape[2:]) if split.modality == "image" else ()
    if split.modality == "image" and (len(shape) != 2 or shape[0] != shape[1]):
        return (f"rotation prediction turns images by 90 degrees, which changes the shape of {split.dataset}'s "
                f"non-square {'x'.join(map(str, shape))} images")
    return None


@register_method(
    "ssp-rotation",
    family="self-supervised",
    modalities=("image",),
    engines=("deep",),
    summary="Self-supervised pre-training (SSP): the backbone first learns to predict which of four rotations "
            "each training image shows, without labels, then trains as usual from those weights. Images only: "
            "text and tabular rows have no rotations.",
    paper=YANG_XU_BIB + "\n" + GIDARIS_BIB,
    search_space=lambda trial, ctx: {"share": suggest_share(trial)},
    applies_to=square_images,
    differences="Yang & Xu pre-train for 200 epochs and then train for 200 more; here the pretext stage takes a "
                "tuned 20-50% of the suite's epochs (each of the usual sample count), so the row trains as many "
                "samples as the baseline. Each image of a batch is rotated once (labels a shuffled 0, 1, 2, 3 "
                "repeated ceil(B / 4) times, each rotation a quarter of the batch up to one; their code takes the "
                "first B of [0, 1, 2, 3] * (B // 4 + 1) shuffled, the same when 4 does not divide B, a batch that "
                "need not hold every rotation equally often when it does), so B images are B forward passes; Gidaris et al. instead feed all "
                "four rotations of each image (4B passes per B images). The pretext head is one linear layer on "
                "the backbone's features and is dropped after the stage; the supervised head starts from its "
                "initialisation. Pre-training uses the original training rows (before any re-sampling of a "
                "combined row) and the suite's optimiser and learning rate.",
)
def ssp_rotation(params: dict, ctx: MethodContext) -> Recipe:
    """SSP with rotation prediction (Yang & Xu 2020; Gidaris et al. 2018)."""
    return Recipe(pretrain=RotationPrediction(params.get("share", 0.3)))
