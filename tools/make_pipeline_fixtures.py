#!/usr/bin/env python3
"""Reference outputs of the official test.py pipeline, for the fidelity test of the served and bulk paths.

Run from the repository root (needs PyTorch, onnx and Pillow, e.g. Debian's python3-torch,
python3-onnx and python3-pil; not run by CI, the small files it writes are committed):

    /usr/bin/python3 tools/make_pipeline_fixtures.py [--out tests/fixtures/pipeline]

Writes into the output folder:

  model/AtoB.onnx, model/model.json
                 a tiny official-layout ResnetGenerator (3 -> 3, ngf 4, 1 block, instance norm,
                 fixed seed; tools/make_onnx_fixture.py's network) exported with torch.onnx.export
                 and wrapped with a hand-written model.json as export/README.md describes
                 (preferredSize 64: `size=native` runs at 64x64).
  inputs/        rgb_300x200.png, rgb_97x61.png, photo_1000x700.jpg, gray_150x100.png (mode L),
                 rgba_120x90.png (mode RGBA, varying alpha, colour kept under transparent pixels).
  expected/<input stem>.png
                 what the official test.py pipeline makes of each input with this generator:
                 Image.open(path).convert('RGB') -> Resize((64, 64), BICUBIC) -> ToTensor ->
                 Normalize((0.5,)*3, (0.5,)*3) -> G (eval, float32) -> util.tensor2im, i.e.
                 (x + 1) / 2 * 255 then astype(uint8) (truncation), saved as an RGB PNG.

The steps are written out with PIL and torch calls rather than imported from the official
repository (not installed here); torchvision's Resize on a PIL image is Image.resize(size, BICUBIC)
and ToTensor is the division by 255 below.
"""

import argparse
import hashlib
import json
import os
import sys

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_onnx_fixture import Generator, randomise  # noqa: E402

SIZE = 64


def photo_like(w, h, rng):
    """Smooth colour fields, a few hard edges and fine noise: what resampling differences show on."""
    coarse = rng.uniform(0, 255, (max(2, h // 16), max(2, w // 16), 3)).astype(np.uint8)
    base = np.asarray(Image.fromarray(coarse).resize((w, h), Image.BILINEAR), dtype=np.float64)
    yy, xx = np.mgrid[0:h, 0:w]
    base[(xx // max(1, w // 5) + yy // max(1, h // 4)) % 2 == 0] *= 0.6
    base += rng.normal(0, 12, base.shape)
    return np.clip(base, 0, 255).astype(np.uint8)


def official(G, path):
    """test.py for one image: convert('RGB'), Resize((S, S), BICUBIC), ToTensor, Normalize, G, tensor2im."""
    img = Image.open(path).convert('RGB').resize((SIZE, SIZE), Image.BICUBIC)
    x = torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2, 0, 1).float().div(255)
    x = (x - 0.5) / 0.5
    with torch.no_grad():
        y = G(x.unsqueeze(0))
    a = y[0].cpu().float().numpy()
    if a.shape[0] == 1:
        a = np.tile(a, (3, 1, 1))
    a = (np.transpose(a, (1, 2, 0)) + 1) / 2.0 * 255.0
    return a.astype(np.uint8)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', default='tests/fixtures/pipeline')
    args = ap.parse_args()
    for d in ('model', 'inputs', 'expected'):
        os.makedirs(os.path.join(args.out, d), exist_ok=True)
    gen = torch.Generator().manual_seed(19700101)
    rng = np.random.default_rng(20170330)

    G = Generator(3, 3, 4, 'instance', False, 1)
    randomise(G, gen)
    G.eval()
    onnx_path = os.path.join(args.out, 'model', 'AtoB.onnx')
    torch.onnx.export(G, torch.zeros(1, 3, SIZE, SIZE), onnx_path, input_names=['input'], output_names=['output'],
                      dynamic_axes={'input': {0: 'N', 2: 'H', 3: 'W'}, 'output': {0: 'N', 2: 'H', 3: 'W'}},
                      opset_version=17, do_constant_folding=True, training=torch.onnx.TrainingMode.EVAL)
    import onnx
    onnx.checker.check_model(onnx.load(onnx_path))
    sha = hashlib.sha256(open(onnx_path, 'rb').read()).hexdigest()
    manifest = {
        'format': 'cyclegan-ts/model@1',
        'name': 'official-tiny',
        'description': 'tiny official-layout ResnetGenerator exported with torch.onnx.export (fidelity fixture)',
        'directions': {'AtoB': {'file': 'AtoB.onnx', 'sha256': sha}},
        'inputNc': 3,
        'outputNc': 3,
        'preferredSize': SIZE,
        'sizeMultiple': 4,
        'normalization': {'mean': [0.5, 0.5, 0.5], 'std': [0.5, 0.5, 0.5]},
        'io': {'input': 'input', 'output': 'output', 'layout': 'NCHW'},
    }
    with open(os.path.join(args.out, 'model', 'model.json'), 'w') as f:
        json.dump(manifest, f, indent=2)
        f.write('\n')

    inputs = os.path.join(args.out, 'inputs')
    Image.fromarray(photo_like(300, 200, rng)).save(os.path.join(inputs, 'rgb_300x200.png'))
    Image.fromarray(photo_like(97, 61, rng)).save(os.path.join(inputs, 'rgb_97x61.png'))
    Image.fromarray(photo_like(1000, 700, rng)).save(os.path.join(inputs, 'photo_1000x700.jpg'), quality=85)
    Image.fromarray(photo_like(150, 100, rng)).convert('L').save(os.path.join(inputs, 'gray_150x100.png'))
    rgba = np.dstack([photo_like(120, 90, rng), np.tile(np.linspace(0, 255, 120).astype(np.uint8), (90, 1))])
    rgba[:, :20, 3] = 0  # fully transparent, colour still there: convert('RGB') keeps it
    Image.fromarray(rgba, 'RGBA').save(os.path.join(inputs, 'rgba_120x90.png'))

    for name in sorted(os.listdir(inputs)):
        out = official(G, os.path.join(inputs, name))
        Image.fromarray(out).save(os.path.join(args.out, 'expected', os.path.splitext(name)[0] + '.png'))
    for root, _, files in sorted(os.walk(args.out)):
        for f in sorted(files):
            p = os.path.join(root, f)
            print(p, os.path.getsize(p))


if __name__ == '__main__':
    main()
