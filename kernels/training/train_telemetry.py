#!/usr/bin/env python3
"""Trains the shipped telemetry model: a small Mamba-1 feature model that predicts each device's next reading.

Data: the local run's synthetic sensor telemetry (io.mambaflink.operators.anomaly.SyntheticTelemetry), exported by
`java -jar jobs/target/mamba-flink.jar telemetry-dataset` (see README.md here):

    train.safetensors          normal data, features (devices, steps, 4)
    val-clean.safetensors      normal data of other devices: residual scale and threshold
    val-anomalies.safetensors  data with injected anomalies (labels): precision and recall at the chosen threshold

Model (the engine's `stream_io` layout, Hugging Face `MambaModel` tensor names):

    h_0 = input_proj(x_t)            # (d_model) from (4)
    h_L = backbone(h_0)              # Mamba-1 blocks: h + mixer(rmsnorm(h)); then norm_f
    y_t = head(h_L)                  # (4): the prediction of x_{t+1}

The Mamba-1 mixer is written out here following transformers' `MambaMixer.slow_forward` (same names and math), with
the selective scan computed chunk by chunk: inside a chunk of L steps
    h_t = exp(cs_t) h_0 + sum_{s<=t} exp(cs_t - cs_s) dt_s B_s x_s,   cs_t = sum_{r<=t} dt_r A
which equals the step-by-step recurrence (checked by --self-test) and needs T/L Python iterations instead of T.

Writes to --out: config.json, model.safetensors (float32), scoring.json (per-feature residual scale, threshold,
warmup), golden.safetensors (features + float64 outputs of 4 validation streams, for `mamba-flink verify`) and
metrics.json (loss, precision, recall).
"""
import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

FEATURES = ["temperature", "vibration", "pressure", "current"]
# Scores at positions below WARMUP (1-based) are never flagged: the model has not seen a period of the signal yet.
WARMUP = 16
# Events after an injected anomaly's end that still count as its detection window (DetectionStats.GRACE in Java).
GRACE = 5
# Flags per normal event allowed on val-clean when choosing the threshold.
TARGET_FALSE_FLAG_RATE = 2e-4
MIN_THRESHOLD = 4.0


class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def selective_scan(u, dt, A, Bm, Cm, chunk):
    """u, dt: (B, T, E); A: (E, N); Bm, Cm: (B, T, N). Returns y (B, T, E) with y_t = C_t . h_t."""
    b, t_len, e = u.shape
    h = u.new_zeros(b, e, A.shape[1])
    ys = []
    for t0 in range(0, t_len, chunk):
        t1 = min(t_len, t0 + chunk)
        n = t1 - t0
        dA = dt[:, t0:t1, :, None] * A  # (B, L, E, N), log of the per-step decay, <= 0
        cs = torch.cumsum(dA, dim=1)
        dBu = (dt[:, t0:t1, :, None] * Bm[:, t0:t1, None, :]) * u[:, t0:t1, :, None]  # (B, L, E, N)
        if n == 1:
            hs = torch.exp(cs) * h[:, None] + dBu
        else:
            seg = cs[:, :, None] - cs[:, None, :]  # (B, L_t, L_s, E, N): cs_t - cs_s
            mask = torch.tril(torch.ones(n, n, dtype=torch.bool, device=u.device))[None, :, :, None, None]
            w = torch.exp(seg.masked_fill(~mask, float("-inf")))
            hs = torch.einsum("btsen,bsen->bten", w, dBu) + torch.exp(cs) * h[:, None]
        ys.append(torch.einsum("bten,btn->bte", hs, Cm[:, t0:t1]))
        h = hs[:, -1]
    return torch.cat(ys, dim=1)


