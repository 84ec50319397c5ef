#!/usr/bin/env python3
"""Golden reference fixtures for the TypeScript CycleGAN networks, computed with PyTorch.

Run (from the repository root; needs PyTorch, e.g. Debian's python3-torch; not run by CI,
the fixtures it writes are committed):

    /usr/bin/python3 tools/make_golden.py [--out tests/fixtures/golden]

The networks below are an independent re-implementation of the official
pytorch-CycleGAN-and-pix2pix `models/networks.py` behaviour, built so that `state_dict()` keys
are exactly the official ones: ResnetGenerator, UnetGenerator (nested UnetSkipConnectionBlocks
whose leading in-place LeakyReLU also rewrites the tensor the skip connection concatenates; this
changes nothing numerically, since every concat feeds the parent block's ReLU and
relu(leaky_relu(x)) == relu(x), which the script checks), NLayerDiscriminator and PixelDiscriminator; norm `instance` = InstanceNorm2d(affine=False,
track_running_stats=False), `batch` = BatchNorm2d(affine=True, track_running_stats=True),
`none` = Identity (still taking a Sequential index); convs before a norm carry a bias only for
`instance`. Weights are deterministic random (fixed seeds) and large enough that every
activation is non-trivial; inputs are uniform in [-1, 1]. Weights and inputs are rounded to
float32, everything is then computed in float64 and stored as float32, so the fixtures are the
exact results for the stored inputs up to one final rounding.

Output format: for every case `<case>.json` plus `<case>.bin` in the output folder.
The .bin is the concatenation of little-endian float32 tensors (row-major, PyTorch layout);
the .json is

    {"format": "cyclegan-ts-golden/1", "case": str, "description": str, "config": {...},
     "bin": "<case>.bin", "tensors": {name: {"shape": [int...], "offset": byte_offset}}}

with tensors in a meaningful order (state_dict order for parameters). Tensor names:
  input, R, output, dInput        network input, loss weights, output, d loss / d input
                                  for the scalar loss sum(output * R)
  state/<key>                     every state_dict entry before the step (num_batches_tracked
                                  as a float scalar)
  grad/<key>                      d loss / d parameter for every trainable parameter
  stateAfter/<key>                batch-norm buffers after the training-mode forward
  (cycle case) <net>/state|grad|adam/<key> for net in G_A, G_B, D_A, D_B, where `adam` is the
  state after one Adam step; images real_A, real_B, fake_B, rec_A, fake_A, rec_B, idt_A, idt_B;
  discriminator outputs "D_A(fake_B)", "D_A(real_B)", "D_B(fake_A)", "D_B(real_A)"; the loss
  terms loss_* as shape [] scalars.
The TypeScript reader is tests/helpers/golden.ts.
"""

import argparse
import json
import math
import os
import re
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

FORMAT = 'cyclegan-ts-golden/1'


# ---------------------------------------------------------------------------------------------
# Networks (state_dict keys match the official models/networks.py)


def make_norm(norm, channels):
    if norm == 'instance':
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if norm == 'batch':
        return nn.BatchNorm2d(channels, affine=True, track_running_stats=True)
    if norm == 'none':
        return nn.Identity()
    raise ValueError(f'unknown norm {norm!r}')


def conv_bias(norm):
    # Only instance norm lacks an affine shift, so only then do the convs before it need a bias.
    return norm == 'instance'


