"""Small SSD-style face-mask detectors for CPU edge inference (heads at strides 8/16/32/64).

- `SiagaNet` (arch "v1"): a depthwise-separable backbone with one receptive-field block, laid out
  like UltraFace's RFB network (Linzaer, MIT licence) so that its masked-face weights can start the
  training; the code here is Siaga's own.
- `SiagaNetV2` (arch "v2"): plain 3x3 convolution + batch norm + ReLU throughout, channel counts
  that are multiples of 16. No depthwise layers: onnxruntime's x86 INT8 kernels (VNNI) gain about
  2x on dense convolutions and nothing on depthwise ones, so this network's INT8 file is the fast
  one. Trained from random initialisation.
Both share anchors, output layout and decoding, so everything after the backbone is common.
"""

from __future__ import annotations

import torch
from torch import nn

# Anchor sizes in input pixels, per head (strides 8, 16, 32, 64).
ANCHOR_SIZES: tuple[tuple[int, ...], ...] = ((10, 16, 24), (32, 48), (64, 96), (128, 192, 256))
STRIDES: tuple[int, ...] = (8, 16, 32, 64)
# Output columns in order; matches the pretrained head (face without mask = "no_mask").
LABELS: tuple[str, ...] = ("background", "no_mask", "mask")
CENTER_VARIANCE = 0.1
SIZE_VARIANCE = 0.2


def conv_bn(cin: int, cout: int, stride: int) -> nn.Sequential:
    """3x3 conv, batch norm, ReLU."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


def conv_dw(cin: int, cout: int, stride: int) -> nn.Sequential:
    """Depthwise 3x3 then pointwise 1x1, each with batch norm and ReLU."""
    return nn.Sequential(
        nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False),
        nn.BatchNorm2d(cin),
        nn.ReLU(inplace=True),
        nn.Conv2d(cin, cout, 1, 1, 0, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


def separable(cin: int, cout: int, *, stride: int = 1) -> nn.Sequential:
    """Depthwise 3x3 (with bias), ReLU, pointwise 1x1 (with bias); used by heads and extras."""
    return nn.Sequential(
        nn.Conv2d(cin, cin, 3, stride, 1, groups=cin),
        nn.ReLU(inplace=True),
        nn.Conv2d(cin, cout, 1),
    )


class ConvNorm(nn.Module):
    """Conv (no bias) + batch norm, optional ReLU; the unit of the receptive-field block."""

    def __init__(
        self, cin: int, cout: int, k: int, *, pad: int = 0, dil: int = 1, relu: bool = True
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, 1, pad, dilation=dil, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=1e-5, momentum=0.01)
        self.relu: nn.Module = nn.ReLU(inplace=True) if relu else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


class ReceptiveFieldBlock(nn.Module):
    """Three branches with growing dilation (2, 3, 5), concatenated, plus a 1x1 shortcut."""

    def __init__(self, channels: int, reduce: int = 8) -> None:
        super().__init__()
        mid = channels // reduce
        self.branch0 = nn.Sequential(
            ConvNorm(channels, mid, 1, relu=False),
            ConvNorm(mid, 2 * mid, 3, pad=1),
            ConvNorm(2 * mid, 2 * mid, 3, pad=2, dil=2, relu=False),
        )
        self.branch1 = nn.Sequential(
            ConvNorm(channels, mid, 1, relu=False),
            ConvNorm(mid, 2 * mid, 3, pad=1),
            ConvNorm(2 * mid, 2 * mid, 3, pad=3, dil=3, relu=False),
        )
        self.branch2 = nn.Sequential(
            ConvNorm(channels, mid, 1, relu=False),
            ConvNorm(mid, (mid // 2) * 3, 3, pad=1),
            ConvNorm((mid // 2) * 3, 2 * mid, 3, pad=1),
            ConvNorm(2 * mid, 2 * mid, 3, pad=5, dil=5, relu=False),
        )
        self.ConvLinear = ConvNorm(6 * mid, channels, 1, relu=False)
        self.shortcut = ConvNorm(channels, channels, 1, relu=False)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cat = torch.cat([self.branch0(x), self.branch1(x), self.branch2(x)], dim=1)
        return self.relu(self.ConvLinear(cat) + self.shortcut(x))


class HeadedNet(nn.Module):
    """Backbone with three taps + one extra stage, four heads; raw (logits, offsets) per anchor.

    Subclasses set `base_net` (taps at strides 8/16/32 after the layers `taps` index), `extras`
    (one stride-2 stage to 64), `classification_headers` and `regression_headers`.
    """

    num_classes: int
    base_net: nn.Sequential
    taps: tuple[int, int, int]
    extras: nn.ModuleList
    classification_headers: nn.ModuleList
    regression_headers: nn.ModuleList

    def _head(self, i: int, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b = x.shape[0]
        cls = self.classification_headers[i](x).permute(0, 2, 3, 1).reshape(b, -1, self.num_classes)
        reg = self.regression_headers[i](x).permute(0, 2, 3, 1).reshape(b, -1, 4)
        return cls, reg

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Image batch (N,3,H,W), normalised → logits (N,A,C), offsets (N,A,4)."""
        outs: list[tuple[torch.Tensor, torch.Tensor]] = []
        start = 0
        for i, end in enumerate(self.taps):
            for layer in list(self.base_net)[start:end]:
                x = layer(x)
            start = end
            outs.append(self._head(i, x))
        x = self.extras[0](x)
        outs.append(self._head(len(self.taps), x))
        return torch.cat([o[0] for o in outs], 1), torch.cat([o[1] for o in outs], 1)


