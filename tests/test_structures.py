"""Offset batching helpers and the Point dict (spec/00-overview.md §2, offset convention)."""
import pytest
import torch

from pointlab.structures import Point, batch2offset, bincount2offset, offset2batch, offset2bincount

OFFSET = torch.tensor([3, 7, 9])
BATCH = torch.tensor([0, 0, 0, 1, 1, 1, 1, 2, 2])
BINCOUNT = torch.tensor([3, 4, 2])


def test_offset_helpers_on_sizes_3_4_2():
    assert torch.equal(offset2bincount(OFFSET), BINCOUNT)
    assert torch.equal(offset2batch(OFFSET), BATCH)
    assert torch.equal(batch2offset(BATCH), OFFSET)
    assert torch.equal(bincount2offset(BINCOUNT), OFFSET)
    for out in (offset2batch(OFFSET), batch2offset(BATCH), bincount2offset(BINCOUNT)):
        assert out.dtype == torch.int64


def test_helpers_are_inverse_of_each_other():
    g = torch.Generator().manual_seed(0)
    sizes = torch.randint(1, 6, (7,), generator=g)
    offset = torch.cumsum(sizes, 0)
    assert torch.equal(batch2offset(offset2batch(offset)), offset)
    assert torch.equal(bincount2offset(offset2bincount(offset)), offset)
    assert len(offset2batch(offset)) == int(sizes.sum())


def test_int32_offset_gives_int64_batch():
    assert offset2batch(OFFSET.int()).dtype == torch.int64


def test_empty_samples():
    offset = torch.tensor([3, 3, 5])  # the middle sample has no points
    assert torch.equal(offset2bincount(offset), torch.tensor([3, 0, 2]))
    assert torch.equal(offset2batch(offset), torch.tensor([0, 0, 0, 2, 2]))
    assert torch.equal(batch2offset(torch.tensor([0, 0, 0, 2, 2])), offset)
    # a trailing empty sample can only be recovered when the batch size is given
    batch = torch.tensor([0, 0, 1])
    assert torch.equal(batch2offset(batch), torch.tensor([2, 3]))
    assert torch.equal(batch2offset(batch, batch_size=3), torch.tensor([2, 3, 3]))
    empty = torch.zeros(0, dtype=torch.long)
    assert offset2batch(empty).numel() == 0 and batch2offset(empty).numel() == 0
    assert torch.equal(offset2batch(torch.tensor([0, 0])), empty)


def test_helpers_do_not_track_gradients():
    sizes = torch.tensor([2.0, 3.0], requires_grad=True)
    assert not bincount2offset(sizes).requires_grad


def test_point_derives_batch_from_offset_and_back():
    p = Point(coord=torch.zeros(9, 3), offset=OFFSET)
    assert torch.equal(p.batch, BATCH) and p.batch_size == 3
    q = Point(coord=torch.zeros(9, 3), batch=BATCH)
    assert torch.equal(q.offset, OFFSET)
    r = Point(offset=OFFSET, batch=BATCH.flip(0))  # both given: neither is recomputed
    assert torch.equal(r.batch, BATCH.flip(0))


def test_point_attribute_access_and_missing_keys():
    p = Point(coord=torch.ones(2, 3))
    p.feat = torch.zeros(2, 4)
    assert p["feat"].shape == (2, 4) and p.coord.shape == (2, 3)
    with pytest.raises(AttributeError, match="grid_coord") as e:
        p.grid_coord
    assert "coord" in str(e.value)  # names what is present
    with pytest.raises(KeyError, match="offset"):
        p.require("coord", "offset")
    p.require("coord", "feat")
    with pytest.raises(KeyError, match="offset"):
        p.batch_size
    del p.feat
    assert "feat" not in p
    with pytest.raises(AttributeError):
        del p.feat
