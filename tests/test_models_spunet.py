"""SpUNet-v1m1 structure (keys, shapes, parameter counts) and every registered model's forward/backward."""
import json
import os
from pathlib import Path

import pytest
import torch

from pointlab.models import build_model
from pointlab.registry import MODELS
from pointlab.structures import Point

_REPO = Path(__file__).resolve().parents[1]
# golden fixtures from the reference: $POINTLAB_FIXTURES, tests/fixtures, or the shared folder beside the repo
FIXTURES = next(
    (p for p in [Path(os.environ.get("POINTLAB_FIXTURES", "/nonexistent")), _REPO / "tests" / "fixtures", _REPO.parent / "shared" / "fixtures"] if (p / "spunet_v1m1_segmentor").is_dir()),
    None,
)
SPUNET_FIXTURE = FIXTURES / "spunet_v1m1_segmentor" if FIXTURES else None
needs_fixtures = pytest.mark.skipif(FIXTURES is None, reason="reference fixtures not found (set POINTLAB_FIXTURES)")

SCANNET_SPUNET = dict(
    type="DefaultSegmentor",
    backbone=dict(type="SpUNet-v1m1", in_channels=6, num_classes=20, channels=(32, 64, 128, 256, 256, 128, 96, 96), layers=(2, 3, 4, 6, 2, 2, 2, 2)),
    criteria=[dict(type="CrossEntropyLoss", loss_weight=1.0, ignore_index=-1)],
)
TINY_SPUNET = dict(type="SpUNet-v1m1", in_channels=6, num_classes=5, base_channels=8, channels=(8, 8, 16, 16, 16, 8, 8, 8), layers=(1, 1, 1, 1, 1, 1, 1, 1))

# one tiny config per registered model; a model registered without one is reported as skipped
TINY_CONFIGS = {
    "SpUNet-v1m1": TINY_SPUNET,
    "DefaultSegmentor": dict(type="DefaultSegmentor", backbone=TINY_SPUNET, criteria=[dict(type="CrossEntropyLoss", ignore_index=-1)]),
    "DefaultSegmentorV2": dict(
        type="DefaultSegmentorV2",
        num_classes=5,
        backbone_out_channels=8,
        backbone=dict(TINY_SPUNET, num_classes=0),
        criteria=[dict(type="CrossEntropyLoss", ignore_index=-1), dict(type="LovaszLoss", mode="multiclass", ignore_index=-1)],
    ),
}
_TINY_V1M3 = dict(
    type="SpUNet-v1m3", in_channels=6, num_classes=0, base_channels=8, context_channels=16, channels=(8, 8, 16, 16, 16, 16, 8, 8),
    layers=(1, 1, 1, 1, 1, 1, 1, 1), zero_init=False, norm_decouple=True, norm_adaptive=True, norm_affine=True,
)
_CE = [dict(type="CrossEntropyLoss", ignore_index=-1)]
TINY_CONFIGS.update({
    "SpUNet-v1m3": dict(_TINY_V1M3, norm_adaptive=False),  # adaptive norms need PPT's context
    "PPT-v1m1": dict(
        type="PPT-v1m1", backbone=_TINY_V1M3, criteria=_CE, backbone_out_channels=8, context_channels=16,
        class_embedding=torch.nn.functional.normalize(torch.randn(36, 32, generator=torch.Generator().manual_seed(0)), dim=1).numpy(),
    ),
    "PPT-v1m2": dict(type="PPT-v1m2", backbone=_TINY_V1M3, criteria=_CE, backbone_out_channels=8, context_channels=16, num_classes=(25, 20, 13)),
    "PT-v3m1": dict(
        type="PT-v3m1", in_channels=6, order=("z", "z-trans"), stride=(2, 2), enc_depths=(1, 1, 1), enc_channels=(8, 16, 16),
        enc_num_head=(2, 2, 2), enc_patch_size=(16, 16, 16), dec_depths=(1, 1), dec_channels=(8, 16), dec_num_head=(2, 2),
        dec_patch_size=(16, 16), drop_path=0.3, enable_flash=False,
    ),
    "PG-v1m1": dict(
        type="PG-v1m1", backbone=dict(TINY_SPUNET, num_classes=0), backbone_out_channels=8, semantic_num_classes=5,
        cluster_propose_points=3, cluster_min_points=2, voxel_size=0.02,
    ),
})
# models whose parameters depend on the dataset condition (per-dataset norms/heads) run every condition
CONDITIONS = ("ScanNet", "S3DIS", "Structured3D")


