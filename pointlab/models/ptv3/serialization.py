"""Space-filling-curve serialization of voxelised point clouds (PT-v3's point ordering).

Matches Pointcept ``pointcept/models/utils/serialization`` and ``Point.serialization`` bit for bit:
- ``"z"``: Morton code; for bit i of each coordinate, x goes to bit 3i+2, y to 3i+1, z to 3i;
- ``"hilbert"``: 3-D Hilbert index by Skilling's transpose algorithm (J. Skilling, "Programming the
  Hilbert curve", AIP Conf. Proc. 707, 2004), ``depth`` bits per axis;
- ``"z-trans"`` / ``"hilbert-trans"``: the same curves on (y, x, z);
- the sample index is put above the ``3·depth`` coordinate bits: ``code = batch << 3·depth | curve``.

Everything here works on integer tensors (no bit-array unpacking) and loops only over the ≤ 16
bit levels, never over points.
"""
from __future__ import annotations

from typing import Sequence

import torch

from pointlab.structures import Point, batch2offset, offset2batch

__all__ = [
    "ORDERS",
    "canonical_order",
    "encode",
    "decode",
    "z_order_encode",
    "z_order_decode",
    "hilbert_encode",
    "hilbert_decode",
    "serialization",
    "sparsify",
    "MAX_DEPTH",
]

ORDERS = ("z", "z-trans", "hilbert", "hilbert-trans")
# spelling aliases seen in configs/papers → the reference's names
_ALIASES = {"z_trans": "z-trans", "hilbert_trans": "hilbert-trans", "zorder": "z", "z-order": "z"}
MAX_DEPTH = 16  # the reference's limit (OCNN's): 16 bits per axis, 48-bit codes

# masks of the "spread every bit three places apart" steps (21 input bits → 63 output bits)
_SPREAD = (
    (32, 0x1F00000000FFFF),
    (16, 0x1F0000FF0000FF),
    (8, 0x100F00F00F00F00F),
    (4, 0x10C30C30C30C30C3),
    (2, 0x1249249249249249),
)


def canonical_order(name: str) -> str:
    """The reference spelling of an order name ("z_trans" → "z-trans"); unknown names raise."""
    key = _ALIASES.get(name, name)
    if key not in ORDERS:
        raise ValueError(f"unknown serialization order {name!r}; valid orders are {ORDERS} (aliases: {sorted(_ALIASES)})")
    return key


def _spread3(v: torch.Tensor) -> torch.Tensor:
    """Move bit i of ``v`` (≤ 21 bits) to bit 3i."""
    v = v & 0x1FFFFF
    for shift, mask in _SPREAD:
        v = (v | (v << shift)) & mask
    return v


