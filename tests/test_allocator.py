"""Host allocator tuning (pointlab.engine.allocator): on by default in the CLI, off on request."""
import os
import subprocess
import sys

import pytest

PROBE = r"""
import resource, sys, torch
from pointlab.engine.allocator import tune_host_allocator
applied = tune_host_allocator()
t = torch.empty(32 << 20)  # 128 MB, touched, then freed
t.fill_(1.0)
del t
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
t = torch.empty(30 << 20)  # 120 MB: fits the freed block if the heap kept it
t.fill_(1.0)
print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _probe(**env):
    base = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "POINTLAB_MALLOC_TUNING"}
    out = subprocess.run([sys.executable, "-c", PROBE], env=dict(base, **env), capture_output=True, text=True, check=True)
    applied, faults = out.stdout.split()
    return applied == "True", int(faults)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt")
def test_tuning_keeps_freed_memory_and_can_be_turned_off():
    applied, faults = _probe()
    assert applied
    # the 120 MB tensor reuses the freed heap block: almost no page faults (30720 pages when mmapped afresh)
    assert faults < 2000
    applied, faults = _probe(POINTLAB_MALLOC_TUNING="0")
    assert not applied
    assert faults > 20000


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt")
def test_user_glibc_settings_are_left_alone():
    applied, faults = _probe(MALLOC_TRIM_THRESHOLD_="131072")
    assert not applied
    assert faults > 20000  # glibc's defaults stay in force: the big tensor is mmapped afresh
