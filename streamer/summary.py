"""Per-track summaries of analysis results: speech time, emotion shares, mean V/A/D, gender."""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass, field

from model.times import clock_text, tenths, time_text  # noqa: F401 - the app and reports take them from here too
from streamer.events import UTTERANCE, WINDOW, SpeechSegment, WindowResult

SHOWN_LABELS = 4  # emotions listed by name in a one-line summary; the rest are summed as "other"
PERCENT = 100.0
BUILT_IN_HEADS = ("emotion", "gender", "dimensions")  # summarised by name below; any other head generically


@dataclass
class EmotionTime:
    """Utterance time by top emotion, with uncertain time counted apart: the one definition of
    emotion shares (weighted by speech duration), used by ``ser analyze``, ``ser batch`` and the
    app's panel. Items are anything with ``start_s``, ``end_s``, ``top_label`` and ``uncertain``."""

    seconds: dict[str, float] = field(default_factory=dict)
    uncertain_s: float = 0.0

    def add(self, r, sign: float = 1.0) -> None:
        """Count utterance ``r`` (``sign`` -1 takes it back out, e.g. after a seek)."""
        d = (r.end_s - r.start_s) * sign
        if r.uncertain:
            self.uncertain_s = max(0.0, self.uncertain_s + d)
        else:
            self.seconds[r.top_label] = max(0.0, self.seconds.get(r.top_label, 0.0) + d)

    def shares(self) -> dict[str, float]:
        """Top label -> share of the confident utterance time."""
        total = sum(self.seconds.values())
        return {lab: s / total for lab, s in self.seconds.items() if s > 0} if total > 0 else {}


def left_out_text(not_speech: dict[str, float] | None) -> str:
    """What the speech gate left out of a track, from a summary's ``not_speech`` (reason -> seconds):
    "10.0 s of sound left out as not speech: 8.0 s a tone and 2.0 s noise", or "" for none."""
    if not not_speech:
        return ""
    seconds = ms(sum(not_speech.values()))
    # each reason with its time; joined by "and" (a reason itself may hold commas)
    reasons = " and ".join(f"{t:.1f} s {why}" for why, t in sorted(not_speech.items(), key=lambda kv: kv[1], reverse=True))
    return f"{seconds:.1f} s of sound left out as not speech: {reasons}"


@dataclass
class TrackSummary:
    """What one track of one input amounts to. Shares and means are weighted by utterance duration.

    Utterances the model marks uncertain count as speech and toward V/A/D and gender, but not toward
    the emotion shares: their time is counted apart (``uncertain_s``), and the shares are of the
    speech time whose emotion the model is confident about."""

    track: int
    track_name: str
    speech_s: float = 0.0
    n_segments: int = 0
    # Sound the voice-activity detector took for speech and the speech gate did not: the gate's
    # reason -> seconds (not counted in speech_s and n_segments).
    not_speech: dict[str, float] = field(default_factory=dict)
    # Speech segments with no utterance result before the track's last one (too short for an
    # analysis window): counted in speech_s and n_segments, not in the emotion shares.
    n_unanalysed: int = 0
    unanalysed_s: float = 0.0
    n_utterances: int = 0
    emotion_shares: dict[str, float] = field(default_factory=dict)  # top label -> share of confident analysed speech time
    uncertain_s: float = 0.0  # analysed speech time whose emotion is uncertain
    valence: float | None = None
    arousal: float | None = None
    dominance: float | None = None
    dimensions_source: str = ""
    gender: dict[str, float] = field(default_factory=dict)
    # Every head of the model: the utterance-duration-weighted mean of each output, and each
    # output's highest window value with the window's start ({"value", "start_s"}; the emotion
    # head's from windows whose emotion is not uncertain: see counts_for_peak).
    means: dict[str, dict[str, float]] = field(default_factory=dict)
    peaks: dict[str, dict[str, dict]] = field(default_factory=dict)
    # Each head's kind ("categorical" or "regression") as the model declares it, when known.
    kinds: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    def _other_heads(self) -> str:
        parts = []
        for head, values in self.means.items():
            if head in BUILT_IN_HEADS or not values:
                continue
            kind = self.kinds.get(head)
            if kind is None:  # not declared (older sessions): class probabilities sum to 1
                kind = "categorical" if len(values) > 1 and abs(sum(values.values()) - 1.0) < 1e-3 else "regression"
            if kind == "categorical":
                top = max(values, key=values.get)  # class probabilities: the most likely class
                parts.append(f"{head}: {top} {values[top] * PERCENT:.0f}%")
            else:
                parts.append(f"{head}: " + ", ".join(f"{n} {v:.2f}" for n, v in values.items()))
        return "".join(f"; {p}" for p in parts)

    def line(self) -> str:
        """One human-readable line."""
        left_out = left_out_text(self.not_speech)
        if not self.n_segments:
            return f"{self.track_name}: no speech" + (f"; {left_out}" if left_out else " found")
        short = ""
        if self.n_unanalysed and self.n_utterances:
            short = (f" ({self.n_unanalysed} of them, {self.unanalysed_s:.1f} s, too short to analyse)"
                     if self.n_segments > 1 else f" ({self.unanalysed_s:.1f} s too short to analyse)")
        head = f"{self.track_name}: speech {self.speech_s:.1f} s in {self.n_segments} segment" + \
               ("" if self.n_segments == 1 else "s") + short + (f"; {left_out}" if left_out else "")
        if not self.n_utterances:
            return head + "; no utterance long enough to analyse"
        shares = sorted(self.emotion_shares.items(), key=lambda kv: -kv[1])
        # One class past the first few is named (as the app names it), not called "other".
        named = SHOWN_LABELS + 1 if sum(p > 0 for _, p in shares[SHOWN_LABELS:]) == 1 else SHOWN_LABELS
        # (a share that rounds to 0 % is not listed: "sad 0%" or "other 0%" says nothing)
        shown = [f"{lab} {p * PERCENT:.0f}%" for lab, p in shares[:named] if round(p * PERCENT) > 0]
        rest = sum(p for _, p in shares[named:])
        if round(rest * PERCENT) > 0:
            shown.append(f"other {rest * PERCENT:.0f}%")
        if self.uncertain_s > 0:
            shown.append(f"{self.uncertain_s:.1f} s uncertain, not counted" if shares else
                         f"all {self.uncertain_s:.1f} s uncertain")
        estimated = " (estimated)" if self.dimensions_source == "derived-from-category" else ""
        gender = ", ".join(f"{g} {p * PERCENT:.0f}%" for g, p in self.gender.items())
        return (f"{head}; top emotion by share of speech time: {', '.join(shown)}; valence {self.valence:.2f}, "
                f"arousal {self.arousal:.2f}, dominance {self.dominance:.2f}{estimated}; gender: {gender}"
                f"{self._other_heads()}")


