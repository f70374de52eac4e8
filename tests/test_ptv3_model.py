"""PT-v3m1: structure and parameter counts of the reference configs, forward/backward, options."""
import pytest
import torch

from pointlab.models import build_model
from pointlab.models.ptv3 import DropPath, PointTransformerV3, SerializedPooling, SerializedUnpooling

BASE = dict(
    type="PT-v3m1", in_channels=6, order=("z", "z-trans", "hilbert", "hilbert-trans"), stride=(2, 2, 2, 2),
    enc_depths=(2, 2, 2, 6, 2), enc_channels=(32, 64, 128, 256, 512), enc_num_head=(2, 4, 8, 16, 32),
    enc_patch_size=(1024,) * 5, dec_depths=(2, 2, 2, 2), dec_channels=(64, 64, 128, 256), dec_num_head=(4, 4, 8, 16),
    dec_patch_size=(1024,) * 4, mlp_ratio=4, qkv_bias=True, qk_scale=None, attn_drop=0.0, proj_drop=0.0, drop_path=0.3,
    shuffle_orders=True, pre_norm=True, enable_rpe=False, enable_flash=True, upcast_attention=False, upcast_softmax=False,
    enc_mode=False, pdnorm_bn=False, pdnorm_ln=False, pdnorm_decouple=True, pdnorm_adaptive=False, pdnorm_affine=True,
    pdnorm_conditions=("ScanNet", "S3DIS", "Structured3D"),
)
EXTREME = dict(enc_depths=(3, 3, 3, 6, 3), enc_channels=(48, 96, 192, 384, 512), enc_num_head=(3, 6, 12, 24, 32),
               dec_depths=(3, 3, 3, 3), dec_channels=(64, 96, 192, 384), dec_num_head=(4, 6, 12, 24))
SMALL = dict(type="PT-v3m1", in_channels=6, order=("z", "z-trans", "hilbert", "hilbert-trans"), enc_depths=(1, 1, 1),
             enc_channels=(8, 16, 16), enc_num_head=(2, 2, 2), enc_patch_size=(16, 16, 16), stride=(2, 2),
             dec_depths=(1, 1), dec_channels=(8, 16), dec_num_head=(2, 2), dec_patch_size=(16, 16), drop_path=0.3)


def _meta(cfg):
    with torch.device("meta"):
        return build_model(cfg)


def _count(m):
    return sum(p.numel() for p in m.parameters() if p.requires_grad)


def test_full_size_scannet_segmentor_counts_and_keys():
    m = _meta(dict(type="DefaultSegmentorV2", num_classes=20, backbone_out_channels=64, backbone=BASE))
    sd = m.state_dict()
    assert _count(m) == 46_167_572 and _count(m.backbone) == 46_166_272 and len(sd) == 488
    shapes = {
        "seg_head.weight": (20, 64),
        "backbone.embedding.stem.conv.weight": (32, 5, 5, 5, 6),
        "backbone.embedding.stem.norm.running_var": (32,),
        "backbone.enc.enc0.block0.cpe.0.weight": (32, 3, 3, 3, 32),
        "backbone.enc.enc0.block0.cpe.0.bias": (32,),
        "backbone.enc.enc0.block0.cpe.1.weight": (32, 32),
        "backbone.enc.enc0.block0.cpe.2.weight": (32,),
        "backbone.enc.enc0.block0.attn.qkv.weight": (96, 32),
        "backbone.enc.enc0.block0.mlp.0.fc1.weight": (128, 32),
        "backbone.enc.enc1.down.proj.weight": (64, 32),
        "backbone.enc.enc1.down.norm.0.running_mean": (64,),
        "backbone.dec.dec3.up.proj.0.weight": (256, 512),
        "backbone.dec.dec3.up.proj_skip.1.weight": (256,),
        "backbone.dec.dec0.up.proj_skip.0.weight": (64, 32),
        "backbone.dec.dec0.block0.attn.qkv.weight": (192, 64),
    }
    for key, shape in shapes.items():
        assert tuple(sd[key].shape) == shape, key
    keys = list(sd)
    assert keys[:2] == ["seg_head.weight", "seg_head.bias"]
    dec = [k.split(".")[2] for k in keys if k.startswith("backbone.dec.")]
    assert list(dict.fromkeys(dec)) == ["dec3", "dec2", "dec1", "dec0"]
    per_stage = {s: sum(v.numel() for k, v in m.backbone.named_parameters() if k.startswith(s)) for s in ("embedding", "enc.enc0", "enc.enc4", "dec.dec3", "dec.dec0")}
    assert per_stage == {"embedding": 24_064, "enc.enc0": 83_008, "enc.enc4": 21_121_536, "dec.dec3": 5_449_728, "dec.dec0": 336_384}


