"""FastDepth as one width-configurable PyTorch module (MobileNet-v1 encoder + light decoder).

Why one class: the paper's full model, its NetAdapt-pruned model and all decoder ablations
(Wofk et al., ICRA 2019, Sec. III and Tables III-V) differ only in per-layer widths and in
three decoder switches.  Keeping them in one constructor (like torchvision's mobilenet) means
the importer, MAC counter, trainer and exporter all handle every variant.

Attribute names deliberately mirror the official ``models.MobileNetSkipAdd`` of
dwofk/fast-depth (``conv0``..``conv13``, ``decode_conv1``..``decode_conv6``, same
``nn.Sequential`` indices) so an official ``state_dict`` loads into the default
``nnconv``/depthwise/``add`` configuration without renaming.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

#: Encoder strides of MobileNet-v1's 14 blocks (conv0 is a full 3x3 conv, the rest dw+pw).
ENCODER_STRIDES: tuple[int, ...] = (2, 1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1)
#: Encoder blocks whose outputs feed skips (1/2, 1/4, 1/8 resolution), as in the official
#: forward: decoder stage 4 <- conv1, stage 3 <- conv3, stage 2 <- conv5.
SKIP_SOURCES = {4: 1, 3: 3, 2: 5}

UPSAMPLE_KINDS = ("nnconv", "upconv", "upproj", "deconv")
SKIP_KINDS = ("add", "concat", "none")


@dataclass(frozen=True)
class Widths:
    """Output channels of the 14 encoder blocks and the 5 decoder stages."""

    encoder: tuple[int, ...]
    decoder: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.encoder) != 14 or len(self.decoder) != 5:
            raise ValueError("need 14 encoder widths and 5 decoder widths")


#: The paper's unpruned MobileNet + NNConv5 widths (1024 -> 512 -> ... -> 32).
FULL = Widths(
    encoder=(32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024),
    decoder=(512, 256, 128, 64, 32),
)
#: NetAdapt-pruned widths of the official ``mobilenet-nnconv5dw-skipadd-pruned`` model
#: (read from the reference layer table, ../shared/reference/fastdepth_pruned_ref_layers.json).
PRUNED = Widths(
    encoder=(16, 56, 88, 120, 144, 256, 408, 376, 272, 288, 296, 328, 480, 512),
    decoder=(200, 256, 120, 56, 16),
)
PRESETS = {"full": FULL, "pruned": PRUNED}


def unpool(x: torch.Tensor) -> torch.Tensor:
    """x2 'unpooling' of Laina et al.: each value at the top-left of a 2x2 block of zeros."""
    up = F.interpolate(x, scale_factor=2.0, mode="nearest")
    h, w = up.shape[-2], up.shape[-1]
    rows = (torch.arange(h, device=x.device) % 2 == 0).to(x.dtype)
    cols = (torch.arange(w, device=x.device) % 2 == 0).to(x.dtype)
    return up * (rows[:, None] * cols[None, :])


def conv_bn_act(
    cin: int,
    cout: int,
    kernel: int,
    stride: int = 1,
    groups: int = 1,
    relu6: bool = False,
    bn_eps: float = 1e-5,
) -> nn.Sequential:
    """Conv (no bias) + BatchNorm + ReLU(6): the unit every FastDepth layer is built from."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout, eps=bn_eps),
        nn.ReLU6(inplace=True) if relu6 else nn.ReLU(inplace=True),
    )


def mobilenet_block(cin: int, cout: int, stride: int, bn_eps: float = 1e-5) -> nn.Sequential:
    """MobileNet-v1 ``conv_dw``: 3x3 depthwise + 1x1 pointwise, flat Sequential of 6 like the
    official code (indices 0,1 / 3,4 hold conv/BN) so checkpoints map one-to-one."""
    dw = conv_bn_act(cin, cin, 3, stride, groups=cin, relu6=True, bn_eps=bn_eps)
    pw = conv_bn_act(cin, cout, 1, relu6=True, bn_eps=bn_eps)
    return nn.Sequential(*dw, *pw)


def decoder_conv(cin: int, cout: int, kernel: int, depthwise: bool) -> nn.Sequential:
    """The decoder's 5x5 convolution: depthwise+pointwise (paper's final choice) or standard."""
    if depthwise:
        return nn.Sequential(conv_bn_act(cin, cin, kernel, groups=cin), conv_bn_act(cin, cout, 1))
    return nn.Sequential(conv_bn_act(cin, cout, kernel))


class UpProj(nn.Module):
    """Up-projection (Laina et al.): unpool, then conv-BN-ReLU-conv3x3-BN plus a conv-BN
    shortcut, summed and ReLU'd."""

    def __init__(self, cin: int, cout: int, kernel: int, depthwise: bool) -> None:
        super().__init__()
        self.branch1 = nn.Sequential(
            *decoder_conv(cin, cout, kernel, depthwise),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
            nn.BatchNorm2d(cout),
        )
        shortcut = decoder_conv(cin, cout, kernel, depthwise)
        shortcut[-1][-1] = nn.Identity()  # no ReLU before the sum
        self.branch2 = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = unpool(x)
        return F.relu(self.branch1(x) + self.branch2(x))


