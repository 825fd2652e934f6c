/**
 * The dashboard's live feed, as its WebSocket sends it to the browser: a snapshot first, then every
 * change. Types only: the server (dashboard/src/feed.ts, server.ts) builds these events from the
 * validated MQTT payloads, and the browser code (dashboard/web, via JSDoc) reads them, so both sides
 * name one shape.
 */
import type { Result, Review, Status, VerdictMessage } from './payloads.ts';

export type FeedEvent =
  | { type: 'status'; status: Status }
  | { type: 'review'; review: Review }
  | { type: 'review-closed'; station: string; line: string; partId: string }
  | { type: 'result'; result: Result }
  | { type: 'verdict'; verdict: VerdictMessage }
  | { type: 'claim'; line: string; station: string; partId: string; holder: string; expiresAt: string }
  | { type: 'claim-released'; line: string; station: string; partId: string }
  | {
      type: 'decision-refused';
      line: string;
      station: string;
      partId: string;
      user: string;
      code: string;
      message: string;
    }
  | { type: 'broker'; connected: boolean };

/** A claim in force as the snapshot lists it: `key` is `line/station/partId`. */
export interface FeedClaim {
  key: string;
  holder: string;
  expiresAt: string;
}

/** The first message on a new connection: the whole picture, which replaces what the screen had. */
export interface FeedSnapshot {
  type: 'snapshot';
  statuses: Status[];
  reviews: Review[];
  results: Result[];
  claims: FeedClaim[];
  you: string;
  broker: boolean;
}
