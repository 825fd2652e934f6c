/**
 * An OPC UA server per edge process, for PLCs that talk to vision sensors in flat, typed fields
 * rather than MQTT: per station, the handshake of handshake.ts as variables (TriggerReady, Busy,
 * ResultReady, PartId, Verdict, Score, ReviewPending, FinalVerdict, ResultAck, Error …), a Trigger
 * method, and health and counters. The MQTT contract stays the primary one: a trigger here is the
 * station's own trigger, and its result goes out on MQTT as every other.
 *
 * Security follows node-opcua's profiles: the endpoints offer the configured modes and policies,
 * users log in with name and password (or a certificate the server trusts), anonymous is off unless
 * configured. The PKI (own certificate, trusted and rejected clients) lives under `pkiDir`.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import path from 'node:path';
import type { Logger } from 'pino';
import {
  DataType,
  MessageSecurityMode,
  OPCUACertificateManager,
  OPCUAServer,
  SecurityPolicy,
  StatusCodes,
  Variant,
  type ISessionContext,
  type Namespace,
  type UADataType,
  type UAObject,
} from 'node-opcua';
import type { OpcUaConfig } from '../../../config/integrations.ts';
import { isPartId } from '../../../contract/topics.ts';
import type { Result, Status, Trigger, VerdictMessage } from '../../../contract/payloads.ts';
import type { StationObserver } from './observer.ts';
import { PlcHandshake, type HandshakeState } from './handshake.ts';
import { set, stationVariables } from './opcua-variables.ts';

export const NAMESPACE_URI = 'urn:loupe:inspection';

/** What the server needs of a station (edge/src/station.ts). */
export interface OpcUaStation {
  readonly id: string;
  readonly observers: Set<StationObserver>;
  readonly connected: boolean;
  trigger(trigger: Trigger): Promise<Result>;
  status(state: 'online'): Status;
}

/** Enumerations, in the order of their values. */
export const VERDICTS = ['None', 'Pass', 'Reject', 'Review'] as const;
export const FINAL_VERDICTS = ['None', 'Pass', 'Reject', 'Hold'] as const;

const capital = (word: string) => word.charAt(0).toUpperCase() + word.slice(1);

export class OpcUaServer {
  private server: OPCUAServer | null = null;
  private readonly stopping: (() => void)[] = [];

  constructor(
    private readonly config: OpcUaConfig,
    private readonly line: string,
    private readonly pkiDir: string,
    private readonly log: Logger,
  ) {}

  /** The endpoint URL clients connect to, once started. */
  get endpointUrl(): string {
    const endpoint = this.server?.getEndpointUrl();
    if (!endpoint) throw new Error('the OPC UA server is not started');
    return endpoint;
  }

  async start(stations: OpcUaStation[]): Promise<void> {
    // Passwords compared by their digests in constant time: the answer's timing says nothing of how much matched.
    const digest = (text: string) => createHash('sha256').update(text).digest();
    const users = new Map(this.config.users.map((u) => [u.name, digest(u.password)]));
    const isValidUser = (name: string, password: string) => {
      const known = users.get(name);
      return known !== undefined && timingSafeEqual(known, digest(password));
    };
    if (users.size === 0 && !this.config.allowAnonymous)
      this.log.warn('OPC UA: no users configured and anonymous is off: no client can log in (opcua.users)');
    const serverCertificateManager = new OPCUACertificateManager({
      rootFolder: path.join(this.pkiDir, 'server'),
      automaticallyAcceptUnknownCertificate: this.config.acceptUnknownClientCertificates,
    });
    const server = new OPCUAServer({
      port: this.config.port,
      host: this.config.host,
      // Endpoints are advertised under the machine's name; a client that dialled the configured address finds it too.
      ...(this.config.host === '0.0.0.0' || this.config.host === '::' ? {} : { alternateHostname: this.config.host }),
      resourcePath: '/UA/Loupe',
      serverCertificateManager,
      allowAnonymous: this.config.allowAnonymous,
      securityModes: this.config.securityModes.map((m) => MessageSecurityMode[m]),
      securityPolicies: this.config.securityPolicies.map((p) => SecurityPolicy[p]),
      userManager: { isValidUser },
      buildInfo: { productName: 'Loupe', productUri: 'urn:loupe', manufacturerName: 'Loupe' },
      serverInfo: { applicationUri: `urn:loupe:${this.line}`, productUri: 'urn:loupe' },
    });
    this.server = server;
    await server.initialize();
    const addressSpace = server.engine.addressSpace;
    if (!addressSpace) throw new Error('OPC UA server has no address space');
    const ns = addressSpace.registerNamespace(NAMESPACE_URI);
    const verdictType = ns.addEnumerationType({ browseName: 'LoupeVerdict', enumeration: [...VERDICTS] });
    const finalType = ns.addEnumerationType({ browseName: 'LoupeFinalVerdict', enumeration: [...FINAL_VERDICTS] });
    const root = ns.addObject({
      organizedBy: addressSpace.rootFolder.objects,
      browseName: 'Loupe',
      nodeId: `s=${this.line}`,
    });
    for (const station of stations) this.addStation(ns, root, station, verdictType, finalType);
    await server.start();
    this.log.info(
      { endpoint: this.endpointUrl, stations: stations.length, anonymous: this.config.allowAnonymous },
      'OPC UA server listening',
    );
  }

  async stop(): Promise<void> {
    for (const stop of this.stopping.splice(0)) stop();
    await this.server?.shutdown(0);
    this.server = null;
  }