def _compact3(v: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`_spread3`: bit 3i of ``v`` → bit i."""
    v = v & 0x1249249249249249
    v = (v ^ (v >> 2)) & 0x10C30C30C30C30C3
    v = (v ^ (v >> 4)) & 0x100F00F00F00F00F
    v = (v ^ (v >> 8)) & 0x1F0000FF0000FF
    v = (v ^ (v >> 16)) & 0x1F00000000FFFF
    v = (v ^ (v >> 32)) & 0x1FFFFF
    return v


def z_order_encode(grid_coord: torch.Tensor, depth: int = 16) -> torch.Tensor:
    """Morton code of ``grid_coord`` [N, 3] (x, y, z ≥ 0) over ``depth`` bits per axis → [N] int64."""
    g = grid_coord.long()
    mask = (1 << depth) - 1
    return (_spread3(g[:, 0] & mask) << 2) | (_spread3(g[:, 1] & mask) << 1) | _spread3(g[:, 2] & mask)


def z_order_decode(code: torch.Tensor, depth: int = 16) -> torch.Tensor:
    """[N] Morton codes (without batch bits) → grid_coord [N, 3] int64."""
    code = code.long() & ((1 << (3 * depth)) - 1)
    return torch.stack([_compact3(code >> 2), _compact3(code >> 1), _compact3(code)], dim=-1)


def _interleave(x0: torch.Tensor, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
    """Bit b of axis d → bit 3b + (2 − d) of one integer (axis 0 most significant in each triple)."""
    return (_spread3(x0) << 2) | (_spread3(x1) << 1) | _spread3(x2)


def _undo_excess(x: list, depth: int, forward: bool) -> None:
    """Skilling's excess-work loop on the transposed axes ``x`` (list of 3 [N] tensors), in place.

    For every bit level q (top down when encoding, bottom up when decoding) and axis d: where
    axis d has bit q set, invert the lower bits of axis 0; elsewhere exchange the lower bits of
    axis 0 and axis d.
    """
    levels = [1 << b for b in range(depth - 1, 0, -1)]
    dims = (0, 1, 2)
    if not forward:
        levels, dims = levels[::-1], (2, 1, 0)
    for q in levels:
        p = q - 1
        for d in dims:
            hit = (x[d] & q) != 0
            x0 = torch.where(hit, x[0] ^ p, x[0])
            t = torch.where(hit, torch.zeros_like(x0), (x0 ^ x[d]) & p)
            x[0] = x0 ^ t
            if d != 0:
                x[d] = x[d] ^ t


def hilbert_encode(grid_coord: torch.Tensor, depth: int = 16) -> torch.Tensor:
    """3-D Hilbert index of ``grid_coord`` [N, 3] with ``depth`` bits per axis → [N] int64.

    Skilling's AxesToTranspose: undo the excess work from the top bit down, interleave the
    transposed bits (axis 0 first, top bit first) into one Gray code, and Gray-decode it (prefix
    XOR from the top bit) — the reference's numpy-hilbert-curve port computes exactly this.
    """
    g = grid_coord.long() & ((1 << depth) - 1)
    x = [g[:, 0], g[:, 1], g[:, 2]]
    _undo_excess(x, depth, forward=True)
    code = _interleave(*x)
    shift = 1
    while shift < 3 * depth:
        code = code ^ (code >> shift)
        shift <<= 1
    return code


def hilbert_decode(code: torch.Tensor, depth: int = 16) -> torch.Tensor:
    """[N] Hilbert indices (without batch bits) → grid_coord [N, 3] int64 (inverse of :func:`hilbert_encode`)."""
    code = code.long() & ((1 << (3 * depth)) - 1)
    gray = code ^ (code >> 1)
    x = [_compact3(gray >> 2), _compact3(gray >> 1), _compact3(gray)]
    _undo_excess(x, depth, forward=False)
    return torch.stack(x, dim=-1)


@torch.no_grad()
def encode(grid_coord: torch.Tensor, batch: torch.Tensor | None = None, depth: int = 16, order: str = "z") -> torch.Tensor:
    """Serialization code of every point: ``[N]`` int64, the sample index in the bits above ``3·depth``.

    Args:
        grid_coord: [N, 3] non-negative voxel indices, each < 2**depth.
        batch: [N] sample index (or None: no batch bits).
        depth: bits per axis (≤ 16).
        order: "z", "z-trans", "hilbert", "hilbert-trans" (aliases "z_trans", "hilbert_trans").
    """
    order = canonical_order(order)
    if order == "z":
        code = z_order_encode(grid_coord, depth)
    elif order == "z-trans":
        code = z_order_encode(grid_coord[:, [1, 0, 2]], depth)
    elif order == "hilbert":
        code = hilbert_encode(grid_coord, depth)
    else:
        code = hilbert_encode(grid_coord[:, [1, 0, 2]], depth)
    if batch is not None:
        code = (batch.long() << (3 * depth)) | code
    return code


@torch.no_grad()
def decode(code: torch.Tensor, depth: int = 16, order: str = "z"):
    """Inverse of :func:`encode` → (grid_coord [N, 3] int64, batch [N] int64)."""
    order = canonical_order(order)
    batch = code >> (3 * depth)
    if order.startswith("z"):
        grid = z_order_decode(code, depth)
    else:
        grid = hilbert_decode(code, depth)
    if order.endswith("-trans"):
        grid = grid[:, [1, 0, 2]]
    return grid, batch


def _grid_coord(point: Point) -> torch.Tensor:
    if "grid_coord" not in point:
        if "coord" not in point or "grid_size" not in point:
            raise KeyError(
                "serialization needs 'grid_coord', or 'coord' and 'grid_size' to derive it "
                f"(keys present: {sorted(point.keys())}); add GridSample(return_grid_coord=True) to the transforms"
            )
        coord = point["coord"]
        point["grid_coord"] = torch.div(coord - coord.min(0)[0], point["grid_size"], rounding_mode="trunc").int()
    return point["grid_coord"]


def _ensure_batch(point: Point) -> None:
    if "batch" not in point:
        if "offset" not in point:
            raise KeyError(f"the point needs 'offset' or 'batch' (keys present: {sorted(point.keys())})")
        point["batch"] = offset2batch(point["offset"])
    if "offset" not in point:
        point["offset"] = batch2offset(point["batch"])


@torch.no_grad()
def serialization(point: Point, order: str | Sequence[str] = "z", depth: int | None = None, shuffle_orders: bool = False) -> Point:
    """Pointcept's ``Point.serialization``: fill ``serialized_code/order/inverse`` [k, N] and ``serialized_depth``.

    Args:
        point: needs ``batch`` (or ``offset``) and ``grid_coord`` (or ``coord`` + ``grid_size``).
        order: one order name or a sequence of k names.
        depth: bits per axis; default ``bit_length(max(grid_coord) + 1)`` over the whole batch.
        shuffle_orders: permute the k rows jointly with one ``torch.randperm(k)`` (the reference
            does this in every PT-v3 forward, eval included, when the backbone says so).
    Returns:
        the same ``point`` (modified in place).
    """
    orders = [order] if isinstance(order, str) else list(order)
    if not orders:
        raise ValueError("serialization: 'order' is empty; give e.g. ('z', 'z-trans')")
    point["order"] = order
    _ensure_batch(point)
    grid = _grid_coord(point)
    if grid.dim() != 2 or grid.shape[1] != 3:
        raise ValueError(f"serialization: grid_coord must be [N, 3], got shape {tuple(grid.shape)}")
    if grid.shape[0] == 0:
        raise ValueError("serialization: the point cloud is empty (0 points); drop empty samples before the model")
    lo = int(grid.min())
    hi = int(grid.max())
    if lo < 0:
        raise ValueError(
            f"serialization: grid_coord has negative entries (min {lo}); grid coordinates must be voxel indices ≥ 0 "
            "(GridSample subtracts the per-scene minimum) — a negative index would be silently wrapped into a wrong order"
        )
    if depth is None:
        depth = int(hi + 1).bit_length()
    depth = int(depth)
    batch_bits = len(point["offset"]).bit_length()
    if depth > MAX_DEPTH or hi >= (1 << depth) or 3 * depth + batch_bits > 63:
        raise ValueError(
            f"serialization: grid_coord spans up to {hi}, which needs depth {int(hi + 1).bit_length()} "
            f"(given/derived depth {depth}); the reference allows depth ≤ {MAX_DEPTH} (coordinates < {1 << MAX_DEPTH}) "
            f"and 3·depth + bit_length(batch size) ≤ 63. Use a larger grid_size or crop the scene (SphereCrop)"
        )
    point["serialized_depth"] = depth
    batch = point["batch"]
    code = torch.stack([encode(grid, batch, depth, order=o) for o in orders])
    ser_order = torch.argsort(code)
    inverse = torch.empty_like(ser_order)
    inverse.scatter_(1, ser_order, torch.arange(code.shape[1], device=code.device).expand_as(ser_order))
    if shuffle_orders:
        perm = torch.randperm(code.shape[0]).to(code.device)
        code, ser_order, inverse = code[perm], ser_order[perm], inverse[perm]
    point["serialized_code"] = code
    point["serialized_order"] = ser_order
    point["serialized_inverse"] = inverse
    return point


def sparsify(point: Point, pad: int = 96) -> Point:
    """Pointcept's ``Point.sparsify``: build ``sparse_conv_feat`` (a :class:`pointlab.sparse.SparseConvTensor`).

    Spatial shape = ``max(grid_coord) + pad`` per axis unless ``sparse_shape`` is set; batch size =
    ``batch[-1] + 1``. Stores ``sparse_shape`` and ``sparse_conv_feat``; returns ``point``.
    """
    from pointlab.sparse import SparseConvTensor

    if "feat" not in point:
        raise KeyError(f"sparsify needs 'feat' (keys present: {sorted(point.keys())})")
    _ensure_batch(point)
    grid = _grid_coord(point)
    if "sparse_shape" in point:
        shape = point["sparse_shape"]
    else:
        shape = (grid.max(0).values + pad).tolist()
    batch = point["batch"]
    indices = torch.cat([batch.unsqueeze(-1).int(), grid.int()], dim=1).contiguous()
    point["sparse_shape"] = shape
    point["sparse_conv_feat"] = SparseConvTensor(point["feat"], indices, shape, int(batch[-1]) + 1)
    return point