def test_rpe_and_ppt_extreme_counts():
    assert _count(_meta(dict(BASE, enable_rpe=True, enable_flash=False))) == 46_213_900
    assert _count(_meta(dict(BASE, **EXTREME))) == 97_317_552
    pd = _meta(dict(BASE, **EXTREME, pdnorm_bn=True, pdnorm_ln=True))
    assert _count(pd) == 97_413_040
    keys = pd.state_dict()
    assert tuple(keys["embedding.stem.norm.norm.0.weight"].shape) == (48,)
    assert "enc.enc0.block0.cpe.2.norm.1.weight" in keys and "dec.dec0.up.proj_skip.1.norm.2.weight" in keys


def test_drop_path_rates_follow_the_reference():
    m = _meta(BASE)
    enc = [b.drop_path[0].drop_prob if isinstance(b.drop_path[0], DropPath) else 0.0 for n, b in m.enc.named_modules() if n.endswith(("block0", "block1", "block2", "block3", "block4", "block5"))]
    assert enc[0] == 0.0 and enc[-1] == pytest.approx(0.3) and enc == sorted(enc) and len(enc) == 14
    assert m.dec.dec0.block0.drop_path[0].drop_prob == pytest.approx(0.3 / 7)  # reversed slice of linspace(0, .3, 8)
    assert isinstance(m.dec.dec0.block1.drop_path[0], torch.nn.Identity)
    assert m.enc.enc1.block0.attn.order_index == 0 and m.enc.enc3.block5.attn.order_index == 1


def test_legacy_names_and_argument_checks():
    m = _meta(dict(BASE, order="z_trans", cls_mode=True))
    assert m.order == ["z-trans"] and m.enc_mode and not hasattr(m, "dec")
    with pytest.raises(Exception, match="enc_channels"):
        build_model(dict(SMALL, enc_channels=(8, 16)))
    with pytest.raises(Exception, match="valid orders"):
        build_model(dict(SMALL, order=("z", "snake")))


