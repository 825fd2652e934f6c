/**
 * `loupe simulate` closes the loop: a simulated technician decides reviews, a logged-in manager
 * approves the proposed thresholds, and the review rate falls with no escapes. And our own API client
 * stops at the first refused call instead of going on as if it had worked.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ApiRefused, loginApi } from '../../lab/api.ts';
import { simulate } from '../../lab/simulate.ts';

describe('loupe simulate', () => {
  it('changes the thresholds and at least halves the review rate, with no escapes', async () => {
    const outcome = await simulate({
      parts: 400,
      windows: 4,
      calibrateEvery: 20,
      distinctParts: 120,
      decisionDelayMs: 5,
      seed: 3,
    });
    expect(outcome.thresholdChanges).toBeGreaterThan(0);
    expect(outcome.windows[outcome.windows.length - 1].thresholds).not.toEqual(outcome.windows[0].thresholds);
    const first = outcome.windows[0].reviewRate;
    const last = outcome.windows[outcome.windows.length - 1].reviewRate;
    expect(last, JSON.stringify(outcome.windows)).toBeLessThanOrEqual(first / 2);
    expect(outcome.totalEscapes).toBe(0);
  }, 120_000);

  it('with people who make mistakes, second opinions and a settling manager leave no escapes where a single person left some', async () => {
    const outcome = await simulate({
      parts: 300,
      windows: 3,
      calibrateEvery: 20,
      distinctParts: 120,
      decisionDelayMs: 5,
      seed: 5,
      people: [
        { name: 'sim-ana', errorRate: 0.4 }, // careless enough that a single person lets a defect through in any timing of the run
        { name: 'sim-bo', errorRate: 0 },
      ],
    });
    expect(outcome.secondOpinions).toBeGreaterThan(0);
    expect(outcome.singleEscapes, JSON.stringify(outcome)).toBeGreaterThan(0);
    expect(outcome.settledEscapes).toBe(0);
    expect(outcome.agreementKappa).not.toBeNull();
    expect(outcome.agreementKappa as number).toBeLessThan(1); // careless people do not agree perfectly
    expect(outcome.windows.some((w) => w.suggestionAccuracy !== null)).toBe(true);
  }, 120_000);

  it('fails loudly on a refused call', async () => {
    const server = http.createServer((request, response) => {
      if (request.url === '/api/login') {
        response.writeHead(200, { 'content-type': 'application/json', 'set-cookie': 'loupe_session=x; Path=/' });
        return response.end(JSON.stringify({ csrf: 'c', role: 'technician' }));
      }
      response.writeHead(403, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ error: 'forbidden', message: 'this needs the manager role' }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const api = await loginApi(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, 'tech', 'pw');
      await expect(api.post('/api/stations/s/thresholds', { passBelow: 1, rejectAbove: 2 })).rejects.toThrow(
        ApiRefused,
      );
      await expect(api.get('/api/stations/s/calibration')).rejects.toThrow('HTTP 403');
    } finally {
      server.close();
    }
  });
});
