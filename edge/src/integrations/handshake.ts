/**
 * The PLC handshake of a vision sensor, without the transport: a PLC triggers part N, sees Busy
 * while it is inspected, then a result presented in flat fields with ResultReady; it sets ResultAck,
 * ResultReady drops, it resets ResultAck, and only then is the next result presented. A PLC that
 * does not acknowledge holds every later result back (they wait, in order), as the MQTT outbox waits
 * for a PUBACK. A part that went to review is presented twice: with ReviewPending when the model
 * concluded, and again with its FinalVerdict when a person (or the review's deadline) decided it.
 *
 * Pure: the OPC UA server (opcua.ts) maps it to variables; tests drive it without a server.
 */
import type { Reason, Result, VerdictMessage } from '../../../contract/payloads.ts';

/** Reasons that mean the part could not be looked at: the handshake's Error while it is presented. */
const FAILURES: ReadonlySet<Reason> = new Set([
  'unreadable_image',
  'model_error',
  'overload',
  'missing_frame',
  'interrupted',
]);

export interface Presented {
  partId: string;
  verdict: Result['verdict'];
  score: number | null;
  reasons: Reason[];
  reviewPending: boolean;
  /** null until the part's final verdict is known */
  finalVerdict: VerdictMessage['verdict'] | null;
  decidedBy: VerdictMessage['decidedBy'] | null;
  error: boolean;
}

export interface HandshakeState {
  resultReady: boolean;
  resultAck: boolean;
  /** increases with every result presented: a PLC can tell two results of the same part apart */
  sequence: number;
  presented: Presented | null;
  /** results presented after the current one is acknowledged */
  waiting: number;
  /** parts triggered here whose result has not come yet */
  inFlight: number;
}

export class PlcHandshake {
  private readonly queue: Presented[] = [];
  private readonly triggered = new Set<string>();
  /** parts presented with ReviewPending whose final verdict is still to be presented */
  private readonly reviewing = new Set<string>();
  private current: Presented | null = null;
  private ack = false;
  private sequence = 0;

  /** `changed` runs after every change of the state, so a transport can publish it. */
  constructor(private readonly changed: (state: HandshakeState) => void = () => undefined) {}

  get state(): HandshakeState {
    return {
      resultReady: this.current !== null,
      resultAck: this.ack,
      sequence: this.sequence,
      presented: this.current,
      waiting: this.queue.length,
      inFlight: this.triggered.size,
    };
  }

  /** Results waiting behind the presented one plus the presented one. */
  get unacknowledged(): number {
    return this.queue.length + (this.current ? 1 : 0);
  }

  triggeredPart(partId: string): void {
    this.triggered.add(partId);
    this.changed(this.state);
  }

  /** The result of a part this handshake triggered (answered by the station for that trigger). */
  result(result: Result): void {
    this.triggered.delete(result.partId);
    const review = result.verdict === 'review';
    if (review) this.reviewing.add(result.partId);
    this.present({
      partId: result.partId,
      verdict: result.verdict,
      score: result.score,
      reasons: result.reasons,
      reviewPending: review,
      finalVerdict: result.verdict === 'review' ? null : result.verdict,
      decidedBy: review ? null : 'model',
      error: result.reasons.some((r) => FAILURES.has(r)),
    });
  }

  /** A final verdict: presented again only for a part this handshake presented as a review. */
  verdict(verdict: VerdictMessage, score: number | null = verdict.score): void {
    if (!this.reviewing.delete(verdict.partId)) return;
    this.present({
      partId: verdict.partId,
      verdict: 'review',
      score,
      reasons: [],
      reviewPending: false,
      finalVerdict: verdict.verdict,
      decidedBy: verdict.decidedBy,
      error: false,
    });
  }

  /**
   * The PLC writes ResultAck. Rising: the presented result is taken (ResultReady drops). Falling:
   * the next waiting result is presented. Answers false when an acknowledgement finds no result.
   */
  acknowledge(value: boolean): boolean {
    if (value === this.ack) return true;
    this.ack = value;
    let taken = true;
    if (value) {
      taken = this.current !== null;
      this.current = null;
    } else this.next();
    this.changed(this.state);
    return taken;
  }

  private present(item: Presented): void {
    this.queue.push(item);
    this.next();
    this.changed(this.state);
  }

  private next(): void {
    if (this.current || this.ack) return;
    const item = this.queue.shift();
    if (!item) return;
    this.current = item;
    this.sequence += 1;
  }
}
