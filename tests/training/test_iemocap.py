"""IEMOCAP recipe on a synthetic tree in the real layout and label-file format."""

from __future__ import annotations

import pytest
from iemocap_fixture import DECOY_TURN_ID, TURNS, make_iemocap_tree

from training.manifest import ManifestEntry, report_skipped
from training.recipes import iemocap


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return make_iemocap_tree(tmp_path_factory.mktemp("iemocap"))


@pytest.fixture(scope="module")
def four(tree):
    return iemocap.build_manifest(tree, "4class")


@pytest.fixture(scope="module")
def eight(tree):
    return iemocap.build_manifest(tree, "8class")


def by_id(entries: list[ManifestEntry]) -> dict[str, ManifestEntry]:
    return {e.utterance_id: e for e in entries}


def test_8class_labels_follow_the_consensus_codes(eight):
    entries, _ = eight
    got = {k: e.label for k, e in by_id(entries).items()}
    assert got == {
        "Ses01F_impro01_F000": "neutral", "Ses01F_impro01_M000": "angry", "Ses01F_impro01_M001": "frustrated",
        "Ses01F_script01_1_F000": "happy", "Ses01F_script01_1_M000": "excited", "Ses01F_script01_1_F001": "sad",
        "Ses02M_impro02_M000": "surprised", "Ses02M_impro02_F000": "fearful", "Ses02M_impro02_M002": "happy",
        "Ses02M_impro02_F002": "neutral", "Ses03F_impro03_F000": "excited", "Ses03F_impro03_M000": "sad",
        "Ses04M_impro04_M000": "angry", "Ses04M_impro04_F000": "neutral", "Ses05F_impro05_F000": "happy",
        "Ses05F_impro05_M000": "neutral",
    }
    assert {e.label for e in entries} <= set(iemocap.LABEL_SETS["8class"])


def test_4class_merges_excited_into_happy_and_drops_the_rest(four):
    entries, skipped = four
    got = by_id(entries)
    assert got["Ses01F_script01_1_M000"].label == "happy"  # exc
    assert got["Ses03F_impro03_F000"].label == "happy"  # exc
    assert got["Ses01F_script01_1_F000"].label == "happy"  # hap
    assert {e.label for e in entries} == {"neutral", "happy", "angry", "sad"}
    assert "label 'xxx' (no majority) not used in 4class" in {s.reason for s in skipped}
    dropped = {s.item for s in skipped if s.reason.startswith("label")}
    assert dropped == {t.turn_id for t in TURNS if t.code in {"xxx", "oth", "fru", "sur", "fea", "dis"}}


def test_vad_ratings_scale_from_1_5_to_0_1(eight):
    entries, _ = eight
    e = by_id(entries)["Ses01F_impro01_M000"]  # [1.5, 4.0, 4.5]
    assert (e.valence, e.arousal, e.dominance) == pytest.approx((0.125, 0.75, 0.875))
    e = by_id(entries)["Ses04M_impro04_M000"]  # [1.0, 5.0, 5.0]: the ends of the scale
    assert e.dimensions == pytest.approx((0.0, 1.0, 1.0))
    assert all(e.dimensions_source == "human-ratings" for e in entries)


def test_gender_and_speaker_come_from_the_last_part_of_the_turn_id(eight):
    entries, _ = eight
    got = by_id(entries)
    # Ses01F dialogs hold turns of both actors; the M in "_M000" makes it the male speaker.
    assert (got["Ses01F_impro01_M000"].gender, got["Ses01F_impro01_M000"].speaker) == ("male", "Ses01_M")
    assert (got["Ses01F_impro01_F000"].gender, got["Ses01F_impro01_F000"].speaker) == ("female", "Ses01_F")
    assert (got["Ses02M_impro02_F000"].gender, got["Ses02M_impro02_F000"].speaker) == ("female", "Ses02_F")
    assert got["Ses02M_impro02_F000"].session == "Ses02"
    for e in entries:
        assert e.gender == {"F": "female", "M": "male"}[e.utterance_id.rsplit("_", 1)[1][0]]


