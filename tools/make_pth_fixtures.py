#!/usr/bin/env python3
"""PyTorch checkpoint files (.pth) and PyTorch's outputs, for the `npm run import` tests.

Run (from the repository root; needs PyTorch, e.g. Debian's python3-torch, and PIL; not run by CI,
the fixtures it writes are committed):

    /usr/bin/python3 tools/make_pth_fixtures.py [--out tests/fixtures/pth]

The networks are the official-layout re-implementation in tools/make_golden.py (same state_dict
keys as pytorch-CycleGAN-and-pix2pix), tiny (ngf 4 or 2) so the files stay small. Every case is a
generator saved the way some real checkpoint is saved:

  resnet_zip          torch.save zip format (PyTorch >= 1.6), one weight stored non-contiguous
  resnet_legacy       _use_new_zipfile_serialization=False (the format of the official pretrained
                      models) with the pre-0.4 InstanceNorm running_mean/running_var entries that
                      the official load_networks deletes
  resnet_fp16         zip format, float16 weights (outputs computed from the same float16 values)
  unet_dataparallel   unet_128 with batch norm, keys prefixed `module.` (DataParallel), with
                      num_batches_tracked
  run/                an official training run folder: latest_net_G_A / G_B / D_A / D_B.pth
                      (resnet_2blocks ngf 4, basic D ndf 4; D_A in the legacy format)

For a generator case `<case>`: `<case>.pth`, `<case>.json` + `<case>.bin` (golden format of
tools/make_golden.py: config with the official options, tensors `input` and `output`, NCHW float32,
model in eval mode), `<case>.input.png` (the 8-bit image `input` was made from: x = (v/255-0.5)/0.5)
and `<case>.expected.png` (PyTorch's output through the official tensor2im: (y+1)/2*255, truncated
to uint8). For run/: the four .pth files plus `run.json`/`run.bin` with every network's state dict
(after the official load_networks clean-up) and G_A's output for `input`.

`dtypes.pth` (zip), `dtypes_legacy.pth` and `dtypes_deflated.pth` (re-zipped with DEFLATE) hold
small tensors of every supported dtype, views with a storage offset and transposed
(non-contiguous) ones; `dtypes.json` lists their expected values.

Legacy files name storages by memory address, so regenerating rewrites their bytes (not their
contents); the zip files, .bin and .png outputs are reproducible.
"""

import argparse
import collections
import io
import json
import os
import sys
import zipfile

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_golden as mg  # noqa: E402  (the official-layout networks and the fixture writer)


