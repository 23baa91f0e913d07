"""`make bench` rewrites benchmarks/RESULTS.md: its own sections anew, the hand-written part kept."""

import sys
import types

import benchmarks.run as bench_run


def test_a_new_run_keeps_the_hand_written_part(tmp_path, monkeypatch):
    results = tmp_path / "RESULTS.md"
    hand = f"{bench_run.KEEP_MARKER}\n\n## Before and after\n\nwritten by hand\n"
    results.write_text("# Benchmark results\n\n## Old section\n\nold numbers\n\n" + hand)
    fake = types.ModuleType("fake_bench")
    fake.run = lambda: "## Fake benchmark\n\nnew numbers\n"
    monkeypatch.setitem(sys.modules, "fake_bench", fake)
    monkeypatch.setattr(bench_run, "RESULTS", results)
    monkeypatch.setattr(bench_run, "reference_ms", lambda: 0.42)

    assert bench_run.main(["fake_bench"]) == 0
    text = results.read_text()
    assert "new numbers" in text and "old numbers" not in text
    assert text.endswith(hand) and text.count(bench_run.KEEP_MARKER) == 1
    assert "0.42 before fake_bench, 0.42 at the end" in text


def test_the_reference_speed_is_measured():
    assert 0.0 < bench_run.reference_ms(repeats=5) < 1000.0


def test_a_results_file_without_the_marker_has_nothing_kept():
    assert bench_run.kept_by_hand("# Benchmark results\n\n## Machine\n") == ""
