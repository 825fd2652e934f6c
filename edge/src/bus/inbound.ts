/**
 * What comes in on a station's topics, checked before the station sees it: frames (part id and
 * size), triggers and decisions (against the contract). Anything unusable is refused on the error
 * topic and goes no further; what is usable goes to one of the station's handlers.
 */
import { topics, isPartId, isUserName, type StationAddress } from '../../../contract/topics.ts';
import {
  DecisionSchema,
  TriggerSchema,
  type Decision,
  type ErrorMessage,
  type Trigger,
} from '../../../contract/payloads.ts';
import { parsePayload } from '../../../contract/validate.ts';

export interface InboundHandlers {
  /** `redelivered`: the broker sent this message again (MQTT DUP flag) */
  trigger(trigger: Trigger, redelivered: boolean): void;
  frame(partId: string, image: Buffer): void;
  decision(decision: Decision): void;
}

/** How a refusal is answered: on the error topic, naming the part and the request when known. */
export type Refuse = (
  topic: string,
  code: ErrorMessage['code'],
  message: string,
  partId?: string,
  requestId?: string,
) => void;

/** Routes one inbound message to its handler, or refuses it. `maxFrameBytes`: the frame size limit. */
export function receive(
  address: StationAddress,
  handlers: InboundHandlers,
  refuse: Refuse,
  maxFrameBytes: number | undefined,
  topic: string,
  payload: Buffer,
  redelivered: boolean,
): void {
  const kind = topic.slice(topics.base(address).length + 1);
  if (kind.startsWith('frame/')) {
    const partId = kind.slice('frame/'.length);
    if (!isPartId(partId))
      return refuse(
        topic,
        'invalid_part_id',
        `part id "${partId}" is not allowed: letters, digits and . _ : -, at most 128 characters`,
      );
    if (maxFrameBytes !== undefined && payload.length > maxFrameBytes) {
      return refuse(
        topic,
        'frame_too_large',
        `frame of part ${partId} is ${payload.length} bytes; the limit is ${maxFrameBytes} bytes (http.bodyLimitBytes), the same as over HTTP`,
        partId,
      );
    }
    return handlers.frame(partId, payload);
  }
  if (kind === 'trigger') {
    const parsed = parsePayload(TriggerSchema, payload);
    if (!parsed.ok) return refuseParsed(refuse, topic, parsed, payload);
    return handlers.trigger(parsed.value, redelivered);
  }
  if (kind === 'decision' || kind.startsWith('decision/')) {
    const parsed = parsePayload(DecisionSchema, payload);
    if (!parsed.ok) return refuseParsed(refuse, topic, parsed, payload);
    // On `decision/{user}` the broker checked who may publish there (docs/security.md): the name
    // recorded is that identity, whatever the payload says.
    const speaker = kind === 'decision' ? null : kind.slice('decision/'.length);
    if (speaker !== null && !isUserName(speaker))
      return refuse(
        topic,
        'invalid_payload',
        `"${speaker}" is not a user name: letters, digits and . _ @ -, at most 64 characters`,
        parsed.value.partId,
      );
    return handlers.decision(speaker === null ? parsed.value : { ...parsed.value, user: speaker });
  }
}

/** An invalid trigger or decision: the refusal names the part and echoes the requestId when the payload has them. */
function refuseParsed(
  refuse: Refuse,
  topic: string,
  parsed: { code: ErrorMessage['code']; message: string },
  payload: Buffer,
): void {
  const { partId, requestId } = namedIn(payload);
  refuse(topic, parsed.code, partId ? `part ${partId}: ${parsed.message}` : parsed.message, partId, requestId);
}

/** The part id and request id a payload names, when it is a JSON object that has them as strings. */
function namedIn(payload: Buffer): { partId?: string; requestId?: string } {
  let data: unknown;
  try {
    data = JSON.parse(payload.toString());
  } catch {
    return {};
  }
  if (typeof data !== 'object' || data === null) return {};
  const { partId, requestId } = data as Record<string, unknown>;
  return {
    ...(typeof partId === 'string' && partId.length > 0 && partId.length <= 128 ? { partId } : {}),
    ...(typeof requestId === 'string' && requestId.length > 0 && requestId.length <= 128 ? { requestId } : {}),
  };
}
