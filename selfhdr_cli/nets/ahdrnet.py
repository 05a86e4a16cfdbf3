"""AHDRNet (Yan et al., CVPR 2019) as specified in SPEC §5: the reference architecture."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class _DenseLayer(nn.Module):
    def __init__(self, channels: int, growth: int, dilation: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, growth, 3, padding=dilation, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, F.relu(self.conv(x))], dim=1)


class DilatedResidualDenseBlock(nn.Module):
    """5 dilated dense layers (growth 32, dilation 2), 1×1 fusion, residual."""

    def __init__(self, channels: int = 64, layers: int = 5, growth: int = 32, dilation: int = 2) -> None:
        super().__init__()
        self.dense = nn.Sequential(*[_DenseLayer(channels + i * growth, growth, dilation) for i in range(layers)])
        self.fuse = nn.Conv2d(channels + layers * growth, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fuse(self.dense(x))


class _Attention(nn.Module):
    def __init__(self, channels: int = 64) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(2 * channels, 2 * channels, 3, padding=1)
        self.conv2 = nn.Conv2d(2 * channels, channels, 3, padding=1)

    def forward(self, f_other: torch.Tensor, f_ref: torch.Tensor) -> torch.Tensor:
        a = F.leaky_relu(self.conv1(torch.cat([f_other, f_ref], dim=1)), 0.2)
        return f_other * torch.sigmoid(self.conv2(a))


class AHDRNet(nn.Module):
    """Attention-guided HDR network: (B, 3, 6, H, W) frames [H_k, I_k] → (B, 3, H, W) in [0, 1].

    Receptive field ≈ 37 px at full resolution; no internal downsampling, so any size works.
    """

    needs_alignment = False
    needs_guide = False
    stride = 1
    receptive_field = 64  # ≈ 37 px theoretical radius, with margin for the blending band

    def __init__(self, channels: int = 64, growth: int = 32, layers: int = 5, blocks: int = 3) -> None:
        super().__init__()
        self.config = {"channels": channels, "growth": growth, "layers": layers, "blocks": blocks}
        self.conv_in = nn.Conv2d(6, channels, 3, padding=1)
        self.att_short = _Attention(channels)
        self.att_long = _Attention(channels)
        self.merge = nn.Conv2d(3 * channels, channels, 3, padding=1)
        self.blocks = nn.ModuleList([DilatedResidualDenseBlock(channels, layers, growth) for _ in range(blocks)])
        self.gff1 = nn.Conv2d(blocks * channels, channels, 1)
        self.gff2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv_up = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv_out = nn.Conv2d(channels, 3, 3, padding=1)

    def forward(self, frames: torch.Tensor, aligned: torch.Tensor | None = None,
                guide: torch.Tensor | None = None) -> torch.Tensor:
        f_s, f_r, f_l = (F.relu(self.conv_in(frames[:, k])) for k in range(3))
        x = self.merge(torch.cat([self.att_short(f_s, f_r), f_r, self.att_long(f_l, f_r)], dim=1))
        outs = []
        for block in self.blocks:
            x = block(x)
            outs.append(x)
        x = self.gff2(self.gff1(torch.cat(outs, dim=1))) + f_r
        return torch.sigmoid(self.conv_out(F.relu(self.conv_up(x))))
