"""Network forward at several lengths; the model file round trip and each corrupt-file error."""

import json
import struct

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from model import ArchConfig, FeatureConfig, ModelFileError, ModelMeta, Predictor, SERNet, load_model, save_model
from model.network import count_parameters


@pytest.mark.parametrize("seconds", [0.05, 1.0, 2.0, 3.7, 8.0])
def test_forward_any_length(seconds):
    net = SERNet(8, FeatureConfig(), ArchConfig()).eval()
    x = torch.randn(2, int(16000 * seconds)) * 0.1
    with torch.no_grad():
        out = net(x)
    assert out["emotion"].shape == (2, 8)
    assert out["gender"].shape == (2, 2)
    assert out["dimensions"].shape == (2, 3)
    assert ((out["dimensions"] >= 0) & (out["dimensions"] <= 1)).all()
    assert torch.isfinite(out["emotion"]).all()


@pytest.mark.parametrize("pool", [(2, 2), (2, 1), (1, 2), (3, 2)])
def test_fast_inference_pooling_equals_max_pool2d(pool):
    """Without gradients MaxPool takes maxima of strided slices; values must equal max_pool2d's,
    odd sizes included, and with gradients it is max_pool2d itself."""
    from model.network import MaxPool

    x = torch.randn(3, 5, 17, 41)
    with torch.no_grad():
        assert torch.equal(MaxPool(pool)(x), torch.nn.functional.max_pool2d(x, pool))
    x.requires_grad_(True)
    MaxPool(pool)(x).sum().backward()
    assert int((x.grad != 0).sum()) == (17 // pool[0]) * (41 // pool[1]) * 15


@pytest.mark.parametrize("residual", [(), (1, 4)])
def test_inference_path_equals_the_training_path_and_follows_weight_changes(residual):
    """Without gradients, batch norm is folded into the convolutions (cached); the outputs must
    equal those of the plain path, also after the weights change in place."""
    torch.manual_seed(0)
    net = SERNet(8, FeatureConfig(), ArchConfig(residual_blocks=residual))
    net.train()
    with torch.no_grad():
        for _ in range(3):  # give batch norm non-trivial running statistics
            net(torch.randn(4, 24000) * 0.1)
    net.eval()
    x = torch.randn(2, 27000) * 0.1

    def both():
        with torch.enable_grad():
            plain = net(x)
        with torch.inference_mode():
            fast = net(x)
        for k in plain:
            torch.testing.assert_close(fast[k], plain[k].detach(), rtol=1e-4, atol=1e-5)
        return fast

    before = both()
    with torch.no_grad():
        net.blocks[0].conv.weight.mul_(1.5)
        net.blocks[2].bn.running_mean.add_(0.3)
    after = both()
    assert not torch.allclose(before["emotion"], after["emotion"])
    net.load_state_dict(SERNet(8, FeatureConfig(), ArchConfig(residual_blocks=residual)).state_dict())
    both()


def test_window_mean_norm_centres_each_band_of_the_input():
    net = SERNet(8, FeatureConfig(), ArchConfig(window_mean_norm=True)).eval()
    x = torch.randn(2, 20000) * 0.1
    with torch.no_grad():
        feats = net.compute_features(x)
        plain = SERNet(8, FeatureConfig(), ArchConfig()).eval().compute_features(x)
    torch.testing.assert_close(feats.mean(dim=2), torch.zeros(2, 64), atol=1e-5, rtol=0)
    torch.testing.assert_close(feats, plain - plain.mean(dim=2, keepdim=True))


def test_residual_blocks_round_trip_through_the_arch_config():
    arch = ArchConfig(residual_blocks=(3, 4))
    assert ArchConfig.from_dict(json.loads(json.dumps(arch.to_dict()))) == arch
    net = SERNet(8, FeatureConfig(), arch).eval()
    assert hasattr(net.blocks[4], "conv2") and not hasattr(net.blocks[2], "conv2")
    with torch.no_grad():
        assert net(torch.randn(1, 16000) * 0.1)["emotion"].shape == (1, 8)


def test_default_architecture_is_small():
    for arch in (ArchConfig(), ArchConfig(simam="all", pooling="mean"), ArchConfig(residual_blocks=(0, 1, 2, 3, 4))):
        assert count_parameters(SERNet(8, FeatureConfig(), arch)) <= 2_000_000


def test_arch_config_rejects_unknown_settings():
    with pytest.raises(ValueError):
        ArchConfig.from_dict({"channels": [8], "colour": "red"})
    with pytest.raises(ValueError):
        SERNet(8, FeatureConfig(), ArchConfig(simam="everywhere"))
    for sizes in ((), (128, 0, 256), (128, 512, 256)):
        with pytest.raises(ValueError, match="voice_hidden"):
            SERNet(8, FeatureConfig(), ArchConfig(voice_gender=True, voice_hidden=sizes))


def test_a_pruned_voice_encoder_is_part_of_the_architecture():
    """``voice_hidden`` survives the file's metadata as a tuple and builds layers of those sizes."""
    arch = ArchConfig.from_dict({**ArchConfig(voice_gender=True).to_dict(), "voice_hidden": [128, 256, 256]})
    assert arch.voice_hidden == (128, 256, 256) and ArchConfig.from_dict(arch.to_dict()) == arch
    net = SERNet(8, FeatureConfig(), arch)
    assert [layer.hidden_size for layer in net.voice.lstm.layers] == [128, 256, 256]
    assert "voice.lstm.layers.0.weight_hh_l0" in net.state_dict()
    assert SERNet(8, FeatureConfig(), ArchConfig(voice_gender=True)).voice.lstm.hidden_size == 256  # GE2E's form


def test_round_trip_gives_identical_outputs(tiny_model_path, tmp_path):
    net, meta = load_model(tiny_model_path)
    assert meta.labels[0] == "neutral" and meta.dimensions_source == "derived-from-category"
    path = save_model(net, meta, tmp_path / "copy.safetensors")
    net2, meta2 = load_model(path)
    assert meta2.labels == meta.labels and meta2.arch == meta.arch and meta2.features == meta.features
    x = torch.randn(1, 32000) * 0.1
    with torch.no_grad():
        a, b = net(x), net2(x)
    for k in a:
        torch.testing.assert_close(a[k], b[k])


def test_save_refuses_to_overwrite(tiny_model_path):
    net, meta = load_model(tiny_model_path)
    with pytest.raises(FileExistsError):
        save_model(net, meta, tiny_model_path)


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(ModelFileError, match="not found"):
        Predictor.load(tmp_path / "nope.safetensors")


def test_truncated_file(tiny_model_path, tmp_path):
    data = tiny_model_path.read_bytes()
    bad = tmp_path / "truncated.safetensors"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="truncated"):
        load_model(bad)


