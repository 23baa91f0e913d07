"""Per-call summaries: per speaker the speech time, emotion shares, mean and peak arousal, the share of
negative valence, and the moments of highest anger and arousal with their timestamps.

Built on :func:`streamer.summary.summarize` (speech time, shares and means weighted by utterance
duration, as ``ser analyze`` prints them); the batch adds peaks and moments from the window results.
"""

from __future__ import annotations

import dataclasses

from streamer.events import UTTERANCE, WINDOW, SpeechSegment, WindowResult
from streamer.summary import TrackSummary, summarize

ANGER_LABEL = "angry"
NEUTRAL_VALENCE = 0.5  # V/A/D are in [0, 1]; below the midpoint counts as negative valence
TOP_MOMENTS = 3


def _moment(r: WindowResult, score: float) -> dict:
    return {"start_s": r.start_s, "end_s": r.end_s, "score": score, "top_label": r.top_label}


def top_moments(windows: list[WindowResult], score, n: int = TOP_MOMENTS) -> list[dict]:
    """The ``n`` highest-scoring windows that do not overlap (overlapping hops would repeat one moment)."""
    ranked = sorted(windows, key=lambda r: (-score(r), r.start_s))
    picked: list[WindowResult] = []
    for r in ranked:
        if len(picked) == n:
            break
        if all(r.end_s <= p.start_s or p.end_s <= r.start_s for p in picked):
            picked.append(r)
    return [_moment(r, score(r)) for r in picked]


def speaker_summary(base_summary: TrackSummary, results: list[WindowResult]) -> dict:
    """One analysed track's :class:`TrackSummary` plus peaks, negative-valence share and top moments."""
    track = base_summary.track
    base = base_summary.to_dict()
    base.pop("track", None)
    utts = [r for r in results if r.track == track and r.kind == UTTERANCE]
    windows = [r for r in results if r.track == track and r.kind == WINDOW] or utts
    total = sum(r.end_s - r.start_s for r in utts)
    negative = sum(r.end_s - r.start_s for r in utts if r.valence < NEUTRAL_VALENCE)
    out = {**base, "mean_arousal": base["arousal"], "mean_valence": base["valence"],
           "negative_valence_share": negative / total if total > 0 else None,
           "peak_arousal": None, "peak_arousal_s": None, "peak_anger": None, "peak_anger_s": None,
           "top_arousal": top_moments(windows, lambda r: r.arousal),
           "top_anger": []}
    if windows:
        peak = max(windows, key=lambda r: (r.arousal, -r.start_s))
        out["peak_arousal"], out["peak_arousal_s"] = peak.arousal, peak.start_s
        # Anger is an emotion reading: from windows whose emotion is not uncertain, as the shares are
        # (arousal and valence, like their means, come from every window).
        sure = [r for r in windows if not r.uncertain]
        if sure and ANGER_LABEL in sure[0].probabilities:
            out["top_anger"] = top_moments(sure, lambda r: r.probabilities[ANGER_LABEL])
            out["peak_anger"] = out["top_anger"][0]["score"]
            out["peak_anger_s"] = out["top_anger"][0]["start_s"]
    return out


def analysed_view(kept: list[int], segments: list[SpeechSegment],
                  results: list[WindowResult]) -> tuple[list[SpeechSegment], list[WindowResult]]:
    """The segments and results of the analysed tracks ``kept`` (track numbers as results carry
    them: the file's channels), renumbered 0..n-1 in that order, which is how :func:`call_summary`
    and the timeline count the analysed speakers."""
    renumber = {t: i for i, t in enumerate(kept)}
    return ([dataclasses.replace(g, track=renumber[g.track]) for g in segments if g.track in renumber],
            [dataclasses.replace(r, track=renumber[r.track]) for r in results if r.track in renumber])


def call_summary(analysed: list[str], not_analysed: list[str], segments: list[SpeechSegment],
                 results: list[WindowResult], duration_s: float | None, channel_statement: str,
                 all_names: list[str], heads: list[dict] | None = None) -> dict:
    """Everything a reader of one call wants first: per analysed speaker, and which channels were analysed."""
    speakers = []
    for name, base in zip(analysed, summarize(list(analysed), segments, results, heads), strict=True):
        s = speaker_summary(base, results)
        s["channel"] = all_names.index(name) + 1 if name in all_names else None
        speakers.append(s)
    return {"duration_s": duration_s, "channels_analysed": list(analysed), "channels_not_analysed": list(not_analysed),
            "channel_statement": channel_statement, "speakers": speakers}