def image_input(seed, c, h, w):
    """A smooth 8-bit test image and its normalised tensor, as the server would feed it."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing='ij')
    chans = []
    for _ in range(c):
        a, b, f = torch.rand(3, generator=g)
        chans.append(0.5 + 0.35 * torch.sin(6.28 * (a * xx + b * yy) * (1 + 3 * f)) + 0.1 * torch.rand(h, w, generator=g))
    img = (torch.stack(chans).clamp(0, 1) * 255).round().to(torch.uint8)
    x = (img.to(torch.float64) / 255 - 0.5) / 0.5
    return img, x.unsqueeze(0)


def tensor2im(y):
    """The official util.tensor2im for one image: (y + 1) / 2 * 255, then astype(np.uint8) truncates."""
    a = y[0].detach().to(torch.float64).cpu().numpy()
    return (((np.transpose(a, (1, 2, 0)) + 1) / 2.0) * 255.0).astype(np.uint8)


def save_png(path, hwc_or_chw, chw=False):
    a = hwc_or_chw.permute(1, 2, 0).numpy() if chw else hwc_or_chw
    if a.shape[2] == 1:
        a = a[:, :, 0]
    Image.fromarray(a).save(path)


def official_state(net):
    return collections.OrderedDict((k, v.detach().to(torch.float32).clone()) for k, v in net.state_dict().items())


def instance_norm_names(net):
    return [n for n, m in net.named_modules() if isinstance(m, torch.nn.InstanceNorm2d)]


def generator_case(out, case, description, opts, seed, size, save):
    torch.manual_seed(seed)
    net = mg.define_g(opts)
    mg.randomize(net)
    net.eval()
    state = official_state(net)
    state = save(state, net)  # the saved dict; returns the values the network should use
    net.load_state_dict(collections.OrderedDict((k, v.to(torch.float64)) for k, v in state.items()))
    img, x = image_input(seed, opts['inputNc'], size, size)
    with torch.no_grad():
        y = net(x)
    std = mg.check_nontrivial(case, 'output', y, saturating=True)
    config = {'kind': 'generator', 'generator': opts, 'pth': f'{case}.pth', 'official': official_flags(opts),
              'training': False}
    fx = mg.Fixture(case, description, config)
    fx.add('input', x)
    fx.add('output', y)
    fx.write(out)
    save_png(os.path.join(out, f'{case}.input.png'), img, chw=True)
    save_png(os.path.join(out, f'{case}.expected.png'), tensor2im(y))
    return f'out std {std:.3f}'


def official_flags(o):
    return {'netG': o['netG'], 'ngf': o['ngf'], 'norm': o['norm'], 'input_nc': o['inputNc'],
            'output_nc': o['outputNc']}


def torch_save(obj, path, legacy=False):
    buf = io.BytesIO()
    torch.save(obj, buf, _use_new_zipfile_serialization=not legacy)
    mg.write_atomic(path, buf.getvalue())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', default=os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests',
                                                  'fixtures', 'pth'))
    args = ap.parse_args()
    out = os.path.normpath(args.out)
    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(1)
    os.makedirs(os.path.join(out, 'run'), exist_ok=True)
    f32 = lambda s: collections.OrderedDict((k, v.to(torch.float32)) for k, v in s.items())  # noqa: E731

    def zip_noncontiguous(state, net):
        # Store one conv weight as a transposed view of a [k, k, in, out] buffer: same values, other strides.
        s = f32(state)
        w = s['model.4.weight']
        s['model.4.weight'] = w.permute(2, 3, 1, 0).contiguous().permute(3, 2, 0, 1)
        assert not s['model.4.weight'].is_contiguous()
        torch_save(s, os.path.join(out, 'resnet_zip.pth'))
        return state

    def legacy_pre04(state, net):
        s = f32(state)
        for name in instance_norm_names(net):  # PyTorch 0.3 saved these for every InstanceNorm2d
            ch = net.get_submodule(name).num_features
            s[f'{name}.running_mean'] = torch.zeros(ch)
            s[f'{name}.running_var'] = torch.ones(ch)
        torch_save(s, os.path.join(out, 'resnet_legacy.pth'), legacy=True)
        return state

    def fp16(state, net):
        s = collections.OrderedDict((k, v.to(torch.float16)) for k, v in state.items())
        torch_save(s, os.path.join(out, 'resnet_fp16.pth'))
        return collections.OrderedDict((k, v.to(torch.float32)) for k, v in s.items())

    def dataparallel(state, net):
        s = collections.OrderedDict((f'module.{k}', v) for k, v in f32(state).items())
        assert any(k.endswith('num_batches_tracked') for k in s)
        torch_save(s, os.path.join(out, 'unet_dataparallel.pth'))
        return state

    resnet = mg.g_opts('resnet_2blocks', 4, 'instance')
    stats = {
        'resnet_zip': generator_case(out, 'resnet_zip', 'resnet_2blocks ngf 4, zip format, a non-contiguous weight',
                                     resnet, 11, 32, zip_noncontiguous),
        'resnet_legacy': generator_case(out, 'resnet_legacy', 'resnet_2blocks ngf 4, legacy format, pre-0.4 '
                                        'InstanceNorm buffers', resnet, 12, 32, legacy_pre04),
        'resnet_fp16': generator_case(out, 'resnet_fp16', 'resnet_2blocks ngf 4, float16 storages', resnet, 13, 32,
                                      fp16),
        'unet_dataparallel': generator_case(out, 'unet_dataparallel', 'unet_128 ngf 2, batch norm (eval), '
                                            'DataParallel module. prefixes', mg.g_opts('unet_128', 2, 'batch'), 14,
                                            128, dataparallel),
    }

    # An official run folder: the four networks of one CycleGAN run.
    torch.manual_seed(21)
    nets = {'G_A': mg.define_g(resnet), 'G_B': mg.define_g(resnet),
            'D_A': mg.define_d(mg.d_opts('basic', 4, 'instance')), 'D_B': mg.define_d(mg.d_opts('basic', 4, 'instance'))}
    fx = mg.Fixture('run', 'official run folder: resnet_2blocks ngf 4 generators, basic D ndf 4',
                    {'kind': 'run', 'generator': resnet, 'official': {**official_flags(resnet), 'netD': 'basic', 'ndf': 4},
                     'epoch': 'latest'})
    for name, net in nets.items():
        mg.randomize(net)
        net.eval()
        state = f32(official_state(net))
        torch_save(state, os.path.join(out, 'run', f'latest_net_{name}.pth'), legacy=name == 'D_A')
        fx.add_state(f'{name}/', state)
    img, x = image_input(21, 3, 32, 32)
    with torch.no_grad():
        y = nets['G_A'](x)
    fx.add('input', x)
    fx.add('output', y)
    fx.write(out)
    stats['run'] = f'G_A out std {mg.check_nontrivial("run", "output", y, saturating=True):.3f}'

    # Every storage dtype, views and strides.
    base = torch.arange(24, dtype=torch.float32) / 8 - 1.5
    d = collections.OrderedDict()
    d['float32'] = base.reshape(4, 6)
    d['float32_transposed'] = base.reshape(4, 6).t()
    d['float32_view'] = base[5:17].reshape(3, 4)  # storage offset 5
    d['float32_strided'] = base.reshape(4, 6)[:, ::2]  # non-unit inner stride
    d['float64'] = (base.to(torch.float64) / 3).reshape(2, 12)
    d['float16'] = base.to(torch.float16).reshape(6, 4)
    d['bfloat16'] = base.to(torch.bfloat16)
    d['int64'] = torch.tensor(123456789012)
    d['scalar'] = torch.tensor(2.5, dtype=torch.float32)
    expected = {k: {'shape': list(v.shape), 'dtype': str(v.dtype)[len('torch.'):], 'values': v.to(torch.float64).flatten().tolist()} for k, v in d.items()}
    torch_save(d, os.path.join(out, 'dtypes.pth'))
    torch_save(d, os.path.join(out, 'dtypes_legacy.pth'), legacy=True)
    mg.write_atomic(os.path.join(out, 'dtypes.json'), (json.dumps(expected, indent=1) + '\n').encode())
    # The same archive re-zipped with DEFLATE and zip64 local headers (torch writes STORED; other tools may not).
    buf = io.BytesIO()
    with zipfile.ZipFile(os.path.join(out, 'dtypes.pth')) as src, zipfile.ZipFile(buf, 'w', zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            with dst.open(info.filename, 'w', force_zip64=True) as f:
                f.write(src.read(info.filename))
    mg.write_atomic(os.path.join(out, 'dtypes_deflated.pth'), buf.getvalue())

    total = 0
    for root, _, files in os.walk(out):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    for case, s in stats.items():
        print(f'{case:20s} {s}')
    print(f'total {total / 1024:.0f} KiB in {out}')


if __name__ == '__main__':
    sys.exit(main())
