#!/usr/bin/env python3
"""The seed model of crates/model in PyTorch, layer for layer, timed the way
`cargo bench -p lookbook-model --bench seed` times ours: one training step
(forward + the three losses + backward + Adam) and inference (forward, eval mode).

    python3 benches/reference/seed_model.py [--threads 2] [--sizes 192x128,384x256]

Prints one line per measurement, in the same form as the Rust bench:
    seed-model size=192x128 threads=2 mode=train batch=8 s_per_step=0.601
    seed-model size=192x128 threads=2 mode=infer batch=32 img_per_s=42.1
`scripts/bench-model.sh` runs both and prints the ratios.
"""
import argparse
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

FEATURE_CHANNELS = 256


class GlobalBranch(nn.Module):
    """The study's table: conv3x3 64 x2, dropout, pool 4/4, BN; conv 128 x2, dropout, pool, BN; conv 256 x2."""

    def __init__(self, dropout=0.25):
        super().__init__()
        conv = lambda i, o: nn.Conv2d(i, o, 3, padding=1)
        self.conv1a, self.conv1b = conv(3, 64), conv(64, 64)
        self.conv2a, self.conv2b = conv(64, 128), conv(128, 128)
        self.conv3a, self.conv3b = conv(128, 256), conv(256, FEATURE_CHANNELS)
        self.drop = nn.Dropout(dropout)
        self.pool = nn.MaxPool2d(4, 4)
        self.norm1, self.norm2 = nn.BatchNorm2d(64), nn.BatchNorm2d(128)

    def forward(self, x):
        x = F.relu(self.conv1b(F.relu(self.conv1a(x))))
        x = self.norm1(self.pool(self.drop(x)))
        x = F.relu(self.conv2b(F.relu(self.conv2a(x))))
        x = self.norm2(self.pool(self.drop(x)))
        return F.relu(self.conv3b(F.relu(self.conv3a(x))))


class TextureEncoding(nn.Module):
    """Deep TEN: soft-assigned residuals to C codewords, L2-normalised, projected."""

    def __init__(self, channels, codewords, output):
        super().__init__()
        bound = 1.0 / (codewords * channels) ** 0.5
        self.codewords = nn.Parameter(torch.empty(codewords, channels).uniform_(-bound, bound))
        self.smoothing = nn.Parameter(torch.empty(codewords).uniform_(0.0, 1.0))
        self.projection = nn.Linear(codewords * channels, output)

    def forward(self, features):
        n, d, h, w = features.shape
        x = features.reshape(n, d, h * w).transpose(1, 2)  # [N, M, D]
        c = self.codewords
        dist = (x.pow(2).sum(2, keepdim=True) - 2 * x @ c.t() + c.pow(2).sum(1)[None, None]).clamp_min(0)
        a = torch.softmax(-dist * self.smoothing[None, None], dim=2)  # [N, M, C]
        e = a.transpose(1, 2) @ x - a.sum(1)[..., None] * c[None]  # [N, C, D]
        e = e.reshape(n, -1)
        e = e / (e.norm(dim=1, keepdim=True) + 1e-6)
        return self.projection(e)


def affine_grid(theta, out_h, out_w):
    """θ = (sx, sy, tx, ty) → sampling grid [N, h, w, 2], align_corners=False convention."""
    n = theta.shape[0]
    bx = (2 * torch.arange(out_w, dtype=theta.dtype) + 1) / out_w - 1
    by = (2 * torch.arange(out_h, dtype=theta.dtype) + 1) / out_h - 1
    sx, sy, tx, ty = (theta[:, i].view(n, 1, 1) for i in range(4))
    xs = (sx * bx.view(1, 1, out_w) + tx).expand(n, out_h, out_w)
    ys = (sy * by.view(1, out_h, 1) + ty).expand(n, out_h, out_w)
    return torch.stack([xs, ys], 3)


def attention_map(theta, out_h, out_w, h, w):
    """Softmax over cells of the grid's bilinear footprint (tent weights)."""
    n = theta.shape[0]
    grid = affine_grid(theta, out_h, out_w).reshape(n, -1, 2)
    px = (grid[..., 0:1] + 1) * w / 2 - 0.5
    py = (grid[..., 1:2] + 1) * h / 2 - 0.5
    wx = F.relu(1 - (px - torch.arange(w, dtype=theta.dtype).view(1, 1, w)).abs())
    wy = F.relu(1 - (py - torch.arange(h, dtype=theta.dtype).view(1, 1, h)).abs())
    return torch.softmax((wy.transpose(1, 2) @ wx).reshape(n, -1), 1).reshape(n, h, w)


