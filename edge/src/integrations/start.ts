/**
 * Starts the integrations a configuration asks for, beside the stations of an edge process, and
 * answers what stops them. Kept out of cli/run.ts so that wiring them in is one line there. Each is
 * imported only when configured: node-opcua alone takes seconds to load, which every `loupe start`
 * without OPC UA would otherwise pay.
 */
import path from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../../../config/schema.ts';
import type { BrokerOptions } from '../bus/link.ts';
import type { OpcUaStation } from './opcua.ts';

export interface Integrations {
  /** the OPC UA endpoint, when the server runs */
  opcuaUrl: string | null;
  stop(): Promise<void>;
}

export async function startIntegrations(
  config: Config,
  stations: OpcUaStation[],
  broker: BrokerOptions,
  log: Logger,
): Promise<Integrations> {
  const stoppers: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const stopper of stoppers.reverse()) await stopper();
  };
  let opcuaUrl: string | null = null;
  try {
    if (config.opcua) {
      const pki = path.resolve(config.opcua.pkiDir ?? path.join(config.dataDir, 'opcua', 'pki'));
      const { OpcUaServer } = await import('./opcua.ts');
      const server = new OpcUaServer(config.opcua, config.line, pki, log.child({ component: 'opcua' }));
      stoppers.push(() => server.stop());
      await server.start(stations);
      opcuaUrl = server.endpointUrl;
    }
    if (config.sparkplug) {
      const { SparkplugNode } = await import('./sparkplug.ts');
      const node = new SparkplugNode(
        config.sparkplug,
        broker,
        config.line,
        path.resolve(config.dataDir, 'sparkplug'),
        log.child({ component: 'sparkplug' }),
      );
      stoppers.push(() => node.stop());
      await node.start(stations);
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { opcuaUrl, stop };
}
