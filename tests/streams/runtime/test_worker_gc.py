"""streams.runtime.worker.tune_gc: start-up objects frozen, young collections less frequent."""

import gc

from streams.runtime.worker import tune_gc


def test_tune_gc_freezes_start_up_objects_and_sets_the_young_threshold():
    before = gc.get_threshold()
    try:
        tune_gc(50_000)
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (50_000, before[1], before[2])
        tune_gc(0)  # 0 keeps the threshold as it is
        assert gc.get_threshold()[0] == 50_000
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
