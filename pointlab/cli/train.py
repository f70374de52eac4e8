"""``pointlab train``: train a model from a Pointcept-format config file."""
from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Pointcept's ``tools/train.py`` arguments."""
    from pointlab.config import DictAction

    parser.add_argument("--config-file", required=True, metavar="FILE",
                        help="config path (or Pointcept's shorthand dataset-configname)")
    parser.add_argument("--num-gpus", type=int, default=1, help="processes per machine")
    parser.add_argument("--num-machines", type=int, default=1)
    parser.add_argument("--machine-rank", type=int, default=0)
    parser.add_argument("--dist-url", default="auto", help="'auto' picks a free local port")
    parser.add_argument("--options", nargs="+", action=DictAction, default=None, metavar="KEY=VALUE",
                        help="config overrides, e.g. save_path=exp/x epoch=10 weight=path.pth resume=True")


def _ensure_synthetic_data(cfg, logger) -> None:
    """Write the built-in synthetic scenes when a config asks for ``synthetic_data`` and its root is absent.

    A config opts in with ``synthetic_data = dict(dataset="scannet", scenes=N, seed=S)`` next to
    ``data_root``; nothing is generated for other configs.
    """
    import os.path as osp

    spec = cfg.get("synthetic_data")
    if not spec:
        return
    root = cfg.data_root if "data_root" in cfg else cfg.data.train.data_root
    if osp.isdir(root) and any(osp.isdir(osp.join(root, s)) for s in ("train", "val")):
        return
    from pointlab.data.synth import write_dataset

    spec = dict(spec)
    kind = spec.pop("dataset", "scannet")
    logger.info(f"{root} not found: writing synthetic {kind} scenes there ({spec})")
    write_dataset(kind, root, **spec)


def _user_errors() -> tuple:
    """Errors whose message tells the user what to fix: printed without a traceback."""
    from pointlab.engine.checkpoint import CheckpointError
    from pointlab.engine.launch import LaunchError
    from pointlab.registry import RegistryError

    return (LaunchError, FileNotFoundError, FloatingPointError, CheckpointError, RegistryError)


def _main_worker(cfg) -> int:
    from pointlab.engine.allocator import tune_host_allocator
    from pointlab.engine.logger import close_file_handlers, get_root_logger
    from pointlab.registry import TRAINERS

    tune_host_allocator()
    logger = get_root_logger()
    try:
        _ensure_synthetic_data(cfg, logger)
        trainer = TRAINERS.build(cfg.train, default_args=dict(cfg=cfg))
        trainer.train()
    except _user_errors() as e:
        logger.error(f"{type(e).__name__}: {e}")  # also lands in train.log when it is open
        raise
    finally:
        close_file_handlers(logger)
    return 0


def run(args: argparse.Namespace) -> int:
    import sys

    from pointlab.config import default_config_parser
    from pointlab.engine.launch import launch

    try:
        cfg = default_config_parser(args.config_file, args.options)
        return launch(_main_worker, num_gpus_per_machine=args.num_gpus, num_machines=args.num_machines,
                      machine_rank=args.machine_rank, dist_url=args.dist_url, args=(cfg,))
    except _user_errors() as e:
        print(f"pointlab train: error: {e}", file=sys.stderr)
        return 1 if isinstance(e, FloatingPointError) else 2
