import { describe, expect, it } from 'vitest';
import { decide, failSafe } from '../../edge/src/decide/policy.ts';

const settings = { thresholds: { passBelow: 1, rejectAbove: 2 }, autoReject: true, auditShare: 0 };

describe('decision policy', () => {
  it('passes below pass_below, reviews between, rejects at reject_above', () => {
    expect(decide(0.99, settings, 0.5)).toEqual({ verdict: 'pass', reasons: [] });
    expect(decide(1, settings, 0.5)).toEqual({ verdict: 'review', reasons: ['borderline'] });
    expect(decide(1.99, settings, 0.5)).toEqual({ verdict: 'review', reasons: ['borderline'] });
    expect(decide(2, settings, 0.5)).toEqual({ verdict: 'reject', reasons: [] });
  });

  it('sends clear defects to review when auto-reject is off', () => {
    expect(decide(5, { ...settings, autoReject: false }, 0.5)).toEqual({ verdict: 'review', reasons: ['above_reject'] });
  });

  it('sends an audit share of auto-passed parts to review', () => {
    const audited = { ...settings, auditShare: 0.1 };
    expect(decide(0.1, audited, 0.05).reasons).toEqual(['audit']);
    expect(decide(0.1, audited, 0.15).verdict).toBe('pass');
    // audit never touches parts that were not going to pass
    expect(decide(1.5, audited, 0.05).reasons).toEqual(['borderline']);
  });

  it('never passes a part whose score is not a number', () => {
    expect(decide(Number.NaN, settings, 0.9)).toEqual({ verdict: 'review', reasons: ['model_error'] });
    expect(failSafe('unreadable_image')).toEqual({ verdict: 'review', reasons: ['unreadable_image'] });
  });
});
