/**
 * Configuration of the integrations besides the MQTT contract: the OPC UA server for PLCs and the
 * Sparkplug B edge node for SCADA. Both are optional and off unless their key is present.
 */
import { Type, type Static } from '@sinclair/typebox';

export const OpcUaSchema = Type.Object(
  {
    host: Type.String({ default: '127.0.0.1', description: 'address the OPC UA server listens on' }),
    port: Type.Integer({
      minimum: 0,
      maximum: 65535,
      default: 4840,
      description: 'OPC UA TCP port (opc.tcp://host:port/UA/Loupe)',
    }),
    allowAnonymous: Type.Boolean({
      default: false,
      description: 'let clients in without a user; off unless turned on',
    }),
    users: Type.Array(
      Type.Object(
        {
          name: Type.String({ minLength: 1, maxLength: 64 }),
          password: Type.String({ minLength: 8, description: 'prefer ${VAR}' }),
        },
        { additionalProperties: false },
      ),
      { default: [], description: 'users a PLC logs in as (user name token)' },
    ),
    securityModes: Type.Array(
      Type.Union([Type.Literal('None'), Type.Literal('Sign'), Type.Literal('SignAndEncrypt')]),
      {
        minItems: 1,
        default: ['SignAndEncrypt'],
        description: 'message security modes the endpoints offer; None only on a network that is closed otherwise',
      },
    ),
    securityPolicies: Type.Array(
      Type.Union([
        Type.Literal('None'),
        Type.Literal('Basic256Sha256'),
        Type.Literal('Aes128_Sha256_RsaOaep'),
        Type.Literal('Aes256_Sha256_RsaPss'),
      ]),
      {
        minItems: 1,
        default: ['Basic256Sha256', 'Aes128_Sha256_RsaOaep', 'Aes256_Sha256_RsaPss'],
        description: 'security policies the endpoints offer (None is needed for security mode None)',
      },
    ),
    acceptUnknownClientCertificates: Type.Boolean({
      default: false,
      description:
        "trust every client certificate; otherwise put a PLC's certificate into <pkiDir>/server/trusted/certs",
    }),
    pkiDir: Type.Optional(
      Type.String({ minLength: 1, description: "the server's certificate store (default <dataDir>/opcua/pki)" }),
    ),
    maxWaitingResults: Type.Integer({
      minimum: 1,
      default: 100,
      description: 'results waiting for ResultAck before TriggerReady turns false',
    }),
  },
  {
    additionalProperties: false,
    description: 'an OPC UA server for PLCs: the trigger / result / ack handshake of every station',
  },
);

export const SparkplugSchema = Type.Object(
  {
    groupId: Type.String({ pattern: '^[^/+#]{1,64}$', default: 'loupe', description: 'Sparkplug group id' }),
    edgeNodeId: Type.Optional(
      Type.String({ pattern: '^[^/+#]{1,64}$', description: 'this edge box (default: the line id)' }),
    ),
    url: Type.Optional(
      Type.String({
        pattern: '^(mqtts?|wss?|tcp|ssl)://',
        description: 'broker of the SCADA host (default: mqtt.url, or the embedded broker)',
      }),
    ),
  },
  {
    additionalProperties: false,
    description: 'a Sparkplug B edge node (spBv1.0): each station a device with its metrics',
  },
);

export type OpcUaConfig = Static<typeof OpcUaSchema>;
export type SparkplugConfig = Static<typeof SparkplugSchema>;
