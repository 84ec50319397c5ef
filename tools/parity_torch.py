#!/usr/bin/env python3
"""PyTorch reference trainer for bench/parity.ts: the official CycleGAN recipe, trained on a folder
of trainA/trainB images, saving the generators' state_dicts at chosen epochs in the official run
layout (`<epoch>_net_G_A.pth`, `<epoch>_net_G_B.pth`) for the benchmark to score.

Reference only (Debian python3-torch), never run by the product. It follows the official
pytorch-CycleGAN-and-pix2pix code path for `--model cycle_gan` with batch size 1:
  - UnalignedDataset: length max(|A|, |B|), A[index % |A|], B drawn with random.randint; a DataLoader
    shuffle (a fresh torch.randperm every epoch); num_workers 0 so the draws of one process are used;
  - get_transform: Resize([load, load], BICUBIC) -> RandomCrop(crop) -> RandomHorizontalFlip ->
    ToTensor -> Normalize(0.5, 0.5), as torchvision computes them (torch.randint crop offsets,
    torch.rand < 0.5 flip);
  - networks from tools/make_golden.py (the official layouts), init_weights 'normal' (N(0, 0.02)
    conv weights, zero biases);
  - optimize_parameters: forward, G step with D frozen (LSGAN, cycle lambda 10, identity 0.5),
    then the D step on fakes from the ImagePool (size 50, random.uniform / random.randint draws);
  - Adam(lr, betas (beta1, 0.999)) over G_A+G_B and over D_A+D_B; LambdaLR 'linear', stepped at the
    START of every epoch as the official train.py does.

  /usr/bin/python3 tools/parity_torch.py --dataroot D --out O --seed 1 --n_epochs 5 --n_epochs_decay 5 \
      --save_epochs 2,4,6,8,10 [--netG resnet_6blocks --ngf 8 --ndf 8 --load_size 28 --crop_size 24]

`--losses FILE` writes every iteration's losses as JSON lines; `--init DIR` starts from
`init_net_{G_A,G_B,D_A,D_B}.pth` instead of a fresh init (the common start of a loss comparison).
"""
import argparse
import json
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_golden import define_d, define_g, d_opts, g_opts  # noqa: E402  (the official-layout networks)

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.webp', '.tif', '.tiff')


def list_images(folder):
    return sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTENSIONS))


def init_normal(net, gain=0.02):
    """The official init_weights(init_type='normal')."""
    def init(m):
        name = m.__class__.__name__
        if hasattr(m, 'weight') and ('Conv' in name or 'Linear' in name):
            nn.init.normal_(m.weight.data, 0.0, gain)
            if getattr(m, 'bias', None) is not None:
                nn.init.constant_(m.bias.data, 0.0)
        elif 'BatchNorm2d' in name:
            nn.init.normal_(m.weight.data, 1.0, gain)
            nn.init.constant_(m.bias.data, 0.0)
    net.apply(init)


class ImagePool:
    """The official util/image_pool.py ImagePool."""

    def __init__(self, pool_size):
        self.pool_size = pool_size
        self.images = []

    def query(self, images):
        if self.pool_size == 0:
            return images
        out = []
        for image in images:
            image = torch.unsqueeze(image.data, 0)
            if len(self.images) < self.pool_size:
                self.images.append(image)
                out.append(image)
            elif random.uniform(0, 1) > 0.5:
                random_id = random.randint(0, self.pool_size - 1)
                tmp = self.images[random_id].clone()
                self.images[random_id] = image
                out.append(tmp)
            else:
                out.append(image)
        return torch.cat(out, 0)


