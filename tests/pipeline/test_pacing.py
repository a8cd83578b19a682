"""Pacer: real-time dropping, just-in-time decoding, looping and every-frame pacing, with the time as a number."""

from __future__ import annotations

import math

import pytest

from endodepth.pipeline.pacing import WAIT_S, Pacer, check_speed

FPS = 10.0  # frame i of a play seeked to 0 at t=100 falls due at 100 + i/10


def playing(**options) -> Pacer:
    pacer = Pacer(**options)
    pacer.seek(0, now=100.0)
    return pacer


def test_on_time_playback_decodes_every_frame_and_drops_none():
    pacer = playing()
    got = [pacer.next_index(50, FPS, 100.0 + i / FPS, None, False, 0.0, 0.0)[0] for i in range(5)]
    assert got == [0, 1, 2, 3, 4] and pacer.dropped == 0
    assert pacer.due(3, FPS) == pytest.approx(100.3)


def test_a_late_decoder_skips_to_the_frame_due_now_and_counts_the_skipped():
    pacer = playing()
    assert pacer.next_index(50, FPS, 100.0, None, False, 0.0, 0.0) == (0, 0.0)
    # 0.75 s later frame 7 is due: frames 1..6 are skipped
    assert pacer.next_index(50, FPS, 100.75, None, False, 0.0, 0.0) == (7, 0.0)
    assert pacer.dropped == 6 and pacer.next == 8


def test_while_busy_the_decoder_waits_and_then_decodes_the_frame_due_when_inference_is_free():
    pacer = playing()
    pacer.next_index(50, FPS, 100.0, None, False, 0.0, 0.0)
    # inference started at 100.0 and takes 0.5 s; decoding takes 0.05 s
    index, wait = pacer.next_index(50, FPS, 100.1, 100.0, False, 0.05, 0.5)
    assert index is None and wait == pytest.approx(WAIT_S)
    index, wait = pacer.next_index(50, FPS, 100.42, 100.0, False, 0.05, 0.5)
    assert index is None and wait == pytest.approx(0.03)
    assert pacer.next_index(50, FPS, 100.46, 100.0, False, 0.05, 0.5) == (5, 0.0)  # due at 100.5, when free
    assert pacer.dropped == 4
    assert pacer.next_index(50, FPS, 100.46, 100.0, True, 0.05, 0.5) == (None, WAIT_S)  # one already waits


def test_the_end_stops_without_loop_and_wraps_with_it():
    pacer = playing()
    assert pacer.next_index(5, FPS, 103.0, None, False, 0.0, 0.0) == (4, 0.0)  # late: the last frame
    assert pacer.next_index(5, FPS, 103.0, None, False, 0.0, 0.0) == (None, WAIT_S)
    looping = playing(loop=True)
    assert looping.next_index(5, FPS, 100.0, None, False, 0.0, 0.0) == (0, 0.0)
    index, _ = looping.next_index(5, FPS, 100.72, None, False, 0.0, 0.0)  # 7.2 frames in: frame 7 -> 2
    assert index == 2 and looping.anchor == (pytest.approx(100.5), 0)


def test_take_drops_stale_decoded_frames_in_real_time_and_waits_for_the_due_one():
    pacer = playing()
    assert pacer.take([100.0, 100.1, 100.2, 100.3], FPS, 100.25) == (2, 0.0)
    assert pacer.dropped == 2 and pacer.last_start == 100.25
    drop, wait = pacer.take([100.3], FPS, 100.25)
    assert drop == 0 and wait == pytest.approx(0.05)
    assert pacer.take([100.9], FPS, 100.25) == (0, WAIT_S)  # long waits are taken in steps
    assert pacer.take([0.0, 100.0], FPS, 50.0) == (0, 0.0)  # a scrub request starts at once


def test_every_frame_mode_keeps_every_frame_and_spaces_starts_by_the_rate():
    pacer = playing(realtime=False)
    assert pacer.next_index(5, FPS, 200.0, None, False, 0.0, 0.0) == (0, 0.0)  # no skipping however late
    assert pacer.take([100.0, 100.1, 100.2], FPS, 200.0) == (0, 0.0)
    drop, wait = pacer.take([100.1, 100.2], FPS, 200.04)
    assert drop == 0 and wait == pytest.approx(0.06)
    fast = playing(realtime=False, speed=math.inf)
    assert fast.take([100.0], FPS, 100.0) == (0, 0.0) and fast.take([100.1], FPS, 100.0) == (0, 0.0)
    assert fast.due(9, FPS) == 100.0 and pacer.dropped == 0


def test_speed_must_be_positive():
    assert check_speed(2) == 2.0
    with pytest.raises(ValueError, match="positive"):
        check_speed(0)
