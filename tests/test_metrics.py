"""Semantic-segmentation metrics: hand-computed confusion cases, ignore handling, torch/numpy parity."""
import numpy as np
import pytest
import torch

from pointlab.evaluation import format_class_table, intersection_and_union, plot_class_iou, semseg_metrics


def _ref_counts(pred, target, k, ignore):
    """Brute-force per-class counts, the definition written out."""
    keep = target != ignore
    p, t = pred[keep], target[keep]
    inter = np.array([np.sum((p == c) & (t == c)) for c in range(k)])
    area_p = np.array([np.sum(p == c) for c in range(k)])
    area_t = np.array([np.sum(t == c) for c in range(k)])
    return inter, area_p + area_t - inter, area_t


def test_hand_computed_confusion_with_absent_class():
    # 4 classes; class 3 never appears in pred or target.
    target = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    pred = np.array([0, 0, 1, 1, 2, 2, 2, 0])
    inter, union, tgt = intersection_and_union(pred, target, 4, -1)
    # class 0: pred {0,1,7}, target {0,1,2} -> I=2, U=4; class 1: pred {2,3}, target {3,4} -> I=1, U=3
    # class 2: pred {4,5,6}, target {5,6,7} -> I=2, U=4; class 3: nothing.
    np.testing.assert_array_equal(inter, [2, 1, 2, 0])
    np.testing.assert_array_equal(union, [4, 3, 4, 0])
    np.testing.assert_array_equal(tgt, [3, 2, 3, 0])
    m = semseg_metrics(inter, union, tgt)
    np.testing.assert_allclose(m["iou_class"], [0.5, 1 / 3, 0.5, 0.0])
    # evaluator mean: absent class counts 0; tester's present-only mean excludes it
    assert m["mIoU"] == pytest.approx((0.5 + 1 / 3 + 0.5 + 0.0) / 4)
    assert m["mIoU_present"] == pytest.approx((0.5 + 1 / 3 + 0.5) / 3)
    assert m["mAcc"] == pytest.approx((2 / 3 + 1 / 2 + 2 / 3 + 0) / 4)
    assert m["allAcc"] == pytest.approx(5 / 8)
    np.testing.assert_array_equal(m["present"], [True, True, True, False])


def test_ignore_minus_one_excludes_points_everywhere():
    target = np.array([0, -1, -1, 1, 1])
    pred = np.array([0, 1, 0, 1, 0])
    inter, union, tgt = intersection_and_union(pred, target, 2, -1)
    np.testing.assert_array_equal(inter, [1, 1])
    np.testing.assert_array_equal(tgt, [1, 2])
    np.testing.assert_array_equal(union, [2, 2])  # predictions on ignored points do not count


@pytest.mark.parametrize("as_torch", [False, True])
def test_ignore_index_equal_num_classes_does_not_leak_into_last_class(as_torch):
    # The reference's np.histogram(bins=arange(K+1)) has a closed last bin: label K lands in class K-1.
    k = 3
    target = np.array([0, 2, 3, 3, 3, 1])
    pred = np.array([0, 2, 2, 1, 0, 1])
    if as_torch:
        target, pred = torch.from_numpy(target), torch.from_numpy(pred)
    inter, union, tgt = intersection_and_union(pred, target, k, ignore_index=k)
    inter, union, tgt = (np.asarray(x) for x in (inter, union, tgt))
    np.testing.assert_array_equal(tgt, [1, 1, 1])
    np.testing.assert_array_equal(inter, [1, 1, 1])
    np.testing.assert_array_equal(union, [1, 1, 1])
    # What the reference would have reported for the last class (documented leak).
    ref_t, _ = np.histogram(np.array([0, 2, 3, 3, 3, 1]), bins=np.arange(k + 1))
    assert ref_t[-1] == 4 and tgt[-1] == 1


@pytest.mark.parametrize("as_torch", [False, True])
def test_out_of_range_predictions_are_wrong_but_in_no_class(as_torch):
    target = np.array([0, 1, 1, 2])
    pred = np.array([-1, 1, 3, 7])  # -1, 3 and 7 are outside [0, 3)
    if as_torch:
        target, pred = torch.from_numpy(target), torch.from_numpy(pred)
    inter, union, tgt = (np.asarray(x) for x in intersection_and_union(pred, target, 3, -1))
    np.testing.assert_array_equal(inter, [0, 1, 0])
    np.testing.assert_array_equal(tgt, [1, 2, 1])
    np.testing.assert_array_equal(union, [1, 2, 1])  # P_c = 0 except class 1
    assert semseg_metrics(inter, union, tgt)["allAcc"] == pytest.approx(1 / 4)


