"""The network: a CNN over normalised log-mel, SimAM attention, attentive pooling over time,
and three heads (emotion, gender, valence/arousal/dominance).

Global pooling makes the network accept any window from about 0.3 s up; windows shorter than
``min_frames`` are padded by repeating the signal's own frames (see :meth:`SERNet.pad_frames`).
With chunked features (``FeatureConfig.chunk_ms``) the conv stack runs on each chunk of the window
alone, so overlapping windows can share the chunks they have in common.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn
from torch.nn import functional as F

from model.arch import (  # noqa: F401 - re-exported: the network's settings and outputs
    BUILT_IN_HEADS,
    DIMENSION_NAMES,
    GENDER_LABELS,
    HEAD_KINDS,
    ArchConfig,
    check_extra_heads,
)
from model.features import FeatureConfig
from model.logmel import LogMel


class SimAM(nn.Module):
    """Parameter-free attention (Yang et al., ICML 2021): weighs each activation by an energy
    that grows with its distance from its channel's mean."""

    def __init__(self, e_lambda: float = 1e-4):
        super().__init__()
        self.e_lambda = e_lambda

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[2] * x.shape[3] - 1
        d = (x - x.mean(dim=(2, 3), keepdim=True)).pow(2)
        v = d.sum(dim=(2, 3), keepdim=True) / max(n, 1)
        e_inv = d / (4 * (v + self.e_lambda)) + 0.5
        return x * torch.sigmoid(e_inv)


