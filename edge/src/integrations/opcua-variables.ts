/**
 * The variables of one station in the OPC UA address space, split from opcua.ts: their names, types,
 * descriptions and access levels are the contract a PLC programmer reads in the browser, so they are
 * kept together in one list, apart from the server and the handshake logic that fills them. Every
 * variable starts with its idle value; opcua.ts sets them from the handshake, health and counters.
 */
import { DataType, Variant, type Namespace, type UADataType, type UAObject, type UAVariable } from 'node-opcua';

/** Sets a variable's value as the server's own source (not a client write). */
export const set = (v: UAVariable, dataType: DataType, value: unknown) =>
  v.setValueFromSource(new Variant({ dataType, value }));

/** Adds a station's variables under its object, node ids `s=<line>/<station>/<Name>`. */
export function stationVariables(
  ns: Namespace,
  object: UAObject,
  base: string,
  verdictType: UADataType,
  finalType: UADataType,
) {
  const variable = (
    name: string,
    dataType: DataType | UADataType,
    value: unknown,
    description: string,
    writable = false,
  ): UAVariable =>
    ns.addVariable({
      componentOf: object,
      browseName: name,
      nodeId: `s=${base}/${name}`,
      description,
      dataType: typeof dataType === 'number' ? DataType[dataType] : dataType.nodeId,
      minimumSamplingInterval: 0,
      accessLevel: writable ? 'CurrentRead | CurrentWrite' : 'CurrentRead',
      userAccessLevel: writable ? 'CurrentRead | CurrentWrite' : 'CurrentRead',
      value: new Variant({ dataType: typeof dataType === 'number' ? dataType : DataType.Int32, value }),
    });

  return {
    triggerReady: variable(
      'TriggerReady',
      DataType.Boolean,
      false,
      'true while the station takes a trigger: online, its queue has room, and fewer results than maxWaitingResults wait for ResultAck',
    ),
    busy: variable('Busy', DataType.Boolean, false, 'true while a part triggered here is being inspected'),
    resultReady: variable(
      'ResultReady',
      DataType.Boolean,
      false,
      'true while a result is presented in PartId … Error; it waits for ResultAck',
    ),
    resultSequence: variable('ResultSequence', DataType.UInt32, 0, 'increases with every result presented'),
    partId: variable('PartId', DataType.String, '', 'part id of the presented result'),
    verdict: variable('Verdict', verdictType, 0, "the model's verdict: None, Pass, Reject, Review"),
    score: variable('Score', DataType.Double, Number.NaN, 'the score; NaN when the part could not be scored'),
    reason: variable(
      'Reason',
      DataType.String,
      '',
      'why the part was not simply passed (first reason), empty otherwise',
    ),
    reviewPending: variable(
      'ReviewPending',
      DataType.Boolean,
      false,
      'true when the part waits for a person; its FinalVerdict is presented as a later result',
    ),
    finalVerdict: variable(
      'FinalVerdict',
      finalType,
      0,
      'the final word: None (a person is to decide), Pass, Reject, Hold',
    ),
    decidedBy: variable('DecidedBy', DataType.String, '', 'model, human or timeout; empty while a review is pending'),
    resultAck: variable(
      'ResultAck',
      DataType.Boolean,
      false,
      'written by the PLC: true takes the presented result, false again lets the next one be presented',
      true,
    ),
    error: variable(
      'Error',
      DataType.Boolean,
      false,
      'true when the presented part could not be inspected (its Reason says why), or the last trigger was refused',
    ),
    errorText: variable('ErrorText', DataType.String, '', 'what went wrong, empty otherwise'),
    resultsWaiting: variable(
      'ResultsWaiting',
      DataType.UInt32,
      0,
      'results waiting behind the presented one for ResultAck',
    ),
    online: variable('Online', DataType.Boolean, true, 'the station is running'),
    brokerConnected: variable(
      'BrokerConnected',
      DataType.Boolean,
      false,
      'the station is connected to its MQTT broker (results are buffered otherwise)',
    ),
    queueDepth: variable('QueueDepth', DataType.UInt32, 0, 'frames waiting for or in inspection'),
    overloaded: variable(
      'Overloaded',
      DataType.Boolean,
      false,
      'the queue is full: new parts go to review with reason overload',
    ),
    openReviews: variable('OpenReviews', DataType.UInt32, 0, 'parts waiting for a person'),
    modelId: variable('ModelId', DataType.String, '', 'the model in force'),
    modelVersion: variable('ModelVersion', DataType.String, '', 'its version'),
    triggers: variable('Triggers', DataType.UInt32, 0, 'triggers taken over OPC UA since start'),
    inspected: variable('Inspected', DataType.UInt32, 0, 'results of the station since start, every source'),
    passed: variable('Passed', DataType.UInt32, 0, 'final verdicts pass since start'),
    rejected: variable('Rejected', DataType.UInt32, 0, 'final verdicts reject since start'),
    held: variable('Held', DataType.UInt32, 0, 'final verdicts hold since start'),
    reviewed: variable('Reviewed', DataType.UInt32, 0, 'results sent to review since start'),
  };
}
