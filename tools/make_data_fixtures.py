#!/usr/bin/env python3
"""Reference fixtures for the data pipeline and the learning-rate schedules.

Run from the repository root with a Python that has PyTorch and Pillow (e.g. Debian's
/usr/bin/python3 with python3-torch and python3-pil); not run by CI, its outputs are committed:

    /usr/bin/python3 tools/make_data_fixtures.py

Writes tests/fixtures/data/:
  lr_schedules.json      learning rate per epoch from PyTorch's own schedulers, driven as the
                         official train.py drives them (scheduler.step() at the start of each epoch)
  resize_src.png         a small RGB source image
  resize_<W>x<H>.png     PIL Image.resize(..., BICUBIC) of it (RGB), and of its 'L' conversion
  gray.png               PIL convert('L') of the source
  to_tensor_normalize.json  uint8 0..255 through ToTensor() + Normalize(0.5, 0.5), as float32 values
  bmp_*.bmp              BMP files in the encodings the decoder supports, plus their pixels as PNG
"""
import json
import os

import numpy as np
import torch
from PIL import Image

OUT = os.path.join('tests', 'fixtures', 'data')


def lr_table(opts):
    """Learning rate during each epoch, as the official get_scheduler + train.py produce it."""
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([p], lr=opts['lr'], betas=(0.5, 0.999))
    policy = opts['lr_policy']
    if policy == 'linear':
        def rule(epoch):
            return 1.0 - max(0, epoch + opts['epoch_count'] - opts['n_epochs']) / float(opts['n_epochs_decay'] + 1)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda=rule)
    elif policy == 'step':
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=opts['lr_decay_iters'], gamma=0.1)
    elif policy == 'cosine':
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=opts['n_epochs'], eta_min=0)
    else:
        raise ValueError(policy)
    epochs, lrs = [], []
    for epoch in range(opts['epoch_count'], opts['n_epochs'] + opts['n_epochs_decay'] + 1):
        opt.step()  # keeps PyTorch from warning about the order; lr is what matters here
        sched.step()  # official: model.update_learning_rate() at the start of the epoch
        epochs.append(epoch)
        lrs.append(opt.param_groups[0]['lr'])
    return {'options': opts, 'epochs': epochs, 'lr': lrs}


def lr_fixture():
    base = {'lr': 0.0002, 'lr_policy': 'linear', 'n_epochs': 100, 'n_epochs_decay': 100, 'epoch_count': 1,
            'lr_decay_iters': 50}
    cases = [
        dict(base),
        dict(base, epoch_count=151),
        dict(base, lr=0.001, n_epochs=3, n_epochs_decay=5),
        dict(base, n_epochs=5, n_epochs_decay=0),
        dict(base, lr_policy='step'),
        dict(base, lr_policy='step', lr=0.01, n_epochs=5, n_epochs_decay=5, epoch_count=2, lr_decay_iters=3),
        dict(base, lr_policy='cosine'),
        dict(base, lr_policy='cosine', lr=0.003, n_epochs=7, n_epochs_decay=10),
    ]
    return {'torch': torch.__version__, 'cases': [lr_table(c) for c in cases]}


def image_fixtures():
    rng = np.random.default_rng(1234)
    h, w = 17, 23
    yy, xx = np.mgrid[0:h, 0:w]
    src = np.stack([120 + 100 * np.sin(xx / 3.0), 120 + 100 * np.cos(yy / 4.0), (xx * 11 + yy * 5) % 256], -1)
    src[4:9, 6:15] = [250, 10, 30]
    src = np.clip(src + rng.normal(0, 12, src.shape), 0, 255).astype(np.uint8)
    im = Image.fromarray(src, 'RGB')
    im.save(os.path.join(OUT, 'resize_src.png'))
    for size in [(40, 31), (23, 30), (9, 7), (5, 4), (30, 17)]:
        im.resize(size, Image.BICUBIC).save(os.path.join(OUT, 'resize_%dx%d.png' % size))
        im.convert('L').resize(size, Image.BICUBIC).save(os.path.join(OUT, 'resize_L_%dx%d.png' % size))
    im.convert('L').save(os.path.join(OUT, 'gray.png'))

    # BMPs: Pillow writes 24-bit (RGB), 32-bit BI_RGB (RGBA) and 8-bit palette (L, P), bottom-up.
    small = Image.fromarray(src[:5, :7], 'RGB')
    small.save(os.path.join(OUT, 'bmp_24.bmp'))
    small.save(os.path.join(OUT, 'bmp_24.png'))
    rgba = np.concatenate([src[:5, :7], np.full((5, 7, 1), 77, np.uint8)], -1)
    Image.fromarray(rgba, 'RGBA').save(os.path.join(OUT, 'bmp_32.bmp'))
    small.save(os.path.join(OUT, 'bmp_32.png'))
    small.convert('L').save(os.path.join(OUT, 'bmp_8gray.bmp'))
    small.convert('L').convert('RGB').save(os.path.join(OUT, 'bmp_8gray.png'))
    pal = small.convert('P', palette=Image.ADAPTIVE, colors=16)
    pal.save(os.path.join(OUT, 'bmp_8pal.bmp'))
    pal.convert('RGB').save(os.path.join(OUT, 'bmp_8pal.png'))
    # A top-down 24-bit BMP (negative height), made from the bottom-up one: Pillow does not write these.
    raw = bytearray(open(os.path.join(OUT, 'bmp_24.bmp'), 'rb').read())
    offset = int.from_bytes(raw[10:14], 'little')
    height = int.from_bytes(raw[22:26], 'little', signed=True)
    stride = ((24 * 7 + 31) // 32) * 4
    rows = [raw[offset + i * stride: offset + (i + 1) * stride] for i in range(height)]
    raw[offset:offset + stride * height] = b''.join(reversed(rows))
    raw[22:26] = (-height).to_bytes(4, 'little', signed=True)
    open(os.path.join(OUT, 'bmp_24topdown.bmp'), 'wb').write(bytes(raw))
    # Pixel check through PIL: it reads the top-down file as the same image.
    assert np.array_equal(np.array(Image.open(os.path.join(OUT, 'bmp_24topdown.bmp')).convert('RGB')), src[:5, :7])


def normalize_table():
    # What torchvision's ToTensor() (x.float().div(255)) then Normalize(0.5, 0.5) ((x - 0.5) / 0.5) compute.
    v = torch.arange(256, dtype=torch.uint8).float().div(255)
    v = (v - 0.5) / 0.5
    return [float(x) for x in v.tolist()]


def main():
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, 'to_tensor_normalize.json'), 'w') as f:
        json.dump(normalize_table(), f)
    with open(os.path.join(OUT, 'lr_schedules.json'), 'w') as f:
        json.dump(lr_fixture(), f)
    image_fixtures()
    print('wrote', OUT)


if __name__ == '__main__':
    main()
