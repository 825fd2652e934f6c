import { describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import { checkConfig, ConfigError } from '../../config/load.ts';
import { repoRoot } from '../support/loupe.ts';

function problems(camera: unknown): string[] {
  try {
    checkConfig({ stations: [{ id: 'a', camera }] }, 'test.yaml', {}, {});
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('camera options in the configuration', () => {
  it('accepts a worked example of each kind, with defaults filled', () => {
    expect(
      problems({
        kind: 'aravis',
        mode: 'software',
        device: 'Basler-21234567',
        pixelFormat: 'Mono8',
        exposureUs: 800,
        gain: 2,
        roi: { x: 0, y: 0, width: 1280, height: 1024 },
      }),
    ).toEqual([]);
    expect(problems({ kind: 'aravis', mode: 'hardware', device: '192.168.10.20', windowMs: 80 })).toEqual([]);
    expect(problems({ kind: 'ffmpeg', mode: 'freerun', url: 'rtsp://192.168.10.30/stream1' })).toEqual([]);
    const config = checkConfig(
      { stations: [{ id: 'a', camera: { kind: 'ffmpeg', mode: 'each', url: '/dev/video0' } }] },
      'x',
      {},
      {},
    );
    expect(config.stations[0].camera).toMatchObject({
      name: 'camera',
      maxAgeMs: 500,
      lostAfterMs: 3000,
      reconnect: { minMs: 500, maxMs: 30000 },
      rtspTransport: 'tcp',
    });
  });

  it('names the key, the value and what is allowed', () => {
    expect(problems({ kind: 'gige', mode: 'software' })).toEqual([
      'stations[0].camera.kind: got "gige"; allowed: "aravis" or "ffmpeg"',
    ]);
    expect(problems({ kind: 'aravis', mode: 'software', pixelFormat: 'Bayer' })).toEqual([
      'stations[0].camera.pixelFormat: got "Bayer"; allowed: "Mono8" or "RGB8"',
    ]);
    expect(problems({ kind: 'aravis', mode: 'software', exposure: 5 })[0]).toMatch(
      /^stations\[0\]\.camera\.exposure: unknown key; allowed keys: kind, name, mode, device,/,
    );
  });

  it('refuses options that do not fit the kind', () => {
    expect(problems({ kind: 'ffmpeg', mode: 'freerun' })).toEqual([
      'stations[0].camera.url: missing; allowed: rtsp://…, http://…, /dev/videoN or a file, required when kind is ffmpeg',
    ]);
    expect(problems({ kind: 'ffmpeg', mode: 'software', url: 'rtsp://x/y' })[0]).toMatch(
      /^stations\[0\]\.camera\.mode: got "software"; allowed: freerun or each when kind is ffmpeg/,
    );
    expect(problems({ kind: 'ffmpeg', mode: 'freerun', url: 'rtsp://x/y', exposureUs: 100 })).toEqual([
      "stations[0].camera.exposureUs: got 100; allowed: only when kind is aravis (set the stream's own settings in the IP camera)",
    ]);
    expect(problems({ kind: 'aravis', mode: 'freerun', url: 'rtsp://x/y' })[0]).toMatch(
      /^stations\[0\]\.camera\.url: got "rtsp:\/\/x\/y"; allowed: only when kind is ffmpeg/,
    );
    expect(problems({ kind: 'aravis', mode: 'freerun', reconnect: { minMs: 5000, maxMs: 1000 } })).toEqual([
      'stations[0].camera.reconnect: got minMs 5000 > maxMs 1000; allowed: minMs <= maxMs',
    ]);
  });

  it('checks several views: each its own name, no station thresholds, a trigger for every view', () => {
    const view = (name: string, extra: object = {}) => ({
      kind: 'ffmpeg',
      mode: 'freerun',
      name,
      url: 'rtsp://x/' + name,
      ...extra,
    });
    const check = (station: object) => {
      try {
        checkConfig({ stations: [{ id: 'a', ...station }] }, 'test.yaml', {}, {});
        return [];
      } catch (error) {
        return (error as ConfigError).problems;
      }
    };
    expect(
      check({
        cameras: [view('top', { model: 'models/top', thresholds: { passBelow: 1, rejectAbove: 2 } }), view('side')],
      }),
    ).toEqual([]);
    expect(check({ cameras: [view('top'), view('top')] })).toEqual([
      'stations[0].cameras[1].name: got "top"; allowed: a name no other view of the station has',
    ]);
    expect(check({ thresholds: { passBelow: 1, rejectAbove: 2 }, cameras: [view('top'), view('side')] })[0]).toMatch(
      /^stations\[0\]\.thresholds: .*set thresholds per view/,
    );
    expect(check({ cameras: [view('top', { mode: 'each' }), view('side')] })[0]).toMatch(
      /^stations\[0\]\.cameras\[0\]\.mode: got "each"/,
    );
    expect(check({ camera: view('top', { model: 'm' }) })[0]).toMatch(
      /^stations\[0\]\.camera\.model: .*only for a view in cameras\[\]/,
    );
  });

  it('runs the demo on a camera by uncommenting one line of the shipped config', async () => {
    const text = await readFile(path.join(repoRoot, 'config', 'loupe.yaml'), 'utf8');
    const lines = text.split('\n');
    const commented = lines.filter((line) => /^\s*# camera: /.test(line));
    expect(commented).toHaveLength(1);
    const changed = lines
      .map((line) => (line === commented[0] ? line.replace('# camera:', 'camera:') : line))
      .join('\n');
    const config = checkConfig(parse(changed), 'loupe.yaml', {}, {});
    expect(config.stations[0].camera).toMatchObject({ kind: 'ffmpeg', mode: 'each' });
  });
});