class MambaMixer(nn.Module):
    def __init__(self, d_model, d_inner, d_state, d_conv, dt_rank):
        super().__init__()
        self.d_inner, self.d_state, self.dt_rank, self.d_conv = d_inner, d_state, dt_rank, d_conv
        self.in_proj = nn.Linear(d_model, 2 * d_inner, bias=False)
        self.conv1d = nn.Conv1d(d_inner, d_inner, d_conv, groups=d_inner, padding=d_conv - 1, bias=True)
        self.x_proj = nn.Linear(d_inner, dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(dt_rank, d_inner, bias=True)
        a = torch.arange(1, d_state + 1, dtype=torch.float32)[None, :].expand(d_inner, -1).contiguous()
        self.A_log = nn.Parameter(torch.log(a))
        self.D = nn.Parameter(torch.ones(d_inner))
        self.out_proj = nn.Linear(d_inner, d_model, bias=False)
        # mamba_ssm's dt initialization: dt ~ logU(0.001, 0.1), bias = softplus^-1(dt).
        with torch.no_grad():
            dt = torch.exp(torch.rand(d_inner) * (math.log(0.1) - math.log(0.001)) + math.log(0.001)).clamp(min=1e-4)
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))
            nn.init.uniform_(self.dt_proj.weight, -dt_rank ** -0.5, dt_rank ** -0.5)

    def forward(self, x, chunk):
        t_len = x.shape[1]
        xs, gate = self.in_proj(x).chunk(2, dim=-1)  # (B, T, E) each
        xs = F.silu(self.conv1d(xs.transpose(1, 2))[..., :t_len].transpose(1, 2))  # conv window
        dt, Bm, Cm = torch.split(self.x_proj(xs), [self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = F.softplus(self.dt_proj(dt))  # discretize
        A = -torch.exp(self.A_log)
        y = selective_scan(xs, dt, A, Bm, Cm, chunk) + xs * self.D  # state update, skip
        return self.out_proj(y * F.silu(gate))  # gate


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.norm = RMSNorm(cfg["hidden_size"], cfg["layer_norm_epsilon"])
        self.mixer = MambaMixer(cfg["hidden_size"], cfg["intermediate_size"], cfg["state_size"], cfg["conv_kernel"],
                                cfg["time_step_rank"])

    def forward(self, h, chunk):
        return h + self.mixer(self.norm(h), chunk)


class Backbone(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.layers = nn.ModuleList([Block(cfg) for _ in range(cfg["num_hidden_layers"])])
        self.norm_f = RMSNorm(cfg["hidden_size"], cfg["layer_norm_epsilon"])

    def forward(self, h, chunk):
        for layer in self.layers:
            h = layer(h, chunk)
        return self.norm_f(h)


class FeatureModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        io = cfg["stream_io"]
        self.input_proj = nn.Linear(io["input_dim"], cfg["hidden_size"])
        self.backbone = Backbone(cfg)
        self.head = nn.Linear(cfg["hidden_size"], io["output_dim"])

    def forward(self, x, chunk=16):
        return self.head(self.backbone(self.input_proj(x), chunk))


def corrupt(inp, fraction, stuck_share=1.0 / 3):
    """Anomalies in the input only: the target stays the clean next reading, so the model learns to predict the
    underlying signal through a stuck sensor, a spike or a level shift instead of copying its input, and the
    prediction error of those events grows. A corruption is a stuck segment with probability stuck_share, else a
    spike or a level shift. Returns the corrupted input and a (B, T) mask of the corrupted positions."""
    inp = inp.clone()
    b, t_len, nf = inp.shape
    mask = torch.zeros(b, t_len, dtype=inp.dtype, device=inp.device)
    for r in range(b):
        if torch.rand(()) >= fraction or t_len < 32:
            continue
        f = int(torch.randint(0, nf, ()))
        s = int(torch.randint(24, t_len - 1, ()))
        n = int(torch.randint(5, 61, ()))
        u = torch.rand(()).item()
        kind = 0 if u < stuck_share else (1 if u < stuck_share + (1 - stuck_share) / 2 else 2)
        sign = 1.0 if torch.rand(()) < 0.5 else -1.0
        if kind == 0:
            inp[r, s:s + n, f] = inp[r, s - 1, f]
        elif kind == 1:
            inp[r, s, f] += sign * (3 + 3 * torch.rand(()).item())
            n = 1
        else:
            inp[r, s:s + n, f] += sign * (1.5 + 1.5 * torch.rand(()).item())
        mask[r, s:s + n] = 1.0
    return inp, mask


def make_config(d_model, n_layers, d_state, n_features):
    return {
        "architectures": ["MambaModel"],
        "model_type": "mamba",
        "hidden_size": d_model,
        "intermediate_size": 2 * d_model,
        "expand": 2,
        "state_size": d_state,
        "num_hidden_layers": n_layers,
        "conv_kernel": 4,
        "time_step_rank": math.ceil(d_model / 16),
        "use_bias": False,
        "use_conv_bias": True,
        "layer_norm_epsilon": 1e-5,
        "residual_in_fp32": True,
        "tie_word_embeddings": True,
        "hidden_act": "silu",
        "vocab_size": 1,
        "stream_io": {"input": "features", "input_dim": n_features, "output": "regression", "output_dim": n_features},
        "feature_names": FEATURES,
    }


def fixture_config(path):
    with open(path) as f:
        c = json.load(f)
    if c.get("time_step_rank") in (None, "auto"):
        c["time_step_rank"] = math.ceil(c["hidden_size"] / 16)
    c.setdefault("intermediate_size", int(c.get("expand", 2) * c["hidden_size"]))
    return c


def self_test(fixture_dir):
    """Chunked scan == step-by-step scan, and the model reproduces the reference fixture (transformers' outputs)."""
    torch.manual_seed(0)
    cfg = make_config(16, 2, 4, 3)
    m = FeatureModel(cfg).double()
    x = torch.randn(2, 37, 3, dtype=torch.float64)
    a, b = m(x, chunk=1), m(x, chunk=8)
    err = (a - b).abs().max().item()
    print(f"self-test: chunked vs step-by-step scan max|diff| = {err:.2e}")
    assert err < 1e-10, err
    if fixture_dir:
        cfg = fixture_config(os.path.join(fixture_dir, "config.json"))
        m = FeatureModel(cfg).double()
        sd = {k: v.double() for k, v in load_file(os.path.join(fixture_dir, "model.safetensors")).items()}
        missing, _ = m.load_state_dict({k: v for k, v in sd.items() if not k.startswith("backbone.embeddings")},
                                       strict=False)
        assert not missing, missing
        g = load_file(os.path.join(fixture_dir, "golden.safetensors"))
        with torch.no_grad():
            out = m(g["features"].double(), chunk=16)
        ref = g["outputs"].double()
        rel = ((out - ref).abs().max() / ref.abs().max()).item()
        print(f"self-test: fixture {fixture_dir}: max|out - ref| / max|ref| = {rel:.2e}")
        # transformers casts A and B to float32 inside its float64 slow path: agreement is to ~1e-7.
        assert rel < 1e-5, rel


def scores(model, feats, scale, device, batch=256):
    """(B, T) score of event t: max_f |x_{t} - y_{t-1}| / scale_f, 0 at t = 0; and the raw residuals (B, T-1, F)."""
    res = []
    with torch.no_grad():
        for i in range(0, feats.shape[0], batch):
            x = feats[i:i + batch].to(device)
            y = model(x)
            res.append((x[:, 1:] - y[:, :-1]).cpu())
    res = torch.cat(res)
    if scale is None:
        return None, res
    z = (res.abs() / scale).amax(-1)
    return torch.cat([torch.zeros(z.shape[0], 1), z], dim=1), res


def precision_recall(score, labels, threshold):
    """Same definitions as DetectionStats: recall per injected anomaly, precision per flag. Positions are 0-based here."""
    b, t_len = labels.shape
    pos = torch.arange(t_len)[None, :].expand(b, -1)
    flags = (score >= threshold) & (pos + 1 >= WARMUP)
    window = torch.zeros_like(labels, dtype=torch.bool)
    injected = detected = 0
    lab = labels.tolist()
    fl = flags.tolist()
    for r in range(b):
        t = 0
        while t < t_len:
            if lab[r][t] != 0:
                s = t
                while t < t_len and lab[r][t] == lab[r][s]:
                    t += 1
                e = min(t_len, t + GRACE)
                window[r, s:e] = True
                injected += 1
                detected += any(fl[r][s:e])
            else:
                t += 1
    n_flags = int(flags.sum())
    tp = int((flags & window).sum())
    return {
        "threshold": threshold,
        "injected": injected,
        "detected": detected,
        "flagged": n_flags,
        "true_positive_flags": tp,
        "precision": tp / n_flags if n_flags else float("nan"),
        "recall": detected / injected if injected else float("nan"),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="folder with train/val-clean/val-anomalies .safetensors")
    p.add_argument("--out", required=True)
    p.add_argument("--d-model", type=int, default=64)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--d-state", type=int, default=8)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--chunk", type=int, default=16)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--max-steps", type=int, default=100000)
    p.add_argument("--time-budget", type=float, default=150, help="seconds of training")
    p.add_argument("--max-devices", type=int, default=0, help="use only this many training devices (0: all)")
    p.add_argument("--fixture", default="", help="reference fixture folder for the self-test")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--init", default="", help="start from this model folder's model.safetensors (fine-tuning)")
    p.add_argument("--augment", type=float, default=0.0,
                   help="fraction of training rows whose input gets a stuck/spike/shift corruption; the target stays clean")
    p.add_argument("--stuck-share", type=float, default=1.0 / 3,
                   help="probability that a corruption is a stuck segment (else a spike or a level shift)")
    p.add_argument("--corrupt-weight", type=float, default=1.0,
                   help="loss weight of the positions inside a corruption (1: plain MSE)")
    args = p.parse_args()

    self_test(args.fixture)
    torch.manual_seed(args.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"device {device}, torch {torch.__version__}", flush=True)
    train = load_file(os.path.join(args.data, "train.safetensors"))["features"].float()
    if args.max_devices:
        train = train[:args.max_devices]
    clean = load_file(os.path.join(args.data, "val-clean.safetensors"))["features"].float()
    anom = load_file(os.path.join(args.data, "val-anomalies.safetensors"))
    print(f"train {tuple(train.shape)}, val-clean {tuple(clean.shape)}, val-anomalies {tuple(anom['features'].shape)}")

    cfg = make_config(args.d_model, args.layers, args.d_state, train.shape[-1])
    model = FeatureModel(cfg)
    if args.init:
        model.load_state_dict(load_file(os.path.join(args.init, "model.safetensors")))
        print(f"initialized from {args.init}")
    model = model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    train_dev = train.to(device)
    t_start = time.time()
    step = 0
    loss_ema = None
    lr_floor = 0.05
    while step < args.max_steps:
        elapsed = time.time() - t_start
        if elapsed > args.time_budget:
            break
        frac = min(1.0, elapsed / args.time_budget)
        warm = min(1.0, (step + 1) / 100)
        for g in opt.param_groups:
            g["lr"] = args.lr * warm * (lr_floor + (1 - lr_floor) * 0.5 * (1 + math.cos(math.pi * frac)))
        idx = torch.randint(0, train_dev.shape[0], (args.batch,), device=device)
        x = train_dev[idx]
        inp = x[:, :-1]
        weight = None
        if args.augment > 0:
            inp, corrupted = corrupt(inp, args.augment, args.stuck_share)
            weight = 1.0 + (args.corrupt_weight - 1.0) * corrupted  # (B, T-1)
        y = model(inp, args.chunk)
        if weight is None:
            loss = F.mse_loss(y, x[:, 1:])
        else:
            loss = (((y - x[:, 1:]) ** 2).mean(dim=-1) * weight).sum() / weight.sum()
        opt.zero_grad(set_to_none=True)
        if not torch.isfinite(loss):
            print(f"step {step}: non-finite loss, batch skipped", flush=True)
            step += 1
            continue
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        loss_ema = loss.item() if loss_ema is None else 0.98 * loss_ema + 0.02 * loss.item()
        if step % 100 == 0:
            print(f"step {step:6d}  {elapsed:6.1f}s  loss {loss.item():.5f}  ema {loss_ema:.5f}", flush=True)
        step += 1
    print(f"trained {step} steps in {time.time() - t_start:.1f}s, loss ema {loss_ema:.5f}", flush=True)

    model.eval()
    # Per-feature residual scale: RMS prediction error on normal data past the warmup.
    _, res = scores(model, clean, None, device)
    res_w = res[:, WARMUP - 1:]  # residual at event t (1-based position t+1) for positions >= WARMUP
    scale = res_w.pow(2).mean(dim=(0, 1)).sqrt()
    print("residual scale", [round(v, 5) for v in scale.tolist()])
    clean_score, _ = scores(model, clean, scale, device)
    normal = clean_score[:, WARMUP - 1:].flatten()
    q = torch.quantile(normal, 1 - TARGET_FALSE_FLAG_RATE).item()
    threshold = max(MIN_THRESHOLD, math.ceil(q * 10) / 10)
    print(f"clean scores: p50 {normal.median().item():.3f}, p99 {torch.quantile(normal, 0.99).item():.3f}, "
          f"q(1-{TARGET_FALSE_FLAG_RATE}) {q:.3f} -> threshold {threshold}")

    anom_score, _ = scores(model, anom["features"].float(), scale, device)
    labels = anom["labels"].long()
    pr = precision_recall(anom_score, labels, threshold)
    by_kind = {}
    for code, name in [(1, "SPIKE"), (2, "LEVEL_SHIFT"), (3, "STUCK"), (4, "FREQUENCY")]:
        only = torch.where((labels == code) | (labels == 0), labels, torch.zeros_like(labels))
        r = precision_recall(anom_score, only, threshold)
        by_kind[name] = {"injected": r["injected"], "recall": r["recall"]}
    normal_mask = (labels == 0)
    anom_mask = (labels != 0)
    pr["mean_score_normal"] = anom_score[:, WARMUP - 1:][normal_mask[:, WARMUP - 1:]].mean().item()
    pr["mean_score_anomalous"] = anom_score[anom_mask].mean().item()
    print("val-anomalies:", json.dumps(pr), json.dumps(by_kind), flush=True)

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    sd = {k: v.detach().float().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(sd, os.path.join(args.out, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(args.out, "scoring.json"), "w") as f:
        json.dump({"feature_names": FEATURES, "residual_scale": scale.tolist(), "threshold": threshold,
                   "warmup": WARMUP, "score": "max over features of |observed - predicted| / residual_scale"}, f,
                  indent=2)
    # Golden: 4 validation streams with anomalies, 64 events, computed step by step in float64 on the CPU.
    m64 = FeatureModel(cfg).double()
    m64.load_state_dict({k: v.double() for k, v in sd.items()})
    gx = anom["features"][:4, :64].double()
    with torch.no_grad():
        gy = m64(gx, chunk=1)
    save_file({"features": gx.contiguous(), "outputs": gy.contiguous()}, os.path.join(args.out, "golden.safetensors"))
    metrics = {"steps": step, "train_seconds": round(time.time() - t_start, 1), "loss_ema": loss_ema,
               "d_model": args.d_model, "layers": args.layers, "d_state": args.d_state, "batch": args.batch,
               "residual_scale": scale.tolist(), "val_anomalies": pr, "recall_by_kind": by_kind,
               "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu", "torch": torch.__version__}
    with open(os.path.join(args.out, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=2)
    print("wrote", sorted(os.listdir(args.out)))


if __name__ == "__main__":
    sys.exit(main())
