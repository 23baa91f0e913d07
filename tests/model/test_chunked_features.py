"""Chunked features (FeatureConfig.chunk_ms): a window's log-mel is its chunks' own log-mels side by
side, each chunk through the conv stack alone, so windows that share chunks share their numbers; the
export carries the conv stack as a graph of its own, which the runtime checks like the others.
(tests/model/test_onnx_runtime.py runs chunked models through the ONNX-equals-torch tests.)"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from model.arch import ArchConfig
from model.errors import ModelFileError
from model.features import FeatureConfig
from model.logmel import LogMel
from model.network import SERNet
from model.runtime import OnnxPredictor, onnx_path_for
from model.testing import TINY_CHANNELS, make_tiny_model

CHUNKED = FeatureConfig(level_norm_dbfs=-20.0, chunk_ms=500.0)
PLAIN = FeatureConfig(level_norm_dbfs=-20.0)


def test_chunk_bounds_cut_whole_chunks_then_a_rest_that_holds_a_frame():
    f = CHUNKED
    assert f.chunk_samples == 8000 and f.chunk_frames(8000) == 48  # frames whose 25-ms window fits in 0.5 s
    assert f.chunk_bounds(32000) == [(0, 8000), (8000, 16000), (16000, 24000), (24000, 32000)]
    assert f.chunk_bounds(20000) == [(0, 8000), (8000, 16000), (16000, 20000)]
    assert f.chunk_bounds(8000 + f.win_length - 1) == [(0, 8000)]  # a rest shorter than one frame is left out
    assert f.chunk_bounds(8000 + f.win_length)[-1] == (8000, 8000 + f.win_length)
    assert f.chunk_bounds(5000) == [(0, 5000)]
    assert f.feature_frames(32000) == 4 * 48 and PLAIN.feature_frames(32000) == PLAIN.n_frames(32000)
    assert PLAIN.chunk_bounds(32000) == [(0, 32000)]
    assert FeatureConfig.from_dict(CHUNKED.to_dict()) == CHUNKED


@pytest.mark.parametrize("n", [32000, 20000, 8700, 8000, 5000, 600])
def test_chunked_logmel_is_each_chunks_own_logmel_side_by_side(speech_16k, n):
    """Each chunk less its mean, scaled to its own level, then its frames: those whose window lies
    within it. A DC offset changes nothing."""
    from model.runtime import level_gain

    x = speech_16k[16000:16000 + n] * np.float32(0.3)
    plain = LogMel(FeatureConfig())  # no level normalisation: each chunk is scaled here
    pad = (PLAIN.n_fft - PLAIN.win_length) // 2
    expected = []
    for s, e in CHUNKED.chunk_bounds(n):
        centred = x[s:e] - x[s:e].mean()
        chunk = centred * np.float32(level_gain(centred, -20.0, PLAIN.hop_length))
        expected.append(plain(torch.from_numpy(np.pad(chunk, (pad, pad)))[None]))
    chunked = LogMel(CHUNKED)(torch.from_numpy(x)[None])
    assert chunked.shape[2] == CHUNKED.feature_frames(n)
    torch.testing.assert_close(chunked, torch.cat(expected, dim=2), rtol=1e-4, atol=1e-4)
    offset = LogMel(CHUNKED)(torch.from_numpy(x + np.float32(0.1))[None])
    torch.testing.assert_close(offset, chunked, rtol=1e-3, atol=1e-3)


def _chunked_net() -> SERNet:
    torch.manual_seed(0)
    net = SERNet(8, CHUNKED, ArchConfig(channels=TINY_CHANNELS, head_dim=16, attention_dim=8)).eval()
    with torch.no_grad():
        net.feat_mean.fill_(-6.0)
        net.feat_std.fill_(3.0)
    return net


def test_a_window_is_the_head_over_its_chunks_conv_stacks(speech_16k):
    """What the runtime shares is exact: a window's output from its chunks computed one by one
    (as the chunks of earlier windows were) is the window's own output."""
    net = _chunked_net()
    x = torch.from_numpy(speech_16k[:48000].copy())[None]
    with torch.no_grad():
        stacks = {s: net.trunk(net.compute_features(x[:, s:s + 8000])) for s in range(0, 48000, 8000)}
        for start in (0, 8000, 16000):
            whole = net(x[:, start:start + 32000])
            pieced = net.head(torch.cat([stacks[start + k * 8000] for k in range(4)], dim=3))
            for key in ("emotion", "gender", "dimensions"):
                torch.testing.assert_close(whole[key], pieced[key])


def test_chunked_network_refuses_what_it_cannot_share():
    with pytest.raises(ValueError, match="speaker_norm"):
        SERNet(8, CHUNKED, ArchConfig(channels=TINY_CHANNELS, speaker_norm=True))
    with pytest.raises(ValueError, match="frames"):
        SERNet(8, FeatureConfig(chunk_ms=200.0), ArchConfig(channels=TINY_CHANNELS))  # 18 frames


