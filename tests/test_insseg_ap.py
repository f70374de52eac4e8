"""instance_ap: the ScanNet benchmark protocol on small scenes whose AP is worked out by hand."""
import math
import warnings

import numpy as np
import pytest

from pointlab.evaluation import format_ap_table, instance_ap

NAMES = ["wall", "floor", "chair", "table"]
IGNORE = (-1, 0, 1)


def _gt(n=1000):
    """chair instances 0 (points 0..199) and 1 (200..399), table instance 2 (400..599), wall 600..999."""
    seg = np.zeros(n, np.int64)
    inst = np.full(n, -1, np.int64)
    seg[:400], inst[:200], inst[200:400] = 2, 0, 1
    seg[400:600], inst[400:600] = 3, 2
    return seg, inst


def _scene(preds, n=1000, seg=None, inst=None):
    if seg is None:
        seg, inst = _gt(n)
    masks = np.zeros((len(preds), n), bool)
    for k, (pts, _, _) in enumerate(preds):
        masks[k, list(pts)] = True
    return dict(segment=seg, instance=inst, pred_masks=masks,
                pred_scores=np.array([p[1] for p in preds], float), pred_classes=np.array([p[2] for p in preds], np.int64))


def test_perfect_predictions():
    r = instance_ap([_scene([(range(0, 200), 0.9, 2), (range(200, 400), 0.8, 2), (range(400, 600), 0.7, 3)])], NAMES, IGNORE)
    assert set(r) == {"all_ap", "all_ap_50%", "all_ap_25%", "classes"}
    assert list(r["classes"]) == ["chair", "table"]  # wall/floor are not evaluated
    assert r["all_ap"] == r["all_ap_50%"] == r["all_ap_25%"] == 1.0
    assert r["classes"]["chair"] == {"ap": 1.0, "ap50%": 1.0, "ap25%": 1.0}


def test_false_positive_hard_false_negative_and_void_prediction():
    # chair: TP 0.9 on instance 0; instance 1 missed (hard FN); a chair prediction on the table
    # (valid class, not void) is a FP at 0.7; one on the wall (void) is ignored.
    # PR points (p, r): (0.5, 0.5) at 0.7, (1, 0.5) at 0.9 → AP = 0.5·0 + 1·0.25 + 1·0.25 = 0.5.
    preds = [(range(0, 200), 0.9, 2), (range(600, 800), 0.8, 2), (range(400, 600), 0.7, 2)]
    r = instance_ap([_scene(preds)], NAMES, IGNORE)
    assert r["classes"]["chair"] == {"ap": 0.5, "ap50%": 0.5, "ap25%": 0.5}
    assert r["classes"]["table"]["ap"] == 0.0  # GT but no prediction
    assert r["all_ap"] == 0.25


def test_overlap_threshold_is_strict():
    # 100 of instance 0's 200 points: IoU exactly 0.5 → no match at 0.50 (nor above), a match at
    # 0.25 (precision 1 at recall 1/2: instance 1 is missed → AP 0.5)
    r = instance_ap([_scene([(range(0, 100), 0.9, 2)])], NAMES, IGNORE)
    assert r["classes"]["chair"] == {"ap": 0.0, "ap50%": 0.0, "ap25%": 0.5}


def test_duplicate_prediction_is_a_false_positive_with_the_lower_score():
    # instance 0: predictions at 0.6 and 0.9 both over τ → GT keeps 0.9, a FP at 0.6;
    # instance 1: TP at 0.5. Curve (2/3, 1), (1/2, 1/2), (1, 1/2) → AP = (2/3 + 1/2 + 1 + 1) / 4.
    preds = [(range(0, 200), 0.6, 2), (range(0, 190), 0.9, 2), (range(200, 400), 0.5, 2)]
    r = instance_ap([_scene(preds)], NAMES, IGNORE)
    assert math.isclose(r["classes"]["chair"]["ap50%"], (2 / 3 + 0.5 + 1 + 1) / 4)


def test_small_ground_truth_and_small_predictions_are_ignored():
    seg, inst = _gt()
    inst[100:200] = -1  # chair instance 0 has only 100 points left... make it 80
    inst[80:200] = -1
    # a 150-point chair prediction on the 80-point instance and 70 wall points: all ignored, not a FP
    big = (list(range(0, 80)) + list(range(600, 670)), 0.95, 2)
    tiny = (range(200, 290), 0.99, 2)  # 90 points < 100: dropped before matching
    r = instance_ap([_scene([big, tiny, (range(200, 400), 0.5, 2)], seg=seg, inst=inst)], NAMES, IGNORE)
    assert r["classes"]["chair"]["ap"] == 1.0
    # a class whose only instance is small has no valid GT: NaN
    seg2, inst2 = _gt()
    inst2[:400] = np.where(np.arange(400) < 50, 0, -1)
    r = instance_ap([_scene([], seg=seg2, inst=inst2)], NAMES, IGNORE)
    assert math.isnan(r["classes"]["chair"]["ap"]) and r["classes"]["table"]["ap"] == 0.0


def test_several_scenes_pool_predictions():
    a = _scene([(range(0, 200), 0.9, 2)])  # instance 1 of scene a missed
    b = _scene([(range(0, 200), 0.8, 2), (range(200, 400), 0.7, 2)])
    r = instance_ap([a, b], NAMES, IGNORE)
    # 3 TPs (0.9, 0.8, 0.7), 1 hard FN: precision 1 at recall 0.75 → AP 0.75
    assert math.isclose(r["classes"]["chair"]["ap50%"], 0.75)


def test_bad_inputs_are_handled_or_named():
    seg, _ = _gt()
    no_inst = np.full(1000, -1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning from empty means
        r = instance_ap([_scene([(range(0, 200), 0.9, 2)], seg=seg, inst=no_inst)], NAMES, IGNORE)
        assert math.isnan(r["all_ap"]) and all(math.isnan(v["ap"]) for v in r["classes"].values())
        # everything ignored (all wall) and a zero-point proposal
        r = instance_ap([_scene([((), 0.5, 2)], seg=np.zeros(1000, np.int64), inst=np.full(1000, -1))], NAMES, IGNORE)
        assert math.isnan(r["all_ap_50%"])
        r = instance_ap([], NAMES, IGNORE)
        assert math.isnan(r["all_ap"])
    s = _scene([(range(0, 200), 0.9, 2)])
    with pytest.raises(ValueError, match=r"pred_masks has shape \(1, 999\)"):
        instance_ap([dict(s, pred_masks=s["pred_masks"][:, :999])], NAMES, IGNORE)
    with pytest.raises(ValueError, match="pred_classes"):
        instance_ap([dict(s, pred_classes=np.array([7]))], NAMES, IGNORE)
    with pytest.raises(KeyError, match="instance"):
        instance_ap([{k: v for k, v in s.items() if k != "instance"}], NAMES, IGNORE)
    # predictions of an ignored class are skipped, not an error
    r = instance_ap([_scene([(range(600, 1000), 0.9, 0), (range(0, 200), 0.8, 2), (range(200, 400), 0.8, 2)])], NAMES, IGNORE)
    assert r["classes"]["chair"]["ap"] == 1.0


def test_table_text():
    r = instance_ap([_scene([(range(0, 200), 0.9, 2)])], NAMES, IGNORE)
    text = format_ap_table(r)
    assert "chair" in text and "average" in text and "0.5000" in text
