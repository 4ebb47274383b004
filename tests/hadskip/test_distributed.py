"""Two CPU processes under `torchrun` (the DDP path of `accelerate launch`): ranks stay in sync."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]


def test_two_process_ddp_run_stays_in_sync(tmp_path: Path) -> None:
    path = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONPATH": path}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    command += ["-m", "hadskip._ddp_run", "bert", str(tmp_path)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, cwd=TESTS)
    assert result.returncode == 0, result.stderr[-3000:]
    first, second = (json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in (0, 1))
    assert first["world"] == 2 and first["wrapped"] == "DistributedDataParallel"
    for key in ("gates", "backbone", "lambda", "usage"):
        assert first[key] == pytest.approx(second[key], rel=1e-9), key
    assert first["examples"] == second["examples"] == 64  # usage counted over the whole dev set on each rank
