"""Training loop: masked multitask loss with learnt task weights, AdamW with a one-cycle
schedule, early stopping on validation unweighted accuracy, reproducible seeding, CPU or CUDA.

Multitask loss (homoscedastic-uncertainty weighting, Kendall, Gal & Cipolla, CVPR 2018): each task
t in {emotion, gender, dims} has a learnt log-variance s_t and

    L = sum over tasks present in the batch of  0.5 * exp(-s_t) * L_t + 0.5 * s_t,   s_t >= s_min

where L_emotion is class-weighted cross-entropy with label smoothing, L_gender cross-entropy and
L_vad the mean squared error over V/A/D; every task loss is masked to the samples that carry its
label, so corpora without a task's labels can be combined.

The floor s_min (``OptimConfig.min_task_log_var``, 0 by default, so no weight exceeds 0.5) matters:
unbounded, s_t settles near log L_t, and tasks the network nearly solves (gender, V/A/D derived
from the category) gain weights many times the emotion task's and take over the shared layers. In
5-fold cross-validation on RAVDESS (see model/MODEL_CARD.md) the floor raised emotion accuracy.
"""

from __future__ import annotations

import copy
import logging
import random
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from model.adaptation import DEFAULT_MIN_WINDOWS
from model.checkpoint import DEFAULT_ANALYSIS, ModelMeta
from model.features import FeatureConfig
from model.network import ArchConfig, SERNet, count_parameters
from model.predictor import Predictor, resolve_device
from training.data import AugmentConfig, Augmenter, ClipBank
from training.evaluate import evaluate_bank

log = logging.getLogger(__name__)
TASKS = ("emotion", "gender", "dimensions")


@dataclass(frozen=True)
class OptimConfig:
    epochs: int = 40
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-2
    label_smoothing: float = 0.1
    class_balance: bool = True
    patience: int = 12  # epochs without a better validation UA before stopping
    min_epochs: int = 10
    learn_task_weights: bool = True
    # Floor of the learnt log-variances s_t (None: unbounded, Kendall et al.'s original form).
    min_task_log_var: float | None = 0.0
    # Exponential moving average of the weights (and batch-norm statistics), evaluated and kept
    # instead of the raw weights; 0 disables it.
    ema_decay: float = 0.0
    # Knowledge distillation: the share of a teacher model's emotion probabilities in each crop's
    # emotion target (the rest is the smoothed label): its networks' output on the crop, without
    # voice heads or calibration. The teacher (e.g. an ensemble of this
    # recipe, trained without the same test speakers) is given with ``ser train --teacher``; 0: off.
    distill_weight: float = 0.0


@dataclass
class TrainResult:
    net: SERNet
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    best_val: dict = field(default_factory=dict)
    seconds: float = 0.0


def seed_everything(seed: int) -> np.random.Generator:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


