"""pointlab.sparse against dense torch convolutions, gradcheck, kernel-map reuse and edge cases."""

import pytest
import torch
import torch.nn.functional as F

import pointlab.sparse.functional as spf
from pointlab.sparse import (
    Identity,
    SparseConv3d,
    SparseConvTensor,
    SparseInverseConv3d,
    SparseSequential,
    SubMConv3d,
)

SHAPE = (7, 6, 5)


def random_tensor(c=3, batch_size=3, empty=(1,), density=0.3, dtype=torch.float64, seed=0, shape=SHAPE):
    """Random unique voxels in ``batch_size`` grids; batches listed in ``empty`` get none."""
    g = torch.Generator().manual_seed(seed)
    grid = torch.stack(torch.meshgrid(*[torch.arange(s) for s in shape], indexing="ij"), -1).reshape(-1, 3)
    rows = []
    for b in range(batch_size):
        if b in empty:
            continue
        keep = torch.rand(grid.shape[0], generator=g) < density
        sel = grid[keep]
        rows.append(torch.cat([torch.full((sel.shape[0], 1), b), sel], 1))
    idx = torch.cat(rows)[torch.randperm(sum(r.shape[0] for r in rows), generator=g)].int()
    feats = torch.randn(idx.shape[0], c, generator=g, dtype=dtype)
    return SparseConvTensor(feats, idx, shape, batch_size)


def at_sites(dense, indices):
    i = indices.long()
    return dense[i[:, 0], :, i[:, 1], i[:, 2], i[:, 3]]


def randomize(conv, dtype, seed=1):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=g))
        if conv.bias is not None:
            conv.bias.copy_(torch.randn(conv.bias.shape, generator=g))
    return conv.to(dtype)


@pytest.fixture
def small_chunks(monkeypatch):
    """Force many small chunks whose boundaries cut through kernel offsets."""
    monkeypatch.setattr(spf, "_rows_for", lambda channels, dtype: 7)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("k,dil,bias", [(3, 1, True), (5, 1, False), (3, 2, True)])
