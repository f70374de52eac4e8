"""Losses: values against straightforward per-class formulations, registry building, Criteria."""
import math

import pytest
import torch
import torch.nn.functional as F

from pointlab.models.losses import (
    BinaryFocalLoss,
    Criteria,
    CrossEntropyLoss,
    DiceLoss,
    FocalLoss,
    LovaszLoss,
    SmoothCELoss,
    build_criteria,
)
from pointlab.registry import LOSSES


def _lovasz_grad_1d(gt):
    gts = gt.sum()
    inter = gts - gt.cumsum(0)
    union = gts + (1 - gt).cumsum(0)
    j = 1.0 - inter / union
    j[1:] = j[1:] - j[:-1].clone()
    return j


def _lovasz_softmax_loop(logits, labels, ignore=None, class_seen=None):
    """The reference's per-class loop, written plainly (float64)."""
    p = logits.double().softmax(1)
    if ignore is not None:
        keep = labels != ignore
        p, labels = p[keep], labels[keep]
    losses = []
    for c in labels.unique().tolist():
        if class_seen is not None and c not in class_seen:
            continue
        fg = (labels == c).double()
        err = (fg - p[:, c]).abs()
        e, perm = torch.sort(err, descending=True)
        losses.append(torch.dot(e, _lovasz_grad_1d(fg[perm])))
    return sum(losses) / len(losses) if losses else torch.tensor(0.0, dtype=torch.float64)


def _lovasz_hinge_loop(logits, labels, ignore=None):
    logits, labels = logits.reshape(-1).double(), labels.reshape(-1)
    if ignore is not None:
        keep = labels != ignore
        logits, labels = logits[keep], labels[keep]
    if labels.numel() == 0:
        return torch.tensor(0.0, dtype=torch.float64)
    signs = 2.0 * labels.double() - 1.0
    err = 1.0 - logits * signs
    e, perm = torch.sort(err, descending=True)
    return torch.dot(F.relu(e), _lovasz_grad_1d(labels[perm].double()))


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(300, 7, generator=g)
    labels = torch.randint(0, 5, (300,), generator=g)  # classes 5, 6 absent
    labels[::11] = -1
    return logits, labels


def test_cross_entropy_matches_torch_with_weight_smoothing_and_ignore(batch):
    logits, labels = batch
    w = [1.0, 2.0, 0.5, 1.0, 3.0, 1.0, 1.0]
    loss = CrossEntropyLoss(weight=w, label_smoothing=0.1, loss_weight=2.0, ignore_index=-1)(logits, labels)
    ref = F.cross_entropy(logits, labels, weight=torch.tensor(w), ignore_index=-1, label_smoothing=0.1) * 2.0
    assert torch.allclose(loss, ref)
    # the legacy reduce=False flag means reduction="none"
    per_point = CrossEntropyLoss(reduce=False)(logits, labels)
    assert per_point.shape == (300,) and torch.all(per_point[labels == -1] == 0)


def test_cross_entropy_wrong_weight_length_names_the_fix(batch):
    logits, labels = batch
    with pytest.raises(ValueError, match="num_classes"):
        CrossEntropyLoss(weight=[1.0, 2.0])(logits, labels)


def test_lovasz_multiclass_matches_per_class_loop(batch):
    logits, labels = batch
    loss = LovaszLoss(mode="multiclass", ignore_index=-1)(logits.double(), labels)
    assert torch.allclose(loss, _lovasz_softmax_loop(logits, labels, ignore=-1), atol=1e-10)
    seen = [0, 3, 6]
    loss = LovaszLoss(mode="multiclass", ignore_index=-1, class_seen=seen, loss_weight=0.5)(logits.double(), labels)
    assert torch.allclose(loss, 0.5 * _lovasz_softmax_loop(logits, labels, ignore=-1, class_seen=seen), atol=1e-10)


def test_lovasz_perfect_prediction_is_zero_and_wrong_is_positive():
    labels = torch.tensor([0, 1, 2, 2, 1])
    perfect = F.one_hot(labels, 3).float() * 50
    assert LovaszLoss("multiclass")(perfect, labels).item() == pytest.approx(0.0, abs=1e-6)
    wrong = F.one_hot((labels + 1) % 3, 3).float() * 50
    assert LovaszLoss("multiclass")(wrong, labels).item() == pytest.approx(1.0, abs=1e-6)


def test_lovasz_all_ignored_is_a_differentiable_zero():
    logits = torch.randn(10, 4, requires_grad=True)
    labels = torch.full((10,), -1)
    loss = LovaszLoss("multiclass", ignore_index=-1)(logits, labels)
    assert loss.dim() == 0 and loss.item() == 0.0
    loss.backward()
    assert torch.all(logits.grad == 0)