class ResnetBlock(nn.Module):
    def __init__(self, dim, norm, use_dropout):
        super().__init__()
        bias = conv_bias(norm)
        layers = [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), make_norm(norm, dim), nn.ReLU(True)]
        if use_dropout:
            layers.append(nn.Dropout(0.5))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), make_norm(norm, dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    def __init__(self, input_nc, output_nc, ngf, norm, use_dropout, n_blocks):
        super().__init__()
        bias = conv_bias(norm)
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7, bias=bias), make_norm(norm, ngf), nn.ReLU(True)]
        ch = ngf
        for _ in range(2):
            layers += [nn.Conv2d(ch, ch * 2, 3, stride=2, padding=1, bias=bias), make_norm(norm, ch * 2), nn.ReLU(True)]
            ch *= 2
        layers += [ResnetBlock(ch, norm, use_dropout) for _ in range(n_blocks)]
        for _ in range(2):
            layers += [
                nn.ConvTranspose2d(ch, ch // 2, 3, stride=2, padding=1, output_padding=1, bias=bias),
                make_norm(norm, ch // 2),
                nn.ReLU(True),
            ]
            ch //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


class UnetBlock(nn.Module):
    """One UnetSkipConnectionBlock; `leaky_inplace=False` only serves the equivalence check in net_case."""

    def __init__(self, outer_nc, inner_nc, norm, input_nc=None, sub=None, outermost=False, innermost=False,
                 use_dropout=False, leaky_inplace=True):
        super().__init__()
        self.outermost = outermost
        bias = conv_bias(norm)
        down = nn.Conv2d(outer_nc if input_nc is None else input_nc, inner_nc, 4, stride=2, padding=1, bias=bias)
        if outermost:
            up = nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, stride=2, padding=1)
            layers = [down, sub, nn.ReLU(True), up, nn.Tanh()]
        elif innermost:
            up = nn.ConvTranspose2d(inner_nc, outer_nc, 4, stride=2, padding=1, bias=bias)
            layers = [nn.LeakyReLU(0.2, leaky_inplace), down, nn.ReLU(True), up, make_norm(norm, outer_nc)]
        else:
            up = nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, stride=2, padding=1, bias=bias)
            layers = [nn.LeakyReLU(0.2, leaky_inplace), down, make_norm(norm, inner_nc), sub, nn.ReLU(True), up,
                      make_norm(norm, outer_nc)]
            if use_dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        if self.outermost:
            return self.model(x)
        # With the in-place LeakyReLU, x has already been rewritten when it is concatenated here.
        return torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    def __init__(self, input_nc, output_nc, num_downs, ngf, norm, use_dropout, leaky_inplace=True):
        super().__init__()
        kw = dict(norm=norm, leaky_inplace=leaky_inplace)
        block = UnetBlock(ngf * 8, ngf * 8, innermost=True, **kw)
        for _ in range(num_downs - 5):
            block = UnetBlock(ngf * 8, ngf * 8, sub=block, use_dropout=use_dropout, **kw)
        block = UnetBlock(ngf * 4, ngf * 8, sub=block, **kw)
        block = UnetBlock(ngf * 2, ngf * 4, sub=block, **kw)
        block = UnetBlock(ngf, ngf * 2, sub=block, **kw)
        self.model = UnetBlock(output_nc, ngf, input_nc=input_nc, sub=block, outermost=True, **kw)

    def forward(self, x):
        return self.model(x)


class NLayerDiscriminator(nn.Module):
    def __init__(self, input_nc, ndf, n_layers, norm):
        super().__init__()
        bias = conv_bias(norm)
        layers = [nn.Conv2d(input_nc, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2 ** n, 8)
            stride = 2 if n < n_layers else 1
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=stride, padding=1, bias=bias),
                       make_norm(norm, ndf * mult), nn.LeakyReLU(0.2, True)]
        layers.append(nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


class PixelDiscriminator(nn.Module):
    def __init__(self, input_nc, ndf, norm):
        super().__init__()
        bias = conv_bias(norm)
        self.net = nn.Sequential(
            nn.Conv2d(input_nc, ndf, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, 1, bias=bias), make_norm(norm, ndf * 2), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 2, 1, 1, bias=bias))

    def forward(self, x):
        return self.net(x)


def define_g(o, leaky_inplace=True):
    """Generator from GeneratorOptions-shaped config (the camelCase names of core/arch/spec.ts)."""
    m = re.fullmatch(r'resnet_(\d+)blocks', o['netG'])
    if m:
        return ResnetGenerator(o['inputNc'], o['outputNc'], o['ngf'], o['norm'], o['useDropout'], int(m.group(1)))
    downs = {'unet_128': 7, 'unet_256': 8}[o['netG']]
    return UnetGenerator(o['inputNc'], o['outputNc'], downs, o['ngf'], o['norm'], o['useDropout'], leaky_inplace)


def define_d(o):
    if o['netD'] == 'basic':
        return NLayerDiscriminator(o['inputNc'], o['ndf'], 3, o['norm'])
    if o['netD'] == 'n_layers':
        return NLayerDiscriminator(o['inputNc'], o['ndf'], o['nLayersD'], o['norm'])
    return PixelDiscriminator(o['inputNc'], o['ndf'], o['norm'])


