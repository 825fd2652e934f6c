// @ts-check
// The technician screen's state, held in one object every module of the screen reads and changes,
// and the small questions asked of it (which part, who holds it, can decisions reach the station).
// The modules: feed.js (the live feed), queue.js (the list of parts), part.js (the part shown),
// viewer.js (its picture), desk.js (opening, claiming, deciding), keys.js (keys and buttons),
// mark.js (marking where the defect is, on the picture).

/** @typedef {import('../../contract/payloads.ts').Review} Review */
/** @typedef {import('../../contract/payloads.ts').Result} Result */
/** @typedef {import('../../contract/payloads.ts').Status} Status */
/** @typedef {import('../../contract/feed.ts').FeedClaim} FeedClaim */
/** @typedef {{ name: string, role: 'technician' | 'manager' | 'admin', csrf: string }} Me */
/** @typedef {{ decision: 'accept' | 'reject', category?: string, region?: import('../../contract/payloads.ts').Region }} Body */
/** @typedef {{ key: string, review: Review, body: Body, timer: number, sendAt: number }} Pending */
/** @typedef {{ key: string, review: Review, body: Body, at: number }} Sent */
/** @typedef {{ holder: string, expiresAt: string }} Holder */

/** `line/station/partId`: a part's key on every screen and in the API. */
export const keyOf = (/** @type {{ line: string, station: string, partId: string }} */ r) =>
  `${r.line}/${r.station}/${r.partId}`;
export const stationOf = (/** @type {{ line: string, station: string }} */ r) => `${r.line}/${r.station}`;
export const reviewUrl = (/** @type {Review} */ r) =>
  `/api/reviews/${r.line}/${r.station}/${encodeURIComponent(r.partId)}`;
export const partUrl = (/** @type {{ line: string, station: string, partId: string }} */ r) =>
  `/api/parts/${r.line}/${r.station}/${encodeURIComponent(r.partId)}`;

export const state = {
  /** @type {Me} who is logged in (set before the feed starts) */
  me: { name: '', role: 'technician', csrf: '' },
  screen: { undoSeconds: 4, guardMs: 700, claimSeconds: 120, correctionMinutes: 10 },
  /** @type {Map<string, Status>} by `line/station` */
  statuses: new Map(),
  /** @type {Map<string, Review>} open reviews, by key */
  reviews: new Map(),
  /** @type {Map<string, Holder>} claims in force, by key */
  claims: new Map(),
  /** @type {Result[]} newest first */
  results: [],
  /** @type {string | null} the part this person opened (claimed), or null: loading the page opens nothing */
  selected: null,
  /** @type {string | null} the part this screen holds a claim on (set when a claim succeeds) */
  held: null,
  /** @type {string | null} the holder's name when the claim on the open part was lost to someone else */
  lost: null,
  /** @type {string | null} the defect category chosen for a reject */
  category: null,
  /** @type {Set<string>} parts whose decision is on its way */
  sent: new Set(),
  muted: localStorage.getItem('loupe.muted') === '1',
  /** the nearest good part is shown beside the part (G); kept across parts and visits */
  golden: localStorage.getItem('loupe.golden') === '1',
  view: { scale: 1, x: 0, y: 0 },
  retry: 0,
  leaving: false,
  /** the WebSocket is open; the dashboard's own broker link is up */
  feedUp: false,
  broker: true,
  /** keys and buttons act on the part shown only after this time */
  guardUntil: 0,
  /** @type {Pending | null} the last decision, still on screen and undoable */
  pending: null,
  /** @type {Sent | null} the last decision sent, which U can correct */
  last: null,
  /** @type {Sent | null} the decision being corrected */
  correcting: null,
};

/** Someone else's live claim on a part, or null. */
export function heldByOther(/** @type {string} */ key) {
  const c = state.claims.get(key);
  return c && c.holder !== state.me.name && Date.parse(c.expiresAt) > Date.now() ? c : null;
}

/** The review shown: the one being corrected, else the one opened. */
export const shown = () =>
  state.correcting ? state.correcting.review : (state.selected && state.reviews.get(state.selected)) || null;

/** Whether decisions can reach the station now; the reason in plain words when they cannot. */
export function unreachable(/** @type {Review} */ review) {
  if (!state.feedUp) return 'The live feed is down: decisions are off until it is back.';
  if (!state.broker) return 'The dashboard has lost the stations (MQTT broker): decisions are off until it is back.';
  const status = state.statuses.get(stationOf(review));
  if (!status || status.state !== 'online') return `${review.station} is offline: decisions are off until it is back.`;
  return null;
}

/** Time left until `deadline`, as m:ss. */
export function countdown(/** @type {string} */ deadline) {
  const s = Math.max(0, Math.round((Date.parse(deadline) - Date.now()) / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** How a decision reads on screen: "accepted", "rejected (scratch)". */
export const said = (/** @type {Body} */ body) =>
  body.decision === 'accept' ? 'accepted' : `rejected${body.category ? ` (${body.category})` : ''}`;
