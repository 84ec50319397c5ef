import { generatorSpec, discriminatorSpec, paramSpecs, sizeMultiple, type NetworkSpec } from '../../../core/arch/spec';
import { outputShape } from '../../../core/arch/flops';

const gen = (netG: string, extra: Partial<Parameters<typeof generatorSpec>[0]> = {}) =>
  generatorSpec({ netG, inputNc: 3, outputNc: 3, ngf: 64, norm: 'instance', useDropout: false, ...extra });
const disc = (netD: 'basic' | 'n_layers' | 'pixel', extra: Partial<Parameters<typeof discriminatorSpec>[0]> = {}) =>
  discriminatorSpec({ netD, inputNc: 3, ndf: 64, nLayersD: 3, norm: 'instance', ...extra });

/** Trainable parameter count, as the official code prints it at start-up. */
function trainableCount(spec: NetworkSpec): number {
  return paramSpecs(spec)
    .filter((p) => p.trainable)
    .reduce((a, p) => a + p.shape.reduce((x, y) => x * y, 1), 0);
}

describe('architecture spec', () => {
  // The official repo prints these at start-up ("Total number of parameters : 11.378 M" etc.).
  test.each([
    ['resnet_9blocks', 'instance', 11.378],
    // 11.378 M minus three residual blocks of 2 × (256·256·9 + 256) parameters.
    ['resnet_6blocks', 'instance', 7.838],
    // pix2pix's default U-Net uses batch norm.
    ['unet_256', 'batch', 54.414],
  ] as const)('%s (%s norm, ngf 64) has the official %s M parameters', (netG, norm, millions) => {
    expect(trainableCount(gen(netG, { norm })) / 1e6).toBeCloseTo(millions, 3);
  });

  test('basic PatchGAN with ndf 64 has the official 2.765 M parameters', () => {
    expect(trainableCount(disc('basic')) / 1e6).toBeCloseTo(2.765, 3);
  });

  test('70×70 PatchGAN maps 256×256 to 30×30 and 32×32 to 2×2', () => {
    const d = disc('basic');
    expect(outputShape(d.layers, { c: 3, h: 256, w: 256 })).toEqual({ c: 1, h: 30, w: 30 });
    expect(outputShape(d.layers, { c: 3, h: 32, w: 32 })).toEqual({ c: 1, h: 2, w: 2 });
  });

  test.each(['resnet_9blocks', 'resnet_2blocks', 'unet_128', 'unet_256'])('%s preserves the input size', (netG) => {
    const g = gen(netG, { ngf: 8, outputNc: 1 });
    const side = netG === 'unet_256' ? 256 : 128;
    expect(outputShape(g.layers, { c: 3, h: side, w: side * 2 })).toEqual({ c: 1, h: side, w: side * 2 });
  });

  test('size multiples: 4 for ResNet generators, 2^downs for U-Nets', () => {
    expect(sizeMultiple(gen('resnet_9blocks'))).toBe(4);
    expect(sizeMultiple(gen('unet_128'))).toBe(128);
    expect(sizeMultiple(gen('unet_256'))).toBe(256);
  });

  test('bias rule: only with instance norm, last convs always', () => {
    const keys = (s: NetworkSpec) => paramSpecs(s).map((p) => p.key);
    expect(keys(gen('resnet_1blocks', { norm: 'instance' }))).toContain('model.1.bias');
    const none = keys(gen('resnet_1blocks', { norm: 'none' }));
    expect(none).not.toContain('model.1.bias');
    expect(none).toContain('model.18.bias'); // final 7×7 conv (model.19 is the Tanh)
    const batch = keys(gen('resnet_1blocks', { norm: 'batch' }));
    expect(batch).toEqual(
      expect.arrayContaining(['model.2.weight', 'model.2.running_var', 'model.10.conv_block.6.bias']),
    );
    expect(batch).not.toContain('model.1.bias');
    const d = keys(disc('basic', { norm: 'batch' }));
    expect(d).toEqual(expect.arrayContaining(['model.0.bias', 'model.11.bias']));
    expect(d).not.toContain('model.2.bias');
  });

  test('dropout shifts the second conv of a residual block to index 6, as in the official Sequential', () => {
    const keys = paramSpecs(gen('resnet_1blocks', { useDropout: true })).map((p) => p.key);
    expect(keys).toContain('model.10.conv_block.6.weight');
    expect(keys).not.toContain('model.10.conv_block.5.weight');
  });

  test('unknown architectures are rejected with the accepted names', () => {
    expect(() => gen('resnet_x')).toThrow(/unknown generator architecture 'resnet_x'/);
    expect(() => disc('patch' as 'basic')).toThrow(/unknown discriminator/);
  });
});
