"""Architecture shapes for the paper's variants and the MAC/param counter vs the reference."""

from __future__ import annotations

import json

import pytest
from deps import need

torch = need("torch")

from fastdepth_ros.training import macs, model  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("upsample", model.UPSAMPLE_KINDS)
@pytest.mark.parametrize("depthwise", [True, False])
@pytest.mark.parametrize("skip", model.SKIP_KINDS)
def test_variant_output_shape(upsample: str, depthwise: bool, skip: str) -> None:
    # small widths keep 24 variants fast; the wiring is the same as at full width
    m = model.FastDepth(
        [8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 16, 16],
        [16, 8, 8, 8, 4],
        upsample=upsample,
        depthwise=depthwise,
        skip=skip,
    ).eval()
    with torch.no_grad():
        y = m(torch.rand(1, 3, 64, 96))
    assert y.shape == (1, 1, 64, 96)
    assert torch.all(y >= 0)


def test_presets_and_official_names() -> None:
    m = model.build("pruned")
    names = dict(m.named_parameters())
    assert names["conv0.0.weight"].shape == (16, 3, 3, 3)
    assert names["conv13.3.weight"].shape == (512, 480, 1, 1)
    assert names["decode_conv1.0.0.weight"].shape == (512, 1, 5, 5)
    assert names["decode_conv6.0.weight"].shape == (1, 16, 1, 1)
    assert model.from_config(m.config()).config() == m.config()


def test_skip_add_width_mismatch_is_rejected() -> None:
    with pytest.raises(ValueError, match="skip add"):
        model.FastDepth(model.FULL.encoder, [512, 200, 128, 64, 32])


def test_full_model_cost_matches_paper_order() -> None:
    # The paper's unpruned MobileNet-NNConv5 (depthwise decoder, skip add) is ~0.74 G MACs;
    # pin our exact counts so a change to the layer shapes is noticed.
    cost = macs.measure(model.build("full"))
    assert cost.params == 3_947_009
    assert cost.macs == 736_658_944


def test_pruned_cost_matches_reference_layer_table(reference) -> None:
    path = reference / "fastdepth_pruned_ref_layers.json"
    table = json.loads(path.read_text())
    cost = macs.measure(model.build("pruned"))
    assert cost.macs == table["macs"] == 366_393_384
    assert cost.params == table["params"] == 1_352_225
    convs = [layer for layer in table["layers"] if layer["type"] in ("conv", "dw", "pw")]
    ours = [m for m in model.build("pruned").modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c["cin"], c["cout"]) for c in convs] == [(m.in_channels, m.out_channels) for m in ours]
