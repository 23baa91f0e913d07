"""training/voice_distill.py: the crops, the student's training and the encoder swap it measures with."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model.audio import load_mono_16k
from model.voice import VoiceGender
from training.voice import load_encoder
from training.voice_distill import (
    PrunedEncoder,
    StudentEncoder,
    _window_mels,
    load_student,
    make_crops,
    prune_teacher,
    save_student,
    swap_encoder,
    train_student,
)


@pytest.fixture(scope="module")
def voice():
    torch.manual_seed(0)
    return VoiceGender(n_labels=8).eval()  # random weights: the mechanics, not GE2E's numbers


@pytest.fixture(scope="module")
def waves(speech_paths):
    return [load_mono_16k(p) for p in speech_paths[:2]]


def test_crops_are_the_voice_graphs_input_with_the_teachers_embeddings(voice, waves):
    mels, emb = make_crops(waves, per_clip=3, seed=0, voice=voice)
    assert mels.shape == (6, 160, 40) and emb.shape == (6, 256)
    assert np.all(mels >= 0) and np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5)
    again, _ = make_crops(waves, per_clip=3, seed=0, voice=voice)
    assert np.array_equal(mels, again)  # seeded
    with torch.no_grad():  # the teacher is the encoder as VoiceGender runs it
        _, (h, _) = voice.lstm(torch.from_numpy(mels))
        e = torch.relu(voice.linear(h[-1]))
    assert np.allclose(emb, (e / e.norm(dim=1, keepdim=True)).numpy(), atol=1e-6)


def test_the_student_learns_the_targets(voice, waves):
    mels, emb = make_crops(waves, per_clip=16, seed=1, voice=voice)
    student, history = train_student(mels, emb, epochs=6, width=16, batch=8, checks={"same": (mels, emb)})
    assert [h["epoch"] for h in history] == list(range(1, 7))
    assert history[-1]["same_cosine"] > history[0]["same_cosine"] + 0.05
    with torch.no_grad():
        out = student(torch.from_numpy(mels[:3]))
    assert out.shape == (3, 256) and torch.allclose(out.norm(dim=1), torch.ones(3), atol=1e-5)


def test_swapped_encoders(voice, waves, tmp_path):
    x = torch.from_numpy(np.stack([waves[0][:32000], waves[1][:32000]]))
    with torch.no_grad():
        shipped = voice.embed_batch(x)
        other = VoiceGender(n_labels=8).eval()
        other.load_state_dict(voice.state_dict())
        swap_encoder(other, "ge2e")  # GE2E itself, whatever the model has
        ge2e = VoiceGender().eval()
        load_encoder(ge2e)
        whole = other.embed_batch(x)
        assert torch.allclose(whole, ge2e.embed_batch(x), atol=1e-6) and not torch.allclose(whole, shipped, atol=1e-3)
        swap_encoder(other, "model")
        assert torch.allclose(other.embed_batch(x), shipped, atol=1e-6)  # the model's own encoder again
        swap_encoder(other, "ge2e:120")
        shorter = other.embed_batch(x)
        assert shorter.shape == whole.shape and not torch.allclose(shorter, whole, atol=1e-3)
        path = tmp_path / "student.pt"
        student = StudentEncoder(16).eval()
        torch.save({**student.state_dict(), "width": torch.tensor(16)}, path)
        swap_encoder(other, str(path))
        e = other.embed_batch(x)
        assert e.shape == (2, 256) and torch.allclose(e.norm(dim=1), torch.ones(2), atol=1e-5)
        xc = x - x.mean(1, keepdim=True)  # the encoder's input less its DC offset
        partial = voice.mel(xc * (10 ** (-30 / 20) / xc.pow(2).mean(1).sqrt())[:, None]).transpose(1, 2)[:, :160]
        assert torch.allclose(e, student(partial), atol=1e-5)  # the student's embeddings, not GE2E's
        assert not any(k.startswith("encode_partials") for k in other.state_dict())
        p = other.forward_batch(x)  # the heads run on the student's embeddings
        assert p.shape == (2, 2) and torch.allclose(p.sum(1), torch.ones(2))


def test_check_windows_are_the_products_analysis_windows(voice, waves):
    from model.audio import speech_bounds
    from model.inference import window_bounds

    mels = _window_mels(voice, waves)
    expected = 0
    for w in waves:
        a, b = speech_bounds(w)
        expected += len(window_bounds(b - a if b - a >= 3200 else len(w), 32000, 8000))
    assert mels.shape == (expected, 160, 40) and np.all(mels >= 0)


def test_pruning_nothing_gives_the_teacher_and_pruning_keeps_the_units_that_matter(voice, waves):
    mels, emb = make_crops(waves, per_clip=4, seed=2, voice=voice)
    with torch.no_grad():
        whole = prune_teacher(voice, (256, 256, 256), mels)(torch.from_numpy(mels)).numpy()
    assert np.allclose(whole, emb, atol=1e-5)  # every unit kept: GE2E itself
    small = prune_teacher(voice, (32, 256, 16), mels)
    assert [layer.hidden_size for layer in small.lstm.layers] == [32, 256, 16]
    assert small.lstm.layers[1].weight_ih_l0.shape == (4 * 256, 32) and small.linear.weight.shape == (256, 16)
    # The first layer's kept units are GE2E's, with their own weights (and the input gate's rows
    # first, as torch orders the gates): each kept row is one of the teacher's rows.
    teacher = voice.lstm.weight_ih_l0.detach()[:256]
    kept = small.lstm.layers[0].weight_ih_l0.detach()[:32]
    assert all(any(torch.equal(row, t) for t in teacher) for row in kept)
    with pytest.raises(Exception, match="one size per GE2E layer"):
        prune_teacher(voice, (32, 32), mels)


def test_a_pruned_student_learns_and_is_swapped_in(voice, waves, tmp_path):
    mels, emb = make_crops(waves, per_clip=12, seed=3, voice=voice)
    start = prune_teacher(voice, (16, 256, 256), mels)
    fixed = start.lstm.layers[2].weight_hh_l0.detach().clone()
    student, history = train_student(mels, emb, epochs=4, batch=8, lr=1e-2, student=start,
                                     checks={"same": (mels, emb)})
    assert isinstance(student, PrunedEncoder) and history[-1]["same_cosine"] > history[0]["same_cosine"]
    moved = (student.lstm.layers[2].weight_hh_l0.detach() - fixed).abs().max()
    assert 0 < moved < 1e-2  # a layer kept whole learns at a tenth of the rate
    path = tmp_path / "pruned.pt"
    save_student(student, path)
    again = load_student(path)
    assert again.sizes == (16, 256, 256)
    x = torch.from_numpy(np.stack([waves[0][:32000], waves[1][:32000]]))
    other = VoiceGender(n_labels=8).eval()
    other.load_state_dict(voice.state_dict())
    swap_encoder(other, str(path))
    with torch.no_grad():
        e = other.embed_batch(x)
        xc = x - x.mean(1, keepdim=True)
        partial = voice.mel(xc * (10 ** (-30 / 20) / xc.pow(2).mean(1).sqrt())[:, None]).transpose(1, 2)[:, :160]
        assert torch.allclose(e, student(partial), atol=1e-5)


def test_a_pruned_encoder_of_equal_layers_is_read_back_as_its_own_size(tmp_path, monkeypatch):
    """Layers pruned to one size (128 each) are not GE2E's shape: the voice builds them as the pruned
    encoder was saved, and the file's weights load into it."""
    import model.voice as voice_module

    monkeypatch.setattr(voice_module, "WEIGHTS_DIR", tmp_path)
    student = PrunedEncoder((128, 128, 128)).eval()
    save_student(student, voice_module.encoder_path((128, 128, 128)))
    loaded = VoiceGender(hidden=(128, 128, 128)).eval()
    load_encoder(loaded)
    mel = torch.rand(2, 160, 40)
    with torch.no_grad():
        assert torch.allclose(loaded.encode_partials(mel), student(mel), atol=1e-6)
