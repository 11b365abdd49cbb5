"""Child process of ``test_train_safety.py``: train until a signal arrives.

``python tests/train_signal_worker.py CHECKPOINT_DIR`` prints ``step <epoch> <step>``
before every training batch (the parent sends SIGINT/SIGTERM after a few) and
exits with ``128 + signum`` after ``fit`` raised ``TrainingInterrupted``.
"""

from __future__ import annotations

import sys
import time

from snnx.train import TrainingInterrupted, fit
from train_safety_setup import EPOCHS, make_run


def main() -> int:
    model, optimizer, loss_fn, batches = make_run()

    def data(epoch):
        for step, batch in enumerate(batches(epoch)):
            print(f"step {epoch} {step}", flush=True)
            time.sleep(0.05)  # time for the parent's signal to land between steps
            yield batch

    try:
        fit(model, optimizer, loss_fn, data, epochs=EPOCHS, checkpoint_dir=sys.argv[1], progress=False)
    except TrainingInterrupted as err:
        print(f"interrupted {err.epoch} {err.step}", flush=True)
        return 128 + err.signum
    print("finished", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