def test_not_a_safetensors_file(tmp_path):
    bad = tmp_path / "random.safetensors"
    bad.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ModelFileError, match=str(bad.name)):
        load_model(bad)


def test_pickle_file_is_refused_without_running_it(tmp_path):
    bad = tmp_path / "model.pt"
    torch.save({"weights": torch.zeros(3)}, bad)
    with pytest.raises(ModelFileError):
        load_model(bad)


def test_safetensors_without_our_metadata(tmp_path):
    bad = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(bad))
    with pytest.raises(ModelFileError, match="not a model of this product"):
        load_model(bad)


def _rewrite_meta(src, dst, change):
    """Copy a safetensors file with its JSON header's ``ser`` metadata changed."""
    raw = src.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = json.loads(header["__metadata__"]["ser"])
    change(meta)
    header["__metadata__"]["ser"] = json.dumps(meta)
    new = json.dumps(header).encode()
    new += b" " * (-len(new) % 8)
    dst.write_bytes(struct.pack("<Q", len(new)) + new + raw[8 + n:])
    return dst


def test_mismatched_architecture(tiny_model_path, tmp_path):
    bad = _rewrite_meta(tiny_model_path, tmp_path / "mismatch.safetensors",
                        lambda m: m["arch"].update(channels=[8, 16, 16, 32, 64]))
    with pytest.raises(ModelFileError, match="do not match"):
        load_model(bad)


def test_label_count_mismatch(tiny_model_path, tmp_path):
    bad = _rewrite_meta(tiny_model_path, tmp_path / "labels.safetensors", lambda m: m.update(labels=["a", "b"]))
    with pytest.raises(ModelFileError):
        load_model(bad)


def test_newer_format_version(tiny_model_path, tmp_path):
    bad = _rewrite_meta(tiny_model_path, tmp_path / "v99.safetensors", lambda m: m.update(format_version=99))
    with pytest.raises(ModelFileError, match="update the program"):
        load_model(bad)


def test_nan_weights(tmp_path):
    net = SERNet(3, FeatureConfig(), ArchConfig(channels=(4, 4, 4, 4, 4), head_dim=8, attention_dim=4))
    with torch.no_grad():
        net.emotion_head.weight.fill_(float("nan"))
    path = save_model(net, ModelMeta(labels=["neutral", "happy", "sad"], arch=net.arch), tmp_path / "nan.safetensors")
    with pytest.raises(ModelFileError, match="NaN"):
        load_model(path)


