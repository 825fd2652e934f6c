/**
 * GenICam cameras (GigE Vision, USB3 Vision) through Aravis: `aravis-helper.py` (PyGObject, Debian's
 * gir1.2-aravis-0.8) owns the camera — settings, trigger, acquisition — and streams raw frames with
 * a JSON line each; here they are read, checked for gaps in the camera's frame numbering, and
 * encoded to JPEG for the model (libjpeg-turbo through sharp), in order, a few at a time: when the
 * encoder falls behind, frames are dropped and counted rather than queued without bound.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import type { CameraConfig } from '../../../config/camera.ts';
import type { ChildSpec, DriverEvents } from './driver.ts';

const HELPER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'aravis-helper.py');
const MAX_ENCODING = 3;

interface Header {
  t: 'open' | 'beat' | 'frame' | 'dropped' | 'error';
  bytes?: number;
  width?: number;
  height?: number;
  pixelFormat?: string;
  missed?: number;
  message?: string;
}

export function aravisSettings(camera: CameraConfig): Record<string, unknown> {
  const { device, mode, pixelFormat, exposureUs, gain, roi, frameRate, packetSize } = camera;
  return { device: device ?? null, mode, pixelFormat, exposureUs, gain, roi, frameRate, packetSize };
}

export function aravisSpec(camera: CameraConfig, python = '/usr/bin/python3'): ChildSpec {
  return {
    command: python,
    args: [HELPER, JSON.stringify(aravisSettings(camera))],
    attach(_child, events) {
      const reader = new HelperReader(events, camera.jpegQuality);
      return { stdout: (chunk) => reader.push(chunk) };
    },
  };
}

/** Reads the helper's stream: JSON lines, a frame's followed by its pixel bytes. */
export class HelperReader {
  private buffer: Buffer = Buffer.alloc(0);
  private header: Header | null = null;
  private encoding = 0;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly events: DriverEvents,
    private readonly quality: number,
  ) {}

  push(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    for (;;) {
      if (!this.header) {
        const newline = this.buffer.indexOf(0x0a);
        if (newline < 0) return;
        const line = this.buffer.subarray(0, newline).toString('utf8');
        this.buffer = this.buffer.subarray(newline + 1);
        try {
          this.header = JSON.parse(line) as Header;
        } catch {
          continue; // not ours (a library's warning on stdout): nothing of a frame is lost with it
        }
      }
      const header = this.header;
      const size = header.t === 'frame' ? (header.bytes ?? 0) : 0;
      if (this.buffer.length < size) return;
      const data = this.buffer.subarray(0, size);
      this.buffer = this.buffer.subarray(size);
      this.header = null;
      this.handle(header, data, performance.now());
    }
  }

  private handle(header: Header, data: Buffer, at: number): void {
    switch (header.t) {
      case 'open':
      case 'beat':
        this.events.up();
        return;
      case 'dropped':
        this.events.dropped(1);
        return;
      case 'error':
        this.events.down(header.message ?? 'the Aravis helper failed');
        return;
      case 'frame': {
        if (header.missed) this.events.dropped(header.missed);
        if (this.encoding >= MAX_ENCODING) {
          this.events.dropped(1);
          return;
        }
        this.encoding += 1;
        const pixels = Buffer.from(data);
        const encoded = toJpeg(pixels, header, this.quality);
        // Encoded in parallel, handed on in arrival order.
        this.chain = this.chain.then(() =>
          encoded
            .then(
              (image) => this.events.frame(image, at),
              () => this.events.dropped(1),
            )
            .finally(() => (this.encoding -= 1)),
        );
      }
    }
  }
}

function toJpeg(pixels: Buffer, header: Header, quality: number): Promise<Buffer> {
  const width = header.width ?? 0;
  const height = header.height ?? 0;
  const channels = pixels.length === width * height * 3 ? 3 : pixels.length === width * height ? 1 : 0;
  if (channels === 0) return Promise.reject(new Error(`pixel format ${header.pixelFormat} is not Mono8 or RGB8`));
  return sharp(pixels, { raw: { width, height, channels } }).jpeg({ quality }).toBuffer();
}