def test_subm_matches_dense_conv3d(dtype, k, dil, bias):
    x = random_tensor(c=4, dtype=dtype)
    conv = randomize(SubMConv3d(4, 5, k, padding=1, dilation=dil, bias=bias), dtype)
    y = conv(x)
    ref = F.conv3d(x.dense(), conv.weight.permute(0, 4, 1, 2, 3), conv.bias, padding=(k // 2) * dil, dilation=dil)
    assert torch.equal(y.indices, x.indices)
    tol = 1e-10 if dtype == torch.float64 else 1e-4
    torch.testing.assert_close(y.features, at_sites(ref, x.indices), atol=tol, rtol=tol)


def test_subm_sorted_lookup_path_matches_table_path(monkeypatch):
    import pointlab.sparse.kernel_map as km

    x = random_tensor(c=3, seed=11)
    conv = randomize(SubMConv3d(3, 4, 3), torch.float64)
    ref = conv(x).features
    monkeypatch.setattr(km, "_TABLE_PER_VOXEL", 0)
    monkeypatch.setattr(km, "_TABLE_MIN", 0)
    x.indice_dict.clear()
    torch.testing.assert_close(conv(x).features, ref)


@pytest.mark.parametrize("shift,shape", [((40, 50, 60), (60, 70, 80)), ((70000, 3, 90000), (70010, 9, 90010))])
@pytest.mark.parametrize("k", [3, 2])
def test_subm_map_is_translation_invariant(shift, shape, k):
    """Far from the origin (large packed-key offsets; int64 keys when the grid is huge) a submanifold
    map has exactly the pairs of the same voxels near the origin, for odd and even kernels."""
    from pointlab.sparse.kernel_map import build_subm_map

    x = random_tensor(c=1, batch_size=2, empty=(), density=0.4, seed=13, shape=(5, 4, 6))
    moved = x.indices.long() + torch.tensor([0, *shift])
    near = build_subm_map(x.indices, x.spatial_shape, 2, k)
    far = build_subm_map(moved.int(), shape, 2, k)
    assert near.segments == far.segments and len(near.segments) > 0
    assert torch.equal(near.in_idx, far.in_idx) and torch.equal(near.out_idx, far.out_idx)


def test_subm_map_with_a_huge_occupied_box_uses_wide_keys():
    """One voxel far away makes the occupied box > 2^31 cells (64-bit keys, sorted look-up); the
    cluster's pairs must not change and the far voxel has no neighbours."""
    from pointlab.sparse.kernel_map import build_subm_map

    x = random_tensor(c=1, batch_size=1, empty=(), density=0.5, seed=17, shape=(5, 4, 6))
    far = torch.tensor([[0, 90000, 90000, 90000]], dtype=torch.int32)
    both = torch.cat([x.indices, far])
    ref = build_subm_map(x.indices, x.spatial_shape, 1, 3)
    got = build_subm_map(both, (90001, 90001, 90001), 1, 3)
    assert got.segments == ref.segments and len(ref.segments) > 0

    def pairs(m, a, b):  # the sorted look-up lists a segment's pairs in key order: compare as sets
        o = m.out_idx[a:b].sort()
        return o.values, m.in_idx[a:b][o.indices]

    for _, a, b in ref.segments:
        for u, v in zip(pairs(got, a, b), pairs(ref, a, b)):
            assert torch.equal(u, v)


def test_subm_chunked_equals_unchunked(small_chunks):
    x = random_tensor(c=3)
    conv = randomize(SubMConv3d(3, 4, 3), torch.float64)
    ref = F.conv3d(x.dense(), conv.weight.permute(0, 4, 1, 2, 3), conv.bias, padding=1)
    torch.testing.assert_close(conv(x).features, at_sites(ref, x.indices))


@pytest.mark.parametrize("dtype,shape", [(torch.float32, (8, 6, 8)), (torch.float64, (8, 6, 8)),
                                         (torch.float64, (7, 6, 5))])
def test_strided_and_inverse_match_dense(dtype, shape):
    x = random_tensor(c=3, dtype=dtype, shape=shape)
    down = randomize(SparseConv3d(3, 4, 2, stride=2, bias=True, indice_key="sp1"), dtype)
    up = randomize(SparseInverseConv3d(4, 2, 2, indice_key="sp1", bias=True), dtype, seed=2)
    y = down(x)
    # Output set = {p // 2}, numbered by first appearance in input order (spconv CPU rulebook order).
    coarse = torch.cat([x.indices[:, :1], x.indices[:, 1:] // 2], 1)
    first = []
    seen = set()
    out_shape = [s // 2 for s in shape]  # dense conv3d drops a trailing partial window
    for row in coarse.tolist():
        if tuple(row) not in seen and all(c < m for c, m in zip(row[1:], out_shape)):
            seen.add(tuple(row))
            first.append(row)
    assert y.indices.tolist() == first
    assert y.spatial_shape == out_shape
    ref = F.conv3d(x.dense(), down.weight.permute(0, 4, 1, 2, 3), down.bias, stride=2)
    tol = 1e-10 if dtype == torch.float64 else 1e-4
    torch.testing.assert_close(y.features, at_sites(ref, y.indices), atol=tol, rtol=tol)

    z = up(y)
    assert torch.equal(z.indices, x.indices) and z.spatial_shape == list(x.spatial_shape)
    assert y.indices.dtype == x.indices.dtype == z.indices.dtype
    # out[p] = W'[:, p % 2, :] @ y[p // 2]  ==  conv_transpose3d with weight [C_in, C_out, k, k, k]
    ref_up = F.conv_transpose3d(y.dense(), up.weight.permute(4, 0, 1, 2, 3), up.bias, stride=2,
                                output_padding=[s % 2 for s in shape])
    torch.testing.assert_close(z.features, at_sites(ref_up, x.indices), atol=tol, rtol=tol)


def test_general_strided_conv_matches_dense():
    x = random_tensor(c=2, shape=(9, 8, 7))
    conv = randomize(SparseConv3d(2, 3, 3, stride=2, padding=1, bias=False), torch.float64)
    y = conv(x)
    ref = F.conv3d(x.dense(), conv.weight.permute(0, 4, 1, 2, 3), None, stride=2, padding=1)
    assert y.spatial_shape == list(ref.shape[2:])
    torch.testing.assert_close(y.features, at_sites(ref, y.indices))
    # every dense output with an active input in its window is present, and only those
    support = F.conv3d(x.dense().abs().sum(1, keepdim=True), torch.ones(1, 1, 3, 3, 3, dtype=torch.float64),
                       stride=2, padding=1)
    assert int((support > 0).sum()) == y.indices.shape[0]


def test_conv1x1_uses_raw_reshape_of_weight():
    x = random_tensor(c=4, dtype=torch.float32)
    conv = randomize(SubMConv3d(4, 6, 1, padding=1, bias=True), torch.float32)
    y = conv(x)
    expected = x.features @ conv.weight.reshape(4, 6) + conv.bias
    torch.testing.assert_close(y.features, expected)
    transposed = x.features @ conv.weight.reshape(6, 4).t() + conv.bias
    assert not torch.allclose(y.features, transposed)


def _maps_and_inputs():
    x = random_tensor(c=2, density=0.12, seed=3, shape=(5, 4, 6))
    subm = randomize(SubMConv3d(2, 3, 3, bias=True, indice_key="s"), torch.float64)
    down = randomize(SparseConv3d(3, 2, 2, stride=2, bias=True, indice_key="d"), torch.float64)
    up = randomize(SparseInverseConv3d(2, 2, 2, indice_key="d", bias=True), torch.float64)
    y = subm(x)
    z = down(y)
    up(z)
    return [(x.indice_dict["s"], x.features, subm), (x.indice_dict["d"], y.features.detach(), down),
            (x.indice_dict["d"].inverse(), z.features.detach(), up)]


def test_gradcheck_subm_strided_inverse():
    for kmap, feat, conv in _maps_and_inputs():
        inputs = (feat.clone().requires_grad_(True), conv.weight.detach().clone().requires_grad_(True),
                  conv.bias.detach().clone().requires_grad_(True))
        assert torch.autograd.gradcheck(lambda f, w, b: spf.sparse_conv(f, w, b, kmap), inputs, fast_mode=True)


def test_chunked_backward_equals_unchunked(monkeypatch):
    def grads():
        res = []
        for kmap, feat, conv in _maps_and_inputs():
            f = feat.clone().requires_grad_(True)
            w = conv.weight.detach().clone().requires_grad_(True)
            out = spf.sparse_conv(f, w, None, kmap)
            res += list(torch.autograd.grad((out * out.detach().cos()).sum(), (f, w)))
        return res

    full = grads()
    monkeypatch.setattr(spf, "_rows_for", lambda channels, dtype: 5)
    for a, b in zip(full, grads()):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("rows", [None, 5])
def test_single_gradient_paths_equal_joint_backward(monkeypatch, rows):
    """Frozen weights (grad of features only) and a first layer (grad of weights only) take their own
    backward paths; each must give what the joint (shared-gather) backward gives."""
    if rows is not None:
        monkeypatch.setattr(spf, "_rows_for", lambda channels, dtype: rows)
    for kmap, feat, conv in _maps_and_inputs():
        g = torch.randn(kmap.n_out, conv.weight.shape[0], dtype=feat.dtype)
        f = feat.clone().requires_grad_(True)
        w = conv.weight.detach().clone().requires_grad_(True)
        joint = torch.autograd.grad((spf.sparse_conv(f, w, None, kmap) * g).sum(), (f, w))
        (only_x,) = torch.autograd.grad((spf.sparse_conv(f, w.detach(), None, kmap) * g).sum(), (f,))
        (only_w,) = torch.autograd.grad((spf.sparse_conv(f.detach(), w, None, kmap) * g).sum(), (w,))
        torch.testing.assert_close(only_x, joint[0])
        torch.testing.assert_close(only_w, joint[1])
        assert joint[1].abs().sum() > 0 and joint[0].abs().sum() > 0


def test_backward_matches_dense_autograd():
    x = random_tensor(c=3, dtype=torch.float64, seed=5)
    conv = randomize(SubMConv3d(3, 4, 3, bias=True), torch.float64)
    feat = x.features.clone().requires_grad_(True)
    out = conv(x.replace_feature(feat)).features
    g = torch.randn_like(out)
    (out * g).sum().backward()
    feat2 = x.features.clone().requires_grad_(True)
    w2 = conv.weight.detach().clone().requires_grad_(True)
    dense = x.replace_feature(feat2).dense()
    ref = at_sites(F.conv3d(dense, w2.permute(0, 4, 1, 2, 3), padding=1), x.indices) + conv.bias.detach()
    (ref * g).sum().backward()
    torch.testing.assert_close(feat.grad, feat2.grad)
    torch.testing.assert_close(conv.weight.grad, w2.grad)
    torch.testing.assert_close(conv.bias.grad, g.sum(0))


def test_empty_input_forward_backward():
    feats = torch.zeros(0, 3, requires_grad=True)
    x = SparseConvTensor(feats, torch.zeros(0, 4, dtype=torch.int32), SHAPE, 2)
    net = SparseSequential(SubMConv3d(3, 4, 3, indice_key="a"), torch.nn.ReLU(),
                           SparseConv3d(4, 5, 2, stride=2, indice_key="b"),
                           SparseInverseConv3d(5, 4, 2, indice_key="b"), SubMConv3d(4, 2, 1))
    y = net(x)
    assert y.features.shape == (0, 2)
    y.features.sum().backward()
    assert feats.grad.shape == (0, 3)


def test_kernel_map_cached_and_reuse_errors():
    x = random_tensor(c=3, dtype=torch.float32)
    a = SubMConv3d(3, 3, 3, indice_key="subm1")
    b = SubMConv3d(3, 3, 3, indice_key="subm1")
    y = b(a(x))
    assert list(y.indice_dict) == ["subm1"] and y.indice_dict is x.indice_dict
    with pytest.raises(ValueError, match=r"kernel_size=\[5, 5, 5\]"):
        SubMConv3d(3, 3, 5, indice_key="subm1")(y)
    with pytest.raises(KeyError, match="subm1"):
        SparseInverseConv3d(3, 3, 2, indice_key="spconv9")(y)
    with pytest.raises(ValueError, match="in_channels"):
        SubMConv3d(4, 3, 3)(y)


def test_out_of_range_indices_are_rejected():
    x = random_tensor(c=1, dtype=torch.float32)
    bad = SparseConvTensor(x.features, x.indices, (3, 3, 3), x.batch_size)
    with pytest.raises(ValueError, match="spatial_shape"):
        SubMConv3d(1, 1, 3)(bad)


def test_sequential_names_and_feature_modules():
    seq = SparseSequential(SubMConv3d(3, 4, 3, bias=False, indice_key="stem"),
                           torch.nn.BatchNorm1d(4, eps=1e-3, momentum=0.01), torch.nn.ReLU())
    keys = list(seq.state_dict())
    assert keys[0] == "0.weight" and "1.running_mean" in keys and len(seq) == 3
    x = random_tensor(c=3, dtype=torch.float32)
    y = seq(x)
    assert (y.features >= 0).all() and y.features.shape == (x.features.shape[0], 4)
    from collections import OrderedDict

    named = SparseSequential(OrderedDict(conv=SubMConv3d(3, 4, 3), norm=torch.nn.LayerNorm(4)))
    assert list(named.state_dict())[:2] == ["conv.weight", "conv.bias"]
    assert Identity()(y) is y and len(Identity().state_dict()) == 0


def test_deterministic_across_runs_and_threads():
    x = random_tensor(c=16, dtype=torch.float32, density=0.5, shape=(12, 12, 12), seed=7)
    conv = randomize(SubMConv3d(16, 16, 3), torch.float32)
    feat = x.features.clone().requires_grad_(True)
    outs, grads = [], []
    old = torch.get_num_threads()
    try:
        for threads in (1, 2, 2):
            torch.set_num_threads(threads)
            xx = x.replace_feature(feat)
            xx.indice_dict = {}
            o = conv(xx).features
            (g,) = torch.autograd.grad(o.square().sum(), feat)
            outs.append(o.detach())
            grads.append(g)
    finally:
        torch.set_num_threads(old)
    assert torch.equal(outs[1], outs[2]) and torch.equal(grads[1], grads[2])
    torch.testing.assert_close(outs[0], outs[1])


def test_autocast_bfloat16_cpu():
    x = random_tensor(c=8, dtype=torch.float32)
    conv = randomize(SubMConv3d(8, 8, 3), torch.float32)
    ref = conv(x).features
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = conv(x).features
    assert y.dtype == torch.bfloat16
    assert (y.float() - ref).abs().max() <= 0.05 * ref.abs().max()
    y.float().sum().backward()
    assert conv.weight.grad is not None and conv.weight.grad.dtype == torch.float32


def test_dense_and_repr():
    x = random_tensor(c=2, dtype=torch.float32)
    d = x.dense()
    assert d.shape == (3, 2, *SHAPE)
    torch.testing.assert_close(at_sites(d, x.indices), x.features)
    assert "indice_key='k'" in repr(SparseConv3d(2, 3, 2, stride=2, bias=False, indice_key="k"))


def test_duplicate_voxels_run_deterministically():
    """Collate mixing merges scenes whose voxel grids overlap, so one sample may hold the same voxel
    twice; every conv kind must run (it once crashed in the reduction plan) and stay deterministic."""
    from pointlab.sparse import SparseConv3d, SparseConvTensor, SparseInverseConv3d, SubMConv3d

    torch.manual_seed(0)
    xyz = torch.randint(0, 6, (200, 3))
    xyz = torch.cat([xyz, xyz[:50]])  # 50 duplicated voxels
    indices = torch.cat([torch.zeros(len(xyz), 1, dtype=torch.long), xyz], 1).int()
    feats = torch.randn(len(xyz), 4, dtype=torch.float64, requires_grad=True)
    subm = SubMConv3d(4, 5, 3, indice_key="s").double()
    down = SparseConv3d(4, 5, 2, stride=2, indice_key="d").double()
    up = SparseInverseConv3d(5, 4, 2, indice_key="d").double()

    def run():
        x = SparseConvTensor(feats, indices, [8, 8, 8], 1)
        y = subm(x)
        u = up(down(x))
        (y.features.square().sum() + u.features.square().sum()).backward()
        return y.features.detach().clone(), u.features.detach().clone(), feats.grad.clone()

    first = run()
    feats.grad = None
    second = run()
    assert first[0].shape == (250, 5) and first[1].shape == (250, 4)
    for a, b in zip(first, second):
        assert torch.isfinite(a).all()
        assert torch.equal(a, b)
    # the centre tap still sees each copy's own features: copies with different inputs differ
    assert not torch.allclose(first[0][:50], first[0][200:])


@pytest.mark.parametrize("shape,p", [((0,), 0.5), ((1000,), 0.0), ((1000,), 1.0), ((13, 577), 0.47)])
def test_flat_nonzero_matches_torch(shape, p):
    from pointlab.sparse.kernel_map import _flat_nonzero

    mask = torch.rand(shape, generator=torch.Generator().manual_seed(3)) < p
    got = _flat_nonzero(mask)
    assert got.dtype == torch.int64
    assert torch.equal(got, torch.nonzero(mask.reshape(-1)).view(-1))
