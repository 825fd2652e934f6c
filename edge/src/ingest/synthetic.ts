/**
 * The synthetic camera of the demo: emits parts at a steady rate, a configurable share of them
 * defective, made by the same generator as the synthetic datasets. It also answers triggers, like a
 * camera that takes a picture when the PLC asks.
 */
import sharp from 'sharp';
import type { Logger } from 'pino';
import { generatePart } from '../../../lab/synth.ts';
import type { Camera, Frame } from '../station.ts';

export interface SyntheticSettings {
  ratePerSecond: number;
  defectShare: number;
  seed: number;
  category: string;
}

export class SyntheticCamera implements Camera {
  private timer: NodeJS.Timeout | null = null;
  private index = 0;
  // Part ids must never repeat, also across restarts: a run prefix (start time, base 36) sees to it.
  private readonly run = Date.now().toString(36);

  constructor(
    private readonly station: string,
    private readonly settings: SyntheticSettings,
    private readonly submit: (frame: Frame) => Promise<unknown>,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.emit(), 1000 / this.settings.ratePerSecond);
    this.log.info(
      { ratePerSecond: this.settings.ratePerSecond, defectShare: this.settings.defectShare },
      'synthetic camera running',
    );
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  async capture(_partId: string): Promise<Buffer> {
    return (await this.shoot(this.index++)).image;
  }

  private async emit(): Promise<void> {
    const index = this.index++;
    const receivedAt = performance.now();
    try {
      const { image } = await this.shoot(index);
      await this.submit({
        partId: `${this.station}-${this.run}-${String(index).padStart(6, '0')}`,
        image,
        source: 'synthetic',
        receivedAt,
      });
    } catch (error) {
      this.log.error({ err: (error as Error).message }, 'synthetic camera failed');
    }
  }

  private async shoot(index: number): Promise<{ image: Buffer; defect: string | null }> {
    // Which parts are defective is decided by the seed, so a demo run is reproducible.
    const draw = fraction(this.settings.seed * 1_000_003 + index);
    const part = await generatePart({
      category: this.settings.category,
      seed: this.settings.seed,
      index,
      defect: draw < this.settings.defectShare ? undefined : null,
    });
    const image = await sharp(part.image).jpeg({ quality: 90 }).toBuffer();
    return { image, defect: part.defect };
  }
}

/** A deterministic number in [0, 1) from an integer (a hash, so neighbouring indices differ). */
function fraction(n: number): number {
  let x = (n ^ 0x9e3779b9) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b) >>> 0;
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35) >>> 0;
  return ((x ^ (x >>> 16)) >>> 0) / 2 ** 32;
}
