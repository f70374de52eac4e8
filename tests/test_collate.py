"""collate_fn / point_collate_fn: offsets, strings, empty samples, pair mixing."""
import random

import pytest
import torch

from pointlab.data.collate import collate_fn, point_collate_fn


def make(sizes, instance=True, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for i, n in enumerate(sizes):
        s = dict(
            coord=torch.rand(n, 3, generator=g),
            grid_coord=torch.randint(0, 5, (n, 3), generator=g),
            segment=torch.randint(0, 3, (n,), generator=g),
            offset=torch.tensor([n]),
            origin_offset=torch.tensor([2 * n]),
            origin_coord=torch.zeros(2 * n, 3),
            name=f"scene{i}",
            condition="ScanNet",
        )
        if instance:
            s["instance"] = torch.randint(-1, 3, (n,), generator=g)
        out.append(s)
    return out


def test_offsets_are_cumulative_ends():
    batch = collate_fn(make((3, 4, 2)))
    assert batch["offset"].tolist() == [3, 7, 9]
    assert batch["origin_offset"].tolist() == [6, 14, 18]
    assert batch["coord"].shape == (9, 3) and batch["origin_coord"].shape == (18, 3)
    assert batch["name"] == ["scene0", "scene1", "scene2"]
    assert batch["condition"] == ["ScanNet"] * 3
    # instance ids are not re-indexed by plain collate
    samples = make((3, 4, 2))
    assert torch.equal(batch["instance"], torch.cat([s["instance"] for s in samples]))


def test_zero_point_samples_and_other_structures():
    batch = collate_fn(make((3, 0, 2)))
    assert batch["offset"].tolist() == [3, 3, 5] and batch["coord"].shape == (5, 3)
    assert collate_fn([[1, 2], [3]]).tolist() == [1, 2, 3]
    seq = collate_fn([(torch.zeros(2, 3), torch.ones(2)), (torch.zeros(3, 3), torch.ones(3))])
    assert seq[0].shape == (5, 3) and seq[-1].tolist() == [2, 5]
    assert collate_fn([1.0, 2.0]).tolist() == [1.0, 2.0]
    with pytest.raises(KeyError, match="'segment'.*sample"):
        collate_fn([dict(segment=torch.zeros(1)), dict(coord=torch.zeros(1))])


def test_mixing_merges_pairs(monkeypatch):
    samples = make((3, 4, 2, 5, 1))
    monkeypatch.setattr(random, "random", lambda: 0.1)
    batch = point_collate_fn(samples, mix_prob=0.8)
    # B = 5 → ceil(5/2) = 3: offsets [3,7,9,14,15] keep entries 1, 3 and the last
    assert batch["offset"].tolist() == [7, 14, 15]
    assert batch["origin_offset"].tolist() == [14, 28, 30]
    assert batch["coord"].shape == (15, 3)
    assert len(batch["name"]) == 5 and len(batch["condition"]) == 5
    monkeypatch.setattr(random, "random", lambda: 0.8)  # not < 0.8 → no mixing
    assert point_collate_fn(make((3, 4, 2, 5, 1)), mix_prob=0.8)["offset"].tolist() == [3, 7, 9, 14, 15]


def test_mixing_keeps_instance_ids_unique(monkeypatch):
    monkeypatch.setattr(random, "random", lambda: 0.0)
    samples = [
        dict(coord=torch.zeros(4, 3), instance=torch.tensor([0, 2, -1, 1]), offset=torch.tensor([4])),
        dict(coord=torch.zeros(3, 3), instance=torch.tensor([0, -1, 1]), offset=torch.tensor([3])),
        dict(coord=torch.zeros(0, 3), instance=torch.zeros(0, dtype=torch.long), offset=torch.tensor([0])),
        dict(coord=torch.zeros(2, 3), instance=torch.tensor([0, 0]), offset=torch.tensor([2])),
        dict(coord=torch.zeros(2, 3), instance=torch.tensor([-1, -1]), offset=torch.tensor([2])),
        dict(coord=torch.zeros(1, 3), instance=torch.tensor([5]), offset=torch.tensor([1])),
    ]
    batch = point_collate_fn(samples, mix_prob=1.0)
    assert batch["offset"].tolist() == [7, 9, 12]
    # pair 0: second sample shifted by max(0,2,1)+1 = 3; pair 1: empty first → shift 0;
    # pair 2: first has no instance → shift 0; −1 stays −1
    assert batch["instance"].tolist() == [0, 2, -1, 1, 3, -1, 4, 0, 0, -1, -1, 5]
    ins = batch["instance"].tolist()
    for start, mid, end in [(0, 4, 7), (7, 7, 9), (9, 11, 12)]:  # (first sample | second sample) of each pair
        assert not (set(ins[start:mid]) - {-1}) & (set(ins[mid:end]) - {-1})


def test_mix_prob_zero_still_draws_once_and_grid_size_recompute(monkeypatch):
    calls = []
    monkeypatch.setattr(random, "random", lambda: calls.append(1) or 0.5)
    batch = point_collate_fn(make((3, 4)), mix_prob=0.0)
    assert len(calls) == 1 and batch["offset"].tolist() == [3, 7]
    monkeypatch.setattr(random, "random", lambda: 0.0)
    samples = make((3, 4, 2), instance=False)
    for s in samples:
        s["grid_size"] = torch.tensor([0.5])
        s["coord"] = s["coord"] * 3 + 1
    batch = point_collate_fn(samples, mix_prob=1.0)
    assert batch["offset"].tolist() == [7, 9]
    grid = torch.floor(batch["coord"] / 0.5).long()
    assert torch.equal(batch["grid_coord"][:7], grid[:7] - grid[:7].min(0).values)
    assert torch.equal(batch["grid_coord"][7:], grid[7:] - grid[7:].min(0).values)


def test_shape_mismatch_names_the_key():
    with pytest.raises(RuntimeError, match=r"'feat' with shapes \[\(3, 6\), \(2, 4\)\]"):
        collate_fn([dict(feat=torch.zeros(3, 6)), dict(feat=torch.zeros(2, 4))])
