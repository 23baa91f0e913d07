"""Inputs and settings of a batch: folders, list files, call ids, and the responsible-use channel rule."""

from __future__ import annotations

import pytest

from streamer.batch.inputs import discover
from streamer.batch.settings import BatchSettings, call_key
from streamer.errors import ConfigError


def test_folder_is_searched_recursively_and_ids_are_relative_paths(tmp_path):
    (tmp_path / "2026-11" / "team a").mkdir(parents=True)
    for name in ("b.wav", "a.flac", "2026-11/team a/c.WAV", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    calls = discover(tmp_path)
    ids = [c.call_id for c in calls]
    assert ids[1:] == ["a.flac", "b.wav"] and ids[0].startswith("2026-11__team_a__c.WAV-")  # the space replaced
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match="no audio files"):
        discover(empty)
    with pytest.raises(ConfigError, match="no such folder"):
        discover(tmp_path / "missing")


def test_hidden_files_and_folders_are_left_out_with_a_note(tmp_path):
    (tmp_path / ".trash").mkdir()
    for name in ("call.wav", "._call.wav", ".hidden.flac", ".trash/old.wav", "._notes.m4a"):
        (tmp_path / name).write_bytes(b"x")
    notes: list[str] = []
    assert [c.call_id for c in discover(tmp_path, notes)] == ["call.wav"]
    assert notes == ['3 hidden files (names starting with a dot, e.g. ._call.wav) not analysed: a file manager hides '
                     'them, and macOS writes "._NAME" companions that are not recordings. Move or rename a '
                     'recording to analyse it.']
    (tmp_path / "call.wav").unlink()
    with pytest.raises(ConfigError, match=r"no audio files found .*3 hidden files"):
        discover(tmp_path)
    hidden_root = tmp_path / ".cache" / "calls"  # a hidden folder above the input folder hides nothing in it
    hidden_root.mkdir(parents=True)
    (hidden_root / "a.wav").write_bytes(b"x")
    assert [c.call_id for c in discover(hidden_root)] == ["a.wav"]


def test_list_file_paths_are_relative_to_the_list(tmp_path):
    (tmp_path / "rec").mkdir()
    (tmp_path / "rec" / "x.wav").write_bytes(b"x")
    listing = tmp_path / "calls.txt"
    listing.write_text(f"# today's calls\nrec/x.wav\n\n{tmp_path / 'gone.mp3'}\n")
    calls = discover(listing)
    assert [(c.call_id, c.path) for c in calls] == [("rec__x.wav", tmp_path / "rec" / "x.wav"),
                                                   ("gone.mp3", tmp_path / "gone.mp3")]
    listing.write_text("rec/x.wav\n./rec/x.wav\n")  # a call listed twice: analysed once, and said
    notes: list[str] = []
    assert [c.call_id for c in discover(listing, notes=notes)] == ["rec__x.wav"]
    assert notes == [f"{listing}: names {tmp_path / 'rec' / 'x.wav'} twice: analysed once, as x.wav."]
    # A text file that is not a list of recordings (none of its lines is a file): said at once, not as
    # a batch of calls that all failed with "file not found".
    listing.write_text("hello\n")
    with pytest.raises(ConfigError, match=r"calls.txt: the one path it names does not exist \(.*hello\)\. ser batch "
                                          "takes a folder of recordings or a text file listing them"):
        discover(listing)
    listing.write_text("Meeting notes\nsee you tomorrow\n")
    with pytest.raises(ConfigError, match="none of the 2 paths it names exists"):
        discover(listing)


def test_a_file_a_folder_holds_twice_is_one_call(tmp_path):
    (tmp_path / "a.wav").write_bytes(b"x")
    (tmp_path / "b.wav").write_bytes(b"y")
    (tmp_path / "link.wav").symlink_to(tmp_path / "a.wav")
    notes: list[str] = []
    calls = discover(tmp_path, notes)
    assert [c.call_id for c in calls] == ["a.wav", "b.wav"]
    assert len(notes) == 1 and "link.wav is the same file as" in notes[0] and "analysed once" in notes[0]


