/**
 * Backpressure: frames arriving twice as fast as the station can inspect them. The overflow is
 * never dropped and never passed: every part id gets a result, and parts that were not inspected
 * go to review with reason `overload`.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Result, Status } from '../../contract/payloads.ts';
import { Collector } from '../support/collector.ts';
import { startLoupe, writeConfig, type LoupeProcess } from '../support/loupe.ts';
import { defectivePart, goodPart } from '../support/parts.ts';
import { tempDir } from '../support/temp.ts';

describe('overload', () => {
  let loupe: LoupeProcess;
  let collector: Collector;
  const images: Buffer[] = [];

  beforeAll(async () => {
    const dir = await tempDir('loupe-overload-');
    const { file } = await writeConfig(
      {
        line: 'line-o',
        dataDir: path.join(dir, 'data'),
        mqtt: { port: 0 },
        http: { port: 0 },
        stations: [{ id: 'cam-o', queue: { maxDepth: 8, concurrency: 2 }, review: { deadlineSeconds: 600 } }],
      },
      dir,
    );
    loupe = await startLoupe('start', ['--config', file]);
    collector = await Collector.connect(loupe.mqttUrl, ['loupe/line-o/cam-o/result', 'loupe/line-o/cam-o/status']);
    await collector.stationOnline('loupe/line-o/cam-o');
    for (let i = 0; i < 8; i++) images.push(i % 4 === 3 ? await defectivePart(i, 'scratch') : await goodPart(i));
  });
  afterAll(async () => {
    await collector?.close();
    await loupe?.stop();
  });

  // Results by part id, read as they come: the flood brings thousands, and parsing them all again on
  // every message made the test slower than the station (quadratic) once saturation was high.
  const seen = new Map<string, Result>();
  let read = 0;
  const results = () => {
    for (; read < collector.messages.length; read++) {
      const { topic, payload } = collector.messages[read];
      if (!topic.endsWith('/result')) continue;
      const result = JSON.parse(payload.toString()) as Result;
      seen.set(result.partId, result);
    }
    return seen;
  };
  const send = (partId: string, i: number) =>
    collector.client.publish(`loupe/line-o/cam-o/frame/${partId}`, images[i % images.length], { qos: 1 });

  it('gives every part a result at twice the saturation rate for ten seconds, and passes none without inspecting it', async () => {
    // Saturation: keep the station's queue busy (but short of full) for three seconds and count what comes back.
    const probeStart = performance.now();
    let sent = 0;
    while (performance.now() - probeStart < 3000) {
      const done = [...results().keys()].filter((id) => id.startsWith('probe-')).length;
      while (sent - done < 8) send(`probe-${sent}`, sent++);
      await new Promise((r) => setTimeout(r, 5));
    }
    await collector.waitFor(
      'probe results',
      () => [...results().keys()].filter((id) => id.startsWith('probe-')).length === sent,
    );
    const saturation = sent / ((performance.now() - probeStart) / 1000);

    const rate = saturation * 2;
    const total = Math.round(rate * 10);
    const start = performance.now();
    for (let i = 0; i < total; i++) {
      const wait = start + (i * 1000) / rate - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      send(`o-${i}`, i);
    }
    let firstMissing = 0;
    const all = await collector.waitFor(
      `${total} results`,
      () => {
        const r = results();
        while (firstMissing < total && r.has(`o-${firstMissing}`)) firstMissing++;
        return firstMissing === total && r;
      },
      60_000,
    );

    const outcomes = [...Array(total).keys()].map((i) => all.get(`o-${i}`) as Result);
    const overloaded = outcomes.filter((r) => r.reasons.includes('overload'));
    const inspected = outcomes.filter((r) => !r.reasons.includes('overload'));
    expect(overloaded.length).toBeGreaterThan(0);
    expect(inspected.length).toBeGreaterThan(0);
    for (const r of overloaded) expect(r).toMatchObject({ verdict: 'review', score: null });
    for (const r of outcomes.filter((o) => o.verdict === 'pass')) {
      expect(r.score).not.toBeNull();
      expect(r.reasons).toEqual([]);
    }
    const statuses = collector.json<Status>('/status');
    expect(statuses.some((s) => s.overloaded === true)).toBe(true);
    console.log(
      JSON.stringify({
        saturation: Math.round(saturation),
        rate: Math.round(rate),
        total,
        overloaded: overloaded.length,
      }),
    );
  }, 120_000);
});
