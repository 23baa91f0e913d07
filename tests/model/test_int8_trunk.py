"""The conv stack in int8 (model/export.py): ranges measured on real speech and kept in the model
file, an export whose convolutions run as int8 and stay close to torch on real clips, a chunk's
numbers independent of the chunks computed with it, the float export when the file has no ranges,
bad ranges refused with a clear message, ``ser export --calibrate`` and ensembles."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from model.audio import load_mono_16k
from model.checkpoint import export_model_file, load_model, save_model
from model.errors import ModelFileError
from model.meta import DEFAULT_MODEL_PATH, read_meta
from model.predictor import Predictor
from model.runtime import chunk_feed, load_predictor, onnx_path_for
from model.testing import make_tiny_model


def _trunk_info(model) -> dict:
    import onnx

    props = {p.key: p.value for p in onnx.load(str(onnx_path_for(model, "trunk"))).metadata_props}
    return json.loads(props["ser_onnx"])


@pytest.fixture(scope="module")
def speech(speech_paths) -> list[np.ndarray]:
    return [load_mono_16k(p) for p in speech_paths[:4]]


@pytest.fixture(scope="module")
def int8_model(tmp_path_factory, speech):
    """A chunked model whose conv stack's ranges were measured on real speech (as 'ser train' does)."""
    path = make_tiny_model(tmp_path_factory.mktemp("int8") / "chunked.safetensors", chunk_ms=500.0,
                           level_norm_dbfs=-20.0)
    export_model_file(path, calibration=speech)
    return path


def test_ranges_are_measured_on_speech_and_kept_in_the_model_file(int8_model):
    meta = read_meta(int8_model)
    ranges = meta.int8["trunk_ranges"]
    assert len(ranges) == len(meta.arch.channels) - 1  # every convolution but the one on the log-mel
    assert meta.int8["calibration_chunks"] > 10
    for in_low, in_high, out_low, out_high in ranges:
        assert in_low == 0.0 < in_high  # each takes the ReLU output of the block before it
        assert out_low < 0.0 < out_high
    assert _trunk_info(int8_model)["int8_convs"] == len(ranges)


def test_the_int8_conv_stack_runs_as_int8_and_stays_close_to_torch(int8_model, speech_paths):
    import onnx
    import onnx.numpy_helper

    graph = onnx.load(str(onnx_path_for(int8_model, "trunk"))).graph
    kinds = [n.op_type for n in graph.node]
    assert kinds.count("Conv") == len(read_meta(int8_model).int8["trunk_ranges"]) + 1
    assert kinds.count("QuantizeLinear") == 2 * kinds.count("DequantizeLinear") // 3  # input and output; weights
    # The convolutions after the first take int8 weights; no float copy of them is shipped.
    float_weights = {i.name: i for i in graph.initializer if i.data_type == onnx.TensorProto.FLOAT}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    assert [n.input[1] in float_weights for n in convs] == [True] + [False] * (len(convs) - 1)
    assert float_weights[convs[0].input[1]].dims[1] == 1
    weights = [onnx.numpy_helper.to_array(i) for i in graph.initializer if i.data_type == onnx.TensorProto.INT8
               and len(i.dims) == 4]
    assert len(weights) == len(convs) - 1
    # 7 bits, so that uint8 x int8 products added in pairs fit 16 bits on CPUs without VNNI.
    assert all(np.abs(w.astype(int)).max() == 63 for w in weights)
    onnx_p, torch_p = load_predictor(int8_model, device="cpu"), Predictor.load(int8_model, device="cpu")
    differences = []
    for path in speech_paths[4:8]:  # clips the ranges were not measured on
        x = load_mono_16k(path)
        for a, b in zip(onnx_p.predict_windows(x), torch_p.predict_windows(x), strict=True):
            differences.append(np.abs(a.probabilities - b.probabilities).max())
            np.testing.assert_allclose(a.dimensions, b.dimensions, atol=0.02)
    # Close (a random-weight network's outputs move by about 0.001), and really quantised.
    assert 1e-6 < max(differences) < 0.02


def test_a_chunks_numbers_do_not_depend_on_the_chunks_beside_it(int8_model, speech):
    """The ranges are fixed: a chunk computed alone gives what it gives among others."""
    p = load_predictor(int8_model, device="cpu")
    size = p.meta.features.chunk_samples
    x = speech[0]
    chunks = [x[s:s + size] for s in range(0, len(x) - size + 1, size)]
    together = p._run(chunk_feed(chunks, p.meta.features), ["trunk"], "trunk")["trunk"]
    for i in (0, len(chunks) - 1):
        alone = p._run(chunk_feed([chunks[i]], p.meta.features), ["trunk"], "trunk")["trunk"][0]
        np.testing.assert_allclose(alone, together[i], atol=1e-6)