def test_agent_channel_rule():
    assert BatchSettings().analysed_tracks() == [1]
    assert BatchSettings(names=("Customer", "Agent")).analysed_tracks() == [0]
    assert BatchSettings(names=("agent", "customer")).analysed_tracks() == [1]  # in any letter case
    # Names that leave no channel to analyse are refused (the engine would read "none" as "all").
    with pytest.raises(ConfigError, match="no channel would be analysed"):
        BatchSettings(names=("Agent", "Boss"), agent_names=("Agent", "Boss"))
    with pytest.raises(ConfigError, match="no channel would be analysed"):
        BatchSettings(names=("Agent",))
    with pytest.raises(ConfigError, match=r"one non-empty name per channel, all different \(not only in letter case\)"):
        BatchSettings(names=("Agent", "agent"))
    assert BatchSettings(analyse_agent=True).analysed_tracks() == [0, 1]
    with pytest.raises(ConfigError, match="none of the track names"):
        BatchSettings(names=("Left", "Right"))  # renaming channels must not analyse the agent silently
    with pytest.raises(ConfigError, match=r"AI Act, Art\. 5\(1\)\(f\)"):
        BatchSettings(channels="mix")
    assert BatchSettings(channels="mix", analyse_agent=True).analysed_tracks() == [0]


def test_key_changes_with_content_model_and_result_settings_only():
    base = call_key("c", "m", BatchSettings())
    assert call_key("c", "m", BatchSettings(device="cuda")) == base  # where it runs does not change results
    assert len({base, call_key("c2", "m", BatchSettings()), call_key("c", "m2", BatchSettings()),
                call_key("c", "m", BatchSettings(hop_s=1.0)), call_key("c", "m", BatchSettings(vad_aggressiveness=3)),
                call_key("c", "m", BatchSettings(analyse_agent=True))}) == 6


def test_call_ids_keep_every_script_and_do_not_move_when_files_are_added(tmp_path):
    """Ids keep letters and marks of any script; a name whose id replaces characters gets a suffix
    from its own path, so two names never share an id and a file added later never takes another
    call's id (its folder of results)."""
    import unicodedata

    from streamer.batch.inputs import _call_ids

    (tmp_path / "Kunden Anrufe" / "é").mkdir(parents=True)
    for name in ("Anruf_ö.wav", "Anruf ü.wav", "Kunden Anrufe/é/Anruf Nr 3 ü.wav", "a?b.wav", "sub__x.wav"):
        (tmp_path / name).write_bytes(b"x")
    before = {c.path.name: c.call_id for c in discover(tmp_path)}
    assert before["Anruf_ö.wav"] == "Anruf_ö.wav" and before["sub__x.wav"] == "sub__x.wav"  # their own ids
    assert before["Anruf ü.wav"].startswith("Anruf_ü.wav-") and before["a?b.wav"].startswith("a_b.wav-")
    assert before["Anruf Nr 3 ü.wav"].startswith("Kunden_Anrufe__é__Anruf_Nr_3_ü.wav-")
    for name in ("Anruf_ü.wav", "a*b.wav", "a_b.wav", "Anruf ö.wav"):  # each gives an id already there
        (tmp_path / name).write_bytes(b"x")
    after = {c.path.name: c.call_id for c in discover(tmp_path)}
    assert {k: after[k] for k in before} == before  # nothing moved
    assert after["Anruf_ü.wav"] == "Anruf_ü.wav" and after["a_b.wav"] == "a_b.wav"
    assert len(set(after.values())) == len(after)
    assert after == {c.path.name: c.call_id for c in discover(tmp_path)}  # the same on every run
    assert _call_ids(["हिन्दी.wav", "தமிழ்.wav"]) == ["हिन्दी.wav", "தமிழ்.wav"]  # vowel signs kept
    # The same name in composed and decomposed Unicode: two files, two ids.
    nfc, nfd = unicodedata.normalize("NFC", "Über.wav"), unicodedata.normalize("NFD", "Über.wav")
    ids = _call_ids([nfc, nfd])
    assert ids[0] == nfc and ids[1].startswith(nfc + "-")
    # Ids that differ only in case share a folder on Windows and macOS disks: both get a suffix.
    ids = _call_ids(["Call.wav", "call.wav"])
    assert ids[0].startswith("Call.wav-") and ids[1].startswith("call.wav-")