def test_entries_point_at_the_wavs_with_their_durations(eight):
    entries, _ = eight
    spec = {t.turn_id: t for t in TURNS}
    for e in entries:
        assert e.path.endswith(f"sentences/wav/{spec[e.utterance_id].dialog}/{e.utterance_id}.wav")
        assert e.duration_s == pytest.approx(spec[e.utterance_id].duration_s, abs=1e-3)
        assert e.corpus == "iemocap"


def test_missing_wav_is_skipped_and_reported(four, eight):
    for entries, skipped in (four, eight):
        assert "Ses01F_script01_1_M001" not in by_id(entries)
        missing = [s for s in skipped if "no wav" in s.reason]
        assert len(missing) == 1 and missing[0].item.endswith("Ses01F_script01_1_M001.wav")
        # Problems with files come before the (many, expected) label drops in the report.
        assert skipped[0] is missing[0]
        assert "no wav for this labelled turn" in report_skipped(skipped)


def test_subfolders_and_hidden_files_are_not_read(eight):
    entries, skipped = eight
    assert DECOY_TURN_ID not in by_id(entries)
    assert not any(DECOY_TURN_ID in s.item for s in skipped)
    assert not any("format" in s.reason for s in skipped)  # the AppleDouble files were not parsed


def test_build_manifest_is_idempotent_and_accepts_the_parent_folder(tree, eight):
    again = iemocap.build_manifest(tree.parent, "8class")
    assert again == eight


def test_session_folds_hold_one_session_out(eight):
    from training.run import make_folds

    entries, _ = eight
    folds = make_folds(entries, 5)
    assert [f[0].split("_")[0] for f in folds] == ["Ses01", "Ses02", "Ses03", "Ses04", "Ses05"]
    for test_speakers in folds:
        session = test_speakers[0].split("_")[0]
        test = [e for e in entries if e.speaker in test_speakers]
        train = [e for e in entries if e.speaker not in test_speakers]
        assert {e.session for e in test} == {session}
        assert session not in {e.session for e in train}
        assert test_speakers == [f"{session}_F", f"{session}_M"]
        assert len(train) + len(test) == len(entries)


def test_bad_arguments_raise(tree, tmp_path):
    from model.errors import SERError

    with pytest.raises(ValueError, match="label set"):
        iemocap.build_manifest(tree, "7class")
    with pytest.raises(SERError, match="Session1"):
        iemocap.build_manifest(tmp_path)


def test_malformed_label_line_is_reported_not_fatal(tmp_path):
    root = make_iemocap_tree(tmp_path)
    label_file = root / "Session5" / "dialog" / "EmoEvaluation" / "Ses05F_impro05.txt"
    label_file.write_text(label_file.read_text() + "[12.0 - oops]\tSes05F_impro05_F009\tneu\n")
    entries, skipped = iemocap.build_manifest(root, "4class")
    assert any(s.item.endswith(f"{label_file.name}:{len(label_file.read_text().splitlines())}") for s in skipped)
    assert "Ses05F_impro05_F000" in by_id(entries)


@pytest.mark.parametrize("label_set", ["4class", "8class"])
def test_training_configs_match_the_recipe_label_sets(label_set):
    from pathlib import Path

    from training.config import load_config

    path = Path(__file__).resolve().parents[2] / "training" / "configs" / f"iemocap_{label_set}.yaml"
    assert path.read_text().splitlines()[0].startswith("#")
    first_key = next(line for line in path.read_text().splitlines() if line and not line.startswith("#"))
    assert first_key.startswith("seed:")
    cfg = load_config(path)
    assert (cfg.corpus, cfg.label_set, cfg.labels) == ("iemocap", label_set, iemocap.LABEL_SETS[label_set])
