"""ResNet-32 for 32x32 images: the CIFAR ResNet of He et al. (2016) used throughout the long-tail literature.

Three stages of five basic blocks (16, 32 and 64 channels; the second and third stage halve the
resolution), a global average pool and a linear head: 464,154 parameters for 10 classes. Shortcuts
that change shape are "option A" of the paper (stride-2 subsampling and zero-padded channels, no
parameters), as in the LDAM-DRW, BBN and decoupling (cRT, tau-norm) code bases; weights get
Kaiming-normal initialisation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.models.base import Backbone, register_model


class PadShortcut(nn.Module):
    """Option-A shortcut: subsample by 2 and zero-pad the new channels (no parameters)."""

    def __init__(self, extra_channels: int):
        super().__init__()
        self.pad = extra_channels // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with a residual connection."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = PadShortcut(out_channels - in_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


def cifar_resnet_features(in_channels: int, blocks_per_stage: int, widths=(16, 32, 64)) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False),
                               nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True)]
    channels = widths[0]
    for stage, width in enumerate(widths):
        for block in range(blocks_per_stage):
            stride = 2 if stage > 0 and block == 0 else 1
            layers.append(BasicBlock(channels, width, stride))
            channels = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers)


def kaiming_init(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            nn.init.kaiming_normal_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class CifarResNet(Backbone):
    def reset_head(self) -> None:  # re-initialised heads (cRT and friends) get the same init as at the start
        kaiming_init(self.head)


@register_model("resnet32")
def resnet32(spec, num_classes: int) -> Backbone:
    """ResNet-32 (He, Zhang, Ren, Sun 2016, "Deep Residual Learning for Image Recognition", section 4.2):
    6n+2 layers with n=5 for 32x32 inputs (other sizes work: the pool is adaptive)."""
    channels = spec.shape[0]
    model = CifarResNet(cifar_resnet_features(channels, 5), nn.Linear(64, num_classes))
    kaiming_init(model)
    return model