def _scene(sizes=(300, 180), seed=0):
    gen = torch.Generator().manual_seed(seed)
    grids = []
    for s in sizes:
        cells = torch.randperm(20 * 20 * 6, generator=gen)[:s]
        grids.append(torch.stack([cells // 120, (cells // 6) % 20, cells % 6], 1))
    grid = torch.cat(grids)
    n = len(grid)
    return dict(grid_coord=grid, coord=grid.float() * 0.05, feat=torch.randn(n, 6, generator=gen),
                offset=torch.tensor(sizes).cumsum(0), segment=torch.randint(0, 5, (n,), generator=gen))


def test_segmentor_train_step_every_parameter_gets_a_gradient():
    torch.manual_seed(0)
    model = build_model(dict(type="DefaultSegmentorV2", num_classes=5, backbone_out_channels=8, backbone=SMALL,
                             criteria=[dict(type="CrossEntropyLoss", ignore_index=-1), dict(type="LovaszLoss", mode="multiclass", ignore_index=-1)]))
    data = _scene()
    before = {k: v.clone() for k, v in data.items()}
    loss = model(data)["loss"]
    loss.backward()
    assert torch.isfinite(loss)
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing
    assert all(torch.equal(before[k], data[k]) for k in data) and set(data) == set(before)  # input untouched
    model.eval()
    with torch.no_grad():
        out = model({k: v for k, v in data.items() if k != "segment"})
    assert out["seg_logits"].shape == (480, 5)


def test_unpooling_leaves_skip_features_in_the_sparse_tensor():
    # the reference quirk: after unpooling, sparse_conv_feat holds proj_skip(parent) only
    torch.manual_seed(0)
    net = build_model(SMALL).eval()
    seen = {}
    up = net.dec.dec0.up

    def hook(module, args, out):
        seen["feat"], seen["sparse"] = out["feat"].clone(), out["sparse_conv_feat"].features.clone()

    h = up.register_forward_hook(hook)
    with torch.no_grad():
        net(_scene())
    h.remove()
    assert seen["feat"].shape == seen["sparse"].shape and not torch.allclose(seen["feat"], seen["sparse"])


def test_enc_mode_returns_coarse_point_and_segmentor_walks_back():
    torch.manual_seed(0)
    model = build_model(dict(type="DefaultSegmentorV2", num_classes=3, backbone_out_channels=8 + 16 + 16, backbone=dict(SMALL, enc_mode=True)))
    with torch.no_grad():
        out = model.eval()({k: v for k, v in _scene().items() if k != "segment"})
    assert out["seg_logits"].shape == (480, 3)


def test_deterministic_options_and_rng_dependence():
    data = {k: v for k, v in _scene().items() if k != "segment"}

    def run(net, seed):
        torch.manual_seed(seed)
        with torch.no_grad():
            return net(dict(data))["feat"]

    torch.manual_seed(0)
    ref = build_model(dict(SMALL, shuffle_orders=False, enable_flash=False)).eval()
    assert not torch.equal(run(ref, 0), run(ref, 1))  # pooling randperm in eval, as the reference
    torch.manual_seed(0)
    det = build_model(dict(SMALL, shuffle_orders=False, enable_flash=False, pool_shuffle_orders=False, fixed_patch=True)).eval()
    assert torch.equal(run(det, 0), run(det, 1))
    assert all(not m.shuffle_orders for m in det.modules() if isinstance(m, SerializedPooling))


def test_pdnorm_backbone_uses_the_condition():
    torch.manual_seed(0)
    net = build_model(dict(SMALL, pdnorm_bn=True, pdnorm_ln=True)).eval()
    for m in net.modules():  # make the per-dataset norms differ
        if isinstance(m, (torch.nn.LayerNorm, torch.nn.BatchNorm1d)) and m.weight is not None:
            torch.nn.init.normal_(m.weight, 1.0, 0.2)
    data = {k: v for k, v in _scene().items() if k != "segment"}
    with torch.no_grad():
        torch.manual_seed(0)
        a = net(dict(data, condition=["ScanNet", "ScanNet"]))["feat"]
        torch.manual_seed(0)
        b = net(dict(data, condition="S3DIS"))["feat"]
    assert a.shape == b.shape and not torch.allclose(a, b)
    with pytest.raises(Exception, match="condition"):
        net(dict(data))


def test_small_samples_and_single_point():
    torch.manual_seed(0)
    net = build_model(dict(SMALL, enable_flash=False)).eval()
    one = dict(grid_coord=torch.zeros(1, 3, dtype=torch.long), feat=torch.randn(1, 6), offset=torch.tensor([1]))
    with torch.no_grad():
        assert net(one)["feat"].shape == (1, 8)
        flash = build_model(SMALL).eval()
        tiny = _scene(sizes=(5, 200))  # a sample smaller than the patch size (16)
        assert torch.isfinite(flash({k: v for k, v in tiny.items() if k != "segment"})["feat"]).all()


def test_registered_class():
    from pointlab.registry import MODELS

    assert MODELS.get("PT-v3m1") is PointTransformerV3
    assert isinstance(build_model(SMALL).dec.dec1.up, SerializedUnpooling)


@pytest.mark.parametrize("path,classes", [("scannet", 20), ("s3dis", 13), ("structured3d", 25), ("synthetic", 20)])
def test_configs_build(path, classes):
    from pathlib import Path

    from pointlab.config import Config

    root = Path(__file__).resolve().parents[1] / "configs" / path
    name = "semseg-pt-v3m1-small.py" if path == "synthetic" else "semseg-pt-v3m1-0-base.py"
    cfg = Config.fromfile(str(root / name))
    m = _meta(cfg.model)
    assert cfg.data.num_classes == classes and m.seg_head.out_features == classes
    if path != "synthetic":
        assert _count(m.backbone) == 46_166_272 and cfg.param_dicts == [dict(keyword="block", lr=0.0006)]
