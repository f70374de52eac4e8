"""``pointlab params``: trainable / frozen / buffer counts of a config's model.

Builds ``cfg.model`` on the CPU (no data, no weights) and prints, in total and per top-level
module (and deeper with ``--depth``): trainable parameters (what the trainer logs as "Num params"),
frozen parameters (e.g. PPT's ``logit_scale``), buffer elements (BatchNorm statistics,
``class_embedding``) and state_dict keys; then the trainable parameters by kind (convolutions,
norm affine γ/β, PDNorm modulation, attention/MLP linears, embeddings, heads), which is where
model variants differ (see docs/params.md).
"""
from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config-file", required=True, help="config whose `model` is counted")
    parser.add_argument("--options", nargs="+", default=[], help="config overrides KEY=VALUE (as `pointlab train`)")
    parser.add_argument("--depth", type=int, default=1, help="module nesting shown (1 = top-level modules; default 1)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")


def count_parameters(model, depth: int = 1) -> dict:
    """Counts of ``model``: ``total`` and ``modules`` ({qualified name: counts}) down to ``depth``.

    Each counts dict has ``trainable``, ``frozen``, ``buffers`` (elements) and ``keys`` (state_dict
    entries). Parameters/buffers owned directly by a module above ``depth`` are listed under
    ``"<name>.<param>"`` (e.g. ``logit_scale``) so the rows add up to the total.
    """
    def zero():
        return {"trainable": 0, "frozen": 0, "buffers": 0, "keys": 0}

    def add(row, kind, n):
        row[kind] += n
        row["keys"] += 1

    total = zero()
    rows: dict[str, dict] = {}
    persistent = set(model.state_dict().keys())

    def bucket(name: str) -> str:
        parts = name.split(".")
        # the owning module path down to `depth` levels, or the tensor's own name if it sits higher
        if len(parts) <= depth:
            return name
        return ".".join(parts[:depth])

    for name, p in model.named_parameters():
        kind = "trainable" if p.requires_grad else "frozen"
        for row in (total, rows.setdefault(bucket(name), zero())):
            add(row, kind, p.numel())
    for name, b in model.named_buffers():
        if name not in persistent:
            continue  # non-persistent buffers (index tensors) are not state
        for row in (total, rows.setdefault(bucket(name), zero())):
            add(row, "buffers", b.numel())
    order = {}
    for i, key in enumerate(model.state_dict().keys()):
        order.setdefault(bucket(key), i)
    rows = dict(sorted(rows.items(), key=lambda kv: order.get(kv[0], len(order))))
    return {"total": total, "modules": rows, "by_kind": count_by_kind(model)}


def count_by_kind(model) -> dict:
    """Trainable parameters grouped by what they are (conv, norm, modulation, linear, embedding, other)."""
    import torch.nn as nn

    from pointlab import sparse

    kinds: dict[str, int] = {}
    for mod_name, module in model.named_modules():
        own = [p for p in module.parameters(recurse=False) if p.requires_grad]
        if not own:
            continue
        n = sum(p.numel() for p in own)
        if isinstance(module, sparse.SparseConvolution) or isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            kind = "convolution"
        elif isinstance(module, (nn.BatchNorm1d, nn.LayerNorm, nn.GroupNorm)):
            kind = "norm affine (γ/β)"
        elif ".modulation." in f".{mod_name}.":
            kind = "PDNorm adaptive modulation"
        elif isinstance(module, nn.Embedding):
            kind = "embedding"
        elif isinstance(module, nn.Linear):
            kind = "linear"
        else:
            kind = f"other ({type(module).__name__})"
        kinds[kind] = kinds.get(kind, 0) + n
    return kinds


def run(args: argparse.Namespace) -> int:
    import json
    import sys
    import warnings

    from pointlab.config import Config
    from pointlab.models import build_model

    try:
        cfg = Config.fromfile(args.config_file)
        if args.options:
            cfg.merge_from_dict(_parse_options(args.options))
    except (FileNotFoundError, SyntaxError, ValueError) as e:
        print(f"pointlab params: cannot read {args.config_file}: {e}", file=sys.stderr)
        return 2
    if "model" not in cfg:
        print(f"pointlab params: {args.config_file} has no `model` entry", file=sys.stderr)
        return 2
    model_cfg = cfg.model
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = build_model(model_cfg)
    notes = [str(w.message).split(";")[0] for w in caught if "PPT-v1m1" in str(w.message)]
    for w in caught:
        if "PPT-v1m1" not in str(w.message):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    counts = count_parameters(model, depth=max(1, args.depth))
    if args.json:
        print(json.dumps({"config": args.config_file, "model": model_cfg.get("type"), **counts}))
        return 0
    width = max([len(k) for k in counts["modules"]] + [12]) + 2
    print(f"Model {model_cfg.get('type')} from {args.config_file}")
    print(f"{'':<{width}}{'trainable':>14}{'frozen':>10}{'buffers':>12}{'keys':>7}")
    for name, row in [("total", counts["total"])] + list(counts["modules"].items()):
        print(f"{name:<{width}}{row['trainable']:>14,}{row['frozen']:>10,}{row['buffers']:>12,}{row['keys']:>7,}")
    print("trainable parameters by kind:")
    for kind, n in sorted(counts["by_kind"].items(), key=lambda kv: -kv[1]):
        print(f"  {kind:<{width + 12}}{n:>14,}")
    for note in notes:
        print(f"note: {note} (the counts do not depend on the embedding values)")
    return 0


def _parse_options(options: list[str]) -> dict:
    from pointlab.config import parse_options  # the train CLI's KEY=VALUE parser

    return parse_options(options)
