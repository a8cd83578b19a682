"""The thread budget: the rule per core count, overrides, and applying it to torch and OpenCV."""

import cv2
import torch

from endodepth.threads import ThreadBudget, apply, plan


def test_two_cores_leave_one_to_decoding_and_keep_opencv_serial():
    assert plan(2) == ThreadBudget(cores=2, torch_threads=1, opencv_threads=0)
    assert plan(4).torch_threads == 3
    assert plan(1) == ThreadBudget(cores=1, torch_threads=1, opencv_threads=0)


def test_big_machines_leave_cores_to_the_pipeline_and_opencv():
    assert plan(16) == ThreadBudget(cores=16, torch_threads=14, opencv_threads=2)
    assert plan(6).torch_threads == 4 and plan(6).opencv_threads == 0


def test_explicit_counts_win():
    assert plan(2, torch_threads=1, opencv_threads=2) == ThreadBudget(2, 1, 2)


def test_apply_sets_both_libraries():
    before = torch.get_num_threads(), cv2.getNumThreads()
    try:
        budget = apply(ThreadBudget(2, 1, 0))
        assert torch.get_num_threads() == 1
        assert cv2.getNumThreads() in (0, 1)  # serial: OpenCV reports 1 or 0 by backend
        assert "torch 1 intra-op, OpenCV serial" in budget.describe()
    finally:
        torch.set_num_threads(before[0])
        cv2.setNumThreads(before[1])


def test_the_status_bar_line_is_short():
    budget = plan(2)
    assert budget.short() == "threads: torch 1, OpenCV serial, 2 cores"


def test_opencv_pool_widens_for_the_block_and_restores_the_budget():
    import cv2

    from endodepth.threads import ensure_applied, opencv_pool

    budget = ensure_applied()
    wider = budget.opencv_threads + 2
    with opencv_pool(wider):
        assert cv2.getNumThreads() == wider
    after = cv2.getNumThreads()
    cv2.setNumThreads(budget.opencv_threads)
    assert after == cv2.getNumThreads()  # the budget's count, however OpenCV reports "serial"
