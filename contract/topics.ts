/**
 * The MQTT topic tree, v1. Every topic of a station lives under `{prefix}/{line}/{station}/`.
 * This module is the single place that spells topic names; docs/mqtt.md documents them.
 */
export interface StationAddress {
  prefix: string;
  line: string;
  station: string;
}

export const topics = {
  base: (a: StationAddress) => `${a.prefix}/${a.line}/${a.station}`,
  /** retained; last will sets it offline */
  status: (a: StationAddress) => `${topics.base(a)}/status`,
  /** in: PLC asks for an inspection of part N */
  trigger: (a: StationAddress) => `${topics.base(a)}/trigger`,
  /** out: a trigger was received (sent at once, before its result) */
  triggerAck: (a: StationAddress) => `${topics.base(a)}/trigger/ack`,
  /** in: image bytes (JPEG or PNG) of part N, payload is the raw file */
  frame: (a: StationAddress, partId: string) => `${topics.base(a)}/frame/${partId}`,
  /** out: the model's result, one per part */
  result: (a: StationAddress) => `${topics.base(a)}/result`,
  /** out, retained until decided: a part waiting for a person */
  review: (a: StationAddress, partId: string) => `${topics.base(a)}/review/${partId}`,
  /** in: a person's decision on a review, relayed by a dashboard that authenticated the person */
  decision: (a: StationAddress) => `${topics.base(a)}/decision`,
  /** in: a decision by `user` itself, who the broker authenticated and granted decisions (docs/security.md) */
  decisionBy: (a: StationAddress, user: string) => `${topics.base(a)}/decision/${user}`,
  /** dashboards, retained: who is deciding a part (empty once released), so dashboards on one broker share claims */
  claim: (a: StationAddress, partId: string) => `${topics.base(a)}/claim/${partId}`,
  /** out: the final word on a part */
  verdict: (a: StationAddress) => `${topics.base(a)}/verdict`,
  /** out: answers to inbound messages that could not be used */
  error: (a: StationAddress) => `${topics.base(a)}/error`,
  /** out: the station's defect-log events and per-minute tallies, for the plant's records */
  log: (a: StationAddress) => `${topics.base(a)}/log`,
};

/** Wildcard subscriptions a dashboard uses for every station of every line under a prefix. */
export const allStations = {
  status: (prefix: string) => `${prefix}/+/+/status`,
  result: (prefix: string) => `${prefix}/+/+/result`,
  review: (prefix: string) => `${prefix}/+/+/review/+`,
  verdict: (prefix: string) => `${prefix}/+/+/verdict`,
  error: (prefix: string) => `${prefix}/+/+/error`,
  claim: (prefix: string) => `${prefix}/+/+/claim/+`,
  log: (prefix: string) => `${prefix}/+/+/log`,
};

/** The plant service's subscription: a shared one, so several instances split the stations' log events. */
export const plantLogSubscription = (prefix: string, group = 'loupe-plant') =>
  `$share/${group}/${allStations.log(prefix)}`;

/** Splits `{prefix}/{line}/{station}/{kind}[/{partId}]` for a known prefix. */
export function parseTopic(
  prefix: string,
  topic: string,
): { line: string; station: string; kind: string; partId?: string } | null {
  if (!topic.startsWith(`${prefix}/`)) return null;
  const rest = topic.slice(prefix.length + 1).split('/');
  if (rest.length < 3 || rest.length > 4) return null;
  const [line, station, kind, partId] = rest;
  return { line, station, kind, partId };
}

// The id alphabets live with the rest of the vocabulary.
export { PART_ID_PATTERN, isPartId, isUserName } from './vocabulary.ts';
