"""The ONNX runtime gives torch's outputs (to 1e-4) on real clips at several window lengths, for
every kind of model (the float export, ``ser export --exact``); the default export's int8 voice
layers stay within a bound of them; shared frames change nothing; bad or mismatched ONNX files get
a clear ModelFileError; the runtime and ``ser analyze`` never import torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from model.adaptation import SpeakerStats
from model.audio import load_mono_16k
from model.checkpoint import export_model_file
from model.errors import ComputeDeviceError, ModelFileError
from model.inference import SegmentState
from model.meta import DEFAULT_MODEL_PATH
from model.predictor import Predictor
from model.runtime import OnnxPredictor, load_predictor, onnx_path_for
from model.testing import make_tiny_model
from streamer import EngineConfig, WindowResult, analyze_waveform

ATOL = 1e-4
WINDOWS_S = (0.5, 1.0, 2.0, 3.0)
REPO = Path(__file__).resolve().parents[2]

KINDS = {
    "plain": {},
    "level_norm": {"level_norm_dbfs": -20.0, "calibration": {"temperature": 2.0, "uncertain_below": 0.5}},
    "speaker_norm": {"speaker_norm": True, "level_norm_dbfs": -20.0},
    "voice_gender": {"voice_gender": True},
    "voice_cadence": {"voice_emotion": True, "voice_emotion_every_s": 2.0, "level_norm_dbfs": -20.0},
    # Chunked features: each window's 0.5-s chunks through the conv stack on their own (shared below).
    "chunked": {"chunk_ms": 500.0, "level_norm_dbfs": -20.0},
    "chunked_voice": {"chunk_ms": 500.0, "voice_emotion": True, "voice_emotion_every_s": 2.0},
    "extra_heads": {"extra_heads": [("stress", "regression", ["stress"]), ("tone", "categorical", ["flat", "lively"])]},
}


@pytest.fixture(scope="module", params=sorted(KINDS))
def pair(request, tmp_path_factory):
    path = make_tiny_model(tmp_path_factory.mktemp("onnx") / f"{request.param}.safetensors", **KINDS[request.param])
    export_model_file(path, int8=False)  # the float export: torch's numbers, which these tests check
    return Predictor.load(path, device="cpu"), OnnxPredictor.load(path, threads=1)


def _assert_same(a, b) -> None:
    np.testing.assert_allclose(a.probabilities, b.probabilities, atol=ATOL)
    np.testing.assert_allclose(a.gender_probabilities, b.gender_probabilities, atol=ATOL)
    np.testing.assert_allclose(a.dimensions, b.dimensions, atol=ATOL)
    for name, values in a.extra.items():
        np.testing.assert_allclose(list(values.values()), list(b.extra[name].values()), atol=ATOL)
    assert a.uncertain == b.uncertain or abs(a.top_probability - (a.uncertain_below or 0)) < ATOL


@pytest.mark.parametrize("window_s", WINDOWS_S)
def test_onnx_equals_torch_on_real_clips(pair, speech_paths, window_s):
    torch_p, onnx_p = pair
    for path in speech_paths[:3]:
        x = load_mono_16k(path)
        for a, b in zip(torch_p.predict_windows(x, window_s=window_s, hop_s=0.5),
                        onnx_p.predict_windows(x, window_s=window_s, hop_s=0.5), strict=True):
            _assert_same(a, b)


def test_onnx_equals_torch_per_utterance_with_adaptation(pair, speech_paths):
    torch_p, onnx_p = pair
    stats_t, stats_o = SpeakerStats(min_windows=3), SpeakerStats(min_windows=3)
    for path in speech_paths[:4]:
        x = load_mono_16k(path)
        _assert_same(torch_p.predict_utterance(x, speaker=stats_t), onnx_p.predict_utterance(x, speaker=stats_o))
    assert stats_o.ready == onnx_p.adapts_to_speaker


def test_onnx_equals_torch_at_another_rate_and_short_windows(pair, speech_paths):
    import soxr

    torch_p, onnx_p = pair
    x = load_mono_16k(speech_paths[0])
    x44 = soxr.resample(x, 16000, 44100).astype(np.float32)
    _assert_same(torch_p.predict(x44[:30000], 44100), onnx_p.predict(x44[:30000], 44100))
    for n in (512, 700, 3000):  # from the shortest window the model takes
        _assert_same(torch_p.predict(x[4000:4000 + n]), onnx_p.predict(x[4000:4000 + n]))


def test_shared_frames_give_what_each_window_alone_gives(pair, speech_16k):
    """A segment's overlapping windows take their shared STFT frames from the previous window's
    (chunked features: the conv stack's output of their shared chunks)."""
    _, onnx_p = pair
    hop, win = 8000, 32000
    starts = list(range(0, len(speech_16k) - win, hop))[:12]

    def run(share: bool):
        seg, out, k, size = SegmentState(), [], 0, 1
        while k < len(starts):  # one, two and three windows per call, as the engine batches them
            batch = starts[k:k + size]
            if not share:  # each call computes all its frames or chunks (the voice cadence stays the same)
                seg.mel, seg.chunks = None, {}
            out += onnx_p.predict_batch([speech_16k[s:s + win] for s in batch], segments=[(seg, s) for s in batch])
            k, size = k + size, size % 3 + 1
        features = onnx_p.meta.features
        if features.chunk_samples:  # the last window's four chunks are kept, no more
            assert sorted(seg.chunks) == [starts[-1] + k * features.chunk_samples for k in range(4)]
        else:
            assert seg.mel is not None and len(seg.mel) == features.n_frames(win)
        return out

    shared, alone = run(True), run(False)
    for a, b in zip(alone, shared, strict=True):
        np.testing.assert_allclose(a.probabilities, b.probabilities, atol=1e-5)
        np.testing.assert_allclose(a.dimensions, b.dimensions, atol=1e-5)


@pytest.mark.skipif(not DEFAULT_MODEL_PATH.exists(), reason="no bundled model in this checkout")
@pytest.mark.parametrize("runtime", ["onnx", "torch"])
def test_a_dc_offset_changes_nothing_where_windows_share_their_chunks(speech_16k, runtime):
    """The engine's path with the bundled model: a segment's windows share their chunks' features
    and the voice cadence; each chunk and voice window loses its mean first, so an offset changes no
    output (+0.05 had moved a male voice's P(male) from 0.96 to 0.69). Up to rounding: the offset
    changes the float32 samples' last bits, and in ONNX Runtime the int8 conv stack's rounding to
    1/255 of each tensor's range turns a few of those into a step (0.003 measured; 0.01 allowed)."""
    from model.runtime import load_predictor

    hop, win = 8000, 32000
    starts = list(range(0, len(speech_16k) - win, hop))[:10]
    predictor = load_predictor("default", runtime=runtime)

    def run(x):
        seg = SegmentState()
        return predictor.predict_batch([x[s:s + win] for s in starts], segments=[(seg, s) for s in starts])

    tolerance = 0.01 if runtime == "onnx" else 2e-3
    for a, b in zip(run(speech_16k), run(speech_16k + np.float32(0.05)), strict=True):
        np.testing.assert_allclose(a.probabilities, b.probabilities, atol=tolerance)
        np.testing.assert_allclose(a.gender_probabilities, b.gender_probabilities, atol=tolerance)
        np.testing.assert_allclose(a.dimensions, b.dimensions, atol=tolerance)


def test_streaming_equals_offline_on_onnx(speech_16k, pair):
    _, onnx_p = pair
    offline = [e for e in analyze_waveform(speech_16k, onnx_p, EngineConfig(emit_audio=False))
               if isinstance(e, WindowResult)]
    assert offline
    for block in (160, 512, 4000):
        streamed = [e for e in analyze_waveform(speech_16k, onnx_p, EngineConfig(emit_audio=False), block_samples=block)
                    if isinstance(e, WindowResult)]
        assert [(e.kind, e.start_s) for e in streamed] == [(e.kind, e.start_s) for e in offline]
        for a, b in zip(offline, streamed, strict=True):
            np.testing.assert_allclose(list(a.probabilities.values()), list(b.probabilities.values()), atol=1e-5)


@pytest.mark.skipif(not DEFAULT_MODEL_PATH.exists(), reason="no bundled model in this checkout")
def test_bundled_model_has_a_matching_export(speech_paths):
    """The bundled export is the default one (int8 upper voice layers): torch's answers within the
    int8 bound, on real clips (0.03: about twice the largest difference measured, 0.015 on one
    class of one clip, as the real voice heads amplify the embeddings' small changes)."""
    onnx_p = load_predictor("default", device="cpu")
    assert onnx_p.runtime == "onnx" and _voice_info(DEFAULT_MODEL_PATH)["int8_lstm_layers"] == 2
    torch_p = Predictor.load("default", device="cpu")
    for path in speech_paths[:3]:
        x = load_mono_16k(path)
        a, b = torch_p.predict_utterance(x), onnx_p.predict_utterance(x)
        np.testing.assert_allclose(a.probabilities, b.probabilities, atol=0.03)
        np.testing.assert_allclose(a.gender_probabilities, b.gender_probabilities, atol=0.03)
        np.testing.assert_allclose(a.dimensions, b.dimensions, atol=0.03)
        assert a.top_label == b.top_label


# -- choosing the runtime, and bad files ------------------------------------------------------

def test_load_predictor_chooses_onnx_on_the_cpu_and_torch_when_asked(tiny_model_path, tmp_path):
    assert load_predictor(tiny_model_path, device="cpu").runtime == "onnx"
    assert load_predictor(tiny_model_path, device="cpu", runtime="torch").runtime == "torch"
    bare = make_tiny_model(tmp_path / "bare.safetensors", onnx=False)
    assert load_predictor(bare, device="cpu").runtime == "torch"  # no export: torch still runs it
    with pytest.raises(ModelFileError, match="ser export"):
        load_predictor(bare, runtime="onnx")
    with pytest.raises(ComputeDeviceError, match="CUDA"):
        load_predictor(tiny_model_path, device="cuda")
    with pytest.raises(ComputeDeviceError, match="cpu or cuda"):
        load_predictor(tiny_model_path, device="tpu")


def test_saving_without_export_removes_a_stale_one(tmp_path):
    path = make_tiny_model(tmp_path / "m.safetensors")
    assert onnx_path_for(path).exists()
    make_tiny_model(path, onnx=False)
    assert not onnx_path_for(path).exists()


@pytest.fixture
def model_copy(tiny_model_path, tmp_path):
    import shutil

    dst = tmp_path / "model.safetensors"
    shutil.copy(tiny_model_path, dst)
    shutil.copy(onnx_path_for(tiny_model_path), onnx_path_for(dst))
    return dst


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_corrupt_onnx_is_a_model_file_error(model_copy, damage):
    onnx = onnx_path_for(model_copy)
    data = onnx.read_bytes()
    onnx.write_bytes({"truncated": data[: len(data) // 3], "garbage": os.urandom(4096), "empty": b""}[damage])
    with pytest.raises(ModelFileError, match=r"model\.onnx.*ser export"):
        load_predictor(model_copy, device="cpu")


def test_onnx_of_another_model_is_refused(model_copy, tmp_path):
    other = make_tiny_model(tmp_path / "other.safetensors", labels=["neutral", "happy", "sad", "angry"])
    onnx_path_for(model_copy).write_bytes(onnx_path_for(other).read_bytes())
    with pytest.raises(ModelFileError, match="another model file"):
        load_predictor(model_copy, device="cpu")


def test_onnx_without_product_metadata_is_refused(model_copy):
    import onnx

    proto = onnx.load(str(onnx_path_for(model_copy)))
    del proto.metadata_props[:]
    onnx.save(proto, str(onnx_path_for(model_copy)))
    with pytest.raises(ModelFileError, match="not an export"):
        load_predictor(model_copy, device="cpu")


def test_ser_export_writes_the_export_and_names_bad_input(tiny_model_path, tmp_path, capsys):
    from ser.cli import main

    out = tmp_path / "x.onnx"
    assert main(["export", str(tiny_model_path), "--out", str(out)]) == 0
    assert out.stat().st_size > 0
    printed = capsys.readouterr().out.split()
    assert printed[0] == str(out) and sorted(printed) == sorted(str(p) for p in tmp_path.glob("x*.onnx"))  # each file
    assert main(["export", str(tmp_path / "missing.safetensors")]) == 2


# -- nothing imported that a command does not use ---------------------------------------------

def _imported_modules(code: str) -> set[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code + "\nimport json, sys; print(json.dumps(sorted(sys.modules)))"],
                         capture_output=True, text=True, env=env, check=True, cwd=REPO)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_onnx_runtime_never_imports_torch(tiny_model_path, speech_paths):
    mods = _imported_modules(
        "from model.runtime import load_predictor\nfrom model.audio import load_mono_16k\n"
        f"p = load_predictor({str(tiny_model_path)!r}, device='cpu')\n"
        f"x = load_mono_16k({str(speech_paths[0])!r})\np.predict_utterance(x)")
    assert "torch" not in mods and "torchaudio" not in mods


def test_ser_analyze_imports_neither_torch_nor_qt_nor_matplotlib(tiny_model_path, speech_paths, tmp_path):
    mods = _imported_modules(
        "from ser.cli import main\n"
        f"assert main(['analyze', {str(speech_paths[0])!r}, '--model', {str(tiny_model_path)!r}, "
        f"'--out', {str(tmp_path)!r}, '--quiet']) == 0")
    assert not {m for m in mods if m.split(".")[0] in ("torch", "torchaudio", "PySide6", "matplotlib", "pyqtgraph")}


# -- the voice encoder's graph of its own ---------------------------------------------------------

@pytest.fixture(scope="module")
def voice_model(tmp_path_factory):
    """A voice-emotion model with the default export (int8 upper voice layers)."""
    return make_tiny_model(tmp_path_factory.mktemp("voice") / "voice.safetensors", voice_emotion=True,
                           voice_emotion_every_s=2.0)


@pytest.fixture(scope="module")
def exact_voice_model(voice_model, tmp_path_factory):
    """The same model with the float export (``ser export --exact``)."""
    import shutil

    dst = tmp_path_factory.mktemp("exact") / "voice.safetensors"
    shutil.copy(voice_model, dst)
    export_model_file(dst, int8=False)
    return dst


def _voice_info(model) -> dict:
    import onnx

    props = {p.key: p.value for p in onnx.load(str(onnx_path_for(model, "voice"))).metadata_props}
    return json.loads(props["ser_onnx"])


@pytest.fixture
def voice_copy(voice_model, tmp_path):
    import shutil

    dst = tmp_path / "model.safetensors"
    shutil.copy(voice_model, dst)
    for part in ("main", "voice"):
        shutil.copy(onnx_path_for(voice_model, part), onnx_path_for(dst, part))
    return dst


def test_voice_encoder_export_is_a_graph_of_its_own_and_matches_torch(exact_voice_model, speech_16k):
    """A model with a voice encoder exports two graphs; the ONNX runtime runs the voice encoder in its
    own and, exported exactly, gives torch's embeddings and predictions."""
    voice_file = onnx_path_for(exact_voice_model, "voice")
    assert voice_file.name == "voice.voice.onnx" and voice_file.is_file()
    assert _voice_info(exact_voice_model)["int8_lstm_layers"] == 0
    onnx_p = load_predictor(exact_voice_model, device="cpu")
    torch_p = Predictor.load(exact_voice_model, device="cpu")
    assert "voice_frames" not in onnx_p._inputs["main"] and onnx_p._inputs["voice"] == {"voice_frames"}
    windows = [speech_16k[s:s + 32000] for s in (0, 16000, 48000)]
    for a, b in zip(onnx_p._embeddings(windows), torch_p._embeddings(windows), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4)
    for a, b in zip(onnx_p.predict_batch(windows), torch_p.predict_batch(windows), strict=True):
        np.testing.assert_allclose(a.probabilities, b.probabilities, atol=1e-4)
        np.testing.assert_allclose(a.dimensions, b.dimensions, atol=1e-4)


def test_int8_voice_layers_stay_close_to_torch_on_real_speech(voice_model, speech_paths):
    """The default export runs the voice encoder's second and third LSTM layers in int8: on real
    clips its embeddings keep a cosine similarity of at least 0.998 with torch's float ones, do not
    depend on the batch they are computed in, and the predictions built on them move by at most
    0.005 in probability and keep their top class."""
    info = _voice_info(voice_model)
    assert info["int8_lstm_layers"] == 2
    onnx_p = load_predictor(voice_model, device="cpu")
    torch_p = Predictor.load(voice_model, device="cpu")
    windows = []
    for path in speech_paths[:4]:
        x = load_mono_16k(path)
        windows += [x[s:s + 32000] for s in range(0, max(1, len(x) - 32000), 16000)]
    cosines = [float(np.dot(a, b)) for a, b in zip(onnx_p._embeddings(windows), torch_p._embeddings(windows),
                                                   strict=True)]
    assert min(cosines) >= 0.998 and max(cosines) < 1.0 - 1e-7  # close, and really quantised
    # Each call quantises by its inputs' own range: a window's embedding must not depend on the
    # windows computed beside it.
    together = onnx_p._embeddings(windows)
    for i in (0, len(windows) - 1):
        np.testing.assert_array_equal(onnx_p._embeddings([windows[i]])[0], together[i])
    for a, b in zip(onnx_p.predict_batch(windows), torch_p.predict_batch(windows), strict=True):
        np.testing.assert_allclose(a.probabilities, b.probabilities, atol=0.005)
        assert a.top_label == b.top_label


def test_an_int8_voice_graph_without_anchors_is_refused(voice_copy):
    """An int8 voice graph without the anchor units (whose embeddings would depend on the batch) is
    a ModelFileError that says to export again."""
    import onnx

    path = onnx_path_for(voice_copy, "voice")
    proto = onnx.load(str(path))
    props = {p.key: p.value for p in proto.metadata_props}
    info = json.loads(props["ser_onnx"])
    assert info["int8_anchored"] is True
    info["int8_anchored"] = False
    onnx.helper.set_model_props(proto, {**props, "ser_onnx": json.dumps(info)})
    onnx.save(proto, str(path))
    with pytest.raises(ModelFileError, match=r"model\.voice\.onnx.*anchor.*ser export"):
        load_predictor(voice_copy, device="cpu")


def test_a_missing_damaged_or_swapped_voice_graph_is_a_model_file_error(voice_copy, tmp_path):
    voice = onnx_path_for(voice_copy, "voice")
    good = voice.read_bytes()
    voice.unlink()
    with pytest.raises(ModelFileError, match=r"model\.voice\.onnx.*missing.*ser export"):
        load_predictor(voice_copy, device="cpu")
    voice.write_bytes(good[: len(good) // 2])
    with pytest.raises(ModelFileError, match=r"model\.voice\.onnx.*ser export"):
        load_predictor(voice_copy, device="cpu")
    voice.write_bytes(onnx_path_for(voice_copy).read_bytes())  # the main graph where the voice one belongs
    with pytest.raises(ModelFileError, match=r"model\.voice\.onnx.*another part.*ser export"):
        load_predictor(voice_copy, device="cpu")
    voice.write_bytes(good)
    assert load_predictor(voice_copy, device="cpu").voice_emotion


def test_saving_without_export_removes_both_graphs(voice_model, tmp_path):
    path = tmp_path / "m.safetensors"
    make_tiny_model(path, voice_emotion=True)
    assert onnx_path_for(path).exists() and onnx_path_for(path, "voice").exists()
    make_tiny_model(path, voice_emotion=True, onnx=False)
    assert not onnx_path_for(path).exists() and not onnx_path_for(path, "voice").exists()


def test_a_failed_rebuild_leaves_the_sessions_as_they_were(voice_copy, speech_16k):
    """Changing the thread count rebuilds the sessions: when the export has gone meanwhile, that is a
    ModelFileError and the predictor goes on with the sessions it had."""
    predictor = load_predictor(voice_copy, device="cpu", threads=1)
    before = predictor.predict(speech_16k[:32000]).probabilities
    onnx_path_for(voice_copy, "voice").unlink()
    with pytest.raises(ModelFileError, match="missing"):
        predictor.threads = 2
    assert predictor.threads == 1
    np.testing.assert_array_equal(predictor.predict(speech_16k[:32000]).probabilities, before)


def _rewrite_export_info(path: Path, **changes) -> None:
    import onnx

    proto = onnx.load(str(path))
    for prop in proto.metadata_props:
        if prop.key == "ser_onnx":
            info = {k: v for k, v in json.loads(prop.value).items() if k not in changes or changes[k] is not None}
            info.update({k: v for k, v in changes.items() if v is not None})
            prop.value = json.dumps(info)
    onnx.save(proto, str(path))


def test_a_format_1_export_is_read_where_format_2_is_the_same(model_copy):
    """Format 2 changed only the exports of models with a voice encoder: a format-1 export of a model
    without one still loads."""
    _rewrite_export_info(onnx_path_for(model_copy), format_version=1, part=None)
    assert load_predictor(model_copy, device="cpu").runtime == "onnx"


def test_a_format_1_export_of_a_voice_model_is_refused(voice_copy):
    _rewrite_export_info(onnx_path_for(voice_copy), format_version=1, part=None)
    with pytest.raises(ModelFileError, match=r"earlier format.*ser export"):
        load_predictor(voice_copy, device="cpu")


@pytest.mark.parametrize(("n_fft", "win_length"), [(512, 400), (400, 400), (512, 512), (1024, 400), (401, 401)])
def test_the_two_step_dft_gives_the_direct_dfts_mel_power(n_fft, win_length):
    """The export's front end (two steps of matrix products, samples at the frame's start) gives the
    mel power of the direct DFT of the centred frame, including lengths with no split (a prime)."""
    import torch

    from model.export import _PowerMel, dft_basis, dft_split

    assert dft_split(401) == 0 and dft_split(512) in (16, 32)
    window = torch.hann_window(win_length, dtype=torch.float64)
    filterbank = torch.rand(n_fft // 2 + 1, 40, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    frames = torch.randn(3, 7, win_length, generator=torch.Generator().manual_seed(2))
    spec = frames.double() @ dft_basis(n_fft, win_length, window).double()
    bins = n_fft // 2 + 1
    expected = (spec[..., :bins] ** 2 + spec[..., bins:] ** 2) @ filterbank
    mel = _PowerMel(n_fft, win_length, window, filterbank)
    got = mel(frames)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got.double().numpy(), expected.numpy(), rtol=2e-5)
    assert mel(torch.zeros(0, win_length)).shape == (0, 40)  # a call with no new frame (all shared)



def test_the_exported_front_end_takes_a_call_with_no_new_frame(tmp_path):
    """Every window of a call may reuse frames computed before (models without chunks): the main graph
    then gets no new frame."""
    path = make_tiny_model(tmp_path / "plain.safetensors", level_norm_dbfs=-20.0)
    export_model_file(path, int8=False)
    onnx_p = OnnxPredictor.load(path, threads=1)
    f = onnx_p.meta.features
    n = f.n_frames(32000)  # one window, every frame from the cache
    feed = {"frames": np.zeros((0, f.win_length), np.float32), "cache": np.ones((n, f.n_mels), np.float32),
            "index": np.arange(n, dtype=np.int64)[None, :]}
    out = onnx_p._run(feed, ["mel_power", "emotion"])
    assert out["mel_power"].shape == (0, f.n_mels) and np.isfinite(out["emotion"]).all()


def test_a_pruned_voice_encoder_exports_and_runs_as_ge2e_does(tmp_path, speech_paths):
    """A model whose voice encoder was pruned from GE2E (fewer hidden units in its first layer,
    arch.voice_hidden) exports its layers of unequal sizes: exactly, torch's embeddings; by default,
    the upper two layers in int8 with their anchors, close to torch's and independent of the batch."""
    path = make_tiny_model(tmp_path / "pruned.safetensors", voice_emotion=True, voice_emotion_every_s=2.0,
                           voice_hidden=(128, 256, 256))
    assert _voice_info(path)["int8_lstm_layers"] == 2
    torch_p = Predictor.load(path, device="cpu")
    assert [layer.hidden_size for layer in torch_p.net.voice.lstm.layers] == [128, 256, 256]
    windows = []
    for clip in speech_paths[:3]:
        x = load_mono_16k(clip)
        windows += [x[s:s + 32000] for s in range(0, max(1, len(x) - 32000), 16000)]
    reference = torch_p._embeddings(windows)
    int8 = load_predictor(path, device="cpu")
    cosines = [float(np.dot(a, b)) for a, b in zip(int8._embeddings(windows), reference, strict=True)]
    assert min(cosines) >= 0.998 and max(cosines) < 1.0 - 1e-7
    together = int8._embeddings(windows)
    np.testing.assert_array_equal(int8._embeddings([windows[-1]])[0], together[-1])
    export_model_file(path, int8=False)
    exact = load_predictor(path, device="cpu")
    assert _voice_info(path)["int8_lstm_layers"] == 0
    for a, b in zip(exact._embeddings(windows), reference, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4)