def span_text(start_s: float, end_s: float) -> str:
    """Where a window, an utterance or a moment lies, as :func:`time_text` writes times: seconds
    under a minute ("3.5-5.5 s"), m:ss.s from there on ("1:23.5-1:25.5")."""
    if tenths(end_s) < 600:
        return f"{tenths(start_s) / 10:.1f}-{tenths(end_s) / 10:.1f} s"
    return f"{clock_text(start_s)}-{clock_text(end_s)}"


def pause_length_text(paused_s: float) -> str:
    """How long a live pause lasted, as the app's marker and the report both say it: tenths of a
    second under 10 s ("5.7 s"), whole seconds from there on ("22 s")."""
    return f"{paused_s:.1f} s" if round(paused_s, 1) < 10 else f"{paused_s:.0f} s"


def count_text(n: int, noun: str) -> str:
    """A count and its noun, plural unless it is one: "1 file", "3 files"."""
    return f"{n} {noun}" + ("" if n == 1 else "s")


def ms(seconds: float) -> float:
    """A total of times to the millisecond: totals of the same times summed in another order or
    precision (the app's) print the same to a tenth of a second."""
    return round(float(seconds), 3)


def counts_for_peak(head: str, r: WindowResult) -> bool:
    """Whether window ``r``'s outputs of ``head`` can be a peak of it: an emotion reading the model
    is unsure of is not (its other heads, V/A/D and gender, count from every window, as their means do)."""
    return not (head == "emotion" and r.uncertain)


def summarize(track_names: list[str], segments: list[SpeechSegment], results: list[WindowResult],
              heads: list[dict] | None = None) -> list[TrackSummary]:
    """One :class:`TrackSummary` per track, from the segments and the utterance-level results.
    ``heads``: the model's declared heads (``ModelMeta.heads``), for their kinds."""
    kinds = {str(h["name"]): str(h["kind"]) for h in heads or []}
    out = []
    for t, name in enumerate(track_names):
        s = TrackSummary(t, name, kinds=dict(kinds))
        segs = [g for g in segments if g.track == t and not g.not_speech]
        s.n_segments = len(segs)
        s.speech_s = ms(sum(g.duration_s for g in segs))
        for g in segments:
            if g.track == t and g.not_speech:
                s.not_speech[g.not_speech] = s.not_speech.get(g.not_speech, 0.0) + g.duration_s
        s.not_speech = {why: ms(v) for why, v in s.not_speech.items()}
        utts = [r for r in results if r.track == t and r.kind == UTTERANCE]
        s.n_utterances = len(utts)
        # A segment's utterance result overlaps it (they share their times): the utterances that start
        # before a segment ends overlap it when the latest end among them is after its start.
        spans = sorted((r.start_s, r.end_s) for r in utts)
        starts = [a for a, _ in spans]
        latest_end = list(itertools.accumulate((b for _, b in spans), max))
        last = latest_end[-1] if latest_end else 0.0
        for g in segs:  # those after the last utterance may be where the analysis stopped: no claim
            i = bisect.bisect_left(starts, g.end_s)
            if g.end_s <= last and (i == 0 or latest_end[i - 1] <= g.start_s):
                s.n_unanalysed += 1
                s.unanalysed_s += g.duration_s
        s.unanalysed_s = ms(s.unanalysed_s)
        total = sum(r.end_s - r.start_s for r in utts)
        if utts and total > 0:
            time = EmotionTime()
            for r in utts:
                time.add(r)
            s.emotion_shares, s.uncertain_s = time.shares(), ms(time.uncertain_s)
            for r in utts:
                w = (r.end_s - r.start_s) / total
                for head, values in r.heads.items():
                    means = s.means.setdefault(head, {})
                    for name, v in values.items():
                        means[name] = means.get(name, 0.0) + w * v
            s.gender = dict(s.means.get("gender", {}))
            dims = s.means.get("dimensions", {})
            s.valence, s.arousal, s.dominance = (dims.get(n) for n in ("valence", "arousal", "dominance"))
            s.dimensions_source = utts[0].dimensions_source
            windows = [r for r in results if r.track == t and r.kind == WINDOW] or utts
            for r in windows:  # the first window wins a tie
                for head, values in r.heads.items():
                    if not counts_for_peak(head, r):
                        continue
                    peaks = s.peaks.setdefault(head, {})
                    for name, v in values.items():
                        if name not in peaks or v > peaks[name]["value"]:
                            peaks[name] = {"value": v, "start_s": r.start_s}
        out.append(s)
    return out