def test_chunked_network_trains(speech_16k):
    net = _chunked_net().train()
    x = torch.from_numpy(np.stack([speech_16k[:32000], speech_16k[8000:40000]]).copy())
    out = net(x)
    (out["emotion"].sum() + out["dimensions"].sum()).backward()
    assert all(p.grad is not None for p in net.blocks.parameters())


# -- the export's conv-stack graph -------------------------------------------------------------

@pytest.fixture
def chunked_model(tmp_path):
    return make_tiny_model(tmp_path / "chunked.safetensors", chunk_ms=500.0, level_norm_dbfs=-20.0)


def test_export_has_the_trunk_graph_and_a_later_plain_export_removes_it(chunked_model):
    trunk = onnx_path_for(chunked_model, "trunk")
    assert trunk.is_file() and OnnxPredictor.load(chunked_model).predict(np.zeros(16000, np.float32) + 0.01)
    make_tiny_model(chunked_model)  # the same path, now a model without chunks
    assert not trunk.exists()


@pytest.mark.parametrize("damage", ["missing", "truncated", "garbage", "other model"])
def test_a_bad_trunk_graph_is_a_model_file_error(chunked_model, tmp_path, damage):
    trunk = onnx_path_for(chunked_model, "trunk")
    if damage == "missing":
        trunk.unlink()
    elif damage == "other model":
        other = make_tiny_model(tmp_path / "other.safetensors", chunk_ms=500.0)
        trunk.write_bytes(onnx_path_for(other, "trunk").read_bytes())
    else:
        data = trunk.read_bytes()
        trunk.write_bytes(data[: len(data) // 3] if damage == "truncated" else os.urandom(4096))
    with pytest.raises(ModelFileError, match=r"chunked\.trunk\.onnx.*ser export"):
        OnnxPredictor.load(chunked_model)


@pytest.mark.parametrize("hop", [8000, 4000])
def test_each_window_of_a_segment_computes_one_new_chunk(chunked_model, speech_16k, hop):
    """At the default 0.5-s hop, and at 0.25 s (two interleaved chunk grids), a window after the
    first ones computes only its last chunk; the results are each window's own."""
    from model.inference import SegmentState

    predictor = OnnxPredictor.load(chunked_model, threads=1)
    computed = []
    run = predictor._run

    def counting(feed, outputs, part="main"):
        if part == "trunk":
            computed.append(len(feed["chunk_frames"]))
        return run(feed, outputs, part)

    predictor._run = counting
    seg, starts = SegmentState(), list(range(0, len(speech_16k) - 32000, hop))[:10]
    shared = [predictor.predict_batch([speech_16k[s:s + 32000]], segments=[(seg, s)])[0] for s in starts]
    grids = 8000 // hop  # the first window on each chunk grid computes its four chunks
    assert computed == [4] * grids + [1] * (len(starts) - grids)
    alone = predictor.predict_batch([speech_16k[s:s + 32000] for s in starts])
    for a, b in zip(shared, alone, strict=True):
        np.testing.assert_allclose(a.probabilities, b.probabilities, atol=1e-6)


def test_an_utterances_last_window_computes_only_its_rest(chunked_model, speech_16k):
    """The last window of an utterance that the hops do not end on starts on the grid (model.inference
    .window_bounds), so it shares its whole chunks with the window before it and computes only its
    shorter rest; its result is its own."""
    from model.inference import SegmentState, window_bounds

    predictor = OnnxPredictor.load(chunked_model, threads=1)
    computed = []
    run = predictor._run

    def counting(feed, outputs, part="main"):
        if part == "trunk":
            computed.append(feed["chunk_frames"].shape[:2])
        return run(feed, outputs, part)

    predictor._run = counting
    x = speech_16k[:int(3.3 * 16000)]
    bounds = window_bounds(len(x), 32000, 8000)
    assert bounds[-1] == (24000, len(x))  # 1.8 s: three whole chunks and a 0.3-s rest
    seg = SegmentState()  # one segment's windows, in one call, as ser eval runs an utterance's
    windows = predictor.predict_batch([x[s:e] for s, e in bounds], segments=[(seg, s) for s, _ in bounds])
    whole = sum(n for n, frames in computed if frames == 48)
    rests = [n for n, frames in computed if frames != 48]
    assert whole == 6 and rests == [1]  # the chunks at 0, 0.5 ... 2.5 s once each, and the last window's rest
    alone = predictor.predict_batch([x[s:e] for s, e in bounds])
    for a, b in zip(windows, alone, strict=True):
        np.testing.assert_allclose(a.probabilities, b.probabilities, atol=1e-6)