def g_opts(netG, ngf, norm, input_nc=3, output_nc=3):
    return {'netG': netG, 'inputNc': input_nc, 'outputNc': output_nc, 'ngf': ngf, 'norm': norm, 'useDropout': False}


def d_opts(netD, ndf, norm, n_layers=3, input_nc=3):
    return {'netD': netD, 'inputNc': input_nc, 'ndf': ndf, 'nLayersD': n_layers, 'norm': norm}


# ---------------------------------------------------------------------------------------------
# Weights and fixture writing


@torch.no_grad()
def randomize(net):
    """He-scaled normal conv weights (std ~0.06-0.2 here), N(0, 0.1) biases, non-trivial batch-norm state."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            k = m.kernel_size[0] * m.kernel_size[1]
            if isinstance(m, nn.Conv2d):
                fan_in = m.in_channels * k
            else:  # each output of a strided transposed conv sees about k / stride^2 taps per input channel
                fan_in = m.in_channels * k / (m.stride[0] * m.stride[1])
            m.weight.normal_(0.0, math.sqrt(2.0 / fan_in))
            if m.bias is not None:
                m.bias.normal_(0.0, 0.1)
        elif isinstance(m, nn.BatchNorm2d):
            m.weight.normal_(1.0, 0.1)
            m.bias.normal_(0.0, 0.1)
            m.running_mean.normal_(0.0, 0.1)
            m.running_var.uniform_(0.75, 1.5)
    for t in net.state_dict().values():
        t.copy_(as_f32(t))


def as_f32(t):
    # Values are rounded to float32 up front, so the stored float32 inputs and weights are exactly
    # what the float64 computation used.
    return t.to(torch.float32).to(t.dtype)


def uniform_input(shape):
    return as_f32(torch.rand(shape) * 2 - 1)


class Fixture:
    def __init__(self, case, description, config):
        self.case, self.description, self.config = case, description, config
        self.tensors = {}

    def add(self, name, t):
        if name in self.tensors:
            raise KeyError(f'{self.case}: duplicate tensor {name}')
        self.tensors[name] = t.detach().to(torch.float32).contiguous().cpu().clone()

    def add_state(self, prefix, state):
        for key, t in state.items():
            self.add(f'{prefix}{key}', t)

    def write(self, out_dir):
        blobs, entries, offset = [], {}, 0
        for name, t in self.tensors.items():
            data = t.numpy().astype('<f4').tobytes()
            entries[name] = {'shape': list(t.shape), 'offset': offset}
            blobs.append(data)
            offset += len(data)
        doc = {'format': FORMAT, 'case': self.case, 'description': self.description, 'config': self.config,
               'bin': f'{self.case}.bin', 'tensors': entries}
        write_atomic(os.path.join(out_dir, f'{self.case}.bin'), b''.join(blobs))
        write_atomic(os.path.join(out_dir, f'{self.case}.json'), format_json(doc).encode())
        return offset


def format_json(doc):
    """JSON with one line per config entry and per tensor, so diffs of regenerated fixtures stay readable."""
    def block(d, indent):
        if not d:
            return '{}'
        pad = ' ' * indent
        items = [f'{pad}  {json.dumps(k)}: {json.dumps(v)}' for k, v in d.items()]
        return '{\n' + ',\n'.join(items) + f'\n{pad}}}'

    parts = [f'  {json.dumps(k)}: {block(v, 2) if k in ("config", "tensors") else json.dumps(v)}' for k, v in doc.items()]
    return '{\n' + ',\n'.join(parts) + '\n}\n'


def write_atomic(path, data):
    tmp = f'{path}.tmp{os.getpid()}'
    with open(tmp, 'wb') as f:
        f.write(data)
    os.replace(tmp, path)


def state_copy(net):
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def trainable_keys(net):
    params = dict(net.named_parameters())
    return [k for k in net.state_dict().keys() if k in params]


def check_nontrivial(case, name, t, saturating=False):
    """Fail loudly if a fixture tensor is degenerate, so a weak fixture never gets committed."""
    t = t.detach()
    std = t.std().item()
    if not math.isfinite(std) or std < 1e-3:
        raise RuntimeError(f'{case}: {name} is degenerate (std {std})')
    if saturating:
        frac = (t.abs() > 0.99).double().mean().item()
        if frac > 0.25:
            raise RuntimeError(f'{case}: {name} saturates tanh on {frac:.0%} of elements')
    return std


# ---------------------------------------------------------------------------------------------
# Cases


def net_case(case, description, kind, opts, input_shape, seed):
    """Training-mode forward of one network and the backward of sum(output * R)."""
    torch.manual_seed(seed)
    net = define_g(opts) if kind == 'generator' else define_d(opts)
    randomize(net)
    net.train()
    before = state_copy(net)
    x = uniform_input(input_shape).requires_grad_(True)
    y = net(x)
    r = as_f32(torch.randn(y.shape))
    (y * r).sum().backward()

    config = {'kind': kind, kind: opts, 'training': True, 'loss': 'sum(output * R)'}
    m = re.fullmatch(r'resnet_(\d+)blocks', opts.get('netG', ''))
    if m:
        config['nBlocks'] = int(m.group(1))
    if kind == 'discriminator':
        config['nLayers'] = {'basic': 3, 'n_layers': opts['nLayersD'], 'pixel': None}[opts['netD']]
    fx = Fixture(case, description, config)
    fx.add('input', x)
    fx.add('R', r)
    fx.add('output', y)
    fx.add('dInput', x.grad)
    fx.add_state('state/', before)
    params = dict(net.named_parameters())
    for key in trainable_keys(net):
        fx.add(f'grad/{key}', params[key].grad)
    after = net.state_dict()
    for key in after:
        if key.endswith(('running_mean', 'running_var', 'num_batches_tracked')):
            fx.add(f'stateAfter/{key}', after[key])

    stats = [f'out std {check_nontrivial(case, "output", y, saturating=kind == "generator"):.3f}',
             f'dInput std {check_nontrivial(case, "dInput", x.grad):.3g}']
    if opts.get('netG', '').startswith('unet'):
        # The official in-place LeakyReLU also rewrites the skip tensor, but every concat feeds the parent
        # block's ReLU and relu(leaky_relu(x)) == relu(x), so output and gradients equal the out-of-place
        # variant. Check that, so a spec that puts the LeakyReLU on either side of the skip is right.
        torch.manual_seed(seed)
        plain = define_g(opts, leaky_inplace=False)
        plain.load_state_dict(before)
        plain.train()
        diff = (plain(x.detach()) - y.detach()).abs().max().item()
        if diff > 1e-9:
            raise RuntimeError(f'{case}: in-place LeakyReLU changes the output by {diff}')
        stats.append(f'in-place vs out-of-place LeakyReLU max diff {diff:.1e}')
    return fx, stats


def d_shape_case(case, seed):
    """PatchGAN receptive-field sanity: a 256x256 input gives a 30x30 map. Shapes only, no tensors."""
    torch.manual_seed(seed)
    opts = d_opts('basic', 8, 'instance')
    net = define_d(opts)
    randomize(net)
    shape = [1, 3, 256, 256]
    with torch.no_grad():
        y = net(uniform_input(shape))
    config = {'kind': 'discriminatorShape', 'discriminator': opts, 'nLayers': 3, 'inputShape': shape,
              'outputShape': list(y.shape)}
    if list(y.shape) != [1, 1, 30, 30]:
        raise RuntimeError(f'{case}: expected a 30x30 patch map, got {list(y.shape)}')
    return Fixture(case, '70x70 PatchGAN on a 256x256 input: output shape only', config), [f'out {list(y.shape)}']


def cycle_case(case, seed):
    """One official CycleGAN optimize_parameters() step (cycle_gan_model.py), pool size 0."""
    torch.manual_seed(seed)
    go = g_opts('resnet_2blocks', 8, 'instance')
    do = d_opts('basic', 8, 'instance')
    hp = {'lambdaA': 10.0, 'lambdaB': 10.0, 'lambdaIdentity': 0.5, 'ganMode': 'lsgan', 'poolSize': 0,
          'lr': 2e-4, 'beta1': 0.5, 'beta2': 0.999, 'eps': 1e-8, 'batchSize': 1}
    nets = {'G_A': define_g(go), 'G_B': define_g(go), 'D_A': define_d(do), 'D_B': define_d(do)}
    for net in nets.values():
        randomize(net)
        net.train()
    G_A, G_B, D_A, D_B = nets['G_A'], nets['G_B'], nets['D_A'], nets['D_B']
    before = {n: state_copy(net) for n, net in nets.items()}
    real_A = uniform_input([1, 3, 32, 32])
    real_B = uniform_input([1, 3, 32, 32])
    opt_G = torch.optim.Adam(list(G_A.parameters()) + list(G_B.parameters()), lr=hp['lr'],
                             betas=(hp['beta1'], hp['beta2']), eps=hp['eps'])
    opt_D = torch.optim.Adam(list(D_A.parameters()) + list(D_B.parameters()), lr=hp['lr'],
                             betas=(hp['beta1'], hp['beta2']), eps=hp['eps'])

    def gan_loss(pred, real):
        # LSGAN: MSE against a constant target of the prediction's shape.
        return F.mse_loss(pred, torch.full_like(pred, 1.0 if real else 0.0))

    def set_requires_grad(ns, flag):
        for n in ns:
            for p in n.parameters():
                p.requires_grad_(flag)

    # forward()
    fake_B = G_A(real_A)
    rec_A = G_B(fake_B)
    fake_A = G_B(real_B)
    rec_B = G_A(fake_A)
    # G step with the discriminators frozen.
    set_requires_grad([D_A, D_B], False)
    opt_G.zero_grad()
    lam_idt = hp['lambdaIdentity']
    idt_A = G_A(real_B)
    loss_idt_A = F.l1_loss(idt_A, real_B) * hp['lambdaB'] * lam_idt
    idt_B = G_B(real_A)
    loss_idt_B = F.l1_loss(idt_B, real_A) * hp['lambdaA'] * lam_idt
    pred_fake_B = D_A(fake_B)
    loss_G_A = gan_loss(pred_fake_B, True)
    pred_fake_A = D_B(fake_A)
    loss_G_B = gan_loss(pred_fake_A, True)
    loss_cycle_A = F.l1_loss(rec_A, real_A) * hp['lambdaA']
    loss_cycle_B = F.l1_loss(rec_B, real_B) * hp['lambdaB']
    loss_G = loss_G_A + loss_G_B + loss_cycle_A + loss_cycle_B + loss_idt_A + loss_idt_B
    loss_G.backward()
    g_grads = {n: {k: dict(nets[n].named_parameters())[k].grad.clone() for k in trainable_keys(nets[n])}
               for n in ('G_A', 'G_B')}
    opt_G.step()
    # D step on the fakes produced before the G step (pool of size 0 returns them unchanged).
    set_requires_grad([D_A, D_B], True)
    opt_D.zero_grad()

    def backward_d(net, real, fake):
        pred_real = net(real)
        pred_fake = net(fake.detach())
        loss = (gan_loss(pred_real, True) + gan_loss(pred_fake, False)) * 0.5
        loss.backward()
        return loss, pred_real

    loss_D_A, pred_real_B = backward_d(D_A, real_B, fake_B)
    loss_D_B, pred_real_A = backward_d(D_B, real_A, fake_A)
    d_grads = {n: {k: dict(nets[n].named_parameters())[k].grad.clone() for k in trainable_keys(nets[n])}
               for n in ('D_A', 'D_B')}
    opt_D.step()

    config = {'kind': 'cycleGan', 'generator': go, 'discriminator': do, 'nBlocks': 2, 'nLayers': 3, **hp,
              'order': 'forward; G step (D frozen) on loss_G; D step on fakes from before the G step',
              'note': 'conv biases right before an instance norm have a mathematically zero gradient (float64 '
                      'here: ~1e-16, so no Adam move); in float32 their gradient is rounding noise and one Adam '
                      'step moves them by up to lr'}
    fx = Fixture(case, 'One CycleGAN training iteration: losses, gradients and one Adam step', config)
    for name, t in [('real_A', real_A), ('real_B', real_B), ('fake_B', fake_B), ('rec_A', rec_A),
                    ('fake_A', fake_A), ('rec_B', rec_B), ('idt_A', idt_A), ('idt_B', idt_B),
                    ('D_A(fake_B)', pred_fake_B), ('D_A(real_B)', pred_real_B),
                    ('D_B(fake_A)', pred_fake_A), ('D_B(real_A)', pred_real_A),
                    ('loss_G_A', loss_G_A), ('loss_G_B', loss_G_B), ('loss_cycle_A', loss_cycle_A),
                    ('loss_cycle_B', loss_cycle_B), ('loss_idt_A', loss_idt_A), ('loss_idt_B', loss_idt_B),
                    ('loss_G', loss_G), ('loss_D_A', loss_D_A), ('loss_D_B', loss_D_B)]:
        fx.add(name, t)
    grads = {**g_grads, **d_grads}
    for n, net in nets.items():
        fx.add_state(f'{n}/state/', before[n])
        for k, g in grads[n].items():
            fx.add(f'{n}/grad/{k}', g)
        fx.add_state(f'{n}/adam/', net.state_dict())
    check_nontrivial(case, 'fake_B', fake_B, saturating=True)
    check_nontrivial(case, 'fake_A', fake_A, saturating=True)
    stats = [f'loss_G {loss_G.item():.4f}', f'loss_D_A {loss_D_A.item():.4f}', f'loss_D_B {loss_D_B.item():.4f}']
    return fx, stats


def all_cases():
    G, D = 'generator', 'discriminator'
    yield net_case('g_resnet_instance', 'ResnetGenerator, 2 blocks, instance norm', G,
                   g_opts('resnet_2blocks', 8, 'instance'), [2, 3, 32, 32], 101)
    yield net_case('g_resnet_gray', 'ResnetGenerator, 1 block, 1 -> 1 channel', G,
                   g_opts('resnet_1blocks', 4, 'instance', 1, 1), [2, 1, 32, 32], 102)
    yield net_case('g_resnet_batch', 'ResnetGenerator, batch norm in training mode (batch statistics)', G,
                   g_opts('resnet_1blocks', 4, 'batch'), [2, 3, 32, 32], 103)
    yield net_case('g_resnet_none', 'ResnetGenerator without normalisation (and so without conv biases)', G,
                   g_opts('resnet_1blocks', 4, 'none'), [2, 3, 32, 32], 104)
    yield net_case('g_resnet_nonsquare', 'ResnetGenerator on a 24x40 input', G,
                   g_opts('resnet_1blocks', 4, 'instance'), [1, 3, 24, 40], 105)
    yield net_case('g_unet128', 'unet_128, instance norm, in-place LeakyReLU feeding the skips', G,
                   g_opts('unet_128', 2, 'instance', 1, 1), [1, 1, 128, 128], 106)
    yield net_case('g_unet256', 'unet_256, batch norm in training mode, in-place LeakyReLU feeding the skips', G,
                   g_opts('unet_256', 1, 'batch', 1, 1), [1, 1, 256, 256], 107)
    yield net_case('d_basic', 'basic 70x70 PatchGAN (3 layers), instance norm', D,
                   d_opts('basic', 8, 'instance'), [2, 3, 32, 32], 201)
    yield d_shape_case('d_basic_256_shape', 202)
    yield net_case('d_nlayers2_batch', 'n_layers discriminator with 2 layers, batch norm in training mode', D,
                   d_opts('n_layers', 8, 'batch', 2), [2, 3, 32, 32], 203)
    yield net_case('d_nlayers4_none', 'n_layers discriminator with 4 layers, no normalisation', D,
                   d_opts('n_layers', 2, 'none', 4), [1, 3, 64, 64], 204)
    yield net_case('d_pixel_instance', 'PixelGAN discriminator, instance norm', D,
                   d_opts('pixel', 8, 'instance'), [2, 3, 16, 16], 205)
    yield net_case('d_pixel_batch', 'PixelGAN discriminator, batch norm (last conv without bias)', D,
                   d_opts('pixel', 8, 'batch'), [2, 3, 16, 16], 206)
    yield cycle_case('cycle_iteration', 301)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', default=os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests',
                                                  'fixtures', 'golden'))
    args = ap.parse_args()
    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    written, total = set(), 0
    for fx, stats in all_cases():
        size = fx.write(args.out)
        written |= {f'{fx.case}.json', f'{fx.case}.bin'}
        total += size
        print(f'{fx.case:20s} {size / 1024:7.1f} KiB  ' + ', '.join(stats))
    for name in os.listdir(args.out):  # drop fixtures of cases that no longer exist
        if name.endswith(('.json', '.bin')) and name not in written:
            os.remove(os.path.join(args.out, name))
    print(f'total {total / 1024 / 1024:.2f} MiB of tensors in {os.path.normpath(args.out)}')


if __name__ == '__main__':
    sys.exit(main())