def test_target_out_of_range_raises_with_fix():
    with pytest.raises(ValueError, match=r"label 5.*num_classes"):
        intersection_and_union(np.array([0, 1]), np.array([0, 5]), 3, -1)
    with pytest.raises(ValueError, match=r"label -2"):
        intersection_and_union(torch.tensor([0, 1]), torch.tensor([-2, 1]), 3, -1)


def test_shape_and_type_mismatch_raise():
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        intersection_and_union(np.zeros(3, int), np.zeros(2, int), 2)
    with pytest.raises(TypeError, match="both"):
        intersection_and_union(torch.zeros(2, dtype=torch.long), np.zeros(2, int), 2)


def test_torch_numpy_agree_on_random_data_and_return_types():
    rng = np.random.default_rng(0)
    k = 7
    target = rng.integers(-1, k, size=(50, 40))  # 2-D input is flattened
    pred = rng.integers(-1, k + 1, size=(50, 40))
    n_out = intersection_and_union(pred, target, k, -1)
    t_out = intersection_and_union(torch.from_numpy(pred).int(), torch.from_numpy(target).int(), k, -1)
    for a, b, ref in zip(n_out, t_out, _ref_counts(pred.ravel(), target.ravel(), k, -1)):
        assert isinstance(a, np.ndarray) and isinstance(b, torch.Tensor)
        assert b.dtype == torch.int64 and a.dtype == np.int64 and a.shape == (k,)
        np.testing.assert_array_equal(a, ref)
        np.testing.assert_array_equal(b.numpy(), ref)


def test_torch_input_not_modified_and_empty_input():
    pred = torch.tensor([0, 1, 1])
    target = torch.tensor([-1, 1, 0])
    before = pred.clone()
    intersection_and_union(pred, target, 2, -1)
    assert torch.equal(pred, before)  # the reference's _gpu variant wrote ignore_index into pred
    inter, union, tgt = intersection_and_union(np.array([], int), np.array([], int), 4)
    assert inter.shape == (4,) and union.sum() == 0
    m = semseg_metrics(inter, union, tgt)
    assert m["mIoU"] == 0.0 and np.isnan(m["mIoU_present"]) and m["allAcc"] == 0.0


def test_semseg_metrics_accepts_tensors():
    m = semseg_metrics(torch.tensor([1, 0]), torch.tensor([2, 1]), torch.tensor([1, 1]))
    np.testing.assert_allclose(m["iou_class"], [0.5, 0.0])
    assert m["mIoU"] == pytest.approx(0.25) and m["mIoU_present"] == pytest.approx(0.25)


def test_class_table_text():
    m = semseg_metrics(np.array([2, 1, 0]), np.array([4, 3, 0]), np.array([3, 2, 0]))
    text = format_class_table(m, ["wall", "floor"], target=np.array([3, 2, 0]))
    lines = text.splitlines()
    assert lines[0].split() == ["idx", "class", "IoU", "Acc", "points"]
    assert lines[2].split() == ["0", "wall", "0.5000", "0.6667", "3"]
    assert lines[3].split() == ["1", "floor", "0.3333", "0.5000", "2"]
    assert lines[4].split() == ["2", "class_2", "0.0000", "0.0000", "0", "absent"]
    assert "mIoU 0.2778 (all 3 classes; 0.4167 over 2 present)" in lines[-1]


def test_class_iou_png(tmp_path):
    pytest.importorskip("matplotlib")
    m = semseg_metrics(np.array([5, 1, 0]), np.array([6, 4, 0]), np.array([5, 2, 0]))
    path = plot_class_iou(m, ["wall", "floor", "chair"], str(tmp_path / "class_iou.png"))
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000


def test_property_matches_definition_for_any_ignore_index():
    hyp = pytest.importorskip("hypothesis")
    st = pytest.importorskip("hypothesis.strategies")

    @hyp.settings(max_examples=60, deadline=None)
    @hyp.given(k=st.integers(1, 6), n=st.integers(0, 40), ignore_kind=st.sampled_from(["neg", "k", "big"]),
               seed=st.integers(0, 2**31 - 1))
    def check(k, n, ignore_kind, seed):
        ignore = {"neg": -1, "k": k, "big": 255}[ignore_kind]
        rng = np.random.default_rng(seed)
        target = rng.integers(0, k, n)
        target[rng.random(n) < 0.3] = ignore
        pred = rng.integers(-1, k + 2, n)
        ref = _ref_counts(pred, target, k, ignore)
        for out in (intersection_and_union(pred, target, k, ignore),
                    intersection_and_union(torch.from_numpy(pred), torch.from_numpy(target), k, ignore)):
            for got, want in zip(out, ref):
                np.testing.assert_array_equal(np.asarray(got), want)
            inter, union, tgt = (np.asarray(x) for x in out)
            assert (inter <= union).all() and (inter <= tgt).all() and tgt.sum() == (target != ignore).sum()

    check()
