"""Serialized patch attention: padding layout (vs the reference's per-sample loop), SDPA vs the explicit
softmax, the flash path's short samples, RPE, patch-size rules."""
import pytest
import torch
import torch.nn.functional as F

from pointlab.models.ptv3 import RPE, SerializedAttention, patch_layout, serialization
from pointlab.structures import Point


def _layout_loop(offset, k):
    """The reference's construction, one sample at a time (test oracle)."""
    bincount = torch.diff(offset, prepend=offset.new_zeros(1))
    bpad = torch.where(bincount > k, (bincount + k - 1) // k * k, bincount)
    off = F.pad(offset, (1, 0))
    offp = F.pad(torch.cumsum(bpad, 0), (1, 0))
    pad = torch.arange(int(offp[-1]))
    unpad = torch.arange(int(off[-1]))
    cu = []
    for i in range(len(offset)):
        unpad[off[i] : off[i + 1]] += offp[i] - off[i]
        if bincount[i] != bpad[i]:
            r = int(bincount[i] % k)
            pad[offp[i + 1] - k + r : offp[i + 1]] = pad[offp[i + 1] - 2 * k + r : offp[i + 1] - k].clone()
        pad[offp[i] : offp[i + 1]] -= offp[i] - off[i]
        cu.append(torch.arange(int(offp[i]), int(offp[i + 1]), k))
    return pad, unpad, torch.cat(cu + [offp[-1:]]).int()


@pytest.mark.parametrize("sizes,k", [((100, 37, 48), 16), ((5, 48, 49), 48), ((1,), 4), ((7, 3), 1), ((30,), 30), ((20, 3, 90), 8)])
def test_patch_layout_matches_reference_loop(sizes, k):
    offset = torch.tensor(sizes).cumsum(0)
    got = patch_layout(offset, k)
    want = _layout_loop(offset, k)
    for a, b in zip(got, want):
        assert torch.equal(a, b)


def test_patch_layout_rejects_empty_sample():
    with pytest.raises(ValueError, match="no points"):
        patch_layout(torch.tensor([5, 5, 9]), 4)


def _point(sizes, c=16, seed=0, order=("z", "hilbert")):
    gen = torch.Generator().manual_seed(seed)
    n = sum(sizes)
    grid = torch.cat([torch.randperm(4096, generator=gen)[:s] for s in sizes])
    grid = torch.stack([grid // 256, (grid // 16) % 16, grid % 16], 1)
    p = Point(grid_coord=grid, offset=torch.tensor(sizes).cumsum(0), feat=torch.randn(n, c, generator=gen))
    return serialization(p, order=order)


def _attn(**kw):
    torch.manual_seed(0)
    args = dict(channels=16, num_heads=4, patch_size=8, enable_flash=False, upcast_attention=False, upcast_softmax=False)
    args.update(kw)
    return SerializedAttention(**args).eval()


def _run(m, p, backend=None):
    q = Point(p)
    for key in ("pad", "unpad", "cu_seqlens_key", "pad_patch_size"):
        q.pop(key, None)
    if backend:
        m.backend = backend
    try:
        return m(q)["feat"]
    finally:
        m.backend = "sdpa"


def _oracle(m, p, k):
    """Every patch attended separately with an explicit softmax (loop over patches: test only)."""
    order = p["serialized_order"][m.order_index]
    offset = p["offset"].tolist()
    qkv = m.qkv(p["feat"])
    h, c = m.num_heads, m.channels
    out = torch.empty(len(order), c)
    start = 0
    for end in offset:
        idx = order[start:end]
        n = end - start
        windows = [(s, min(s + k, n)) for s in range(0, n, k)] if n > k else [(0, n)]
        for s, e in windows:
            lo = max(0, e - k) if n > k else s  # the last window overlaps backwards (the reference's padding)
            sel = idx[lo:e]
            q, kk, v = qkv[sel].view(len(sel), 3, h, c // h).permute(1, 2, 0, 3)
            a = torch.softmax((q * m.scale) @ kk.transpose(-1, -2), -1) @ v
            res = a.transpose(0, 1).reshape(len(sel), c)
            out[idx[s:e]] = res[len(sel) - (e - s) :]
        start = end
    return m.proj(out)


@pytest.mark.parametrize("flash", [False, True])
def test_attention_matches_patchwise_oracle(flash):
    p = _point((50, 21, 8))
    m = _attn(enable_flash=flash, patch_size=16)
    with torch.no_grad():
        got = _run(m, p)
        k = 16 if flash else 8  # without flash K shrinks to the smallest sample (8 points)
        want = _oracle(m, p, k)
    assert m.patch_size == k
    assert torch.allclose(got, want, atol=1e-5)


def test_flash_path_sample_shorter_than_patch():
    p = _point((5, 40, 3))  # two samples shorter than K=16: each one short patch of its own
    m = _attn(enable_flash=True, patch_size=16)
    with torch.no_grad():
        got, got_math = _run(m, p), _run(m, p, "math")
        want = _oracle(m, p, 16)
    assert torch.allclose(got, want, atol=1e-5) and torch.allclose(got_math, want, atol=1e-5)


def test_fixed_patch_is_batch_independent():
    a = _point((30,), seed=1)
    extra = _point((4,), seed=2)
    b = Point(
        grid_coord=torch.cat([a["grid_coord"], extra["grid_coord"]]),
        feat=torch.cat([a["feat"], extra["feat"]]),
        offset=torch.tensor([30, 34]),
    )
    b = serialization(b, order=("z", "hilbert"))
    m = _attn(patch_size=8, fixed_patch=True)
    with torch.no_grad():
        fa, fb = _run(m, a), _run(m, b)
    assert torch.allclose(fa, fb[:30], atol=1e-6)
    shrink = _attn(patch_size=8)
    with torch.no_grad():
        sa, sb = _run(shrink, a), _run(shrink, b)
    assert torch.allclose(sa, fa, atol=1e-6) and not torch.allclose(sb[:30], fa, atol=1e-4)  # K=4 in the batch


@pytest.mark.parametrize("rpe", [False, True])
def test_sdpa_equals_explicit_softmax(rpe):
    p = _point((40, 24))
    m = _attn(enable_rpe=rpe, patch_size=16)
    if rpe:
        torch.nn.init.normal_(m.rpe.rpe_table, std=0.5)
    with torch.no_grad():
        assert torch.allclose(_run(m, p), _run(m, p, "math"), atol=1e-5)


def test_rpe_table_and_bias():
    r = RPE(1024, 2)
    assert r.pos_bnd == 31 and r.rpe_table.shape == (189, 2)
    assert RPE(48, 4).pos_bnd == 11
    rel = torch.tensor([[[[0, 0, 0], [40, -3, 1]]]])  # [1, 1, 2, 3]
    bias = r(rel)
    t = r.rpe_table
    assert bias.shape == (1, 2, 1, 2)
    assert torch.allclose(bias[0, :, 0, 1], t[31 + 31] + t[63 + 28] + t[126 + 32])


def test_flash_rejects_rpe_like_the_reference():
    with pytest.raises(ValueError, match="enable_flash"):
        SerializedAttention(16, 4, 8, enable_flash=True, enable_rpe=True, upcast_attention=False, upcast_softmax=False)


def test_single_point_and_backward():
    p = _point((1,))
    m = _attn(patch_size=8).train()
    p["feat"].requires_grad_(True)
    out = _run(m, p)
    out.sum().backward()
    assert out.shape == (1, 16) and m.patch_size == 1
    assert m.qkv.weight.grad is not None and torch.isfinite(p["feat"].grad).all()


def test_fixed_patch_with_rpe_and_short_sample():
    # ragged layout (a sample shorter than K) with RPE biases: SDPA's float mask vs the explicit softmax
    p = _point((5, 40))
    m = _attn(patch_size=16, fixed_patch=True, enable_rpe=True)
    torch.nn.init.normal_(m.rpe.rpe_table, std=0.5)
    with torch.no_grad():
        a, b = _run(m, p), _run(m, p, "math")
    assert torch.isfinite(a).all() and torch.allclose(a, b, atol=1e-5)
    # without RPE the same layout equals the patch-wise oracle
    m0 = _attn(patch_size=16, fixed_patch=True)
    with torch.no_grad():
        assert torch.allclose(_run(m0, p), _oracle(m0, p, 16), atol=1e-5)


@pytest.mark.parametrize("sizes", [(50, 21, 37), (5, 40, 3)])
def test_packed_flash_backward_equals_autograd_of_explicit_softmax(sizes):
    # the CPU path (packed flash kernels + gather-only backward of the padded slots, padding
    # duplicates included) against autograd through the explicit softmax on the same layout
    p = _point(sizes, seed=3)
    m = _attn(enable_flash=True, patch_size=16).train()
    grads = []
    for backend in ("sdpa", "math"):
        m.zero_grad()
        feat = p["feat"].clone().requires_grad_(True)
        q = Point(p)
        q["feat"] = feat
        out = _run(m, q, backend)
        (out * torch.linspace(-1, 1, out.shape[1])).sum().backward()
        grads.append((out.detach(), feat.grad, m.qkv.weight.grad.clone(), m.proj.weight.grad.clone()))
    for a, b in zip(*grads):
        assert torch.allclose(a, b, atol=1e-5)
    assert grads[0][1].abs().sum() > 0


@pytest.mark.parametrize("sizes, n_tail, q_tail, moved", [((50,), 1, 2, False), ((50, 21, 37), 3, 5, True), ((32, 21), 1, 5, False)])
def test_trimmed_tail_queries_change_nothing(sizes, n_tail, q_tail, moved):
    # the last window of a sample holds N mod K real points then duplicates; the CPU flash path
    # computes only the real queries there (windows with duplicates moved last): same outputs and
    # gradients as computing every query
    p = _point(sizes, seed=5)
    m = _attn(enable_flash=True, patch_size=16).train()
    results = []
    for trim in (True, False):
        m.trim_tail_queries = trim
        m.zero_grad()
        feat = p["feat"].clone().requires_grad_(True)
        q = Point(p)
        q["feat"] = feat
        for key in ("pad", "unpad", "cu_seqlens_key", "pad_patch_size", "pad_tail"):
            q.pop(key, None)
        out = m(q)["feat"]
        (out * torch.linspace(-1, 1, out.shape[1])).sum().backward()
        results.append((out.detach(), feat.grad, m.qkv.weight.grad.clone(), m.qkv.bias.grad.clone(), m.proj.weight.grad.clone()))
        if trim:
            got_tail, got_q, new_to_old, _, _ = q["pad_tail"][1]
            assert (got_tail, got_q, new_to_old is not None) == (n_tail, q_tail, moved)
    m.trim_tail_queries = True
    for a, b in zip(*results):
        assert torch.allclose(a, b, atol=1e-6, rtol=1e-5)
    assert results[0][1].abs().sum() > 0