@torch.no_grad()
def feature_stats(net: SERNet, bank: ClipBank) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-mel-band mean and std of log-mel over the training clips (no augmentation)."""
    total = torch.zeros(net.features.n_mels, dtype=torch.float64)
    total_sq = torch.zeros_like(total)
    count = 0
    for w in bank.waves[1.0]:
        if len(w) < net.features.n_fft:
            continue
        x = net.logmel(torch.from_numpy(w)[None]).double()[0]
        total += x.sum(dim=1)
        total_sq += (x ** 2).sum(dim=1)
        count += x.shape[1]
    mean = total / max(count, 1)
    std = torch.sqrt(torch.clamp(total_sq / max(count, 1) - mean ** 2, min=1e-8))
    return mean.float(), std.float()


@torch.no_grad()
def speaker_window_means(net: SERNet, bank: ClipBank, window_s: float = DEFAULT_ANALYSIS["window_s"],
                         hop_s: float = DEFAULT_ANALYSIS["hop_s"]) -> dict:
    """{speed: {speaker: (n_windows, n_mels)}}: the mean log-mel of every analysis window over the
    audible part of each of a speaker's clips, as the engine's speaker statistics count them."""
    from model.audio import speech_bounds
    from model.predictor import window_bounds

    sr = net.features.sample_rate_hz
    window, hop = int(window_s * sr), int(hop_s * sr)
    out: dict = {}
    for speed, waves in bank.waves.items():
        per: dict[str, list[np.ndarray]] = {}
        for e, w in zip(bank.entries, waves):
            a, b = speech_bounds(w, sr)
            w = w[a:b] if b - a >= net.features.n_fft else w
            wins = [w[s:t] for s, t in window_bounds(len(w), window, hop) if t - s >= net.features.n_fft]
            for x in wins:
                per.setdefault(e.speaker, []).append(net.logmel(torch.from_numpy(x)[None]).mean(dim=2)[0].numpy())
        out[speed] = {spk: np.stack(v) for spk, v in per.items()}
    return out


def speaker_references(net: SERNet, logmel: torch.Tensor, clean: torch.Tensor, speeds: list[float],
                       speakers: list[str], means: dict, prob: float, min_windows: int,
                       rng: np.random.Generator) -> torch.Tensor:
    """Reference spectra for a batch of training crops of a speaker-normalised network: with
    probability ``prob`` the speaker's average over a random number (``min_windows`` or more) of
    their windows, shifted by what augmentation did to this crop's mean (a room, a phone line or
    an EQ colours a whole session alike); otherwise what the network uses before adaptation (the
    training set's mean, or the crop's own mean: ``arch.speaker_norm_fallback``)."""
    own = logmel.mean(dim=2)
    shift = own - net.logmel(clean).mean(dim=2)
    window_fallback = net.arch.speaker_norm_fallback == "window"
    refs = own.clone() if window_fallback else net.feat_mean[None, :].repeat(len(speakers), 1)
    for j, (speed, spk) in enumerate(zip(speeds, speakers)):
        if rng.random() >= prob:
            continue
        pool = means[speed][spk]
        k = int(rng.integers(min(min_windows, len(pool)), len(pool) + 1))
        pick = rng.choice(len(pool), size=k, replace=False)
        refs[j] = torch.from_numpy(pool[pick].mean(axis=0)).to(refs) + shift[j]
    return refs


def multitask_loss(out: dict, y_emotion: torch.Tensor, y_gender: torch.Tensor, y_dimensions: torch.Tensor,
                   log_vars: torch.Tensor, class_weights: torch.Tensor | None, label_smoothing: float,
                   emotion_soft: torch.Tensor | None = None,
                   min_log_var: float | None = None) -> tuple[torch.Tensor, dict]:
    """Masked multitask loss; returns the total and each task's unweighted value (None if absent)."""
    parts: dict[str, torch.Tensor | None] = dict.fromkeys(TASKS)
    m = y_emotion >= 0
    if emotion_soft is not None:
        logp = F.log_softmax(out["emotion"], dim=1)
        w = class_weights[None, :] if class_weights is not None else 1.0
        parts["emotion"] = -(emotion_soft * logp * w).sum(dim=1).mean()
    elif m.any():
        parts["emotion"] = F.cross_entropy(out["emotion"][m], y_emotion[m], weight=class_weights,
                                           label_smoothing=label_smoothing)
    m = y_gender >= 0
    if m.any():
        parts["gender"] = F.cross_entropy(out["gender"][m], y_gender[m])
    m = torch.isfinite(y_dimensions).all(dim=1)
    if m.any():
        parts["dimensions"] = F.mse_loss(out["dimensions"][m], y_dimensions[m])
    total = out["emotion"].new_zeros(())
    log_vars = _effective(log_vars, min_log_var)
    for i, name in enumerate(TASKS):
        if parts[name] is not None:
            total = total + 0.5 * torch.exp(-log_vars[i]) * parts[name] + 0.5 * log_vars[i]
    return total, {k: (None if v is None else float(v.detach())) for k, v in parts.items()}