class SeedModel(nn.Module):
    def __init__(self, num_labels, region=(12, 8), codewords=32, encoding_dim=256, lstm_hidden=512, steps=4):
        super().__init__()
        self.glob = GlobalBranch()
        self.encoding = TextureEncoding(FEATURE_CHANNELS, codewords, encoding_dim)
        self.lstm = nn.LSTMCell(encoding_dim, lstm_hidden)
        self.locator = nn.Linear(lstm_hidden, 4)
        nn.init.zeros_(self.locator.weight)
        with torch.no_grad():
            self.locator.bias.copy_(torch.tensor([0.5, 0.5, 0.0, 0.0]))
        self.global_head = nn.Linear(FEATURE_CHANNELS, num_labels)
        self.region_head = nn.Linear(encoding_dim, num_labels)
        self.region, self.steps = region, steps

    def sample(self, features, theta):
        grid = affine_grid(theta, *self.region)
        return F.grid_sample(features, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    def forward(self, images):
        features = self.glob(images)
        n, _, h, w = features.shape
        global_feature = features.mean((2, 3))
        scores = self.global_head(global_feature)
        identity = torch.tensor([1.0, 1.0, 0.0, 0.0]).expand(n, 4)
        encoding = self.encoding(self.sample(features, identity))
        scores = torch.maximum(scores, self.region_head(encoding))
        encodings, thetas, attention, state = [encoding], [], [], None
        for _ in range(self.steps):
            state = self.lstm(encoding, state)
            theta = self.locator(state[0])
            encoding = self.encoding(self.sample(features, theta))
            scores = torch.maximum(scores, self.region_head(encoding))
            attention.append(attention_map(theta, *self.region, h, w))
            thetas.append(theta)
            encodings.append(encoding)
        return scores, global_feature, encodings, thetas, attention


ANCHORS = [(-0.5, -0.5), (0.5, -0.5), (-0.5, 0.5), (0.5, 0.5)]


def seed_loss(out, targets, gamma_div=0.01, gamma_loc=0.1, lam_anchor=0.01, lam_pos=0.1, alpha=0.5, beta=0.1):
    scores, _, _, thetas, attention = out
    n = scores.shape[0]
    cls = (torch.sigmoid(scores) - targets).pow(2).sum() / n
    div = sum((a * b).sum() for a, b in zip(attention, attention[1:])) / ((len(attention) - 1) * n)
    ls = la = lp = 0.0
    for k, theta in enumerate(thetas):
        s, t = theta[:, :2], theta[:, 2:]
        ls = ls + (s.abs() - alpha).clamp_min(0).pow(2).sum()
        la = la + 0.5 * (t - torch.tensor(ANCHORS[k % len(ANCHORS)])).pow(2).sum()
        lp = lp + (beta - s).clamp_min(0).sum()
    loc = (ls + lam_anchor * la + lam_pos * lp) / n
    return cls + gamma_div * div + gamma_loc * loc


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sizes", default="192x128,384x256")
    parser.add_argument("--labels", type=int, default=196)
    parser.add_argument("--train-batch", type=int, default=8)
    parser.add_argument("--infer-batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (the GPU check of scripts/gpu-check.sh)")
    args = parser.parse_args()
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    torch.set_default_device(device)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    for size in args.sizes.split(","):
        h, w = map(int, size.split("x"))
        region = (h // 32, w // 32)  # half the feature map each way, as the defaults at 384x256
        model = SeedModel(args.labels, region=region)
        optim = torch.optim.Adam(model.parameters(), lr=1e-5, eps=1e-8)
        images = torch.randn(args.train_batch, 3, h, w)
        targets = (torch.rand(args.train_batch, args.labels) < 0.05).float()
        model.train()
        times = []
        for i in range(args.repeats + 1):
            start = time.perf_counter()
            optim.zero_grad()
            seed_loss(model(images), targets).backward()
            optim.step()
            sync()
            if i > 0:  # the first step allocates and warms up
                times.append(time.perf_counter() - start)
        times.sort()
        print(f"seed-model size={size} threads={args.threads} device={args.device} mode=train batch={args.train_batch} "
              f"s_per_step={times[len(times) // 2]:.3f}", flush=True)
        model.eval()
        images = torch.randn(args.infer_batch, 3, h, w)
        rates = []
        with torch.inference_mode():
            for i in range(max(2, args.repeats // 2) + 1):
                start = time.perf_counter()
                model(images)[2][0].sum().item()
                sync()
                if i > 0:
                    rates.append(args.infer_batch / (time.perf_counter() - start))
        rates.sort()
        print(f"seed-model size={size} threads={args.threads} device={args.device} mode=infer batch={args.infer_batch} "
              f"img_per_s={rates[len(rates) // 2]:.1f}", flush=True)


if __name__ == "__main__":
    main()
