#!/usr/bin/env python3
"""ONNX files exported by PyTorch itself, for the export and serving tests.

Run from the repository root (needs PyTorch and onnx, e.g. Debian's python3-torch; not run by CI,
the small files it writes are committed):

    /usr/bin/python3 tools/make_onnx_fixture.py [--out tests/fixtures/onnx]

Writes into the output folder:

  resnet_tiny.onnx   a tiny ResnetGenerator (3 -> 3 channels, ngf 4, 1 residual block, instance
                     norm, fixed seed) exported with torch.onnx.export exactly as one would export
                     the official pytorch-CycleGAN-and-pix2pix generator: input `input`, output
                     `output`, dynamic N/H/W, opset 17, eval mode.
  resnet_tiny.json   + .bin: its state_dict (official key names), sample inputs and PyTorch's
                     outputs for them (a 1x3x32x32 and a non-square 2x3x24x40 batch).
  resnet_batch_dropout_eval.json + .bin: a ResnetGenerator with batch norm and dropout in eval()
                     mode (running statistics, dropout off) with non-trivial running stats; its
                     state_dict, an input and PyTorch's output. Not exported to ONNX: the TypeScript
                     builder's graph is checked against it.

The .json is {"format": "cyclegan-ts-onnx-fixture/1", "description", "generator" (GeneratorOptions
of core/arch/spec.ts), "bin", "tensors": {name: {"shape", "offset"}}}; the .bin holds little-endian
float32 tensors at those byte offsets. Names: `state/<key>` for state_dict entries (not
num_batches_tracked), `input/<case>` and `output/<case>`. Outputs are computed in float64 and stored
as float32.

The networks are written here from the official models/networks.py behaviour (layer order and
Sequential indices, so state_dict keys match): convs before a norm carry a bias only for instance
norm; InstanceNorm2d(affine=False); BatchNorm2d(affine=True, track_running_stats=True).
"""

import argparse
import json
import os

import torch
import torch.nn as nn

FORMAT = 'cyclegan-ts-onnx-fixture/1'


def norm_layer(kind, ch):
    if kind == 'instance':
        return nn.InstanceNorm2d(ch, affine=False, track_running_stats=False)
    if kind == 'batch':
        return nn.BatchNorm2d(ch, affine=True, track_running_stats=True)
    return nn.Identity()


class ResidualBlock(nn.Module):
    def __init__(self, dim, norm, dropout):
        super().__init__()
        bias = norm == 'instance'
        block = [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), norm_layer(norm, dim), nn.ReLU(True)]
        if dropout:
            block.append(nn.Dropout(0.5))
        block += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), norm_layer(norm, dim)]
        self.conv_block = nn.Sequential(*block)

    def forward(self, x):
        return x + self.conv_block(x)


class Generator(nn.Module):
    """ResnetGenerator: c7s1-ngf, two stride-2 downsamplings, n_blocks residual blocks, two upsamplings, c7s1."""

    def __init__(self, input_nc, output_nc, ngf, norm, dropout, n_blocks):
        super().__init__()
        bias = norm == 'instance'
        seq = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7, bias=bias), norm_layer(norm, ngf), nn.ReLU(True)]
        for i in range(2):
            c = ngf * 2 ** i
            seq += [nn.Conv2d(c, 2 * c, 3, stride=2, padding=1, bias=bias), norm_layer(norm, 2 * c), nn.ReLU(True)]
        seq += [ResidualBlock(ngf * 4, norm, dropout) for _ in range(n_blocks)]
        for i in range(2):
            c = ngf * 2 ** (2 - i)
            seq += [nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1, bias=bias),
                    norm_layer(norm, c // 2), nn.ReLU(True)]
        seq += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*seq)

    def forward(self, x):
        return self.model(x)


