"""Full-size PT-v3m1 (ScanNet base config) on the SpUNet benchmark's synthetic room (0.02 m voxels).

Usage:  python benchmarks/bench_ptv3.py [--threads 2] [--repeats 5] [--cases eval,train] [--device cpu]
                                        [--flash 1] [--attention sdpa|math] [--no-breakdown]

Cases, each in a fresh subprocess (so peak RSS is per case), 1 warm-up then ``--repeats`` timed runs:
    eval   model.eval(), torch.no_grad(), forward without labels
    train  model.train(), forward with labels (CE + Lovász) + loss.backward(), no optimizer step
           (what the reference timed)
    step   train + AdamW(lr 0.006, wd 0.05) step + zero_grad
Prints medians, peak RSS (ru_maxrss: includes imports, model build and scene generation, as in the
reference measurement) and ratios to ``shared/fixtures/timings.json`` (Pointcept, CPU, non-flash
attention with explicit softmax, spconv 2.3.8). ``--flash 0`` runs the reference's non-flash
configuration (K = min(1024, smallest sample) — the same windows for one scene).
``--attention math`` swaps in the reference's attention formula (explicit q·kᵀ, softmax, ·v on
[patches, heads, K, K]) with everything else unchanged: the sdpa/math ratio measured in the same run
conditions isolates the attention speed-up from machine load (this machine is shared).
"CPU s" is the process CPU time per run (all threads): on a shared machine it moves far less than
wall time, so compare before/after with it (a 1-thread run, ``--threads 1``, has no spin-waiting in it).
The breakdown (one extra instrumented run per case) shows where the time goes, forward and backward,
per category: serialization, embedding (stem conv), CPE (sparse conv + linear + norm, incl. kernel
maps), attention (gathers into patches, qkv, SDPA, proj), MLP, norms, pooling, unpooling, head, loss;
plus the SDPA kernel and the sparse-conv op on their own rows ("incl.": already inside their
categories). Backward time is attributed with torch.profiler: each autograd node carries the sequence
number of the forward op that made it, and that op's innermost category range names it. Wall times
of single categories are distorted on a loaded machine (many tiny parallel ops wait for descheduled
threads — serialization especially); shares from a quiet run are the ones to quote.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
TIMINGS = [REPO / "tests" / "fixtures" / "timings.json", REPO.parent / "shared" / "fixtures" / "timings.json"]
BACKBONE = dict(
    type="PT-v3m1", in_channels=6, order=("z", "z-trans", "hilbert", "hilbert-trans"), stride=(2, 2, 2, 2),
    enc_depths=(2, 2, 2, 6, 2), enc_channels=(32, 64, 128, 256, 512), enc_num_head=(2, 4, 8, 16, 32),
    enc_patch_size=(1024,) * 5, dec_depths=(2, 2, 2, 2), dec_channels=(64, 64, 128, 256), dec_num_head=(4, 4, 8, 16),
    dec_patch_size=(1024,) * 4, mlp_ratio=4, qkv_bias=True, qk_scale=None, attn_drop=0.0, proj_drop=0.0, drop_path=0.3,
    shuffle_orders=True, pre_norm=True, enable_rpe=False, enable_flash=True, upcast_attention=False, upcast_softmax=False,
    enc_mode=False,
)
CRITERIA = [dict(type="CrossEntropyLoss", loss_weight=1.0, ignore_index=-1), dict(type="LovaszLoss", mode="multiclass", loss_weight=1.0, ignore_index=-1)]


LABEL = "ptv3::"
# kernels shown on their own lines under their category (forward op, backward op)
KERNELS = {
    "SDPA kernel": ("aten::_scaled_dot_product_flash_attention_for_cpu", "aten::_scaled_dot_product_flash_attention_for_cpu_backward"),
    "sparse conv op": ("_SparseConvFunction", "_SparseConvFunctionBackward"),
}


def backward_by_category(prof) -> tuple[dict, dict]:
    """Backward time per forward category, from one profiled train step.

    Every autograd node carries the sequence number of the forward op that created it; the
    forward op's innermost ``ptv3::<category>`` range names the category of its backward
    (``autograd::engine::evaluate_function: …`` events, inclusive time). Returns
    ``(backward seconds per category, {kernel: (forward s, backward s)})``.
    """
    events = sorted(prof.events(), key=lambda e: e.time_range.start)
    seq_cat = {}
    # ops under no_grad report the *next* sequence number too: the op that creates the node is the
    # last one with that number, so later events overwrite earlier ones
    for e in events:
        if e.sequence_nr < 0 or e.name.startswith("autograd::engine"):
            continue
        par = e.cpu_parent
        while par is not None and not par.name.startswith(LABEL):
            if par.name.startswith("autograd::engine"):
                break
            par = par.cpu_parent
        if par is not None and par.name.startswith(LABEL):
            seq_cat[e.sequence_nr] = par.name[len(LABEL):]
        elif par is None:
            seq_cat.pop(e.sequence_nr, None)
    bwd = defaultdict(float)
    for e in events:
        if e.name.startswith("autograd::engine::evaluate_function:") and e.cpu_parent is None:
            cat = seq_cat.get(e.sequence_nr, "loss/other") if e.sequence_nr >= 0 else "grad accumulation"
            bwd[cat] += e.cpu_time_total / 1e6
    kernels = {}
    for label, (fwd_name, bwd_name) in KERNELS.items():
        f = sum(e.cpu_time_total for e in events if e.name == fwd_name) / 1e6
        b = sum(e.cpu_time_total for e in events if e.name == bwd_name) / 1e6
        if f or b:
            kernels[label] = (round(f, 4), round(b, 4))
    return dict(bwd), kernels


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class _Timer:
    """Accumulates wall time per category by wrapping module forwards (synchronising on CUDA)."""

    def __init__(self, device: str):
        self.device = device
        self.totals = defaultdict(float)
        self.stack = []

    def _sync(self):
        if self.device != "cpu":
            import torch

            torch.cuda.synchronize()

    def wrap(self, obj, attr: str, name: str):
        fn = getattr(obj, attr)

        def timed(*a, **k):
            import torch

            self._sync()
            t = time.perf_counter()
            self.stack.append(name)
            try:
                with torch.profiler.record_function(LABEL + name):
                    return fn(*a, **k)
            finally:
                self.stack.pop()
                self._sync()
                dt = time.perf_counter() - t
                if not self.stack or self.stack[-1] != name:  # count nested same-category calls once
                    self.totals[name] += dt
                if self.stack:  # exclusive time: take it out of the enclosing category
                    self.totals[self.stack[-1]] -= dt

        if attr == "__call__":  # special methods are looked up on the type: time a subclass's
            obj.__class__ = type(type(obj).__name__, (type(obj),), {"__call__": lambda self, *a, **k: timed(*a, **k)})
        else:
            setattr(obj, attr, timed)


def instrument(model, device):
    import torch.nn as nn

    import pointlab.models.ptv3.model as ptv3_model
    from pointlab.models.ptv3 import MLP, Block, Embedding, SerializedAttention, SerializedPooling, SerializedUnpooling

    timer = _Timer(device)
    timer.wrap(ptv3_model, "serialization", "serialization")
    timer.wrap(ptv3_model, "sparsify", "serialization")
    for m in model.modules():
        if isinstance(m, Embedding):
            timer.wrap(m, "forward", "embedding")
        elif isinstance(m, Block):
            timer.wrap(m.cpe, "forward", "cpe")
            timer.wrap(m.norm1, "forward", "norm")
            timer.wrap(m.norm2, "forward", "norm")
            timer.wrap(m, "forward", "block other")
        elif isinstance(m, SerializedAttention):
            timer.wrap(m, "forward", "attention")
        elif isinstance(m, MLP):
            timer.wrap(m, "forward", "mlp")
        elif isinstance(m, SerializedPooling):
            timer.wrap(m, "forward", "pooling")
        elif isinstance(m, SerializedUnpooling):
            timer.wrap(m, "forward", "unpooling")
    timer.wrap(model.seg_head, "forward", "head")
    crit = model.criteria
    timer.wrap(crit, "forward" if isinstance(crit, nn.Module) else "__call__", "loss")
    return timer


def run_case(case: str, repeats: int, threads: int, device: str, flash: bool, breakdown: bool, attention: str = "sdpa") -> dict:
    import torch

    from pointlab.engine.allocator import tune_host_allocator
    from pointlab.models.ptv3 import SerializedAttention

    tune_host_allocator()  # reads POINTLAB_MALLOC_TUNING, set by the parent from --malloc-tuning
    SerializedAttention.backend = attention

    torch.set_num_threads(threads)
    from bench_spunet import make_scene
    from pointlab.models import build_model

    torch.manual_seed(0)
    backbone = dict(BACKBONE, enable_flash=flash)
    model = build_model(dict(type="DefaultSegmentorV2", num_classes=20, backbone_out_channels=64, backbone=backbone, criteria=CRITERIA)).to(device)
    grid, feat, segment = make_scene()
    data = dict(
        grid_coord=torch.from_numpy(grid).to(device),
        coord=torch.from_numpy(grid).float().mul(0.02).to(device),
        feat=torch.from_numpy(feat).to(device),
        offset=torch.tensor([len(grid)], device=device),
    )
    labels = torch.from_numpy(segment).to(device)
    rss_build = _rss_mb()
    opt = torch.optim.AdamW(model.parameters(), lr=0.006, weight_decay=0.05)
    split = {}

    def once():
        if case == "eval":
            model.eval()
            with torch.no_grad():
                model(dict(data))
        else:
            model.train()
            t0 = time.perf_counter()
            loss = model(dict(data, segment=labels))["loss"]
            t1 = time.perf_counter()
            loss.backward()
            if device != "cpu":
                torch.cuda.synchronize()
            split["forward"], split["backward"] = t1 - t0, time.perf_counter() - t1
            if case == "step":
                opt.step()
            opt.zero_grad(set_to_none=True)

    cpu_times = []

    def timed():
        if device != "cpu":
            torch.cuda.synchronize()
        t, c = time.perf_counter(), time.process_time()
        once()
        if device != "cpu":
            torch.cuda.synchronize()
        cpu_times.append(time.process_time() - c)
        return time.perf_counter() - t

    timed()  # warm-up
    cpu_times.clear()
    times = [timed() for _ in range(repeats)]
    peak = _rss_mb()
    result = dict(case=case, num_points=len(grid), times_s=[round(t, 4) for t in times], median_s=statistics.median(times),
                  cpu_s=[round(t, 4) for t in cpu_times], median_cpu_s=statistics.median(cpu_times),
                  peak_rss_mb=peak, rss_after_build_mb=rss_build, threads=threads, device=device, flash=flash, attention=attention)
    if device != "cpu":
        result["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    if breakdown:
        timer = instrument(model, device)
        if case == "eval":
            total = timed()
            bwd, kernels = {}, {}
        else:  # profile the step to attribute the backward to the forward categories
            from torch.profiler import ProfilerActivity, profile

            acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device != "cpu" else [])
            with profile(activities=acts) as prof:
                torch.ones(64).sum()  # the profiler's lazy start-up cost lands here, not in the first category
                total = timed()
            bwd, kernels = backward_by_category(prof)
        cats = sorted(set(timer.totals) | set(bwd), key=lambda c: -(timer.totals.get(c, 0.0) + bwd.get(c, 0.0)))
        result["breakdown"] = {c: (round(timer.totals.get(c, 0.0), 4), round(bwd.get(c, 0.0), 4)) for c in cats}
        result["breakdown_kernels"] = kernels
        result["breakdown_total_s"] = round(total, 4)
        if case != "eval":
            result["breakdown_forward_s"] = round(split["forward"], 4)
            result["breakdown_backward_s"] = round(split["backward"], 4)
    return result


def reference_times() -> dict:
    for p in TIMINGS:
        if p.is_file():
            rows = json.loads(p.read_text())["results"]
            return {r["mode"]: r for r in rows if r["model"] == "ptv3m1"}
    return {}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--cases", default="eval,train")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--flash", type=int, default=1, help="enable_flash of the config (1: the config's value)")
    ap.add_argument("--attention", default="sdpa", choices=("sdpa", "math"), help="math: the reference's explicit-softmax formula")
    ap.add_argument("--no-breakdown", action="store_true")
    ap.add_argument("--malloc-tuning", type=int, default=1, choices=(0, 1),
                    help="1: keep freed memory in the heap as `pointlab train/test/infer` do (pointlab.engine.allocator); 0: glibc defaults")
    ap.add_argument("--case", help=argparse.SUPPRESS)  # internal: run one case in this process
    args = ap.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.repeats, args.threads, args.device, bool(args.flash), not args.no_breakdown, args.attention)))
        return 0

    ref = reference_times()
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads),
               POINTLAB_MALLOC_TUNING=str(args.malloc_tuning))
    print(f"host allocator tuning {'on' if args.malloc_tuning else 'off'} (--malloc-tuning; what pointlab's CLI does)")
    print(f"PT-v3m1 full size (46.17 M params), {args.threads} threads, {args.device}, enable_flash={bool(args.flash)}, attention={args.attention}, "
          f"median of {args.repeats} after 1 warm-up")
    print(f"{'case':6s} {'points':>7s} {'median s':>9s} {'min s':>7s} {'CPU s':>7s} {'peak RSS MB':>12s}  {'ref s':>6s} {'ratio':>6s} {'ref RSS':>8s} {'RSS ratio':>9s}")
    results = []
    for case in args.cases.split(","):
        cmd = [sys.executable, __file__, "--case", case, "--repeats", str(args.repeats), "--threads", str(args.threads),
               "--device", args.device, "--flash", str(args.flash), "--attention", args.attention] + (["--no-breakdown"] if args.no_breakdown else [])
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            print(f"{case}: failed\n{proc.stderr[-3000:]}")
            return 1
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        results.append(r)
        rr = ref.get("train" if case in ("train", "step") else case)
        ratio = f"{r['median_s'] / rr['median_s']:6.2f}" if rr else "   n/a"
        rss_ratio = f"{r['peak_rss_mb'] / rr['peak_rss_mb']:9.2f}" if rr else "      n/a"
        print(f"{case:6s} {r['num_points']:7d} {r['median_s']:9.3f} {min(r['times_s']):7.3f} {r['median_cpu_s']:7.2f} {r['peak_rss_mb']:12.0f}  "
              f"{rr['median_s'] if rr else float('nan'):6.2f} {ratio} {rr['peak_rss_mb'] if rr else float('nan'):8.0f} {rss_ratio}")
        if "cuda_peak_mb" in r:
            print(f"       CUDA peak allocated {r['cuda_peak_mb']:.0f} MB")
    print("ratio = ours / reference (Pointcept CPU, timings.json); < 1 is better. 'step' is compared with the reference's train.\n"
          "CPU s = process CPU time (all threads) per run: steadier than wall time on a shared machine.")
    for r in results:
        if "breakdown" in r:
            tot = r["breakdown_total_s"]
            extra = ""
            if "breakdown_forward_s" in r:
                extra = f"; forward {r['breakdown_forward_s']:.3f} s + backward {r['breakdown_backward_s']:.3f} s"
            print(f"\nwhere the time goes — {r['case']} (one instrumented run, {tot:.3f} s{extra}):")
            print(f"  {'category':18s} {'forward s':>9s} {'backward s':>10s} {'total s':>8s} {'share':>6s}")
            for k, (f, b) in r["breakdown"].items():
                print(f"  {k:18s} {f:9.3f} {b:10.3f} {f + b:8.3f} {100 * (f + b) / tot:5.1f} %")
            for k, (f, b) in r.get("breakdown_kernels", {}).items():
                print(f"  {'incl. ' + k:18s} {f:9.3f} {b:10.3f} {f + b:8.3f} {100 * (f + b) / tot:5.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
