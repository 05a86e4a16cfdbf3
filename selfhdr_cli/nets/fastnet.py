"""FastNet: the default, CPU-fast network — align and decide at low resolution, fuse
explicitly at full resolution (the SAFNet idea, Kong et al. ECCV 2024, simplified).

Alignment is a fixed, non-learned layer: the DIS optical flow of the color component
(``align.py``), passed in as ``aligned`` frames. At 1/4 resolution a small U-Net looks
at the aligned frames and predicts per-channel fusion weights for the three frames and
a few context features; at full resolution the aligned HDR frames are fused with those
weights and a 3-layer convolution refines the result in the μ-law domain.

The fusion logits start from the color component's per-pixel triangle weights
(SPEC §2.4) as a prior — log w — to which the network adds a low-resolution correction
(where a frame is misaligned or occluded) and a per-pixel 1×1 correction. Low-resolution
weights alone cannot follow the reference's pixel-sharp saturation edges, and an
untrained FastNet is exactly Y_color. Everything
heavy runs on 1/16 of the pixels, so the cost is ~10 k MAC per output pixel
(AHDRNet: 1.25 M).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from selfhdr_cli.radiometry.mulaw import inverse_mu_law, mu_law
from selfhdr_cli.radiometry.weighting import triangle_weights


GUIDED_FRAME_PRIOR = 0.02  # each frame's prior fusion weight in a guided FastNet; Y_color has the rest
FLOW_SCALE = 4.0  # px of residual flow per unit of the head's output (flow=True): larger first steps


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1), nn.LeakyReLU(0.1, inplace=True))


class FastNet(nn.Module):
    """(B, 3, 6, H, W) frames [H_k, I_k] (+ the same, aligned) → (B, 3, H, W) in [0, 1].

    H and W must be multiples of ``stride`` (16); inference pads to it.
    """

    needs_alignment = True
    reads_unaligned = False  # of ``frames`` only the reference, which the aligned tensor holds unchanged
    stride = 16
    receptive_field = 96  # radius in full-resolution px: pooling, 1/16-scale convs, bilinear ups, refinement

    def __init__(self, width: int = 32, context: int = 4, refine: int = 8, guide: bool = False,
                 flow: bool = False) -> None:
        super().__init__()
        self.config = {"width": width, "context": context, "refine": refine}
        if guide:  # only when set: older weights files keep their exact config
            self.config["guide"] = True
        if flow:
            self.config["flow"] = True
        self.needs_guide = guide
        # a residual flow of the short and the long frame (px, at 1/4 resolution, upsampled) that moves them
        # before fusion, where the fixed alignment layer left them wrong (a clipped reference has no texture)
        self.flow = flow
        w = width
        self.context = context
        self.candidates = 4 if guide else 3
        extra = 4 if guide else 0  # T(Y_color) and the gate
        self.enc1 = nn.Sequential(_conv(18 + extra, w), _conv(w, w))
        self.enc2 = nn.Sequential(_conv(w, w + w // 2, 2), _conv(w + w // 2, w + w // 2))
        self.enc3 = nn.Sequential(_conv(w + w // 2, 2 * w, 2), _conv(2 * w, 2 * w), _conv(2 * w, 2 * w))
        self.dec2 = _conv(2 * w + w + w // 2, w + w // 2)
        self.dec1 = _conv(w + w // 2 + w, w)
        logits = 3 * self.candidates
        self.head = nn.Conv2d(w, logits + context + (4 if flow else 0), 3, padding=1)
        self.pixel_logits = nn.Conv2d(9 + (1 if guide else 0), logits, 1)
        self.refine = nn.Sequential(_conv(9 + context + (1 if guide else 0), refine), _conv(refine, refine),
                                    nn.Conv2d(refine, 3, 3, padding=1))
        # start as the color component: triangle-weight fusion, no correction, no refinement
        for layer in (self.refine[-1], self.pixel_logits):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        with torch.no_grad():
            self.head.weight[:logits].zero_()
            self.head.bias[:logits].zero_()
            self.head.weight[logits + context:].zero_()  # no residual flow to start with
            self.head.bias[logits + context:].zero_()

    def forward(self, frames: torch.Tensor, aligned: torch.Tensor | None = None,
                guide: torch.Tensor | None = None) -> torch.Tensor:
        """``guide`` (B, 4, H, W): Y_color (short-exposure units) and the static gate in [0, 1];
        required by a guided FastNet, ignored otherwise."""
        if aligned is None:  # alignment is a fixed layer of this network, never skipped silently
            raise ValueError("FastNet needs the flow-aligned frames: pass aligned (the frames themselves "
                             "when they are already aligned)")
        if self.needs_guide and guide is None:
            raise ValueError("this FastNet was trained with the guide (Y_color and the static gate): pass guide")
        h = aligned[:, :, :3]            # (B, 3, 3, H, W) aligned HDR, short-exposure units
        ldr = aligned[:, :, 3:]          # aligned LDR
        ref_ldr = frames[:, 1, 3:]
        t_h = mu_law(h)
        x = torch.cat([t_h[:, 0], ldr[:, 0], t_h[:, 1], ldr[:, 1], t_h[:, 2], ldr[:, 2]], dim=1)
        if self.needs_guide:
            y_color, gate = guide[:, :3], guide[:, 3:4]
            x = torch.cat([x, mu_law(y_color), gate], dim=1)
        full = x.shape[-2:]
        low = F.avg_pool2d(x, 4)
        e1 = self.enc1(low)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        d2 = self.dec2(torch.cat([F.interpolate(e3, size=e2.shape[-2:], mode="bilinear", align_corners=False), e2], 1))
        d1 = self.dec1(torch.cat([F.interpolate(d2, size=e1.shape[-2:], mode="bilinear", align_corners=False), e1], 1))
        head = F.interpolate(self.head(d1), size=full, mode="bilinear", align_corners=False)
        b, n = head.shape[0], 3 * self.candidates
        if self.flow:
            aligned = warp_outer_frames(aligned, head[:, n + self.context:] * FLOW_SCALE)
            h, ldr = aligned[:, :, :3], aligned[:, :, 3:]
        x_ref = ref_ldr.clamp(0.0, 1.0)
        pixel_in = [ldr[:, 0], x_ref, ldr[:, 2]]
        if self.needs_guide:
            # the prior puts nearly all weight on Y_color (an untrained guided FastNet is within 6 % of
            # it where frames disagree, and exactly it elsewhere); not all of it, or the softmax would
            # pass no gradient to the frames' logits
            # (a constant per candidate: broadcast, not a full-resolution tensor)
            prior = torch.tensor([GUIDED_FRAME_PRIOR] * 3 + [1 - 3 * GUIDED_FRAME_PRIOR], dtype=x_ref.dtype,
                                 device=x_ref.device).view(1, 4, 1, 1, 1)
            h = torch.cat([h, y_color[:, None]], dim=1)
            pixel_in += [gate]
        else:
            prior = torch.stack(triangle_weights(x_ref), 1)  # SPEC §2.4: an untrained FastNet is Y_color
        pixel = self.pixel_logits(torch.cat(pixel_in, dim=1))
        logits = torch.log(prior + 1e-4) + (head[:, :n] + pixel).view(b, self.candidates, 3, *full)
        weights = torch.softmax(logits, dim=1)  # (B, candidate, channel, H, W)
        fused = (weights * h).sum(dim=1)
        t_fused = mu_law(fused).clamp(1e-4, 1 - 1e-4)
        refine_in = [t_fused, t_h[:, 1], ref_ldr, head[:, n:n + self.context]] + ([gate] if self.needs_guide else [])
        residual = self.refine(torch.cat(refine_in, dim=1))
        t_out = torch.sigmoid(torch.logit(t_fused) + residual)
        out = inverse_mu_law(t_out).clamp(0.0, 1.0)
        if self.needs_guide:
            out = gate * y_color.clamp(0.0, 1.0) + (1 - gate) * out
        return out


def warp_outer_frames(aligned: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """(B, 3, C, H, W) frames with the first and the last moved by ``flow`` (B, 4, H, W): (dx, dy) in
    px for each, sampled bilinearly at (x + dx, y + dy) with the coordinates clamped to the image."""
    _, _, _, height, width = aligned.shape
    ys, xs = torch.meshgrid(torch.arange(height, dtype=flow.dtype, device=flow.device),
                            torch.arange(width, dtype=flow.dtype, device=flow.device), indexing="ij")

    def moved(frame: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
        grid = torch.stack([2 * (xs + dx) / max(width - 1, 1) - 1, 2 * (ys + dy) / max(height - 1, 1) - 1], dim=-1)
        return F.grid_sample(frame, grid, mode="bilinear", padding_mode="border", align_corners=True)

    return torch.stack([moved(aligned[:, 0], flow[:, 0], flow[:, 1]), aligned[:, 1],
                        moved(aligned[:, 2], flow[:, 2], flow[:, 3])], dim=1)
