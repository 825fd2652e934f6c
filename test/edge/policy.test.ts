import { describe, expect, it } from 'vitest';
import { rule, failSafe } from '../../edge/src/decide/policy.ts';

const settings = { thresholds: { passBelow: 1, rejectAbove: 2 }, autoReject: true, auditShare: 0 };

describe('decision policy', () => {
  it('passes below pass_below, reviews between, rejects at reject_above', () => {
    expect(rule(0.99, settings, 0.5)).toEqual({ verdict: 'pass', reasons: [] });
    expect(rule(1, settings, 0.5)).toEqual({ verdict: 'review', reasons: ['borderline'] });
    expect(rule(1.99, settings, 0.5)).toEqual({ verdict: 'review', reasons: ['borderline'] });
    expect(rule(2, settings, 0.5)).toEqual({ verdict: 'reject', reasons: [] });
  });

  it('sends clear defects to review when auto-reject is off', () => {
    expect(rule(5, { ...settings, autoReject: false }, 0.5)).toEqual({ verdict: 'review', reasons: ['above_reject'] });
  });

  it('sends an audit share of auto-passed parts to review', () => {
    const audited = { ...settings, auditShare: 0.1 };
    expect(rule(0.1, audited, 0.05).reasons).toEqual(['audit']);
    expect(rule(0.1, audited, 0.15).verdict).toBe('pass');
    // audit never touches parts that were not going to pass
    expect(rule(1.5, audited, 0.05).reasons).toEqual(['borderline']);
  });

  it('never passes a part whose score is not a number', () => {
    expect(rule(Number.NaN, settings, 0.9)).toEqual({ verdict: 'review', reasons: ['model_error'] });
    expect(failSafe('unreadable_image')).toEqual({ verdict: 'review', reasons: ['unreadable_image'] });
  });
});