def test_an_output_folder_that_cannot_be_written_is_named_with_what_to_do(tmp_path, monkeypatch, capsys):
    import model.files
    from ser.cli import main

    (tmp_path / "calls").mkdir()
    (tmp_path / "calls" / "call.wav").write_bytes(b"RIFF")  # never read: the folder is refused first
    monkeypatch.setattr(model.files, "_can_create_in", lambda folder: False)  # a read-only folder
    assert main(["batch", str(tmp_path / "calls"), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'out'}: not writable; choose another place for the batch's results (--out)." in err


def test_a_store_under_home_is_made_there(tmp_path, monkeypatch):
    """--out '~/calls' (quoted, so the shell leaves "~") is checked, made and written in the home folder."""
    from streamer.batch.store import BatchStore

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    store = BatchStore("~/results")
    assert store.root == tmp_path / "home" / "results" and (store.root / "calls").is_dir()
    assert not (tmp_path / "~").exists()


def test_the_crosstalk_setting_is_part_of_a_calls_key_only_with_channels_split():
    """It changes what a split call's tracks hold, and nothing of one mixed track: changing it must
    analyse split calls again, and need not analyse mixed ones again."""
    split, split_off = BatchSettings(), BatchSettings(crosstalk_db=None)
    mix = BatchSettings(channels="mix", analyse_agent=True)
    mix_off = BatchSettings(channels="mix", analyse_agent=True, crosstalk_db=None)
    assert call_key("c", "m", split) != call_key("c", "m", split_off)
    assert call_key("c", "m", mix) == call_key("c", "m", mix_off)


def test_a_failed_calls_line_names_the_call_as_the_others_do():
    """A file of a list that could not be read was reported by its path alone, while every other
    failure line leads with the call's id."""
    from streamer.batch.runner import _failure_line

    assert _failure_line("day1__c1.wav", "/data/day1/c1.wav: cannot read the file (No such file).") == \
        "ser batch: day1__c1.wav: /data/day1/c1.wav: cannot read the file (No such file)."
    assert _failure_line("c1.wav", "/data/c1.wav: truncated.") == "ser batch: /data/c1.wav: truncated."


def test_call_ids_too_long_for_a_folder_name_keep_their_start_and_a_suffix(tmp_path):
    """A call's folder name has at most 255 bytes: a longer id (deep folders, long names, Cyrillic at
    two bytes a character) keeps its start and a suffix from its own path, the same in every run, and
    two such calls that start alike still get folders of their own."""
    from model.files import NAME_MAX_BYTES
    from streamer.batch.inputs import _call_ids

    folder = "Записи_звонков_клиентов_отдел_продаж_Москва_май_2024_смена_1"
    names = [f"{folder}/Звонок_клиента_Иванова_Ивана_Ивановича_по_вопросу_возврата_товара_номер_заказа_0{k}.wav"
             for k in (1, 2)]
    ids = _call_ids([*names, "other.wav"])
    assert ids[2] == "other.wav"
    assert all(len(i.encode("utf-8")) <= NAME_MAX_BYTES for i in ids) and len(set(ids)) == 3
    assert ids[0].startswith(f"{folder}__Звонок_клиента") and ids == _call_ids([*names, "other.wav"])
    for i in ids:
        (tmp_path / i).mkdir()  # a folder of that name can be made
