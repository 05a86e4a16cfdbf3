"""SelfHDR's training losses (SPEC §3–4), in torch.

Tensors are (B, C, H, W) float32: predictions and HDR targets in short-exposure
units [0, 1]; ``ldr_ref`` is the reference LDR frame I_r in [0, 1]. Every loss is
computed on the μ-law tone map T (SPEC §1).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from selfhdr_cli.errors import InputFileError
from selfhdr_cli.radiometry.mulaw import mu_law
from selfhdr_cli.radiometry.weighting import well_exposedness

SE_THRESHOLD = 5.0 / 255.0      # SPEC §3: structure-expansion mask threshold
COLOR_THRESHOLD = 10.0 / 255.0  # SPEC §4: color mask threshold
SP_WEIGHT = 4.0                 # SPEC §3: weight of L_sp


def structure_expansion_mask(y_color: torch.Tensor, h_ref: torch.Tensor, ldr_ref: torch.Tensor) -> torch.Tensor:
    """M_se: 1 where mean_c |w·T(Y_color) − w·T(H_r)| < 5/255, else 0 (SPEC §3).

    Tensors (B, 3, H, W): ``y_color`` and ``h_ref`` in short-exposure units, ``ldr_ref``
    = I_r in [0, 1] (w is its well-exposedness). Returns (B, 1, H, W) float 0/1.
    """
    w = well_exposedness(ldr_ref)
    d = (w * mu_law(y_color) - w * mu_law(h_ref)).abs().mean(dim=1, keepdim=True)
    return (d < SE_THRESHOLD).float()


def stage1_loss(pred: torch.Tensor, y_color: torch.Tensor, h_ref: torch.Tensor,
                ldr_ref: torch.Tensor, sp_weight: float = SP_WEIGHT) -> tuple[torch.Tensor, dict[str, float]]:
    """L_stage1 = L_se + L_sp (SPEC §3).

    L_se = mean |M_se·T(Ŷ) − M_se·T(Y_color)| (mean over all pixels),
    L_sp = ``sp_weight`` · mean |w·T(Ŷ) − w·T(H_r)|, ``sp_weight`` 4 in SPEC §3.
    Tensors (B, 3, H, W): ``pred`` Ŷ and ``y_color``, ``h_ref`` in short-exposure units,
    ``ldr_ref`` = I_r in [0, 1]. Returns (loss, {"se", "sp"} as floats for logging).
    """
    t_pred, t_color, t_ref = mu_law(pred), mu_law(y_color), mu_law(h_ref)
    mask = structure_expansion_mask(y_color, h_ref, ldr_ref)
    w = well_exposedness(ldr_ref)
    l_se = (mask * t_pred - mask * t_color).abs().mean()
    l_sp = sp_weight * (w * t_pred - w * t_ref).abs().mean()
    return l_se + l_sp, {"se": float(l_se.detach()), "sp": float(l_sp.detach())}


def color_mask(y_color: torch.Tensor, y_stru: torch.Tensor) -> torch.Tensor:
    """M_c: 1 where mean_c |T(Y_color) − T(Y_stru)| < 10/255, else 0 (SPEC §4).

    Tensors (B, 3, H, W) in short-exposure units; returns (B, 1, H, W) float 0/1.
    """
    d = (mu_law(y_color) - mu_law(y_stru)).abs().mean(dim=1, keepdim=True)
    return (d < COLOR_THRESHOLD).float()


def _gaussian_kernel(size: int, sigma: float) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-x ** 2 / (2 * sigma ** 2))
    return g / g.sum()


class StructureLoss(nn.Module):
    """The default, weight-free L_stru on μ-law images (SPEC §4).

    (1 − SSIM structure term on the channel mean) + Σ L1 over three Laplacian-pyramid detail
    bands per channel. The structure term s = (σ_xy + C3) / (σ_x σ_y + C3) ignores
    local mean and contrast, and detail bands drop the low-pass residual, so
    low-frequency color is left to L_color.
    """

    def __init__(self, levels: int = 3) -> None:
        super().__init__()
        self.levels = levels
        g = _gaussian_kernel(11, 1.5)
        self.register_buffer("window", (g[:, None] * g[None, :])[None, None], persistent=False)
        b = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0
        self.register_buffer("binomial", (b[:, None] * b[None, :])[None, None], persistent=False)
        self.c3 = (0.03 ** 2) / 2  # SSIM's C2/2 for data range 1

    def _blur(self, x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        pad = kernel.shape[-1] // 2
        return F.conv2d(F.pad(x, (pad,) * 4, mode="reflect"), kernel.expand(c, 1, -1, -1), groups=c)

    def structure_term(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        a = a.mean(dim=1, keepdim=True)
        b = b.mean(dim=1, keepdim=True)
        ma, mb = self._blur(a, self.window), self._blur(b, self.window)
        va = (self._blur(a * a, self.window) - ma * ma).clamp_min(0)
        vb = (self._blur(b * b, self.window) - mb * mb).clamp_min(0)
        cov = self._blur(a * b, self.window) - ma * mb
        return ((cov + self.c3) / (torch.sqrt(va * vb + 1e-12) + self.c3)).mean()

    def detail_bands(self, x: torch.Tensor) -> list[torch.Tensor]:
        bands = []
        for _ in range(self.levels):
            low = self._blur(x, self.binomial)
            bands.append(x - low)
            if min(low.shape[-2:]) < 8:
                break
            x = F.avg_pool2d(low, 2)
        return bands

    def forward(self, t_pred: torch.Tensor, t_target: torch.Tensor) -> torch.Tensor:
        detail = sum((p - q).abs().mean() for p, q in zip(self.detail_bands(t_pred), self.detail_bands(t_target)))
        return (1.0 - self.structure_term(t_pred, t_target)) + detail


# torchvision's vgg19().features: conv channels per block, pools between blocks
_VGG19_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512)
_VGG_LAYERS = {13: 1.0, 22: 1.0, 31: 2.0}  # relu3_2, relu4_2, relu5_2 and their weights (SPEC §4)
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


class VGGLoss(nn.Module):
    """The published L_stru: L1 between frozen VGG19 features (relu3_2, relu4_2,
    relu5_2; weights 1, 1, 2; sum / 4) of ImageNet-normalised T(·). Built without
    torchvision from a local torchvision-format state dict (``features.N.weight``)."""

    def __init__(self, weights_path: str | Path) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_ch = 3
        for item in _VGG19_CFG:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(in_ch, int(item), 3, padding=1), nn.ReLU(inplace=False)]
                in_ch = int(item)
        self.features = nn.Sequential(*layers)
        state = load_vgg19_state(weights_path)
        self.features.load_state_dict(state, strict=True)
        self.features.requires_grad_(False).eval()
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def _features(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        x = (x - self.mean) / self.std
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in _VGG_LAYERS:
                out.append(x)
        return out

    def forward(self, t_pred: torch.Tensor, t_target: torch.Tensor) -> torch.Tensor:
        weights = list(_VGG_LAYERS.values())
        fp, ft = self._features(t_pred), self._features(t_target.detach())
        return sum(w * (a - b).abs().mean() for w, a, b in zip(weights, fp, ft)) / 4.0


def load_vgg19_state(path: str | Path) -> dict[str, torch.Tensor]:
    """VGG19 ``features.*`` tensors from a torchvision state dict (``.pth`` loaded with
    weights_only=True, or ``.safetensors``); keys lose their ``features.`` prefix."""
    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            raw = load_file(str(path))
        else:
            raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise InputFileError(f"not a readable VGG19 state dict ({str(exc).splitlines()[0][:100]})", path) from None
    if not isinstance(raw, dict):
        raise InputFileError("not a state dict", path)
    state = {k[len("features."):]: v for k, v in raw.items() if k.startswith("features.")}
    if len(state) != 2 * 16:
        raise InputFileError(f"expected the 16 conv layers of VGG19 under 'features.', found {len(state) // 2}", path)
    return state


def stage2_loss(pred: torch.Tensor, y_color: torch.Tensor, y_stru: torch.Tensor,
                structure: nn.Module) -> tuple[torch.Tensor, dict[str, float]]:
    """L_stage2 = L_color + L_stru (SPEC §4).

    L_color = mean |M_c·T(Ŷ) − M_c·T(Y_color)| (mean over all pixels); L_stru is
    ``structure`` (``StructureLoss`` or ``VGGLoss``) on T(Ŷ) and T(Y_stru).
    Tensors (B, 3, H, W) in short-exposure units. Returns (loss, {"color", "stru"}).
    """
    t_pred, t_color, t_stru = mu_law(pred), mu_law(y_color), mu_law(y_stru)
    mask = color_mask(y_color, y_stru)
    l_color = (mask * t_pred - mask * t_color).abs().mean()
    l_stru = structure(t_pred, t_stru)
    return l_color + l_stru, {"color": float(l_color.detach()), "stru": float(l_stru.detach())}


def pseudo_pair_loss(pred: torch.Tensor, label: torch.Tensor, focus: torch.Tensor) -> torch.Tensor:
    """L1 in μ-law against a pseudo-pair's exact label, weighted: Σ f·|T(Ŷ) − T(Y)| / Σ f.

    ``pred``, ``label`` (B, 3, H, W) in short-exposure units; ``focus`` (B, 1, H, W) ≥ 1, larger
    where something moves over a clipped reference pixel (``training.pseudo_pairs``)."""
    weight = focus.expand_as(pred)
    return (weight * (mu_law(pred) - mu_law(label)).abs()).sum() / weight.sum()
