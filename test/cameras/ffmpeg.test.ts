import { afterEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import pino from 'pino';
import sharp from 'sharp';
import { LineCamera } from '../../edge/src/cameras/camera.ts';
import { CameraSchema, type CameraConfig } from '../../config/camera.ts';
import { InspectionError } from '../../edge/src/reasons.ts';
import type { Frame } from '../../edge/src/station.ts';
import { Value } from '@sinclair/typebox/value';
import { freePort, inCI } from '../support/system.ts';
import { tempDir } from '../support/temp.ts';
import { child, ffmpegPath } from './support.ts';
import { ffmpegSpec } from '../../edge/src/cameras/ffmpeg.ts';

const ffmpeg = ffmpegPath();
const log = pino({ level: 'silent' });
const stoppers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of stoppers.splice(0).reverse()) await stop();
});

/** A camera of kind ffmpeg with the schema's defaults, collecting the frames it submits. */
function camera(options: Partial<CameraConfig>): { camera: LineCamera; frames: Frame[] } {
  const config = Value.Default(CameraSchema, {
    kind: 'ffmpeg',
    mode: 'each',
    lostAfterMs: 2000,
    reconnect: { minMs: 100, maxMs: 400 },
    ...options,
  }) as CameraConfig;
  const frames: Frame[] = [];
  const cam = new LineCamera(config, {
    station: 'st',
    frameTimeoutMs: 5000,
    submit: async (frame) => frames.push(frame),
    log,
  });
  cam.start();
  stoppers.push(() => cam.stop());
  return { camera: cam, frames };
}

async function until<T>(what: string, probe: () => T | undefined | false, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function expectJpeg(image: Buffer, width: number, height: number): Promise<void> {
  const meta = await sharp(image).metadata();
  expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', width, height]);
}

describe.skipIf(!ffmpeg)('IP cameras and files through ffmpeg', () => {
  it('takes every frame of an HTTP MJPEG stream as a part', async () => {
    const port = await freePort();
    const server = child(ffmpeg as string, [
      '-hide_banner',
      '-loglevel',
      'error',
      '-re',
      '-f',
      'lavfi',
      '-i',
      'testsrc2=size=320x240:rate=15',
      '-c:v',
      'mjpeg',
      '-f',
      'mpjpeg',
      '-listen',
      '1',
      `http://127.0.0.1:${port}/cam.mjpg`,
    ]);
    stoppers.push(() => server.stop());
    await new Promise((resolve) => setTimeout(resolve, 300));
    const { camera: cam, frames } = camera({ url: `http://127.0.0.1:${port}/cam.mjpg` });
    await until('five frames', () => frames.length >= 5);
    await expectJpeg(frames[0].image, 320, 240);
    expect(new Set(frames.map((f) => f.partId)).size).toBe(frames.length);
    expect(frames.every((f) => f.source === 'camera')).toBe(true);
    const health = cam.health.message(performance.now());
    expect(health).toMatchObject({ kind: 'ffmpeg', mode: 'each', connected: true });
    expect(health.fps).toBeGreaterThan(0);
  }, 30_000);

  it('takes frames from an RTSP camera (a loopback RTSP server)', async (context) => {
    const gi = spawnSync('/usr/bin/python3', ['-c', "import gi; gi.require_version('GstRtspServer', '1.0')"]);
    if (gi.status !== 0) {
      if (inCI)
        throw new Error(
          'CI=true and the GStreamer RTSP server bindings are missing: apt-get install gir1.2-gst-rtsp-server-1.0 python3-gi',
        );
      context.skip();
    }
    const port = await freePort();
    const server = child('/usr/bin/python3', [path.join(import.meta.dirname, 'rtsp-server.py'), String(port)]);
    stoppers.push(() => server.stop());
    await new Promise((resolve) => setTimeout(resolve, 800));
    const { frames } = camera({ url: `rtsp://127.0.0.1:${port}/cam`, input: ['-analyzeduration', '500000'] });
    await until('three frames', () => frames.length >= 3);
    await expectJpeg(frames[2].image, 320, 240);
  }, 30_000);

  it('free run from a video file: a trigger takes the frame that follows it', async () => {
    const dir = await tempDir('loupe-ffmpeg-');
    const file = path.join(dir, 'parts.mp4');
    const made = spawnSync(ffmpeg as string, [
      '-hide_banner',
      '-loglevel',
      'error',
      '-f',
      'lavfi',
      '-i',
      'testsrc2=size=256x192:rate=20',
      '-t',
      '2',
      '-c:v',
      'mpeg4',
      file,
    ]);
    expect(made.status).toBe(0);
    const { camera: cam } = camera({ url: file, mode: 'freerun', loop: true, maxAgeMs: 1000 });
    await until('the camera to connect', () => cam.health.connected);
    const image = await cam.capture('part-1');
    await expectJpeg(image, 256, 192);
  }, 30_000);

  it('answers camera_lost at once when the stream stops, and opens it again when it is back', async () => {
    const port = await freePort();
    const args = [
      '-hide_banner',
      '-loglevel',
      'error',
      '-re',
      '-f',
      'lavfi',
      '-i',
      'testsrc2=size=160x120:rate=15',
      '-c:v',
      'mjpeg',
      '-f',
      'mpjpeg',
      '-listen',
      '1',
      `http://127.0.0.1:${port}/cam.mjpg`,
    ];
    let server = child(ffmpeg as string, args);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const { camera: cam } = camera({ url: `http://127.0.0.1:${port}/cam.mjpg`, mode: 'freerun', maxAgeMs: 60_000 });
    await until('the camera to connect', () => cam.health.connected);
    const waiting = cam.capture('in-flight').then(
      () => 'paired',
      (e: unknown) => (e as InspectionError).code,
    );
    await server.stop();
    // The frame may have come before the stream stopped; if not, the part is lost with the camera.
    expect(['paired', 'camera_lost']).toContain(await waiting);
    await until('the camera to be lost', () => !cam.health.connected);
    const refused = await cam.capture('after').then(
      () => 'paired',
      (e: unknown) => (e as InspectionError).code,
    );
    expect(refused).toBe('camera_lost');
    server = child(ffmpeg as string, args);
    stoppers.push(() => server.stop());
    await until('the camera to be back', () => cam.health.connected && cam.reconnects > 0);
  }, 30_000);

  it('hardware trigger: a frame no trigger claims becomes a review of its own, unpaired_frame, never scored', async () => {
    // A camera fired by the line at 5 Hz stands in for the trigger line (ffmpeg's test pattern);
    // the PLC's trigger messages are the captures below.
    const line = Value.Default(CameraSchema, {
      kind: 'ffmpeg',
      mode: 'each',
      url: 'testsrc2=size=160x120:rate=5',
      input: ['-re', '-f', 'lavfi'],
    }) as CameraConfig;
    const config = Value.Default(CameraSchema, { kind: 'aravis', mode: 'hardware', windowMs: 150 }) as CameraConfig;
    const frames: Frame[] = [];
    const cam = new LineCamera(config, {
      station: 'st',
      frameTimeoutMs: 5000,
      submit: async (frame) => frames.push(frame),
      log,
      spec: ffmpegSpec(line),
    });
    cam.start();
    stoppers.push(() => cam.stop());
    await until('two unpaired frames', () => frames.length >= 2);
    expect(frames[0].partId).toMatch(/^st-unpaired-/);
    expect(frames[0].unfit?.reason).toBe('unpaired_frame');
    const image = await cam.capture('plc-part-1');
    await expectJpeg(image, 160, 120);
  }, 30_000);
});