def test_lovasz_per_image_on_points_is_mean_of_one_minus_p_label(batch):
    logits, labels = batch
    p = logits.softmax(1)
    valid = labels != -1
    expected = torch.where(valid, 1 - p.gather(1, labels.clamp(min=0)[:, None])[:, 0], torch.zeros(300)).mean()
    loss = LovaszLoss("multiclass", per_image=True, ignore_index=-1)(logits, labels)
    assert torch.allclose(loss, expected)


def test_lovasz_binary_and_multilabel_match_loop():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(50, 3, generator=g, dtype=torch.float64)
    labels = torch.randint(0, 2, (50, 3), generator=g)
    labels[0:5, 1] = 255
    got = LovaszLoss("multilabel", ignore_index=255)(logits, labels)
    assert torch.allclose(got, _lovasz_hinge_loop(logits, labels, ignore=255))
    got = LovaszLoss("binary", per_image=True, ignore_index=255)(logits, labels)
    ref = torch.stack([_lovasz_hinge_loop(logits[i], labels[i], ignore=255) for i in range(50)]).mean()
    assert torch.allclose(got, ref)


def test_lovasz_rejects_unknown_mode():
    with pytest.raises(ValueError, match="multiclass"):
        LovaszLoss(mode="softmax")


def test_smooth_ce_focal_dice_values(batch):
    logits, labels = batch
    valid = labels != -1
    lg, lb = logits[valid], labels[valid]
    # smooth CE with ε=0 is plain CE
    assert torch.allclose(SmoothCELoss(0.0)(lg, lb), F.cross_entropy(lg, lb))
    # focal loss with gamma 0 and alpha 0.5 is half the one-hot BCE
    onehot = F.one_hot(lb, 7).float()
    ref = 0.5 * F.binary_cross_entropy_with_logits(lg, onehot)
    assert torch.allclose(FocalLoss(gamma=0.0, alpha=0.5)(logits, labels), ref)
    # binary focal with gamma 0 and alpha 0.5 is half the BCE
    t = (lb % 2).float()
    assert torch.allclose(BinaryFocalLoss(gamma=0.0, alpha=0.5)(lg[:, 0], t), 0.5 * F.binary_cross_entropy_with_logits(lg[:, 0], t))
    # dice: loop over classes
    prob = lg.softmax(1)
    ref = sum(1 - (2 * (prob[:, c] * onehot[:, c]).sum() + 1) / ((prob[:, c] ** 2 + onehot[:, c] ** 2).sum() + 1) for c in range(7)) / 7
    assert torch.allclose(DiceLoss()(logits, labels), ref)


def test_build_criteria_sums_losses_and_adds_no_state(batch):
    logits, labels = batch
    crit = build_criteria(
        [dict(type="CrossEntropyLoss", loss_weight=1.0, ignore_index=-1), dict(type="LovaszLoss", mode="multiclass", loss_weight=1.0, ignore_index=-1)]
    )
    assert isinstance(crit, Criteria) and not isinstance(crit, torch.nn.Module) and len(crit) == 2
    expected = F.cross_entropy(logits, labels, ignore_index=-1) + LovaszLoss("multiclass", ignore_index=-1)(logits, labels)
    assert torch.allclose(crit(logits, labels), expected)
    assert build_criteria(None)(logits, labels) is logits  # no criteria → the model's own loss passes through
    with pytest.raises(TypeError, match="list"):
        build_criteria(dict(type="CrossEntropyLoss"))


def test_unknown_loss_type_suggests_close_name():
    with pytest.raises(KeyError, match="CrossEntropyLoss"):
        LOSSES.build(dict(type="CrossEntropyLos"))


def test_losses_have_finite_gradients(batch):
    logits, labels = batch
    for cfg in [
        dict(type="CrossEntropyLoss", ignore_index=-1),
        dict(type="LovaszLoss", mode="multiclass", ignore_index=-1),
        dict(type="FocalLoss", ignore_index=-1),
        dict(type="DiceLoss", ignore_index=-1),
    ]:
        x = logits.clone().requires_grad_(True)
        loss = LOSSES.build(cfg)(x, labels)
        loss.backward()
        assert math.isfinite(loss.item()) and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0, cfg["type"]


def test_lovasz_half_precision_counts_are_exact():
    # 5000 points of one class: float16 cumsum would saturate at 2048
    labels = torch.zeros(5000, dtype=torch.long)
    labels[::2] = 1
    logits = torch.randn(5000, 2, generator=torch.Generator().manual_seed(3))
    full = LovaszLoss("multiclass")(logits.double(), labels)
    half = LovaszLoss("multiclass")(logits.half(), labels)
    assert abs(half.item() - full.item()) < 5e-3
