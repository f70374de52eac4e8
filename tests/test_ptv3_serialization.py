"""PT-v3 serialization: curve codes (against brute-force definitions), inverses, batch bits, depth rule, errors."""
import pytest
import torch

from pointlab.models.ptv3 import decode, encode, serialization, sparsify
from pointlab.models.ptv3.serialization import canonical_order, hilbert_encode, z_order_encode
from pointlab.structures import Point


def _morton_naive(g, depth):
    code = torch.zeros(len(g), dtype=torch.long)
    for i in range(depth):
        for axis, pos in ((0, 2), (1, 1), (2, 0)):
            code |= ((g[:, axis] >> i) & 1) << (3 * i + pos)
    return code


def test_z_order_matches_bit_definition():
    g = torch.randint(0, 1 << 12, (500, 3))
    assert torch.equal(z_order_encode(g, 12), _morton_naive(g, 12))
    assert torch.equal(encode(g, None, 12, "z-trans"), _morton_naive(g[:, [1, 0, 2]], 12))


@pytest.mark.parametrize("depth", [1, 2, 3, 5])
def test_hilbert_is_a_continuous_bijection(depth):
    n = 1 << depth
    g = torch.stack(torch.meshgrid(*(torch.arange(n),) * 3, indexing="ij"), -1).reshape(-1, 3)
    code = hilbert_encode(g, depth)
    assert torch.equal(code.sort().values, torch.arange(n**3))  # a bijection onto [0, n³)
    walk = g[code.argsort()]
    assert torch.equal((walk[1:] - walk[:-1]).abs().sum(1), torch.ones(n**3 - 1, dtype=torch.long))  # unit steps
    assert walk[0].tolist() == [0, 0, 0]


def test_hilbert_known_values_depth1():
    # Skilling's curve on the unit cube (as numpy-hilbert-curve): the visiting order of the 8 corners
    g = torch.stack(torch.meshgrid(*(torch.arange(2),) * 3, indexing="ij"), -1).reshape(-1, 3)
    walk = g[hilbert_encode(g, 1).argsort()].tolist()
    assert walk == [[0, 0, 0], [0, 0, 1], [0, 1, 1], [0, 1, 0], [1, 1, 0], [1, 1, 1], [1, 0, 1], [1, 0, 0]]


@pytest.mark.parametrize("order", ["z", "z-trans", "hilbert", "hilbert-trans"])
def test_decode_inverts_encode_with_batch_bits(order):
    g = torch.randint(0, 1 << 16, (2000, 3))
    b = torch.randint(0, 7, (2000,))
    code = encode(g, b, 16, order)
    assert torch.equal(code >> 48, b)
    g2, b2 = decode(code, 16, order)
    assert torch.equal(g2, g) and torch.equal(b2, b)


def test_order_aliases():
    assert canonical_order("z_trans") == "z-trans" and canonical_order("hilbert_trans") == "hilbert-trans"
    with pytest.raises(ValueError, match="valid orders"):
        canonical_order("peano")


def _cloud(n=(40, 25), seed=0):
    gen = torch.Generator().manual_seed(seed)
    grid = torch.cat([torch.randint(0, 30, (k, 3), generator=gen) for k in n])
    return Point(grid_coord=grid, offset=torch.tensor(n).cumsum(0), feat=torch.randn(sum(n), 4, generator=gen))


def test_serialization_order_inverse_and_batch_blocks():
    p = serialization(_cloud(), order=("z", "hilbert"))
    assert p["serialized_depth"] == 5  # bit_length(max + 1) with max ≤ 29
    code, order, inv = p["serialized_code"], p["serialized_order"], p["serialized_inverse"]
    assert code.shape == order.shape == inv.shape == (2, 65)
    for r in range(2):
        assert torch.all(code[r][order[r]][1:] >= code[r][order[r]][:-1])
        assert torch.equal(order[r][inv[r]], torch.arange(65))
        assert torch.equal(p["batch"][order[r]], torch.sort(p["batch"]).values)  # samples stay contiguous


def test_shuffle_orders_draws_one_randperm():
    a = serialization(_cloud(), order=("z", "z-trans", "hilbert", "hilbert-trans"))
    torch.manual_seed(3)
    perm = torch.randperm(4)
    torch.manual_seed(3)
    b = serialization(_cloud(), order=("z", "z-trans", "hilbert", "hilbert-trans"), shuffle_orders=True)
    assert torch.equal(b["serialized_code"], a["serialized_code"][perm])
    assert torch.equal(b["serialized_inverse"], a["serialized_inverse"][perm])


def test_grid_coord_derived_from_coord_and_grid_size():
    p = Point(coord=torch.tensor([[0.0, 0.0, 0.0], [0.05, 0.11, 0.0]]) + 3.0, grid_size=0.02, offset=torch.tensor([2]))
    serialization(p, order="z")
    assert p["grid_coord"].tolist() == [[0, 0, 0], [2, 5, 0]]


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="negative"):
        serialization(Point(grid_coord=torch.tensor([[-1, 0, 0]]), offset=torch.tensor([1])))
    with pytest.raises(ValueError, match="depth"):
        serialization(Point(grid_coord=torch.tensor([[1 << 16, 0, 0]]), offset=torch.tensor([1])))
    with pytest.raises(ValueError, match="depth"):  # an explicit depth too small for the extent
        serialization(Point(grid_coord=torch.tensor([[9, 0, 0]]), offset=torch.tensor([1])), depth=3)
    with pytest.raises(KeyError, match="grid_coord"):
        serialization(Point(feat=torch.zeros(1, 3), offset=torch.tensor([1])))


def test_single_point_batch():
    p = serialization(Point(grid_coord=torch.tensor([[0, 0, 0]]), offset=torch.tensor([1])), order=("z", "hilbert"))
    assert p["serialized_depth"] == 1 and p["serialized_code"].tolist() == [[0], [0]]


def test_sparsify_shape_and_indices():
    p = sparsify(_cloud())
    sp = p["sparse_conv_feat"]
    assert sp.spatial_shape == (p["grid_coord"].max(0).values + 96).tolist()
    assert sp.batch_size == 2 and torch.equal(sp.indices[:, 0].long(), p["batch"])
    assert sp.features is p["feat"]
