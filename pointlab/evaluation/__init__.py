"""Evaluation: segmentation metrics, the evaluator hooks and the testers.

``semseg``   pure metric functions (intersection/union counts, mIoU/mAcc/allAcc, tables, chart)
``hooks``    ``SemSegEvaluator`` and ``PreciseEvaluator`` (registered in ``HOOKS``)
``testers``  ``SemSegTester`` (registered in ``TESTERS``)
``insseg``   instance AP (ScanNet protocol): ``instance_ap``; ``InsSegEvaluator`` / ``InsSegTester``

Hooks and testers are imported lazily (they pull in the engine and data packages).
"""
from __future__ import annotations

import importlib

from pointlab.evaluation.semseg import format_class_table, intersection_and_union, plot_class_iou, semseg_metrics
from pointlab.evaluation.insseg import format_ap_table, instance_ap

_LAZY = {
    "SemSegEvaluator": "pointlab.evaluation.hooks",
    "PreciseEvaluator": "pointlab.evaluation.hooks",
    "TesterBase": "pointlab.evaluation.testers",
    "SemSegTester": "pointlab.evaluation.testers",
    "InsSegEvaluator": "pointlab.evaluation.hooks",
    "InsSegTester": "pointlab.evaluation.testers",
}

__all__ = ["intersection_and_union", "semseg_metrics", "format_class_table", "plot_class_iou", "instance_ap", "format_ap_table"] + sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'pointlab.evaluation' has no attribute '{name}'")