def randomise(net, gen):
    """Weights big enough that every layer matters (the official N(0, 0.02) init makes the output nearly flat)."""
    with torch.no_grad():
        for name, t in net.state_dict().items():
            if name.endswith('num_batches_tracked'):
                continue
            if name.endswith('running_var'):
                t.copy_(0.5 + torch.rand(t.shape, generator=gen))
            elif name.endswith('running_mean'):
                t.copy_(0.3 * torch.randn(t.shape, generator=gen))
            elif t.dim() == 4:
                # Variance ~1.5/fan: activations keep their scale through layers without a norm.
                t.copy_(torch.randn(t.shape, generator=gen) * (1.5 / t[0].numel()) ** 0.5)
            else:
                t.copy_(0.2 * torch.randn(t.shape, generator=gen) + (1.0 if 'weight' in name else 0.0))


class Writer:
    def __init__(self):
        self.tensors = {}
        self.chunks = []
        self.offset = 0

    def add(self, name, t):
        a = t.detach().to(torch.float32).contiguous().numpy()
        self.tensors[name] = {'shape': list(a.shape), 'offset': self.offset}
        b = a.astype('<f4').tobytes()
        self.chunks.append(b)
        self.offset += len(b)

    def save(self, out, case, description, generator):
        with open(os.path.join(out, case + '.bin'), 'wb') as f:
            f.write(b''.join(self.chunks))
        meta = {'format': FORMAT, 'case': case, 'description': description, 'generator': generator,
                'bin': case + '.bin', 'tensors': self.tensors}
        with open(os.path.join(out, case + '.json'), 'w') as f:
            json.dump(meta, f, indent=1)
            f.write('\n')


def add_case(w, net, name, x):
    w.add('input/' + name, x)
    with torch.no_grad():
        w.add('output/' + name, net.double()(x.double()))
    net.float()


def add_state(w, net):
    for k, v in net.state_dict().items():
        if not k.endswith('num_batches_tracked'):
            w.add('state/' + k, v)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', default='tests/fixtures/onnx')
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    gen = torch.Generator().manual_seed(20170330)  # CycleGAN's arXiv date

    # 1. The PyTorch-exported ONNX file.
    opts = {'netG': 'resnet_1blocks', 'inputNc': 3, 'outputNc': 3, 'ngf': 4, 'norm': 'instance', 'useDropout': False}
    net = Generator(3, 3, 4, 'instance', False, 1)
    randomise(net, gen)
    net.eval()
    example = torch.rand(1, 3, 32, 32, generator=gen) * 2 - 1
    onnx_path = os.path.join(args.out, 'resnet_tiny.onnx')
    torch.onnx.export(net, example, onnx_path, input_names=['input'], output_names=['output'],
                      dynamic_axes={'input': {0: 'N', 2: 'H', 3: 'W'}, 'output': {0: 'N', 2: 'H', 3: 'W'}},
                      opset_version=17, do_constant_folding=True, training=torch.onnx.TrainingMode.EVAL)
    import onnx
    onnx.checker.check_model(onnx.load(onnx_path))
    w = Writer()
    add_state(w, net)
    add_case(w, net, 'square', example)
    add_case(w, net, 'nonsquare', torch.rand(2, 3, 24, 40, generator=gen) * 2 - 1)
    w.save(args.out, 'resnet_tiny', 'ResnetGenerator 3->3, ngf 4, 1 block, instance norm; exported with '
           'torch.onnx.export (opset 17, dynamic N/H/W) to resnet_tiny.onnx', opts)

    # 2. Batch norm + dropout in eval() mode, for the TypeScript builder.
    opts = {'netG': 'resnet_1blocks', 'inputNc': 3, 'outputNc': 1, 'ngf': 4, 'norm': 'batch', 'useDropout': True}
    net = Generator(3, 1, 4, 'batch', True, 1)
    randomise(net, gen)
    net.eval()
    w = Writer()
    add_state(w, net)
    add_case(w, net, 'nonsquare', torch.rand(2, 3, 24, 40, generator=gen) * 2 - 1)
    w.save(args.out, 'resnet_batch_dropout_eval', 'ResnetGenerator 3->1, ngf 4, 1 block, batch norm with '
           'running statistics and dropout, in eval() mode', opts)
    for f in sorted(os.listdir(args.out)):
        print(f, os.path.getsize(os.path.join(args.out, f)))


if __name__ == '__main__':
    main()
