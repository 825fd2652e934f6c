import { describe, expect, it } from 'vitest';
import { ReviewBook } from '../../edge/src/review/book.ts';

function bookWith(partId = 'p1') {
  const book = new ReviewBook();
  book.openReview({ partId, score: 1.5, reasons: ['borderline'], openedAt: 0, deadline: 1000 });
  return book;
}

describe('review book', () => {
  it('closes a review with the first decision and answers a repeat as a duplicate', () => {
    const book = bookWith();
    const first = book.decide({ partId: 'p1', decision: 'reject', user: 'ana', category: 'scratch' }, 10);
    expect(first.kind).toBe('decided');
    expect(book.pending()).toEqual([]);
    expect(book.decide({ partId: 'p1', decision: 'reject', user: 'ana', category: 'scratch' }, 11).kind).toBe(
      'duplicate',
    );
  });

  it('refuses a conflicting decision and says who decided first', () => {
    const book = bookWith();
    book.decide({ partId: 'p1', decision: 'accept', user: 'ana' }, 10);
    const outcome = book.decide({ partId: 'p1', decision: 'reject', user: 'ben' }, 11);
    expect(outcome).toMatchObject({ kind: 'conflict', message: 'part p1 was already decided by ana as pass' });
  });

  it('applies the default action at the deadline, and only once', () => {
    const book = bookWith();
    expect(book.expire('p1', 'hold', 1000)).toMatchObject({ verdict: 'hold', decidedBy: 'timeout', score: 1.5 });
    expect(book.expire('p1', 'hold', 1001)).toBeNull();
    expect(book.decide({ partId: 'p1', decision: 'accept', user: 'ana' }, 1002)).toMatchObject({
      kind: 'conflict',
      message: expect.stringContaining('by timeout'),
    });
  });

  it('answers a decision on an unknown part as unknown', () => {
    expect(new ReviewBook().decide({ partId: 'nope', decision: 'accept', user: 'ana' }, 0)).toMatchObject({
      kind: 'unknown',
    });
  });

  it('takes a correction of a decided part and keeps the decision it replaces', () => {
    const book = bookWith();
    book.decide({ partId: 'p1', decision: 'accept', user: 'ana' }, 10);
    const outcome = book.decide(
      { partId: 'p1', decision: 'reject', user: 'ana', category: 'dent', correction: true },
      20,
    );
    expect(outcome).toMatchObject({
      kind: 'corrected',
      closing: {
        verdict: 'reject',
        decidedBy: 'human',
        user: 'ana',
        category: 'dent',
        at: 20,
        corrects: { verdict: 'pass', decidedBy: 'human', user: 'ana', at: 10 },
      },
    });
    // the corrected decision is now the one a repeat or a plain conflicting decision is checked against
    expect(book.decide({ partId: 'p1', decision: 'reject', user: 'ana', category: 'dent' }, 21).kind).toBe('duplicate');
    expect(book.decide({ partId: 'p1', decision: 'accept', user: 'ben' }, 22)).toMatchObject({
      kind: 'conflict',
      message: 'part p1 was already decided by ana as reject',
    });
  });

  it('corrects a part the deadline decided', () => {
    const book = bookWith();
    book.expire('p1', 'reject', 1000);
    expect(book.decide({ partId: 'p1', decision: 'accept', user: 'maya', correction: true }, 1100)).toMatchObject({
      kind: 'corrected',
      closing: { verdict: 'pass', corrects: { decidedBy: 'timeout', verdict: 'reject' } },
    });
  });

  it('refuses a correction of a part nobody decided', () => {
    expect(
      new ReviewBook().decide({ partId: 'nope', decision: 'accept', user: 'ana', correction: true }, 0),
    ).toMatchObject({ kind: 'unknown', message: 'part nope has no decision to correct' });
  });
});
