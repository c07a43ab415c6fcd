"""ImageNet encoder initialisation: tensors land where TF-slim had them, the input-scaling
fold is exact away from the padded border, pruned widths keep the strongest filters."""

from __future__ import annotations

import numpy as np
import pytest
from deps import need

torch = need("torch")

from fastdepth_ros.training import model as fd  # noqa: E402
from fastdepth_ros.training import pretrained  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def fake_weights(seed: int = 0) -> dict[str, np.ndarray]:
    """Random tensors with the npz's keys and shapes (MobileNet-v1 1.0)."""
    rng = np.random.default_rng(seed)
    w: dict[str, np.ndarray] = {}

    def conv_bn(name: str, shape: tuple) -> None:
        c = shape[0]
        w[f"{name}.conv.weight"] = rng.normal(0, 0.3, shape).astype(np.float32)
        w[f"{name}.bn.weight"] = rng.uniform(0.5, 2.0, c).astype(np.float32)
        w[f"{name}.bn.bias"] = rng.normal(0, 0.5, c).astype(np.float32)
        w[f"{name}.bn.running_mean"] = rng.normal(0, 0.5, c).astype(np.float32)
        w[f"{name}.bn.running_var"] = rng.uniform(0.1, 2.0, c).astype(np.float32)

    widths = fd.FULL.encoder
    conv_bn("conv0", (widths[0], 3, 3, 3))
    for i in range(1, 14):
        conv_bn(f"dw{i}", (widths[i - 1], 1, 3, 3))
        conv_bn(f"pw{i}", (widths[i], widths[i - 1], 1, 1))
    w["fc.weight"] = rng.normal(0, 0.1, (1001, 1024)).astype(np.float32)
    w["fc.bias"] = np.zeros(1001, np.float32)
    return w


def test_full_width_tensors_land_bit_exactly() -> None:
    w = fake_weights()
    m = fd.build("full", encoder_bn_eps=pretrained.TF_BN_EPS)
    kept = pretrained.load_imagenet_encoder(m, w)
    assert all(v == list(range(len(v))) for v in kept.values())
    for i in range(1, 14):
        block = getattr(m, f"conv{i}")
        assert np.array_equal(block[0].weight.detach().numpy(), w[f"dw{i}.conv.weight"])
        assert np.array_equal(block[3].weight.detach().numpy(), w[f"pw{i}.conv.weight"])
        for k in ("weight", "bias", "running_mean", "running_var"):
            assert np.array_equal(getattr(block[1], k).detach().numpy(), w[f"dw{i}.bn.{k}"])
            assert np.array_equal(getattr(block[4], k).detach().numpy(), w[f"pw{i}.bn.{k}"])
        assert block[1].eps == block[4].eps == pretrained.TF_BN_EPS
    # conv0 carries the input-scaling fold: W' = 2W, mean' = mean + sum(W)
    assert np.array_equal(m.conv0[0].weight.detach().numpy(), 2 * w["conv0.conv.weight"])
    expected_mean = w["conv0.bn.running_mean"] + w["conv0.conv.weight"].sum(axis=(1, 2, 3))
    assert np.allclose(m.conv0[1].running_mean.detach().numpy(), expected_mean, atol=1e-6)
    assert np.array_equal(m.conv0[1].running_var.detach().numpy(), w["conv0.bn.running_var"])


def test_input_scaling_fold_matches_tf_slim_preprocessing() -> None:
    """conv0 + BN on u = x/255 equals TF-slim's conv + BN(eps 1e-3) on x/127.5 - 1, except in the
    one-pixel border where the zero padding means a different colour in the two scales."""
    w = fake_weights(1)
    m = fd.build("full", encoder_bn_eps=pretrained.TF_BN_EPS).eval()
    pretrained.load_imagenet_encoder(m, w)
    u = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours = m.conv0[1](m.conv0[0](u))
        tf_in = 2 * u - 1
        y = torch.nn.functional.conv2d(tf_in, torch.from_numpy(w["conv0.conv.weight"]), stride=2, padding=1)
        g, b, mu, var = (torch.from_numpy(w[f"conv0.bn.{k}"])[None, :, None, None]
                         for k in ("weight", "bias", "running_mean", "running_var"))
        theirs = (y - mu) / torch.sqrt(var + 1e-3) * g + b
    inner = (slice(None), slice(None), slice(1, None), slice(1, None))  # stride 2: top/left ring padded
    assert torch.max(torch.abs(ours[inner] - theirs[inner])).item() < 1e-5
    assert torch.max(torch.abs(ours - theirs)).item() > 1e-3  # the border really differs


def test_pruned_widths_keep_the_largest_folded_filters_and_chain_them() -> None:
    w = fake_weights(2)
    m = fd.build("pruned", encoder_bn_eps=pretrained.TF_BN_EPS)
    kept = pretrained.load_imagenet_encoder(m, w)
    for i, width in enumerate(fd.PRUNED.encoder):
        assert len(kept[f"conv{i}"]) == width
    # conv1's pointwise outputs: the 56 of 64 with the largest |gamma|/sqrt(var+eps) * ||W||
    pw = w["pw1.conv.weight"]
    scale = np.abs(w["pw1.bn.weight"]) / np.sqrt(w["pw1.bn.running_var"] + 1e-3)
    norms = np.linalg.norm(pw.reshape(64, -1), axis=1) * scale
    assert set(kept["conv1"]) == set(np.argsort(-norms)[:56].tolist())
    # conv2's depthwise filters and pointwise inputs follow conv1's kept channels
    k1 = np.array(kept["conv1"])
    assert np.array_equal(m.conv2[0].weight.detach().numpy(), w["dw2.conv.weight"][k1])
    k2 = np.array(kept["conv2"])
    assert np.array_equal(m.conv2[3].weight.detach().numpy(), w["pw2.conv.weight"][k2][:, k1])


def test_wrong_bn_eps_is_refused() -> None:
    with pytest.raises(ValueError, match="encoder_bn_eps"):
        pretrained.load_imagenet_encoder(fd.build("full"), fake_weights())


def test_real_imagenet_weights_recognise_the_kitchen(imagenet_npz, realdata) -> None:
    """The shared ImageNet weights, loaded this way, still classify: a 7-Scenes kitchen frame
    gets 'desk' (ImageNet class 526, index 527 with background) among the top-5."""
    import cv2

    w = pretrained.load_npz(imagenet_npz)
    m = fd.build("full", encoder_bn_eps=pretrained.TF_BN_EPS).eval()
    pretrained.load_imagenet_encoder(m, w)
    bgr = cv2.imread(str(realdata / "7scenes_redkitchen" / "rgb" / "00000.jpg"))
    rgb = cv2.resize(bgr[:, :, ::-1], (224, 224), interpolation=cv2.INTER_AREA)
    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float()[None] / 255
    top5 = torch.topk(pretrained.imagenet_logits(m, w, x)[0], 5).indices.tolist()
    assert 527 in top5