  private addStation(
    ns: Namespace,
    root: UAObject,
    station: OpcUaStation,
    verdictType: UADataType,
    finalType: UADataType,
  ): void {
    const base = `${this.line}/${station.id}`;
    const object = ns.addObject({ componentOf: root, browseName: station.id, nodeId: `s=${base}` });
    const v = stationVariables(ns, object, base, verdictType, finalType);
    const counts = { triggers: 0, inspected: 0, passed: 0, rejected: 0, held: 0, reviewed: 0 };
    let triggerError: string | null = null;

    const health = () => {
      const status = station.status('online');
      set(v.brokerConnected, DataType.Boolean, station.connected);
      set(v.queueDepth, DataType.UInt32, status.queueDepth ?? 0);
      set(v.overloaded, DataType.Boolean, status.overloaded ?? false);
      set(v.openReviews, DataType.UInt32, status.openReviews ?? 0);
      set(v.modelId, DataType.String, status.model?.id ?? '');
      set(v.modelVersion, DataType.String, status.model?.version ?? '');
      set(
        v.triggerReady,
        DataType.Boolean,
        status.overloaded !== true && handshake.unacknowledged < this.config.maxWaitingResults,
      );
      return status;
    };
    const show = (state: HandshakeState) => {
      const p = state.presented;
      set(v.partId, DataType.String, p?.partId ?? '');
      set(v.verdict, DataType.Int32, p ? VERDICTS.indexOf(capital(p.verdict) as (typeof VERDICTS)[number]) : 0);
      set(v.score, DataType.Double, p?.score ?? Number.NaN);
      set(v.reason, DataType.String, p?.reasons[0] ?? '');
      set(v.reviewPending, DataType.Boolean, p?.reviewPending ?? false);
      set(
        v.finalVerdict,
        DataType.Int32,
        p?.finalVerdict ? FINAL_VERDICTS.indexOf(capital(p.finalVerdict) as (typeof FINAL_VERDICTS)[number]) : 0,
      );
      set(v.decidedBy, DataType.String, p?.decidedBy ?? '');
      set(v.error, DataType.Boolean, triggerError !== null || (p?.error ?? false));
      set(
        v.errorText,
        DataType.String,
        triggerError ?? (p?.error ? `part ${p.partId} could not be inspected: ${p.reasons.join(', ')}` : ''),
      );
      set(v.resultsWaiting, DataType.UInt32, state.waiting);
      set(v.busy, DataType.Boolean, state.inFlight > 0);
      set(v.resultAck, DataType.Boolean, state.resultAck);
      set(v.resultSequence, DataType.UInt32, state.sequence);
      // ResultReady last: a PLC that reacts to it finds every field of the result already in place.
      set(v.resultReady, DataType.Boolean, state.resultReady);
      health();
    };
    const handshake = new PlcHandshake(show);

    v.resultAck.bindVariable(
      {
        get: () => new Variant({ dataType: DataType.Boolean, value: handshake.state.resultAck }),
        set: (value: Variant) => {
          if (value.dataType !== DataType.Boolean) return StatusCodes.BadTypeMismatch;
          handshake.acknowledge(value.value as boolean);
          return StatusCodes.Good;
        },
      },
      true,
    );

    const method = ns.addMethod(object, {
      browseName: 'Trigger',
      nodeId: `s=${base}/Trigger`,
      description: 'inspect part PartId (as the MQTT trigger does); refused while TriggerReady is false',
      inputArguments: [
        { name: 'PartId', description: 'the part id (letters, digits, . _ : -)', dataType: DataType.String },
      ],
      outputArguments: [],
    });
    // node-opcua tells a promise-returning method from a callback one by its parameter count: two.
    method.bindMethod(async (inputArguments: Variant[], _context: ISessionContext) => {
      const partId = String(inputArguments[0]?.value ?? '');
      const refuse = (statusCode: (typeof StatusCodes)[keyof typeof StatusCodes], text: string) => {
        triggerError = text;
        show(handshake.state);
        return { statusCode };
      };
      if (!isPartId(partId))
        return refuse(StatusCodes.BadInvalidArgument, `trigger refused: "${partId.slice(0, 40)}" is not a part id`);
      const status = health();
      if (status.overloaded || handshake.unacknowledged >= this.config.maxWaitingResults)
        return refuse(StatusCodes.BadResourceUnavailable, `trigger of ${partId} refused: TriggerReady is false`);
      triggerError = null;
      counts.triggers += 1;
      set(v.triggers, DataType.UInt32, counts.triggers);
      handshake.triggeredPart(partId);
      station.trigger({ partId }).then(
        (result) => handshake.result(result),
        (error: unknown) =>
          this.log.error({ station: station.id, partId, err: (error as Error).message }, 'OPC UA trigger failed'),
      );
      return { statusCode: StatusCodes.Good };
    });

    const scores = new Map<string, number | null>();
    const observer: StationObserver = {
      result: (result: Result) => {
        counts.inspected += 1;
        if (result.verdict === 'review') {
          counts.reviewed += 1;
          scores.set(result.partId, result.score);
        }
        set(v.inspected, DataType.UInt32, counts.inspected);
        set(v.reviewed, DataType.UInt32, counts.reviewed);
        health();
      },
      verdict: (verdict: VerdictMessage) => {
        const key = verdict.verdict === 'pass' ? 'passed' : verdict.verdict === 'reject' ? 'rejected' : 'held';
        counts[key] += 1;
        set(v[key], DataType.UInt32, counts[key]);
        handshake.verdict(verdict, scores.get(verdict.partId) ?? verdict.score);
        scores.delete(verdict.partId);
        health();
      },
    };
    station.observers.add(observer);
    const timer = setInterval(health, 1000);
    timer.unref();
    this.stopping.push(() => {
      clearInterval(timer);
      station.observers.delete(observer);
      set(v.online, DataType.Boolean, false);
    });
    show(handshake.state);
  }
}
