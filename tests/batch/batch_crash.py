"""Run a batch in this process and die by SIGKILL at the worst moment: halfway through writing the
done-marker of one call (its results and summary already in place). Used by test_batch_resume.py.

Usage: python batch_crash.py CALLS_DIR OUT_DIR MODEL VICTIM_CALL_ID
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import streamer.batch.store as store
from model import files
from streamer.batch.runner import run_batch
from streamer.batch.settings import BatchSettings


def main() -> None:
    calls_dir, out_dir, model, victim = sys.argv[1:5]
    real_write = files.atomic_write

    def dying_write(path: Path, data):
        path = Path(path)
        if path.name == store.DONE_MARKER and path.parent.name == victim:
            raw = data.encode() if isinstance(data, str) else data
            tmp = path.with_name(f"{store.TMP_PREFIX}{os.getpid()}-{path.name}")
            with open(tmp, "wb") as f:
                f.write(raw[: len(raw) // 2])
                f.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        return real_write(path, data)

    files.atomic_write = dying_write
    run_batch(calls_dir, out_dir, BatchSettings(model=model), workers=1, progress=False)


if __name__ == "__main__":
    main()