class SiagaNet(HeadedNet):
    """Arch "v1": depthwise-separable backbone in UltraFace RFB-640's layout (its keys load)."""

    def __init__(self, num_classes: int = len(LABELS)) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.base_net = nn.Sequential(
            conv_bn(3, 16, 2),
            conv_dw(16, 32, 1),
            conv_dw(32, 32, 2),
            conv_dw(32, 32, 1),
            conv_dw(32, 64, 2),
            conv_dw(64, 64, 1),
            conv_dw(64, 64, 1),
            ReceptiveFieldBlock(64),  # stride 8 output ends here (index 7)
            conv_dw(64, 128, 2),
            conv_dw(128, 128, 1),
            conv_dw(128, 128, 1),  # stride 16 (index 10)
            conv_dw(128, 256, 2),
            conv_dw(256, 256, 1),  # stride 32 (index 12)
        )
        self.taps = (8, 11, 13)
        self.extras = nn.ModuleList(
            [
                nn.Sequential(
                    nn.Conv2d(256, 64, 1),
                    nn.ReLU(inplace=True),
                    separable(64, 256, stride=2),
                    nn.ReLU(inplace=True),
                )
            ]
        )
        counts = [len(s) for s in ANCHOR_SIZES]
        chans = (64, 128, 256)
        self.classification_headers = nn.ModuleList(
            [separable(c, n * num_classes) for c, n in zip(chans, counts, strict=False)]
            + [nn.Conv2d(256, counts[3] * num_classes, 3, padding=1)]
        )
        self.regression_headers = nn.ModuleList(
            [separable(c, n * 4) for c, n in zip(chans, counts, strict=False)]
            + [nn.Conv2d(256, counts[3] * 4, 3, padding=1)]
        )


