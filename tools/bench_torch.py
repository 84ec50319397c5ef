#!/usr/bin/env python3
"""PyTorch reference timings on this machine, to put beside `npm run bench`'s figures.

    /usr/bin/python3 tools/bench_torch.py [--threads 1 2] [--iters 10] [--sizes 64 128] [--no-forward] > bench-torch.json

`npm run bench -- --vs-torch` runs this script and the trainer back to back and prints the ratio.

Uses the same independent re-implementation of the official networks as tools/make_golden.py
and the official CycleGAN step (G step with D frozen, then D step; LSGAN, L1 cycle + identity,
Adam lr 2e-4 betas (0.5, 0.999)). Prints JSON, with the process's peak resident memory. Debian's python3-torch; not run by CI.
"""
import argparse
import json
import os
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_golden import define_d, define_g, d_opts, g_opts  # noqa: E402


def timed(fn, iters, warmup=2):
    for _ in range(warmup):
        fn()
    t0 = time.perf_counter()
    for _ in range(iters):
        fn()
    return (time.perf_counter() - t0) / iters


def cycle_iteration_seconds(size, ngf, n_blocks, ndf, iters):
    G_A = define_g(g_opts(f'resnet_{n_blocks}blocks', ngf, 'instance'))
    G_B = define_g(g_opts(f'resnet_{n_blocks}blocks', ngf, 'instance'))
    D_A = define_d(d_opts('basic', ndf, 'instance'))
    D_B = define_d(d_opts('basic', ndf, 'instance'))
    opt_G = torch.optim.Adam(list(G_A.parameters()) + list(G_B.parameters()), lr=2e-4, betas=(0.5, 0.999))
    opt_D = torch.optim.Adam(list(D_A.parameters()) + list(D_B.parameters()), lr=2e-4, betas=(0.5, 0.999))
    mse, l1 = torch.nn.MSELoss(), torch.nn.L1Loss()
    real_A = torch.rand(1, 3, size, size) * 2 - 1
    real_B = torch.rand(1, 3, size, size) * 2 - 1

    def gan(pred, real):
        return mse(pred, torch.ones_like(pred) if real else torch.zeros_like(pred))

    def step():
        fake_B = G_A(real_A)
        rec_A = G_B(fake_B)
        fake_A = G_B(real_B)
        rec_B = G_A(fake_A)
        for p in list(D_A.parameters()) + list(D_B.parameters()):
            p.requires_grad_(False)
        opt_G.zero_grad()
        loss_G = (gan(D_A(fake_B), True) + gan(D_B(fake_A), True) + l1(rec_A, real_A) * 10 + l1(rec_B, real_B) * 10
                  + l1(G_A(real_B), real_B) * 5 + l1(G_B(real_A), real_A) * 5)
        loss_G.backward()
        opt_G.step()
        for p in list(D_A.parameters()) + list(D_B.parameters()):
            p.requires_grad_(True)
        opt_D.zero_grad()
        loss_D = 0.5 * (gan(D_A(real_B), True) + gan(D_A(fake_B.detach()), False))
        loss_D = loss_D + 0.5 * (gan(D_B(real_A), True) + gan(D_B(fake_A.detach()), False))
        loss_D.backward()
        opt_D.step()

    return timed(step, iters)


def forward_seconds(net_opts, size, iters):
    net = define_g(net_opts).eval()
    x = torch.rand(1, 3, size, size) * 2 - 1
    with torch.no_grad():
        return timed(lambda: net(x), iters)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--threads', type=int, nargs='+', default=[1, 2])
    ap.add_argument('--iters', type=int, default=10)
    ap.add_argument('--sizes', type=int, nargs='+', default=[64, 128], help='cycle-iteration crop sizes (64, 128, 256)')
    ap.add_argument('--no-forward', action='store_true', help='skip the 256x256 generator forward figure')
    a = ap.parse_args()
    configs = {64: (32, 6), 128: (64, 9), 256: (64, 9)}
    bad = [s for s in a.sizes if s not in configs]
    if bad:
        ap.error(f'--sizes: no configuration for {bad} (have 64, 128, 256)')
    torch.manual_seed(0)
    out = {'torch': torch.__version__, 'results': []}
    for t in a.threads:
        torch.set_num_threads(t)
        row = {'threads': t}
        for size in a.sizes:
            ngf, n_blocks = configs[size]
            iters = a.iters if size == 64 else max(2, a.iters // 4)
            row[f'cycle_iter_s_{size}_ngf{ngf}_{n_blocks}blocks_ndf64'] = cycle_iteration_seconds(size, ngf, n_blocks, 64, iters)
        if not a.no_forward:
            row['g_forward_s_256_resnet9_ngf64'] = forward_seconds(g_opts('resnet_9blocks', 64, 'instance'), 256, max(2, a.iters // 4))
        out['results'].append(row)
    # Peak resident memory of this process (Linux reports KiB): with one size, that size's iteration.
    out['peak_rss_mb'] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    json.dump(out, sys.stdout, indent=2)
    print()


if __name__ == '__main__':
    main()