class MaxPool(nn.Module):
    """Max pooling by ``(freq, time)`` factors with a non-overlapping stride, as
    :class:`torch.nn.MaxPool2d`. For inference (no gradient) it is computed as maxima of strided
    slices, which gives the same values several times faster on the CPU in this network's shapes
    (about 0.1 ms instead of 0.9 ms for the first block of a 2-s window, one thread); training
    keeps ``max_pool2d``, whose backward pass is the faster one."""

    def __init__(self, pool: tuple[int, int]):
        super().__init__()
        self.pool = (int(pool[0]), int(pool[1]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pf, pt = self.pool
        if torch.is_grad_enabled() or torch.onnx.is_in_onnx_export():  # ONNX Runtime's MaxPool is the fast one there
            return F.max_pool2d(x, self.pool)
        x = x[:, :, : x.shape[2] // pf * pf, : x.shape[3] // pt * pt]
        if pt > 1:
            y = x[..., 0::pt]
            for i in range(1, pt):
                y = torch.maximum(y, x[..., i::pt])
            x = y
        if pf > 1:
            y = x[:, :, 0::pf]
            for i in range(1, pf):
                y = torch.maximum(y, x[:, :, i::pf])
            x = y
        return x


class ConvBlock(nn.Module):
    """3x3 conv and batch norm; with ``residual`` a second conv and batch norm added back to the
    first's output; then max pooling, ReLU and optionally SimAM."""

    def __init__(self, c_in: int, c_out: int, pool: tuple[int, int], simam: bool, e_lambda: float,
                 residual: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        if residual:
            self.conv2 = nn.Conv2d(c_out, c_out, kernel_size=3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(c_out)
        self.residual = residual
        self.act = nn.ReLU(inplace=True)
        self.att = SimAM(e_lambda) if simam else nn.Identity()
        self.pool = MaxPool(pool) if pool != (1, 1) else nn.Identity()
        self._fused: dict[str, tuple] = {}  # inference weights with batch norm folded in (see _folded)

    def _folded(self, conv: nn.Conv2d, bn: nn.BatchNorm2d, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Weights and per-channel bias of ``bn(conv(x))`` as one convolution (inference only),
        computed once and again only when one of the tensors changes."""
        tensors = (conv.weight, bn.weight, bn.bias, bn.running_mean, bn.running_var)
        key = tuple((t.data_ptr(), t._version) for t in tensors)
        cached = self._fused.get(name)
        if cached is None or cached[0] != key:
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            cached = self._fused[name] = (key, conv.weight * scale[:, None, None, None],
                                          bn.bias - bn.running_mean * scale)
        return cached[1], cached[2]

    def forward(self, x: torch.Tensor, attend: bool = True) -> torch.Tensor:
        """``attend`` False leaves out SimAM (a chunked network applies it to the chunks side by side)."""
        att = self.att if attend else (lambda v: v)
        if self.training or torch.is_grad_enabled():
            x = self.bn(self.conv(x))
            if self.residual:
                x = x + self.bn2(self.conv2(torch.relu(x)))
            # ReLU after pooling: the same values (ReLU is monotonic) on a quarter of the elements.
            return att(self.act(self.pool(x)))
        # Inference: batch norm folded into the convolutions. The bias is added after pooling, which
        # gives the same values (max commutes with adding a per-channel constant) on a quarter of
        # the elements, and spares the CPU convolution its slow bias fill.
        weight, bias = self._folded(self.conv, self.bn, "conv")
        x = F.conv2d(x, weight, None, padding=self.conv.padding)
        if self.residual:
            x = x + bias[None, :, None, None]
            weight2, bias2 = self._folded(self.conv2, self.bn2, "conv2")
            x = x + F.conv2d(torch.relu(x), weight2, bias2, padding=self.conv2.padding)
            return att(self.act(self.pool(x)))
        return att(self.act(self.pool(x) + bias[None, :, None, None]))


class AttentiveStatsPool(nn.Module):
    """Attention over time: weighted mean and standard deviation of frame embeddings."""

    def __init__(self, dim: int, attention_dim: int):
        super().__init__()
        self.score = nn.Sequential(
            nn.Conv1d(dim, attention_dim, 1), nn.Tanh(), nn.Conv1d(attention_dim, 1, 1)
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:  # h: (B, C, T)
        w = torch.softmax(self.score(h), dim=2)
        mean = (h * w).sum(dim=2)
        var = ((h - mean.unsqueeze(2)).pow(2) * w).sum(dim=2)
        return torch.cat([mean, torch.sqrt(var + 1e-5)], dim=1)


class SERNet(nn.Module):
    """Waveform in, emotion logits, gender logits and V/A/D in [0, 1] out.

    The log-mel front end and the training-set normalisation statistics are part of the module
    (buffers ``feat_mean`` and ``feat_std``), so the model file carries everything.
    """

    def __init__(self, n_labels: int, features: FeatureConfig, arch: ArchConfig):
        super().__init__()
        if len(arch.pools) != len(arch.channels):
            raise ValueError("ArchConfig.pools needs one entry per conv block")
        self.n_labels = n_labels
        self.features = features
        self.arch = arch
        self.logmel = LogMel(features)
        self.register_buffer("feat_mean", torch.zeros(features.n_mels))
        self.register_buffer("feat_std", torch.ones(features.n_mels))
        if arch.members != 1:
            raise ValueError("an ArchConfig with several members builds a SEREnsemble (see build_network)")
        if arch.speaker_norm and arch.window_mean_norm:
            raise ValueError("speaker_norm and window_mean_norm exclude each other; use speaker_norm_fallback: window")
        if arch.speaker_norm_fallback not in ("global", "window"):
            raise ValueError(f"unknown speaker_norm_fallback {arch.speaker_norm_fallback!r}")
        if arch.voice_emotion and not arch.voice_gender:
            raise ValueError("voice_emotion needs the voice encoder: set voice_gender too")
        if not (0.0 <= arch.voice_emotion_weight <= 1.0 and 0.0 <= arch.voice_emotion_weight_unadapted <= 1.0):
            raise ValueError("voice_emotion weights must lie in [0, 1]")
        if not 0.0 <= arch.voice_emotion_every_s <= 60.0:
            raise ValueError("voice_emotion_every_s must lie in [0, 60] seconds")
        if not arch.voice_hidden or not all(0 < h <= 256 for h in arch.voice_hidden):
            raise ValueError("voice_hidden: one number of hidden units per voice-encoder layer, each 1-256")
        check_extra_heads(arch.extra_heads)
        if arch.simam not in ("last", "all", "none"):
            raise ValueError(f"unknown SimAM placement {arch.simam!r}")
        blocks = []
        c_in = 1
        n_blocks = len(arch.channels)
        for i, (c_out, pool) in enumerate(zip(arch.channels, arch.pools)):
            simam = arch.simam == "all" or (arch.simam == "last" and i == n_blocks - 1)
            blocks.append(ConvBlock(c_in, c_out, tuple(pool), simam, arch.simam_lambda,
                                    residual=i in arch.residual_blocks))
            c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.time_factor = 1
        for p in arch.pools:
            self.time_factor *= p[1]
        # Enough frames that every time pooling sees at least one full step plus a margin.
        self.min_frames = 4 * self.time_factor
        # Chunked features (FeatureConfig.chunk_ms): the conv stack runs on each chunk's log-mel alone
        # and SimAM after it on the chunks side by side (see forward_features).
        self.chunk_frames = features.chunk_frames(features.chunk_samples) if features.chunk_samples > 0 else 0
        if self.chunk_frames:
            if self.chunk_frames < self.min_frames:
                raise ValueError(f"chunks of {features.chunk_ms:g} ms hold {self.chunk_frames} frames; the conv stack "
                                 f"needs at least {self.min_frames}")
            if arch.speaker_norm or arch.window_mean_norm:
                raise ValueError("chunked features do not combine with speaker_norm or window_mean_norm")
        dim = arch.channels[-1]
        if arch.pooling == "attention":
            self.pool = AttentiveStatsPool(dim, arch.attention_dim)
            emb = 2 * dim
        elif arch.pooling == "mean":
            self.pool = None
            emb = dim
        else:
            raise ValueError(f"unknown pooling {arch.pooling!r}")
        self.embedding = nn.Sequential(
            nn.Linear(emb, arch.head_dim), nn.BatchNorm1d(arch.head_dim), nn.ReLU(inplace=True),
            nn.Dropout(arch.dropout),
        )
        self.emotion_head = nn.Linear(arch.head_dim, n_labels)
        self.gender_head = nn.Linear(arch.head_dim, len(GENDER_LABELS))
        self.dimensions_head = nn.Linear(arch.head_dim, len(DIMENSION_NAMES))
        self.extra_heads = nn.ModuleDict({name: nn.Linear(arch.head_dim, len(names))
                                          for name, _, names in arch.extra_heads})
        if arch.voice_gender:
            from model.voice import VoiceGender

            self.voice = VoiceGender(n_labels if arch.voice_emotion else 0, arch.voice_hidden)

    def compute_features(self, waveform: torch.Tensor, reference: torch.Tensor | None = None) -> torch.Tensor:
        """(B, samples) -> normalised log-mel (B, n_mels, frames)."""
        return self.normalise(self.logmel(waveform), reference)

    def normalise(self, logmel: torch.Tensor, reference: torch.Tensor | None = None,
                  has_reference: torch.Tensor | None = None) -> torch.Tensor:
        """Log-mel (B, n_mels, frames) -> the network's normalised input. ``reference`` (B, n_mels):
        the speaker's mean log-mel, for a speaker-normalised network (None: each window's own mean).
        ``has_reference`` (B,), 1 or 0: which rows of ``reference`` are real; the others get the
        network's fallback as without one (the ONNX graph takes every row's reference this way)."""
        if self.arch.speaker_norm and (reference is not None or self.arch.speaker_norm_fallback == "window"):
            if self.arch.speaker_norm_fallback == "window":
                fallback = logmel.mean(dim=2)
            else:
                fallback = self.feat_mean[None, :].expand(logmel.shape[0], -1)
            if reference is None:
                centre = fallback
            elif has_reference is None:
                centre = reference
            else:
                centre = torch.where(has_reference[:, None] > 0, reference, fallback)
            return (logmel - centre[:, :, None]) / self.feat_std[None, :, None]
        x = (logmel - self.feat_mean[None, :, None]) / self.feat_std[None, :, None]
        if self.arch.window_mean_norm:
            x = x - x.mean(dim=2, keepdim=True)
        return x

    def pad_frames(self, feats: torch.Tensor) -> torch.Tensor:
        """Inputs shorter than ``min_frames`` padded by repeating their own frames."""
        if torch.onnx.is_in_onnx_export():  # the same repetition, for any number of frames
            t = torch._shape_as_tensor(feats)[2]
            # Gathered along a leading axis (whole rows), not the last (single values): the same
            # numbers, 4 % less time per window in ONNX Runtime.
            frames_first = feats.permute(2, 0, 1).index_select(0, torch.arange(torch.clamp(t, min=self.min_frames)) % t)
            return frames_first.permute(1, 2, 0)
        if feats.shape[2] < self.min_frames:
            reps = -(-self.min_frames // max(feats.shape[2], 1))
            feats = feats.repeat(1, 1, reps)[:, :, : max(self.min_frames, feats.shape[2])]
        return feats

    def trunk(self, feats: torch.Tensor) -> torch.Tensor:
        """Normalised log-mel of one piece (B, n_mels, frames) -> the conv stack's output (B, C, F', T'):
        a whole window, or one chunk of a chunked network (whose last SimAM is left to :meth:`head`)."""
        x = self.pad_frames(feats).unsqueeze(1)
        last = len(self.blocks) - 1
        for i, block in enumerate(self.blocks):
            x = block(x, attend=not (self.chunk_frames and i == last))
        return x

    @staticmethod
    def frequency_mean(h: torch.Tensor) -> torch.Tensor:
        """(B, C, F', T') -> (B, C, T'), the mean over the frequency rows. In an ONNX export it is the
        rows added one by one: ONNX Runtime's ReduceMean over that middle axis took about a quarter
        of the heads graph's time, the sum of rows a fifth of the ReduceMean's, with the same numbers
        for the shipped network's two rows (with more, within a few units in the last place;
        benchmarks/RESULTS.md, "Fewer operations per window at the same outputs")."""
        if not torch.onnx.is_in_onnx_export():
            return h.mean(dim=2)
        rows = h.unbind(2)
        total = rows[0]
        for row in rows[1:]:
            total = total + row
        return total / len(rows)

    def head(self, h: torch.Tensor) -> dict[str, torch.Tensor]:
        """The conv stack's output over a window (B, C, F', T') -> dict of ``emotion``, ``gender``
        logits and ``dims`` (and extra heads)."""
        if self.chunk_frames:
            h = self.blocks[-1].att(h)
        h = self.frequency_mean(h)  # average over frequency -> (B, C, T')
        pooled = self.pool(h) if self.pool is not None else h.mean(dim=2)
        e = self.embedding(pooled)
        out = {
            "emotion": self.emotion_head(e),
            "gender": self.gender_head(e),
            "dimensions": torch.sigmoid(self.dimensions_head(e)),
        }
        for name, kind, _ in self.arch.extra_heads:  # class logits, or values in [0, 1]
            y = self.extra_heads[name](e)
            out[name] = y if kind == "categorical" else torch.sigmoid(y)
        return out

    def forward_features(self, feats: torch.Tensor) -> dict[str, torch.Tensor]:
        """Normalised log-mel (B, n_mels, frames) -> dict of ``emotion``, ``gender`` logits and ``dims``."""
        return self.head(self.chunk_trunks(feats) if self.chunk_frames else self.trunk(feats))

    def chunk_trunks(self, feats: torch.Tensor) -> torch.Tensor:
        """A chunked network's normalised log-mel (B, n_mels, frames), its chunks' side by side
        (model/logmel.py: whole chunks of ``chunk_frames`` frames, then a shorter rest) -> the conv
        stack's output of each chunk, side by side in time (B, C, F', T'), as :meth:`head` takes it."""
        cf = self.chunk_frames
        b, n_mels, t = feats.shape
        k, rest = divmod(t, cf)
        parts = []
        if k:
            whole = feats[:, :, : k * cf].reshape(b, n_mels, k, cf).permute(0, 2, 1, 3).reshape(b * k, n_mels, cf)
            h = self.trunk(whole)
            _, c, f, tt = h.shape
            parts.append(h.reshape(b, k, c, f, tt).permute(0, 2, 3, 1, 4).reshape(b, c, f, k * tt))
        if rest:
            parts.append(self.trunk(feats[:, :, k * cf:]))
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=3)

    def forward(self, waveform: torch.Tensor, reference: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        return self.forward_features(self.compute_features(waveform, reference))

    def forward_logmel(self, logmel: torch.Tensor, reference: torch.Tensor | None = None,
                       has_reference: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Outputs from un-normalised log-mel (B, n_mels, frames), as :meth:`forward` gives from audio."""
        return self.forward_features(self.normalise(logmel, reference, has_reference))


class SEREnsemble(nn.Module):
    """Several :class:`SERNet` of one architecture, trained independently with different seeds,
    as one model: the log-mel front end runs once, each member normalises it with its own
    training statistics, and the outputs are averaged — class probabilities for emotion and gender
    (returned as log-probabilities, so a softmax gives the mean probabilities back) and the values
    for V/A/D. Same inputs and outputs as a :class:`SERNet`."""

    def __init__(self, n_labels: int, features: FeatureConfig, arch: ArchConfig):
        super().__init__()
        if arch.members < 2:
            raise ValueError("an ensemble needs at least 2 members")
        self.n_labels = n_labels
        self.features = features
        self.arch = arch
        single = dataclasses.replace(arch, members=1, voice_gender=False, voice_emotion=False)
        self.members = nn.ModuleList(SERNet(n_labels, features, single) for _ in range(arch.members))
        if arch.voice_gender:  # one voice encoder for the ensemble, not one per member
            from model.voice import VoiceGender

            self.voice = VoiceGender(n_labels if arch.voice_emotion else 0, arch.voice_hidden)

    @classmethod
    def from_members(cls, nets: list[SERNet]) -> SEREnsemble:
        """One ensemble from trained single networks of identical labels, features and architecture."""
        first = nets[0]
        for net in nets[1:]:
            if (net.n_labels, net.features, net.arch) != (first.n_labels, first.features, first.arch):
                raise ValueError("ensemble members must share labels, features and architecture")
        ens = cls(first.n_labels, first.features, dataclasses.replace(first.arch, members=len(nets)))
        for member, net in zip(ens.members, nets):
            member.load_state_dict({k: v for k, v in net.state_dict().items() if not k.startswith("voice.")})
        if first.arch.voice_gender:
            ens.voice.load_state_dict(first.voice.state_dict())
        return ens.eval()

    @property
    def logmel(self):
        return self.members[0].logmel

    def forward(self, waveform: torch.Tensor, reference: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        return self.forward_logmel(self.members[0].logmel(waveform), reference)

    def forward_logmel(self, logmel: torch.Tensor, reference: torch.Tensor | None = None,
                       has_reference: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        return self.merge([m.forward_features(m.normalise(logmel, reference, has_reference)) for m in self.members])

    def merge(self, outs: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """The members' outputs as one: mean probabilities (as log-probabilities) and mean values."""
        n = len(outs)

        def mean_log_prob(key: str) -> torch.Tensor:
            return torch.log(sum(torch.softmax(o[key], dim=1) for o in outs) / n)

        merged = {"emotion": mean_log_prob("emotion"), "gender": mean_log_prob("gender"),
                  "dimensions": sum(o["dimensions"] for o in outs) / n}
        for name, kind, _ in self.arch.extra_heads:
            merged[name] = mean_log_prob(name) if kind == "categorical" else sum(o[name] for o in outs) / n
        return merged


def build_network(n_labels: int, features: FeatureConfig, arch: ArchConfig) -> SERNet | SEREnsemble:
    """The network an architecture describes: a :class:`SERNet`, or an ensemble of them."""
    if arch.members > 1:
        return SEREnsemble(n_labels, features, arch)
    return SERNet(n_labels, features, arch)


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
