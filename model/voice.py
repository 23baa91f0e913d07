"""Voice gender from a speaker encoder trained on thousands of voices.

Twenty training actors are too few to learn voice gender that transfers to other recordings. A
speaker encoder has already learnt what distinguishes voices from thousands of them: the GE2E
encoder of Resemblyzer (Wan et al., 2018, "Generalized End-to-End Loss for Speaker Verification";
Resemblyzer 0.1.4 by Resemble AI, Apache-2.0), a 3-layer LSTM over 40 mel bands that maps 1.6 s of
speech to a 256-dimensional unit vector. A logistic regression on that embedding, fitted on the
training speakers by ``ser train``, gives the gender.

The encoder's weights are stored in the model file beside the emotion network (keys ``voice.*``),
converted once from Resemblyzer's ``pretrained.pt`` (``training/voice.py``); nothing is
unpickled at run time. A model may instead carry GE2E with fewer hidden units in some layers
(``arch.voice_hidden``; the bundled model's first layer has 128 of its 256), pruned from GE2E's own
weights and fine-tuned to reproduce its embeddings (``training/voice_distill.py``): the first layer,
which runs in float, is most of the encoder's cost. Gender does not change within a speech segment, so the engine computes it
once per segment (on its first analysed window), not per window.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torchaudio
from torch import nn

from model.arch import VOICE_EMBEDDING as EMBEDDING
from model.arch import VOICE_HOP as HOP
from model.arch import VOICE_LEVEL_DBFS as LEVEL_DBFS
from model.arch import VOICE_MAX_PARTIALS as MAX_PARTIALS
from model.arch import VOICE_N_FFT as N_FFT
from model.arch import VOICE_N_MELS as N_MELS
from model.arch import VOICE_PARTIAL_FRAMES as PARTIAL_FRAMES
from model.arch import VOICE_PARTIAL_STEP as PARTIAL_STEP
from model.arch import VOICE_SAMPLE_RATE_HZ as SAMPLE_RATE_HZ
from model.arch import VOICE_SILENCE_RMS as SILENCE_RMS

HIDDEN = 256
LAYERS = 3
GE2E_SIZES = (HIDDEN,) * LAYERS  # GE2E's hidden units per layer
ENCODER_KEYS = ("lstm.", "linear.")  # the encoder's weights in a voice's state (the heads are fitted apart)
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


def encoder_path(hidden: tuple[int, ...] = GE2E_SIZES) -> Path:
    """Where the weights of a voice encoder of ``hidden`` units per layer are kept (the model's
    ``arch.voice_hidden``): GE2E's own file, imported from Resemblyzer (training/voice.py), or that of
    an encoder pruned from it and fine-tuned to its embeddings (training/voice_distill.py)."""
    if tuple(hidden) == GE2E_SIZES:
        return WEIGHTS_DIR / "ge2e_voice_encoder.safetensors"
    return WEIGHTS_DIR / f"ge2e_voice_encoder_pruned_{'-'.join(str(h) for h in hidden)}.safetensors"


class StackedLSTM(nn.Module):
    """A batch-first LSTM whose layers may differ in hidden units (an encoder pruned from GE2E): one
    single-layer :class:`nn.LSTM` per layer. Called as ``nn.LSTM`` is, it returns the last layer's
    outputs and, per layer, the final hidden and cell states (a list, as their sizes differ), so
    ``hidden[-1]`` is the last layer's (B, H) as with ``nn.LSTM``."""

    def __init__(self, input_size: int, sizes: tuple[int, ...]):
        super().__init__()
        self.input_size = input_size
        self.sizes = tuple(int(h) for h in sizes)
        self.layers = nn.ModuleList(nn.LSTM(i, h, 1, batch_first=True)
                                    for i, h in zip((input_size, *self.sizes[:-1]), self.sizes))

    def forward(self, x: torch.Tensor):
        hidden, cell = [], []
        for layer in self.layers:
            x, (h, c) = layer(x)
            hidden.append(h[0])
            cell.append(c[0])
        return x, (hidden, cell)


def lstm_layers(lstm: nn.Module) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]:
    """(weight_ih, weight_hh, bias_ih, bias_hh) of each layer of an ``nn.LSTM`` or a :class:`StackedLSTM`."""
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    if isinstance(lstm, StackedLSTM):
        return [tuple(getattr(layer, f"{n}_l0") for n in names) for layer in lstm.layers]
    return [tuple(getattr(lstm, f"{n}_l{k}") for n in names) for k in range(lstm.num_layers)]


def unit_embeddings(lstm: nn.Module, linear: nn.Linear, partials: torch.Tensor) -> torch.Tensor:
    """An encoder's LSTM (``nn.LSTM`` or :class:`StackedLSTM`) and output layer over mel power of
    partials (P, frames, 40) -> their (P, 256) unit embeddings."""
    _, (hidden, _) = lstm(partials)
    e = torch.relu(linear(hidden[-1]))
    return e / torch.clamp(e.norm(dim=1, keepdim=True), min=1e-8)