class Transform:
    """Resize([load, load], BICUBIC) -> RandomCrop -> RandomHorizontalFlip -> ToTensor -> Normalize."""

    def __init__(self, load_size, crop_size, flip):
        self.load, self.crop, self.flip = load_size, crop_size, flip

    def __call__(self, img):
        img = img.resize((self.load, self.load), Image.BICUBIC)
        w, h = img.size
        # torchvision RandomCrop.get_params: i (top) first, then j (left).
        i = int(torch.randint(0, h - self.crop + 1, size=(1,)).item())
        j = int(torch.randint(0, w - self.crop + 1, size=(1,)).item())
        img = img.crop((j, i, j + self.crop, i + self.crop))
        if self.flip and torch.rand(1).item() < 0.5:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        x = torch.from_numpy(np.asarray(img, dtype=np.float32).copy()).permute(2, 0, 1) / 255.0
        return ((x - 0.5) / 0.5).unsqueeze(0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--dataroot', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--seed', type=int, required=True)
    ap.add_argument('--netG', default='resnet_6blocks')
    ap.add_argument('--ngf', type=int, default=8)
    ap.add_argument('--ndf', type=int, default=8)
    ap.add_argument('--load_size', type=int, required=True)
    ap.add_argument('--crop_size', type=int, required=True)
    ap.add_argument('--no_flip', action='store_true')
    ap.add_argument('--n_epochs', type=int, required=True)
    ap.add_argument('--n_epochs_decay', type=int, required=True)
    ap.add_argument('--save_epochs', required=True, help='comma-separated epochs whose end is saved')
    ap.add_argument('--pool_size', type=int, default=50)
    ap.add_argument('--lr', type=float, default=2e-4)
    ap.add_argument('--beta1', type=float, default=0.5)
    ap.add_argument('--lambda_A', type=float, default=10.0)
    ap.add_argument('--lambda_B', type=float, default=10.0)
    ap.add_argument('--lambda_identity', type=float, default=0.5)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--losses', help='write each iteration\'s losses here (JSON lines)')
    ap.add_argument('--init', help='folder with init_net_{G_A,G_B,D_A,D_B}.pth to start from')
    o = ap.parse_args()

    torch.set_num_threads(o.threads)
    random.seed(o.seed)
    np.random.seed(o.seed)
    torch.manual_seed(o.seed)

    a_paths = list_images(os.path.join(o.dataroot, 'trainA'))
    b_paths = list_images(os.path.join(o.dataroot, 'trainB'))
    if not a_paths or not b_paths:
        sys.exit(f'{o.dataroot}: trainA and trainB must hold images')
    a_imgs = [Image.open(p).convert('RGB') for p in a_paths]
    b_imgs = [Image.open(p).convert('RGB') for p in b_paths]
    length = max(len(a_imgs), len(b_imgs))
    transform = Transform(o.load_size, o.crop_size, not o.no_flip)

    go = g_opts(o.netG, o.ngf, 'instance')
    do = d_opts('basic', o.ndf, 'instance')
    nets = {'G_A': define_g(go), 'G_B': define_g(go), 'D_A': define_d(do), 'D_B': define_d(do)}
    for name, net in nets.items():
        init_normal(net)
        if o.init:
            net.load_state_dict(torch.load(os.path.join(o.init, f'init_net_{name}.pth')))
        net.train()
    G_A, G_B, D_A, D_B = nets['G_A'], nets['G_B'], nets['D_A'], nets['D_B']
    betas = (o.beta1, 0.999)
    opt_G = torch.optim.Adam(list(G_A.parameters()) + list(G_B.parameters()), lr=o.lr, betas=betas)
    opt_D = torch.optim.Adam(list(D_A.parameters()) + list(D_B.parameters()), lr=o.lr, betas=betas)

    def lambda_rule(epoch):
        return 1.0 - max(0, epoch + 1 - o.n_epochs) / float(o.n_epochs_decay + 1)

    schedulers = [torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda=lambda_rule) for opt in (opt_G, opt_D)]
    pool_A, pool_B = ImagePool(o.pool_size), ImagePool(o.pool_size)

    def gan_loss(pred, real):
        return F.mse_loss(pred, torch.full_like(pred, 1.0 if real else 0.0))

    def set_requires_grad(ns, flag):
        for n in ns:
            for p in n.parameters():
                p.requires_grad = flag

    save_epochs = {int(e) for e in o.save_epochs.split(',') if e}
    os.makedirs(o.out, exist_ok=True)
    loss_log = open(o.losses, 'w') if o.losses else None
    t0 = time.time()
    step = 0
    for epoch in range(1, o.n_epochs + o.n_epochs_decay + 1):
        for s in schedulers:  # official train.py: update_learning_rate() at the start of the epoch
            s.step()
        for index in torch.randperm(length).tolist():
            real_A = transform(a_imgs[index % len(a_imgs)])
            real_B = transform(b_imgs[random.randint(0, len(b_imgs) - 1)])
            # forward()
            fake_B = G_A(real_A)
            rec_A = G_B(fake_B)
            fake_A = G_B(real_B)
            rec_B = G_A(fake_A)
            # G step
            set_requires_grad([D_A, D_B], False)
            opt_G.zero_grad()
            idt_A = G_A(real_B)
            loss_idt_A = F.l1_loss(idt_A, real_B) * o.lambda_B * o.lambda_identity
            idt_B = G_B(real_A)
            loss_idt_B = F.l1_loss(idt_B, real_A) * o.lambda_A * o.lambda_identity
            loss_G_A = gan_loss(D_A(fake_B), True)
            loss_G_B = gan_loss(D_B(fake_A), True)
            loss_cycle_A = F.l1_loss(rec_A, real_A) * o.lambda_A
            loss_cycle_B = F.l1_loss(rec_B, real_B) * o.lambda_B
            loss_G = loss_G_A + loss_G_B + loss_cycle_A + loss_cycle_B + loss_idt_A + loss_idt_B
            loss_G.backward()
            opt_G.step()
            # D step
            set_requires_grad([D_A, D_B], True)
            opt_D.zero_grad()
            fake_B_pooled = pool_B.query(fake_B)
            loss_D_A = (gan_loss(D_A(real_B), True) + gan_loss(D_A(fake_B_pooled.detach()), False)) * 0.5
            loss_D_A.backward()
            fake_A_pooled = pool_A.query(fake_A)
            loss_D_B = (gan_loss(D_B(real_A), True) + gan_loss(D_B(fake_A_pooled.detach()), False)) * 0.5
            loss_D_B.backward()
            opt_D.step()
            step += 1
            if loss_log:
                losses = {'D_A': loss_D_A, 'G_A': loss_G_A, 'cycle_A': loss_cycle_A, 'idt_A': loss_idt_A,
                          'D_B': loss_D_B, 'G_B': loss_G_B, 'cycle_B': loss_cycle_B, 'idt_B': loss_idt_B}
                loss_log.write(json.dumps({'step': step, 'epoch': epoch,
                                           **{k: v.item() for k, v in losses.items()}}) + '\n')
        if epoch in save_epochs:
            for name in ('G_A', 'G_B'):
                tmp = os.path.join(o.out, f'.{epoch}_net_{name}.pth.tmp')
                torch.save(nets[name].state_dict(), tmp)
                os.replace(tmp, os.path.join(o.out, f'{epoch}_net_{name}.pth'))
    if loss_log:
        loss_log.close()
    print(json.dumps({'iterations': step, 'seconds': round(time.time() - t0, 2)}))


if __name__ == '__main__':
    main()
