/**
 * What integrations besides the MQTT contract (OPC UA, Sparkplug B) hear from a station. The JSON
 * contract stays the primary one: a station tells its observers only after the message is in its
 * outbox, so an observer's failure can neither delay nor lose a message of the contract.
 */
import type { Result, VerdictMessage } from '../../../contract/payloads.ts';

export interface StationObserver {
  /** every part's result, once, after it is handed to the outbox */
  result?(result: Result): void;
  /** every part's final verdict (the model's, a person's, or a review's timeout), after the outbox */
  verdict?(verdict: VerdictMessage): void;
}