def deconv_stage(cin: int, cout: int, kernel: int, depthwise: bool) -> nn.Sequential:
    """DeConv5: a stride-2 5x5 transposed convolution (depthwise variant: dw transposed conv
    followed by a pointwise conv)."""
    pad, out_pad = (kernel - 1) // 2, kernel % 2
    if depthwise:
        return nn.Sequential(
            nn.Sequential(
                nn.ConvTranspose2d(cin, cin, kernel, 2, pad, out_pad, groups=cin, bias=False),
                nn.BatchNorm2d(cin),
                nn.ReLU(inplace=True),
            ),
            conv_bn_act(cin, cout, 1),
        )
    return nn.Sequential(
        nn.Sequential(
            nn.ConvTranspose2d(cin, cout, kernel, 2, pad, out_pad, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )
    )


class FastDepth(nn.Module):
    """MobileNet-v1 encoder -> five x2 decoder stages -> 1x1 conv to metric depth.

    Args:
        encoder_widths: 14 output channel counts (conv0..conv13).
        decoder_widths: 5 output channel counts (decode_conv1..decode_conv5).
        upsample: ``nnconv`` (conv then nearest x2: NNConv5), ``upconv`` (unpool then conv),
            ``upproj`` (unpool then up-projection) or ``deconv`` (transposed conv: DeConv5).
        depthwise: depthwise-separable decoder convs (paper's final model) vs standard ones.
        skip: ``add`` (paper's final), ``concat`` or ``none`` for the 1/2, 1/4, 1/8 skips.
        decoder_kernel: decoder kernel size (5 in the paper).
        encoder_bn_eps: BatchNorm epsilon of the encoder (1e-3 for TF-slim ImageNet weights,
            see :mod:`.pretrained`; PyTorch's 1e-5 otherwise).  Export folds BN, so the ONNX
            graph does not depend on it.
    """

    def __init__(
        self,
        encoder_widths: Sequence[int] = PRUNED.encoder,
        decoder_widths: Sequence[int] = PRUNED.decoder,
        upsample: str = "nnconv",
        depthwise: bool = True,
        skip: str = "add",
        decoder_kernel: int = 5,
        encoder_bn_eps: float = 1e-5,
    ) -> None:
        super().__init__()
        widths = Widths(tuple(encoder_widths), tuple(decoder_widths))
        if upsample not in UPSAMPLE_KINDS:
            raise ValueError(f"upsample must be one of {UPSAMPLE_KINDS}")
        if skip not in SKIP_KINDS:
            raise ValueError(f"skip must be one of {SKIP_KINDS}")
        self.widths = widths
        self.upsample, self.depthwise, self.skip = upsample, depthwise, skip
        self.decoder_kernel = decoder_kernel
        self.encoder_bn_eps = encoder_bn_eps

        cin = 3
        for i, (cout, stride) in enumerate(zip(widths.encoder, ENCODER_STRIDES)):
            block = (
                conv_bn_act(cin, cout, 3, stride, relu6=True, bn_eps=encoder_bn_eps)
                if i == 0
                else mobilenet_block(cin, cout, stride, bn_eps=encoder_bn_eps)
            )
            setattr(self, f"conv{i}", block)
            cin = cout

        for stage, cout in enumerate(widths.decoder, start=1):
            if skip == "add" and stage in SKIP_SOURCES:
                src = widths.encoder[SKIP_SOURCES[stage]]
                if src != cout:
                    raise ValueError(
                        f"skip add needs decode_conv{stage} width {cout} == conv"
                        f"{SKIP_SOURCES[stage]} width {src}"
                    )
            setattr(self, f"decode_conv{stage}", self._stage(cin, cout))
            cin = cout
            if skip == "concat" and stage in SKIP_SOURCES:
                cin += widths.encoder[SKIP_SOURCES[stage]]
        self.decode_conv6 = conv_bn_act(cin, 1, 1)
        self._init_weights()

    def _stage(self, cin: int, cout: int) -> nn.Module:
        k, dw = self.decoder_kernel, self.depthwise
        if self.upsample in ("nnconv", "upconv"):
            return decoder_conv(cin, cout, k, dw)
        if self.upsample == "upproj":
            return UpProj(cin, cout, k, dw)
        return deconv_stage(cin, cout, k, dw)

    def _init_weights(self) -> None:
        """He init for convs, unit BN, as the official ``weights_init``."""
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def config(self) -> dict:
        """Constructor arguments, stored with checkpoints and in the model card."""
        return {
            "encoder_widths": list(self.widths.encoder),
            "decoder_widths": list(self.widths.decoder),
            "upsample": self.upsample,
            "depthwise": self.depthwise,
            "skip": self.skip,
            "decoder_kernel": self.decoder_kernel,
            "encoder_bn_eps": self.encoder_bn_eps,
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips: list[torch.Tensor | None] = [None] * 14
        for i in range(14):
            x = getattr(self, f"conv{i}")(x)
            skips[i] = x
        for stage in range(1, 6):
            layer = getattr(self, f"decode_conv{stage}")
            if self.upsample == "upconv":
                x = layer(unpool(x))
            else:
                x = layer(x)
                if self.upsample == "nnconv":
                    x = F.interpolate(x, scale_factor=2.0, mode="nearest")
            if stage in SKIP_SOURCES and self.skip != "none":
                s = skips[SKIP_SOURCES[stage]]
                x = x + s if self.skip == "add" else torch.cat([x, s], dim=1)
        return self.decode_conv6(x)


def build(preset: str = "pruned", **kwargs) -> FastDepth:
    """A FastDepth with named widths (``pruned`` or ``full``) and optional decoder switches."""
    widths = PRESETS[preset]
    return FastDepth(widths.encoder, widths.decoder, **kwargs)


def from_config(config: dict) -> FastDepth:
    """Inverse of :meth:`FastDepth.config`."""
    return FastDepth(**config)