def test_without_ranges_the_conv_stack_stays_in_float(tmp_path, speech_paths):
    path = make_tiny_model(tmp_path / "plain.safetensors", chunk_ms=500.0)
    assert read_meta(path).int8 == {} and _trunk_info(path)["int8_convs"] == 0
    onnx_p, torch_p = load_predictor(path, device="cpu"), Predictor.load(path, device="cpu")
    x = load_mono_16k(speech_paths[0])
    for a, b in zip(onnx_p.predict_windows(x), torch_p.predict_windows(x), strict=True):
        np.testing.assert_allclose(a.probabilities, b.probabilities, atol=1e-4)


def test_the_exact_export_keeps_the_conv_stack_in_float(int8_model, tmp_path):
    out = tmp_path / "exact.onnx"
    export_model_file(int8_model, out, int8=False)
    assert _trunk_info(out.with_name("exact.onnx"))["int8_convs"] == 0


def _with_int8(path, int8) -> None:
    """Rewrite the model file's metadata with these int8 ranges (the weights unchanged)."""
    from safetensors.torch import load_file, save_file

    meta = json.loads(read_meta(path).to_json())
    meta["int8"] = int8
    save_file(load_file(str(path)), str(path), metadata={"ser": json.dumps(meta)})


@pytest.mark.parametrize("int8", [{"trunk_ranges": [[0.0, 1.0, -1.0]]}, {"trunk_ranges": [[0.0, float("nan"), -1, 1]]},
                                  {"trunk_ranges": [[2.0, 1.0, -1.0, 1.0]]}, {"trunk_ranges": "wide"}, ["x"]])
def test_malformed_ranges_are_a_model_file_error(int8_model, tmp_path, int8):
    path = tmp_path / "bad.safetensors"
    shutil.copy(int8_model, path)
    _with_int8(path, int8)
    with pytest.raises(ModelFileError, match="malformed"):
        read_meta(path)


def test_ranges_for_another_network_are_refused_at_export(int8_model, tmp_path):
    path = tmp_path / "other.safetensors"
    shutil.copy(int8_model, path)
    ranges = read_meta(int8_model).int8["trunk_ranges"]
    _with_int8(path, {"trunk_ranges": ranges[:-1], "calibration_chunks": 5})
    with pytest.raises(ModelFileError, match=r"int8 ranges are for 3 convolutions, its conv stack has 4.*--calibrate"):
        export_model_file(path)


def test_ser_export_calibrate(tmp_path, speech_paths, capsys, monkeypatch):
    from ser.cli import main

    path = make_tiny_model(tmp_path / "m.safetensors", chunk_ms=500.0)
    folder = tmp_path / "speech"
    (folder / "a").mkdir(parents=True)
    for p in speech_paths[:3]:
        shutil.copy(p, folder / "a" / p.name)
    (folder / "notes.txt").write_text("not audio")
    (folder / "broken.wav").write_bytes(b"RIFF....WAVEfmt ")
    assert main(["export", str(path), "--calibrate", str(folder)]) == 0
    captured = capsys.readouterr()
    assert "measured on" in captured.err and "from 3 files" in captured.err
    assert "could not be read" in captured.err and "broken.wav" in captured.err
    assert "only" in captured.err and "chunks of sound to measure on" in captured.err  # three clips are little
    assert read_meta(path).int8["trunk_ranges"] and _trunk_info(path)["int8_convs"] == 4
    load_predictor(path, device="cpu").predict(load_mono_16k(speech_paths[0]))  # the rewritten file and export agree

    # With --out: the export goes there, and the rewritten model file keeps a matching export beside it.
    out = tmp_path / "elsewhere" / "x.onnx"
    assert main(["export", str(path), "--calibrate", str(folder), "--out", str(out)]) == 0
    printed = capsys.readouterr().out.split()
    assert str(out) in printed and str(onnx_path_for(path)) in printed  # both exports written are named
    assert _trunk_info(out)["int8_convs"] == 4
    assert load_predictor(path, device="cpu", runtime="onnx").runtime == "onnx"

    empty = tmp_path / "empty"
    empty.mkdir()
    silent = tmp_path / "silent"
    silent.mkdir()
    import soundfile as sf

    sf.write(silent / "quiet.wav", np.zeros(32000, np.float32), 16000)
    whole = make_tiny_model(tmp_path / "whole.safetensors")
    for args, said in [([str(path), "--calibrate", str(tmp_path / "missing")], "no such folder"),
                       ([str(path), "--calibrate", str(empty)], "no readable audio file"),
                       ([str(path), "--calibrate", str(silent)], "no 0.5-s stretch of speech"),
                       ([str(path), "--calibrate", str(folder / "notes.txt")], "is a file, not a folder"),
                       ([str(whole), "--calibrate", str(folder)], "only the conv stack of a chunked model")]:
        assert main(["export", *args]) == 2
        assert said in capsys.readouterr().err
    # A model file that cannot be rewritten is said before any audio is read.
    import model.files

    monkeypatch.setattr(model.files, "_can_create_in", lambda folder: False)
    read = []
    monkeypatch.setattr("model.audio.load_mono_16k", lambda *a, **k: read.append(a) or np.zeros(16000, np.float32))
    assert main(["export", str(path), "--calibrate", str(folder)]) == 2
    assert "not writable here" in capsys.readouterr().err and not read


