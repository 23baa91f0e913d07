"""The playhead's rules, without Qt (gui/transport.py)."""

from __future__ import annotations

import pytest

from gui.transport import FILE, IDLE, MIC, SESSION, Transport


def test_nothing_loaded_plays_nothing():
    t = Transport()
    assert t.mode == IDLE and not t.playable and not t.play() and not t.playing
    assert t.seek(5.0) == 0.0 and t.advance(1.0) == 0.0


def test_a_recording_plays_at_its_speed_and_stops_at_its_end():
    t = Transport(speed=2.0)
    t.load(FILE, duration_s=10.0)
    assert t.position_s == 0.0 and not t.playing and t.playable
    t.analysis_progress(10.0, done=True)
    assert t.play()
    assert t.advance(1.5) == pytest.approx(3.0)
    t.advance(10.0)
    assert t.position_s == 10.0 and t.at_end and not t.playing
    assert t.play() and t.position_s == 0.0 and not t.at_end  # Play at the end: from the start


def test_the_playhead_waits_at_the_edge_of_an_unfinished_analysis():
    t = Transport(speed=8.0)
    t.load(FILE, duration_s=60.0)
    t.play()
    t.analysis_progress(4.0)
    assert t.advance(1.0) == pytest.approx(4.0) and t.playing  # not past what is analysed
    t.analysis_progress(30.0)
    assert t.advance(1.0) == pytest.approx(12.0)
    t.analysis_progress(60.0, done=True)
    assert t.advance(100.0) == 60.0 and t.at_end


def test_seeking_and_pausing_move_only_the_playhead():
    t = Transport(speed=1.0)
    t.load(FILE, duration_s=20.0)
    t.analysis_progress(20.0, done=True)
    t.play()
    t.advance(5.0)
    assert t.seek(2.0) == 2.0 and t.playing  # playing goes on from there
    t.pause()
    assert t.advance(3.0) == 2.0
    assert t.seek(-4.0) == 0.0 and t.seek(99.0) == 20.0
    assert t.analysed_s == 20.0 and t.analysis_done  # the analysis is untouched


def test_speed_zero_follows_the_analysis():
    t = Transport(speed=0.0)
    t.load(FILE, duration_s=30.0)
    t.play()
    t.analysis_progress(7.5)
    assert t.advance(0.01) == 7.5
    t.analysis_progress(30.0, done=True)
    assert t.advance(0.01) == 30.0 and t.at_end
    with pytest.raises(ValueError):
        t.set_speed(-1.0)


def test_a_session_plays_only_with_its_recording():
    t = Transport()
    t.load(SESSION, duration_s=12.0, analysed_s=12.0, analysis_done=True)
    assert not t.playable and not t.play()
    assert t.seek(6.0) == 6.0  # its results can still be looked at anywhere
    t.load(SESSION, duration_s=12.0, has_audio=True, analysed_s=12.0, analysis_done=True)
    assert t.play() and t.advance(1.0) == pytest.approx(1.0)


def test_live_audio_plays_at_once_and_cannot_be_skipped():
    t = Transport()
    t.load(MIC)
    assert t.playing
    t.live_progress(3.0)
    assert t.position_s == 3.0 and t.duration_s == 3.0
    assert t.seek(1.0) == 3.0 and t.advance(5.0) == 3.0  # the playhead is the newest audio
    with pytest.raises(ValueError):
        t.load("tape")