def train_model(train_bank: ClipBank, val_bank: ClipBank | None, features: FeatureConfig, arch: ArchConfig,
                optim: OptimConfig, augment: AugmentConfig, seed: int, device: str = "auto",
                progress: bool = True, desc: str = "train", teacher: torch.nn.Module | None = None) -> TrainResult:
    """Train one network. With ``val_bank`` the best epoch by validation UA is kept (early stopping);
    without, the network after the last epoch is returned. ``teacher``: a network of the same labels
    whose emotion probabilities on each training crop make ``optim.distill_weight`` of the target."""
    from tqdm.auto import tqdm

    if arch.extra_heads:
        from model.errors import SERError

        raise SERError("arch.extra_heads: training has no targets or loss for further heads yet; remove them from "
                       "the config (a model file can declare them, but they must be fitted outside ser train).")
    rng = seed_everything(seed)
    dev = resolve_device(device)
    labels = train_bank.labels
    net = SERNet(len(labels), features, arch)
    if arch.voice_gender:
        from training.voice import fit_voice_heads, load_encoder

        load_encoder(net.voice)
        fit_voice_heads(net.voice, train_bank, arch.voice_emotion)  # pretrained and fitted, then frozen
    mean, std = feature_stats(net, train_bank)
    net.feat_mean.copy_(mean)
    net.feat_std.copy_(std)
    # On the CPU, before the network moves to its device (they are numpy arrays).
    spk_means = speaker_window_means(net, train_bank) if arch.speaker_norm else None
    net.to(dev)
    log_vars = torch.zeros(len(TASKS), device=dev, requires_grad=optim.learn_task_weights)
    params = [{"params": net.parameters(), "weight_decay": optim.weight_decay}]
    if optim.learn_task_weights:
        params.append({"params": [log_vars], "weight_decay": 0.0})
    opt = torch.optim.AdamW(params, lr=optim.lr)
    n = len(train_bank)
    steps_per_epoch = max(1, n // optim.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=optim.lr, total_steps=optim.epochs * steps_per_epoch,
                                                pct_start=0.1)
    cw = torch.from_numpy(train_bank.class_weights()).to(dev) if optim.class_balance else None
    distill = teacher is not None and optim.distill_weight > 0
    if distill:
        teacher = teacher.to(dev).eval()
    aug = Augmenter(augment, rng)
    speakers = [e.speaker for e in train_bank.entries]
    ema = None
    if optim.ema_decay > 0:
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

        ema = AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(optim.ema_decay), use_buffers=True)
    result = TrainResult(net=net)
    best_ua, best_state, since_best = -1.0, None, 0
    t0 = time.perf_counter()
    bar = tqdm(range(1, optim.epochs + 1), desc=desc, disable=not progress, unit="epoch", leave=False)
    for epoch in bar:
        net.train()
        perm = rng.permutation(n)
        sums: dict[str, list[float]] = {k: [] for k in ("total", *TASKS)}
        for b in range(steps_per_epoch):
            idx = perm[b * optim.batch_size:(b + 1) * optim.batch_size]
            crops = [aug.waveform_pair(train_bank, i) for i in idx]
            x = torch.from_numpy(np.stack([c[0] for c in crops])).to(dev)
            ye = torch.from_numpy(train_bank.emotion[idx]).to(dev)
            yg = torch.from_numpy(train_bank.gender[idx]).to(dev)
            yv = torch.from_numpy(train_bank.dimensions[idx]).to(dev)
            with torch.no_grad():
                if spk_means is not None:
                    logmel = net.logmel(x)
                    refs = speaker_references(net, logmel, torch.from_numpy(np.stack([c[1] for c in crops])).to(dev),
                                              [c[2] for c in crops], [speakers[i] for i in idx], spk_means,
                                              augment.speaker_ref_prob, DEFAULT_MIN_WINDOWS, rng)
                    feats = aug.spec_augment(net.normalise(logmel, refs))
                else:
                    feats = aug.spec_augment(net.compute_features(x))
            soft = None
            if distill and (ye >= 0).all():
                # The teacher hears the same crop (its own features, without SpecAugment's masks).
                with torch.no_grad():
                    taught = torch.softmax(teacher(x)["emotion"].float(), dim=1)
                onehot = F.one_hot(ye, len(labels)).float()
                onehot = onehot * (1 - optim.label_smoothing) + optim.label_smoothing / len(labels)
                soft = (1 - optim.distill_weight) * onehot + optim.distill_weight * taught
            if augment.mixup_alpha > 0 and (ye >= 0).all():
                lam = float(rng.beta(augment.mixup_alpha, augment.mixup_alpha))
                j = torch.from_numpy(rng.permutation(len(idx))).to(dev)
                feats = lam * feats + (1 - lam) * feats[j]
                if soft is None:
                    soft = F.one_hot(ye, len(labels)).float()
                    soft = soft * (1 - optim.label_smoothing) + optim.label_smoothing / len(labels)
                soft = lam * soft + (1 - lam) * soft[j]
                yv = lam * yv + (1 - lam) * yv[j]
                yg = torch.where(torch.as_tensor(lam >= 0.5, device=dev), yg, yg[j])
            out = net.forward_features(feats)
            loss, parts = multitask_loss(out, ye, yg, yv, log_vars, cw, optim.label_smoothing, soft,
                                         optim.min_task_log_var)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            opt.step()
            sched.step()
            if ema is not None:
                ema.update_parameters(net)
            sums["total"].append(float(loss.detach()))
            for k, v in parts.items():
                if v is not None:
                    sums[k].append(v)
        row = {"epoch": epoch, "lr": sched.get_last_lr()[0],
               **{f"loss_{k}": (float(np.mean(v)) if v else None) for k, v in sums.items()},
               "task_log_vars": [float(v) for v in _effective(log_vars, optim.min_task_log_var).detach().cpu()]}
        eval_net = ema.module if ema is not None else net
        if val_bank is not None and len(val_bank):
            eval_net.eval()
            metrics = evaluate_bank(Predictor(eval_net, _meta(labels, features, arch), dev), val_bank)
            row.update(val_ua=metrics["unweighted_accuracy"], val_wa=metrics["weighted_accuracy"],
                       val_gender=metrics["gender_accuracy"])
            if metrics["unweighted_accuracy"] > best_ua:
                best_ua, since_best = metrics["unweighted_accuracy"], 0
                best_state = copy.deepcopy(eval_net.state_dict())
                result.best_epoch, result.best_val = epoch, metrics
            else:
                since_best += 1
        result.history.append(row)
        bar.set_postfix(loss=f"{row['loss_total']:.3f}", val_ua=f"{row.get('val_ua', float('nan')):.3f}")
        log.info("%s epoch %d: %s", desc, epoch, {k: v for k, v in row.items() if k != "task_log_vars"})
        if val_bank is not None and since_best >= optim.patience and epoch >= optim.min_epochs:
            break
    if best_state is not None:
        net.load_state_dict(best_state)
    else:
        result.best_epoch = len(result.history)
        if ema is not None:
            net.load_state_dict(ema.module.state_dict())
    net.eval()
    result.seconds = time.perf_counter() - t0
    log.info("%s: %d parameters, %.0f s", desc, count_parameters(net), result.seconds)
    return result


def _effective(log_vars: torch.Tensor, floor: float | None) -> torch.Tensor:
    return log_vars if floor is None else torch.clamp(log_vars, min=floor)


def _meta(labels: list[str], features: FeatureConfig, arch: ArchConfig) -> ModelMeta:
    return ModelMeta(labels=list(labels), features=features, arch=arch)