def tiny_batch(sizes=(300, 200), grid=12, in_channels=6, num_classes=5, seed=0, device="cpu"):
    """Random distinct voxels in a grid³ cube per sample, Pointcept's collated dict."""
    g = torch.Generator().manual_seed(seed)
    coords, segs = [], []
    for n in sizes:
        flat = torch.randperm(grid**3, generator=g)[:n]
        coords.append(torch.stack([flat // grid**2, (flat // grid) % grid, flat % grid], 1))
        segs.append(torch.randint(-1, num_classes, (n,), generator=g))
    grid_coord = torch.cat(coords)
    segment = torch.cat(segs)
    coord = grid_coord.float() * 0.02
    instance = torch.where(segment > 1, grid_coord[:, 0] // 4, -1)  # slabs as instances (for PointGroup)
    valid = instance >= 0
    sums = torch.zeros(grid, 3).index_add_(0, instance[valid], coord[valid])
    centroid = sums / torch.bincount(instance[valid], minlength=grid).clamp(min=1)[:, None]
    data = dict(
        coord=coord,
        grid_coord=grid_coord,
        feat=torch.rand(len(grid_coord), in_channels, generator=g),
        segment=segment,
        instance=instance,
        instance_centroid=torch.where(valid[:, None], centroid[instance.clamp(min=0)], -torch.ones_like(coord)),
        offset=torch.tensor(sizes).cumsum(0),
    )
    return {k: v.to(device) for k, v in data.items()}


def n_trainable(m):
    return sum(p.numel() for p in m.parameters() if p.requires_grad)


def test_full_size_scannet_parameter_count_and_keys():
    model = build_model(SCANNET_SPUNET)
    sd = model.state_dict()
    assert n_trainable(model) == 39_157_844
    assert len(sd) == 356
    assert sum(v.numel() for k, v in sd.items()) - n_trainable(model) == 17_211  # buffers
    shapes = {k: tuple(v.shape) for k, v in sd.items()}
    assert shapes["backbone.conv_input.0.weight"] == (32, 5, 5, 5, 6)
    assert shapes["backbone.down.3.0.weight"] == (256, 2, 2, 2, 128)
    assert shapes["backbone.up.0.0.weight"] == (96, 2, 2, 2, 96)
    assert shapes["backbone.up.3.0.weight"] == (256, 2, 2, 2, 256)
    assert shapes["backbone.dec.0.block0.proj.0.weight"] == (96, 1, 1, 1, 128)
    assert shapes["backbone.dec.0.block0.conv1.weight"] == (96, 3, 3, 3, 128)
    assert shapes["backbone.dec.3.block0.proj.0.weight"] == (256, 1, 1, 1, 384)
    assert shapes["backbone.final.weight"] == (20, 1, 1, 1, 96) and shapes["backbone.final.bias"] == (20,)
    assert shapes["backbone.conv_input.1.num_batches_tracked"] == ()
    # top-level order: conv_input, down, up, enc, dec, final; encoder blocks never have proj params
    order = list(dict.fromkeys(k.split(".")[1] for k in sd))
    assert order == ["conv_input", "down", "up", "enc", "dec", "final"]
    assert not any(k.startswith("backbone.enc.") and ".proj." in k for k in sd)
    # per-stage counts of 50-params.md
    stage = lambda prefix: sum(p.numel() for k, p in model.named_parameters() if k.startswith(prefix))
    assert [stage(f"backbone.enc.{s}.") for s in range(4)] == [110_848, 664_320, 3_540_992, 21_239_808]
    assert [stage(f"backbone.dec.{s}.") for s in range(4)] == [1_091_520, 1_091_520, 2_016_512, 8_063_488]


def test_other_head_sizes_match_reference_counts():
    cfg = dict(SCANNET_SPUNET["backbone"])
    assert n_trainable(build_model(dict(cfg, num_classes=13))) == 39_157_165
    backbone = build_model(dict(cfg, num_classes=0))  # PointGroup's backbone: final is an identity
    assert n_trainable(backbone) == 39_155_904
    assert not any(k.startswith("final") for k in backbone.state_dict())


@needs_fixtures
def test_fixture_checkpoint_matches_key_for_key():
    ckpt = torch.load(SPUNET_FIXTURE / "model_last.pth", map_location="cpu", weights_only=True)
    ref = {k[len("module."):]: tuple(v.shape) for k, v in ckpt["state_dict"].items()}
    ns = {}
    exec((SPUNET_FIXTURE / "config.py").read_text(), ns)
    model = build_model(ns["model"])
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert list(ours) == list(ref) and ours == ref
    counts = json.loads((FIXTURES / "reduced_param_counts.json").read_text())["models"]["spunet_v1m1_segmentor"]
    assert n_trainable(model) == counts["trainable"] == 636_356


def test_init_follows_reference():
    m = build_model(TINY_SPUNET)
    # submanifold convs: trunc-normal std 0.02 (timm's bounds ±2 are absolute, so ≈ plain normal)
    assert getattr(m.conv_input, "0").weight.std().item() == pytest.approx(0.02, rel=0.1)
    assert m.enc[0].block0.conv1.weight.std().item() == pytest.approx(0.02, rel=0.1)
    # strided convs keep the sparse-conv default (kaiming-uniform, a=√5): bound 1/√fan_in
    down = getattr(m.down[0], "0").weight
    assert down.abs().max().item() <= 1 / (8 * 8) ** 0.5 + 1e-6 and down.std().item() > 0.04
    assert torch.all(m.final.bias == 0)
    assert torch.all(getattr(m.conv_input, "1").weight == 1) and torch.all(getattr(m.conv_input, "1").bias == 0)
    bn = getattr(m.conv_input, "1")
    assert bn.eps == 1e-3 and bn.momentum == 0.01


def test_constructor_validation_and_cls_mode_alias():
    with pytest.raises(ValueError, match="same even length"):
        build_model(dict(TINY_SPUNET, layers=(1, 1, 1)))
    legacy = build_model(dict(TINY_SPUNET, cls_mode=True))
    assert legacy.enc_mode and legacy.dec is None
    with pytest.raises(ValueError, match="cls_mode"):
        build_model(dict(TINY_SPUNET, enc_mode=True, cls_mode=False))


# every model pointlab itself registers (other test modules register toys of their own)
@pytest.mark.parametrize(
    "name", sorted(n for n, cls in MODELS.module_dict.items() if cls.__module__.startswith("pointlab."))
)
def test_registered_model_forward_backward(name):
    assert name in TINY_CONFIGS, f"no tiny config for registered model '{name}'; add one to TINY_CONFIGS"
    torch.manual_seed(0)
    model = build_model(TINY_CONFIGS[name]).train()
    for i, condition in enumerate(CONDITIONS):
        if i > 0 and all(p.grad is not None for p in model.parameters() if p.requires_grad):
            break  # the other conditions only matter for per-dataset norms/heads
        out = model(dict(tiny_batch(), condition=[condition, condition]))
        if isinstance(out, dict) and not isinstance(out, Point):
            assert "loss" in out and "seg_logits" not in out  # training returns losses only
            loss = out["loss"]
        else:  # a backbone: per-point features (a tensor or a Point)
            feat = out if isinstance(out, torch.Tensor) else out["feat"]
            assert feat.shape[0] == 500
            loss = feat.square().mean()
        assert torch.isfinite(loss), condition
        loss.backward()
    no_grad = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not no_grad, f"parameters without gradient: {no_grad[:5]}"
    bad = [n for n, p in model.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
    assert not bad, f"non-finite gradients: {bad[:5]}"
    assert sum(p.grad.abs().sum().item() for p in model.parameters() if p.grad is not None) > 0


@pytest.mark.parametrize("name", ["DefaultSegmentor", "DefaultSegmentorV2"])
def test_segmentor_output_conventions(name):
    torch.manual_seed(0)
    model = build_model(TINY_CONFIGS[name]).eval()
    data = tiny_batch()
    with torch.no_grad():
        with_labels = model(dict(data))
        no_labels = model({k: v for k, v in data.items() if k != "segment"})
    assert set(with_labels) == {"loss", "seg_logits"} and set(no_labels) == {"seg_logits"}
    assert with_labels["seg_logits"].shape == (500, 5)
    assert torch.equal(with_labels["seg_logits"], no_labels["seg_logits"])  # eval is deterministic
    expected = torch.nn.functional.cross_entropy(with_labels["seg_logits"], data["segment"], ignore_index=-1)
    if name == "DefaultSegmentor":
        assert torch.allclose(with_labels["loss"], expected)
    with pytest.raises(KeyError, match="segment"):
        model.train()({k: v for k, v in data.items() if k != "segment"})


def test_condition_list_is_accepted_and_input_not_modified():
    model = build_model(TINY_CONFIGS["DefaultSegmentor"]).eval()
    data = {k: v for k, v in tiny_batch().items() if k in ("coord", "grid_coord", "feat", "offset")}
    data["condition"] = ["ScanNet", "ScanNet"]
    with torch.no_grad():
        out = model(data)
    assert data["condition"] == ["ScanNet", "ScanNet"] and out["seg_logits"].shape == (500, 5)


def test_enc_mode_pools_per_sample():
    model = build_model(dict(TINY_SPUNET, enc_mode=True)).eval()
    assert model.dec is None and len(model.up) == 0
    with torch.no_grad():
        out = model(tiny_batch(sizes=(120, 80, 50)))
    assert out.shape == (3, 5) and torch.isfinite(out).all()


def test_bad_inputs_name_the_fix():
    model = build_model(TINY_SPUNET)
    data = tiny_batch(in_channels=9)
    with pytest.raises(ValueError, match="in_channels=6"):
        model(data)
    with pytest.raises(KeyError, match="grid_coord"):
        model({k: v for k, v in tiny_batch().items() if k != "grid_coord"})


def test_unknown_model_type_suggests_close_name():
    with pytest.raises(KeyError, match="SpUNet-v1m1"):
        build_model(dict(type="SpUNet-v1m2x", in_channels=6, num_classes=20))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    torch.manual_seed(0)
    model = build_model(TINY_CONFIGS["DefaultSegmentor"]).eval()
    data = tiny_batch()
    with torch.no_grad():
        cpu = model(dict(data))["seg_logits"]
        gpu = model.cuda()(tiny_batch(device="cuda"))["seg_logits"]
    assert gpu.device.type == "cuda" and torch.allclose(cpu, gpu.cpu(), atol=1e-4)


def test_norm_factory_subclass_sees_the_condition():
    """A later SpUNet version binds another norm factory; condition-aware norms get the batch condition."""
    from pointlab import sparse as spconv
    from pointlab.models.spunet import CONDITION_KEY, SpUNetBase

    seen = []

    class CondNorm(spconv.SparseModule):
        def __init__(self, c):
            super().__init__()
            self.bn = torch.nn.BatchNorm1d(c)

        def forward(self, x):
            seen.append(x.indice_dict[CONDITION_KEY][0])
            return x.replace_feature(self.bn(x.features))

    class CondUNet(SpUNetBase):
        norm_fn = staticmethod(CondNorm)

    cfg = {k: v for k, v in TINY_SPUNET.items() if k != "type"}
    model = CondUNet(**cfg).eval()
    assert "conv_input.1.bn.running_mean" in model.state_dict()
    data = tiny_batch()
    data["condition"] = ["S3DIS", "S3DIS"]
    with torch.no_grad():
        out = model(data)
    n_norms = sum(isinstance(m, CondNorm) for m in model.modules())
    assert out.shape == (500, 5) and len(seen) == n_norms and set(seen) == {"S3DIS"}
