"""``pointlab test``: test trained weights with the config's tester (fragment-voting TTA for semseg).

Typical use, on a finished run::

    pointlab test --config-file exp/scannet/x/config.py \\
        --options save_path=exp/scannet/x weight=exp/scannet/x/model/model_best.pth

Writes ``save_path/test.log`` and ``save_path/result/`` (predictions per scene, class table, chart).
"""
from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Pointcept's ``tools/test.py`` arguments: the same parser as ``train``."""
    from pointlab.cli.train import add_arguments as add_launch_arguments

    add_launch_arguments(parser)


def _main_worker(cfg):
    from pointlab.engine.allocator import tune_host_allocator
    from pointlab.engine.defaults import default_setup
    from pointlab.engine.logger import close_file_handlers, get_root_logger
    from pointlab.registry import TESTERS

    tune_host_allocator()
    cfg = default_setup(cfg)
    test_cfg = dict(cfg.test)
    test_cfg.setdefault("verbose", True)
    try:
        tester = TESTERS.build(test_cfg, default_args=dict(cfg=cfg))
        return tester.test()
    finally:
        close_file_handlers(get_root_logger())


def run(args: argparse.Namespace) -> int:
    import sys

    from pointlab.config import default_config_parser
    from pointlab.engine.checkpoint import CheckpointError
    from pointlab.engine.launch import LaunchError, launch

    try:
        cfg = default_config_parser(args.config_file, args.options)
        launch(_main_worker, num_gpus_per_machine=args.num_gpus, num_machines=args.num_machines,
               machine_rank=args.machine_rank, dist_url=args.dist_url, args=(cfg,))
    except (LaunchError, FileNotFoundError, CheckpointError) as e:
        print(f"pointlab test: error: {e}", file=sys.stderr)
        return 2
    return 0