def test_model_files_declare_their_outputs_and_analysis_window(tmp_path, tiny_model_path):
    """A model file says what it outputs and on which windows; files from before that still load."""
    import json

    from safetensors import safe_open
    from safetensors.torch import save_file

    from model import Predictor
    from model.checkpoint import DEFAULT_ANALYSIS, load_model, read_meta
    from model.errors import ModelFileError

    meta = read_meta(tiny_model_path)
    assert [h["name"] for h in meta.heads] == ["emotion", "gender", "dimensions"]
    assert meta.heads[0] == {"name": "emotion", "kind": "categorical", "labels": list(meta.labels), "source": "network"}
    assert meta.heads[2]["kind"] == "regression" and meta.heads[2]["range"] == [0.0, 1.0]
    assert (meta.window_s, meta.hop_s) == (DEFAULT_ANALYSIS["window_s"], DEFAULT_ANALYSIS["hop_s"])

    with safe_open(str(tiny_model_path), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
        stored = json.loads(f.metadata()["ser"])
    assert stored["heads"] == meta.heads and stored["analysis"]["window_s"] == meta.window_s

    def variant(name, data):
        path = tmp_path / f"{name}.safetensors"
        save_file(tensors, str(path), metadata={"ser": json.dumps(data)})
        return path

    old = {k: v for k, v in stored.items() if k not in ("heads", "analysis")}
    old["training"] = {"config": {"augment": {"crop_s": 1.5}}}
    net, meta_old = load_model(variant("old", old))  # written before outputs were declared
    assert meta_old.heads == meta.heads and meta_old.analysis == {**DEFAULT_ANALYSIS, "crop_s": 1.5}
    longer = variant("longer", {**stored, "analysis": {"window_s": 3.0, "hop_s": 1.0, "crop_s": 3.0}})
    p = Predictor.load(longer, device="cpu")
    assert (p.window_s, p.hop_s) == (3.0, 1.0)
    x = np.random.default_rng(0).standard_normal(16000 * 7).astype(np.float32) * 0.1
    assert len(p.predict_windows(x)) == len(  # the model's own windows by default
        Predictor.load(tiny_model_path, device="cpu").predict_windows(x, window_s=3.0, hop_s=1.0))
    edited = [dict(h) for h in stored["heads"]]
    edited[2] = {**edited[2], "source": "human-ratings"}
    with pytest.raises(ModelFileError, match="declares do not match"):
        load_model(variant("edited", {**stored, "heads": edited}))
    with pytest.raises(ModelFileError, match="analysis window"):
        load_model(variant("hop", {**stored, "analysis": {"window_s": 1.0, "hop_s": 2.0}}))


def test_extra_heads_are_checked_and_ensembles_average_them():
    import dataclasses

    import torch

    from model.features import FeatureConfig
    from model.network import ArchConfig, SEREnsemble, SERNet, check_extra_heads

    for bad in ([("uncertain", "regression", ("a",))], [("Loud", "regression", ("a",))],
                [("loud", "ordinal", ("a",))], [("loud", "regression", ())], [("loud", "regression", ("a", "a"))],
                [("loud", "regression", ("a",)), ("loud", "categorical", ("x", "y"))]):
        with pytest.raises(ValueError, match="extra head"):
            check_extra_heads(bad)
    arch = ArchConfig(channels=(4, 8, 8, 16, 16), head_dim=16, attention_dim=8,
                      extra_heads=(("loud", "regression", ("level",)), ("mood", "categorical", ("low", "high"))))
    assert ArchConfig.from_dict(arch.to_dict()) == arch
    torch.manual_seed(0)
    nets = [SERNet(3, FeatureConfig(), arch).eval() for _ in range(2)]
    ens = SEREnsemble.from_members(nets)
    x = torch.randn(1, 32000) * 0.1
    with torch.no_grad():
        outs = [n(x) for n in nets]
        merged = ens(x)
    np.testing.assert_allclose(merged["loud"], (outs[0]["loud"] + outs[1]["loud"]) / 2, atol=1e-6)
    mean_p = (torch.softmax(outs[0]["mood"], 1) + torch.softmax(outs[1]["mood"], 1)) / 2
    np.testing.assert_allclose(torch.softmax(merged["mood"], 1), mean_p, atol=1e-6)
    assert dataclasses.replace(arch, members=2).extra_heads == ens.arch.extra_heads