class SiagaNetV2(HeadedNet):
    """Arch "v2": plain 3x3 conv-BN-ReLU stages, 16-32-64-128-256 channels (INT8-friendly).

    `repeats`: extra stride-1 convolutions in the stride-4, 8, 16 and 32 stages.
    """

    def __init__(
        self, num_classes: int = len(LABELS), repeats: tuple[int, int, int, int] = (0, 2, 1, 0)
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        widths = (32, 64, 128, 256)  # stride 4, 8, 16, 32
        layers: list[nn.Module] = [conv_bn(3, 16, 2)]
        cin, ends = 16, []
        for width, extra in zip(widths, repeats, strict=True):
            layers.append(conv_bn(cin, width, 2))
            layers += [conv_bn(width, width, 1) for _ in range(extra)]
            cin = width
            ends.append(len(layers))
        self.base_net = nn.Sequential(*layers)
        self.taps = (ends[1], ends[2], ends[3])
        self.extras = nn.ModuleList(
            [
                nn.Sequential(
                    nn.Conv2d(256, 64, 1),
                    nn.ReLU(inplace=True),
                    nn.Conv2d(64, 256, 3, 2, 1),
                    nn.ReLU(inplace=True),
                )
            ]
        )
        counts = [len(s) for s in ANCHOR_SIZES]
        heads = list(zip((64, 128, 256, 256), counts, strict=True))
        self.classification_headers = nn.ModuleList(
            [nn.Conv2d(c, n * num_classes, 3, padding=1) for c, n in heads]
        )
        self.regression_headers = nn.ModuleList(
            [nn.Conv2d(c, n * 4, 3, padding=1) for c, n in heads]
        )


ARCHS: dict[str, type[HeadedNet]] = {"v1": SiagaNet, "v2": SiagaNetV2}


def build_net(arch: str) -> HeadedNet:
    """A fresh network of the named architecture."""
    if arch not in ARCHS:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}")
    return ARCHS[arch]()


def feature_sizes(width: int, height: int) -> list[tuple[int, int]]:
    """(w, h) of each head's feature map for an input size (conv arithmetic, ceil per stride 2)."""
    sizes = []
    w, h = width, height
    for _ in range(3):  # stem, then two stride-2 stages before the stride-8 head
        w, h = (w + 1) // 2, (h + 1) // 2
    for _ in STRIDES:
        sizes.append((w, h))
        w, h = (w + 1) // 2, (h + 1) // 2
    return sizes


def make_priors(width: int, height: int) -> torch.Tensor:
    """Anchors (A, 4) as normalised (cx, cy, w, h), in the heads' output order."""
    rows = []
    for (fw, fh), sizes in zip(feature_sizes(width, height), ANCHOR_SIZES, strict=True):
        # Centres on the feature map's own grid (a ceil'd map covers slightly more than stride).
        ys, xs = torch.meshgrid(torch.arange(fh), torch.arange(fw), indexing="ij")
        cx = (xs.reshape(-1).float() + 0.5) / fw
        cy = (ys.reshape(-1).float() + 0.5) / fh
        for_cell = []
        for s in sizes:
            wh = torch.tensor([s / width, s / height]).expand(cx.numel(), 2)
            for_cell.append(torch.cat([torch.stack([cx, cy], 1), wh], 1))
        rows.append(torch.stack(for_cell, 1).reshape(-1, 4))
    return torch.cat(rows, 0).clamp(0.0, 1.0)


def decode_boxes(offsets: torch.Tensor, priors: torch.Tensor) -> torch.Tensor:
    """Offsets (..., A, 4) + priors (A, 4) cxcywh → normalised xyxy boxes (..., A, 4)."""
    centre = offsets[..., :2] * CENTER_VARIANCE * priors[..., 2:] + priors[..., :2]
    size = torch.exp(offsets[..., 2:] * SIZE_VARIANCE) * priors[..., 2:]
    return torch.cat([centre - size / 2, centre + size / 2], dim=-1)


def encode_boxes(boxes_xyxy: torch.Tensor, priors: torch.Tensor) -> torch.Tensor:
    """Inverse of decode_boxes: normalised xyxy (A, 4) matched to priors → offsets (A, 4)."""
    centre = (boxes_xyxy[..., :2] + boxes_xyxy[..., 2:]) / 2
    size = (boxes_xyxy[..., 2:] - boxes_xyxy[..., :2]).clamp(min=1e-6)
    d_centre = (centre - priors[..., :2]) / (CENTER_VARIANCE * priors[..., 2:])
    d_size = torch.log(size / priors[..., 2:]) / SIZE_VARIANCE
    return torch.cat([d_centre, d_size], dim=-1)


class Deployable(nn.Module):
    """The exported graph: normalised image → softmax `scores` and normalised xyxy `boxes`."""

    priors: torch.Tensor

    def __init__(self, net: HeadedNet, width: int, height: int) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("priors", make_priors(width, height), persistent=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, offsets = self.net(x)
        return torch.softmax(logits, dim=-1), decode_boxes(offsets, self.priors)
