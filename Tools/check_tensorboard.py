"""Reads a Cortex run's TensorBoard event file with TensorBoard's own EventAccumulator and
checks that its scalars equal the values in the run's steps.jsonl (both float32).

    $CORTEX_TORCH_PYTHON Tools/check_tensorboard.py runs/cnn    # the reference venv has tensorboard

Prints each tag with its number of points and exits nonzero on any difference.
"""
import json
import pathlib
import sys

import numpy as np
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

run = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "runs/cnn")
accumulator = EventAccumulator(str(run), size_guidance={"scalars": 0})
accumulator.Reload()
tags = accumulator.Tags()["scalars"]
expected = {}
for line in (run / "steps.jsonl").read_text().splitlines():
    record = json.loads(line)
    for tag, value in record.items():
        if tag in ("step", "epoch", "wall_time") or value is None:
            continue
        expected.setdefault(tag, []).append((record["step"], np.float32(value)))

failures = 0
for tag in sorted(set(tags) | set(expected)):
    seen = [(event.step, np.float32(event.value)) for event in accumulator.Scalars(tag)] if tag in tags else []
    wanted = expected.get(tag, [])
    same = seen == wanted
    failures += not same
    print(f"{'ok  ' if same else 'FAIL'} {tag}: {len(seen)} points in TensorBoard, {len(wanted)} in steps.jsonl"
          + ("" if same else f"; first TensorBoard {seen[:2]}, JSON {wanted[:2]}"))
print(f"{len(tags)} tags read by TensorBoard's EventAccumulator from {run}; {'all equal' if failures == 0 else f'{failures} differ'}")
sys.exit(1 if failures else 0)