def load_encoder_weights(voice: nn.Module, weights: dict[str, torch.Tensor]) -> bool:
    """Put an encoder's weights (``lstm.*``, ``linear.*``) into a :class:`VoiceGender`; False when
    they are not those of an encoder of its sizes (its heads are not among them)."""
    try:
        missing, unexpected = voice.load_state_dict(weights, strict=False)
    except RuntimeError:  # weights of another size
        return False
    return not unexpected and not any(k.startswith(ENCODER_KEYS) for k in missing)


class VoiceGender(nn.Module):
    """Waveform (16 kHz) -> P(female), P(male), through the GE2E embedding and a logistic regression;
    with ``n_labels`` > 0 also the voice-emotion heads (class logits and V/A/D) on the embedding.
    ``hidden``: the LSTM's hidden units per layer, GE2E's (256 each) or a pruned encoder's."""

    def __init__(self, n_labels: int = 0, hidden: tuple[int, ...] = GE2E_SIZES):
        super().__init__()
        self.n_labels = n_labels
        self.hidden = tuple(int(h) for h in hidden)
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=SAMPLE_RATE_HZ, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS, power=2.0,
            center=True, pad_mode="reflect", norm="slaney", mel_scale="slaney")
        if self.hidden == GE2E_SIZES:  # GE2E's own form (its weights' names as Resemblyzer's)
            self.lstm = nn.LSTM(N_MELS, self.hidden[0], len(self.hidden), batch_first=True)
        else:
            self.lstm = StackedLSTM(N_MELS, self.hidden)
        self.linear = nn.Linear(self.hidden[-1], EMBEDDING)
        # Logistic regression on the embedding: logit of "male" (GENDER_LABELS order: female, male).
        self.gender = nn.Linear(EMBEDDING, 1)
        if n_labels:
            self.emotion_raw = nn.Linear(EMBEDDING, n_labels)
            self.dimensions_raw = nn.Linear(EMBEDDING, 3)
            self.emotion_centred = nn.Linear(EMBEDDING, n_labels)
            self.dimensions_centred = nn.Linear(EMBEDDING, 3)

    def embed_batch(self, waveforms: torch.Tensor) -> torch.Tensor:
        """(B, samples) of equal length -> (B, 256) unit embeddings, each averaged over up to
        MAX_PARTIALS partials of 1.6 s. The LSTM runs over all rows at once (much cheaper per row
        than one by one); each row's result does not depend on the others."""
        x = waveforms.float()
        # A DC offset (some sound cards and microphones have one) is no part of the voice: with it,
        # the level normalisation and the encoder's lowest mel band (from 0 Hz) took it for sound.
        x = x - x.mean(dim=1, keepdim=True)
        rms = torch.sqrt(torch.mean(x ** 2, dim=1))
        x = x * (10 ** (LEVEL_DBFS / 20) / torch.clamp(rms, min=SILENCE_RMS))[:, None]
        mels = self.mel(x).transpose(1, 2)  # (B, frames, 40)
        b, frames = mels.shape[0], mels.shape[1]
        if frames < PARTIAL_FRAMES:
            mels = torch.cat([mels, mels.new_zeros(b, PARTIAL_FRAMES - frames, N_MELS)], dim=1)
        starts = list(range(0, mels.shape[1] - PARTIAL_FRAMES + 1, PARTIAL_STEP))[:MAX_PARTIALS]
        partials = torch.cat([mels[:, s:s + PARTIAL_FRAMES] for s in starts])  # (P * B, 160, 40)
        e = self.encode_partials(partials)
        mean = e.reshape(len(starts), b, -1).mean(dim=0)
        return mean / torch.clamp(mean.norm(dim=1, keepdim=True), min=1e-8)

    def encode_partials(self, partials: torch.Tensor) -> torch.Tensor:
        """Mel power of partials (P, frames, 40) -> their (P, 256) unit embeddings."""
        return unit_embeddings(self.lstm, self.linear, partials)

    def embed(self, waveform: torch.Tensor) -> torch.Tensor:
        """(samples,) -> (256,) unit embedding (see :meth:`embed_batch`)."""
        return self.embed_batch(waveform.reshape(1, -1))[0]

    def forward_batch(self, waveforms: torch.Tensor) -> torch.Tensor:
        """(B, samples) of equal length -> (B, 2) probabilities [female, male]."""
        p_male = torch.sigmoid(self.gender(self.embed_batch(waveforms)))[:, 0]
        return torch.stack([1 - p_male, p_male], dim=1)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """(samples,) -> (2,) probabilities [female, male]."""
        return self.forward_batch(waveform.reshape(1, -1))[0]