def test_an_ensemble_keeps_its_members_ranges_in_order(int8_model, tmp_path, speech):
    """'ser ensemble': the ensemble's conv stack graph holds its members' convolutions one member
    after another, and its ranges are theirs in that order."""
    from model.network import SEREnsemble
    from training.config import config_from_dict
    from training.ensemble import MEMBER_SEED_STEP, combine_models

    runs = []
    for k in range(2):
        run = tmp_path / f"run{k}"
        run.mkdir()
        net, meta = load_model(int8_model)
        config = {"seed": 7 + k * MEMBER_SEED_STEP, "corpus": "ravdess", "labels": list(meta.labels),
                  "features": meta.features.to_dict(), "arch": meta.arch.to_dict()}
        meta.training = {"config": config_from_dict(config).to_dict()}
        if k:  # another member: other ranges
            meta.int8 = {**meta.int8, "trunk_ranges": [[a, b * 2, c * 2, d * 2] for a, b, c, d in meta.int8["trunk_ranges"]]}
        save_model(net, meta, run / "model.safetensors", overwrite=True)
        runs.append(run)
    out = combine_models(runs, tmp_path / "ens")
    first, second = (read_meta(r / "model.safetensors").int8["trunk_ranges"] for r in runs)
    assert read_meta(out).int8["trunk_ranges"] == first + second
    assert isinstance(load_model(out)[0], SEREnsemble) and _trunk_info(out)["int8_convs"] == 2 * len(first)
    # Each member's convolutions run on its own ranges: the ensemble's conv stack output is its
    # members' (each from its own int8 export) side by side.
    feed = chunk_feed([speech[0][:8000], speech[0][8000:16000]], meta.features)
    members = [load_predictor(r / "model.safetensors", device="cpu")._run(feed, ["trunk"], "trunk")["trunk"]
               for r in runs]
    assert np.abs(members[0] - members[1]).max() > 1e-3  # the ranges make a difference
    both = load_predictor(out, device="cpu")._run(feed, ["trunk"], "trunk")["trunk"]
    np.testing.assert_allclose(both, np.concatenate(members, axis=1), atol=1e-6)


@pytest.mark.skipif(not DEFAULT_MODEL_PATH.exists(), reason="no bundled model in this checkout")
def test_the_bundled_model_runs_its_conv_stack_in_int8():
    meta = read_meta(DEFAULT_MODEL_PATH)
    assert _trunk_info(DEFAULT_MODEL_PATH)["int8_convs"] == len(meta.int8["trunk_ranges"]) == 4


def test_an_empty_int8_entry_is_a_float_model(int8_model, tmp_path):
    path = tmp_path / "float.safetensors"
    shutil.copy(int8_model, path)
    _with_int8(path, {})
    assert read_meta(path).int8 == {}


def test_calibration_reads_the_first_seconds_of_each_file_only(speech_paths):
    """``ser export --calibrate`` reads at most CALIBRATION_FILE_S of each file: a folder of hour-long
    calls does not fill the memory."""
    from training.commands import CALIBRATION_FILE_S

    whole = load_mono_16k(speech_paths[0])
    first = load_mono_16k(speech_paths[0], max_s=1.0)
    assert len(first) == 16000 and np.array_equal(first, whole[:16000]) and CALIBRATION_FILE_S <= 10


def test_a_stop_while_an_export_is_written_waits_for_its_end():
    """Ctrl+C (or SIGTERM) while a model file and its graphs are written takes effect once all are:
    a stop between them had left a model file its export no longer matched."""
    import os
    import signal

    from model.files import signals_deferred

    done = []
    signal.signal(signal.SIGINT, signal.default_int_handler)  # (the CLI tests above leave theirs)
    with pytest.raises(KeyboardInterrupt):
        with signals_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            done.append("after the signal")  # still runs
    assert done == ["after the signal"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
