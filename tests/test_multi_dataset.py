"""MultiDatasetDataloader: one dataset per batch, ratio pattern, length formula, epoch end, seeding."""
import pytest
import torch
from torch.utils.data import Dataset

from pointlab.data.datasets.concat import ConcatDataset
from pointlab.engine.multi_dataset import MultiDatasetDataloader, MultiDatasetTrainer
from pointlab.registry import TRAINERS


class _Toy(Dataset):
    def __init__(self, name, n, loop=1):
        self.name, self.n, self.loop = name, n, loop

    def __len__(self):
        return self.n * self.loop

    def __getitem__(self, i):
        i %= self.n
        return {"coord": torch.full((2, 3), float(i)), "offset": torch.tensor([2]), "condition": self.name, "idx": torch.tensor([i])}


def _loader(ratios=(2, 1), sizes=(8, 6), loop=1, batch=2, seed=0):
    data = ConcatDataset([_Toy(f"D{i}", n, r) for i, (n, r) in enumerate(zip(sizes, ratios))], loop=loop)
    return MultiDatasetDataloader(data, batch_size=batch, seed=seed)


def test_ratio_pattern_and_one_condition_per_batch():
    loader = _loader(ratios=(2, 1), sizes=(8, 6))
    assert loader.ratio == [2, 1] and [d.loop for d in loader.datasets] == [1, 1]
    conds = []
    for batch in loader:
        assert len(set(batch["condition"])) == 1 and len(batch["condition"]) == 2
        conds.append(batch["condition"][0])
    # loader 0 has 4 batches: D0 D0 D1 D0 D0 D1, then D0 is exhausted → the epoch ends
    assert conds == ["D0", "D0", "D1", "D0", "D0", "D1"] and len(loader) == 6


def test_length_formula_with_remainder_and_restarting_other_loaders():
    loader = _loader(ratios=(2, 3), sizes=(10, 2), loop=1)  # loader 0: 5 batches, loader 1: 1 batch
    conds = [b["condition"][0] for b in loader]
    assert len(loader) == (5 // 2) * 5 + 5 % 2 == len(conds) == 11
    assert conds[:5] == ["D0", "D0", "D1", "D1", "D1"] and conds[-1] == "D0"


def test_concat_loop_goes_to_the_first_dataset_and_ratio_is_the_sub_loop():
    loader = _loader(ratios=(1, 3), sizes=(4, 4), loop=3)
    assert [d.loop for d in loader.datasets] == [3, 1]
    assert len(loader.loaders[0]) == 6 and len(loader) == 6 * 4


def test_set_epoch_reseeds_shuffling_reproducibly():
    a, b = _loader(seed=5), _loader(seed=5)
    order = lambda ld: [b["idx"].tolist() for b in ld]  # noqa: E731
    a.set_epoch(1), b.set_epoch(1)
    first = order(a)
    assert first == order(b)
    a.set_epoch(2)
    assert order(a) != first


def test_needs_a_concat_dataset():
    with pytest.raises(TypeError, match="ConcatDataset"):
        MultiDatasetDataloader(_Toy("D0", 4), batch_size=2)
    assert TRAINERS.get("MultiDatasetTrainer") is MultiDatasetTrainer
