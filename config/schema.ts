/**
 * The configuration schema: the reference for every option, with its default and description in
 * one place. The TypeScript type is derived from it; `config/schema.json` is generated from it
 * (`npm run schemas`) for editors and for people.
 */
import { Type, type Static } from '@sinclair/typebox';
import { ID_PATTERN } from '../contract/vocabulary.ts';
import { OpcUaSchema, SparkplugSchema } from './integrations.ts';
import { CameraSchema } from './camera.ts';

const Port = (description: string, dflt: number) =>
  Type.Integer({ minimum: 0, maximum: 65535, default: dflt, description });

export const ThresholdsSchema = Type.Object(
  {
    passBelow: Type.Number({ description: 'score below this passes without a person' }),
    rejectAbove: Type.Number({
      description: 'score at or above this is rejected (or reviewed when autoReject is false)',
    }),
  },
  { additionalProperties: false },
);

export const ShiftSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 32, description: 'shift name shown in analytics' }),
    start: Type.String({
      pattern: '^([01]\\d|2[0-3]):[0-5]\\d$',
      description: 'local start time, HH:MM; the shift lasts until the next one starts',
    }),
  },
  { additionalProperties: false },
);

export const StationSchema = Type.Object(
  {
    id: Type.String({ pattern: ID_PATTERN, description: 'station id, used in MQTT topics and URLs' }),
    model: Type.String({
      default: 'models/default',
      description:
        "model folder (model.onnx + manifest.json); relative to the config file's folder (the default: to the working directory)",
    }),
    thresholds: Type.Optional(
      Type.Union([ThresholdsSchema, Type.Null()], {
        description: 'overrides the thresholds proposed in the model manifest',
      }),
    ),
    autoReject: Type.Boolean({
      default: true,
      description: 'reject clear defects without a person; when false they go to review',
    }),
    defectCategories: Type.Array(Type.String({ minLength: 1 }), {
      default: ['scratch', 'dent', 'crack', 'missing', 'contamination', 'other'],
      description: 'defect categories a technician can choose from',
    }),
    review: Type.Object(
      {
        deadlineSeconds: Type.Number({
          exclusiveMinimum: 0,
          default: 300,
          description: 'time a person has to decide a review before the default action applies',
        }),
        defaultAction: Type.Union([Type.Literal('reject'), Type.Literal('hold')], {
          default: 'reject',
          description: 'verdict applied when a review deadline passes (decidedBy: timeout)',
        }),
        secondOpinionShare: Type.Number({
          minimum: 0,
          maximum: 1,
          default: 0,
          description:
            'share of parts a person decided that are queued again, blind, to a different person; disagreements go to a manager',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    audit: Type.Object(
      {
        share: Type.Number({
          minimum: 0,
          maximum: 1,
          default: 0,
          description: 'share of auto-passed parts sent to review anyway, to measure the escape rate',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    queue: Type.Object(
      {
        maxDepth: Type.Integer({
          minimum: 1,
          default: 64,
          description: 'frames waiting for inspection before new ones are sent to review with reason overload',
        }),
        concurrency: Type.Integer({
          minimum: 1,
          maximum: 64,
          default: 4,
          description:
            'frames handed to the inspection workers at the same time (a little above workers keeps them busy)',
        }),
        workers: Type.Optional(
          Type.Integer({
            minimum: 1,
            maximum: 16,
            description:
              'inspection worker threads, each with its own model session (default: one for every two cores; sharp decodes on the libuv thread pool, so the thread of a worker only runs the model)',
          }),
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    answers: Type.Object(
      {
        keepHours: Type.Number({
          exclusiveMinimum: 0,
          default: 24,
          description:
            "how long each part's answer is kept on disk, so a message delivered again gets the same answer after a restart",
        }),
        maxParts: Type.Integer({
          minimum: 1,
          default: 100_000,
          description: 'at most this many part ids are remembered (the oldest are forgotten first)',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    statusIntervalSeconds: Type.Number({
      exclusiveMinimum: 0,
      default: 10,
      description: 'how often the retained status (health) is republished, besides on every change',
    }),
    trigger: Type.Object(
      {
        frameTimeoutMs: Type.Integer({
          minimum: 1,
          default: 5000,
          description:
            'how long a trigger waits for its frame before the part goes to review with reason missing_frame',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    camera: Type.Optional({
      ...CameraSchema,
      description: 'a camera the station takes frames from directly (docs/cameras.md)',
    }),
    cameras: Type.Optional(
      Type.Array(CameraSchema, {
        minItems: 2,
        maxItems: 8,
        description:
          'several views of one part (top, side), each with its own model and thresholds; the verdict waits for every view and is the worst (docs/cameras.md)',
      }),
    ),
    ingest: Type.Object(
      {
        folder: Type.Optional(
          Type.Object(
            {
              path: Type.String({
                minLength: 1,
                description:
                  "folder watched for new image files (relative to the config file's folder); the file name (without extension) is the part id",
              }),
              pollMs: Type.Integer({ minimum: 10, default: 200, description: 'how often the folder is scanned' }),
            },
            { additionalProperties: false },
          ),
        ),
        synthetic: Type.Optional(
          Type.Object(
            {
              ratePerSecond: Type.Number({
                exclusiveMinimum: 0,
                maximum: 1000,
                default: 1,
                description: 'parts per second emitted by the synthetic camera',
              }),
              defectShare: Type.Number({
                minimum: 0,
                maximum: 1,
                default: 0.2,
                description: 'share of emitted parts that carry a defect',
              }),
              seed: Type.Integer({ default: 1 }),
              category: Type.String({ default: 'bracket', description: 'synthetic part category' }),
            },
            { additionalProperties: false },
          ),
        ),
        httpToken: Type.Optional(
          Type.String({
            minLength: 8,
            description: 'bearer token required by HTTP frame ingest (optional only on loopback)',
          }),
        ),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false },
);

export const MqttUserSchema = Type.Object(
  {
    name: Type.String({ pattern: '^[A-Za-z0-9._@-]{1,64}$', description: 'MQTT user name' }),
    role: Type.Union(
      [Type.Literal('station'), Type.Literal('plc'), Type.Literal('dashboard'), Type.Literal('observer')],
      {
        description:
          'station: publishes its own status, results, reviews, verdicts, errors; plc: triggers and frames; dashboard: relays decisions of people it authenticated, shares claims; observer: reads only',
      },
    ),
    stations: Type.Array(Type.String({ pattern: '^([A-Za-z0-9_-]{1,64}|\\*)$' }), {
      default: [],
      description: 'station ids this user speaks for, triggers, or reads; "*" for every station',
    }),
    decisions: Type.Array(Type.String({ pattern: '^([A-Za-z0-9_-]{1,64}|\\*)$' }), {
      default: [],
      description:
        'station ids whose reviews this user may decide, on …/decision/{name} (the station records this name)',
    }),
    passwordHash: Type.Optional(
      Type.String({ description: 'scrypt hash of the password (npx tsx broker/hash.ts makes one)' }),
    ),
    passwordEnv: Type.Optional(Type.String({ minLength: 1, description: 'environment variable holding the password' })),
    passwordFile: Type.Optional(Type.String({ minLength: 1, description: 'file holding the password (first line)' })),
  },
  { additionalProperties: false },
);

export const ConfigSchema = Type.Object(
  {
    line: Type.String({
      pattern: ID_PATTERN,
      default: 'line-1',
      description: 'production line id, the second level of every MQTT topic',
    }),
    dataDir: Type.String({
      default: '.data',
      description:
        "where images, review state and the defect log are kept; relative to the config file's folder (the default: to the working directory)",
    }),
    mqtt: Type.Object(
      {
        url: Type.Optional(
          Type.Union([Type.String({ pattern: '^(mqtts?|wss?|tcp|ssl)://' }), Type.Null()], {
            description: 'broker URL; when unset, `loupe start` embeds a broker',
          }),
        ),
        host: Type.String({ default: '127.0.0.1', description: 'address the embedded broker listens on' }),
        port: Port('port of the embedded broker', 1883),
        topicPrefix: Type.String({
          pattern: '^[A-Za-z0-9_/-]{1,64}$',
          default: 'loupe',
          description: 'first level(s) of every topic (per plant)',
        }),
        username: Type.Optional(Type.String({ description: 'broker user; or env LOUPE_MQTT_USERNAME' })),
        password: Type.Optional(
          Type.String({ description: 'broker password; prefer env LOUPE_MQTT_PASSWORD or ${VAR}' }),
        ),
        clientId: Type.Optional(
          Type.String({
            minLength: 1,
            maxLength: 64,
            description: 'client id prefix; each station connects as <clientId>-<station>',
          }),
        ),
        anonymous: Type.Optional(
          Type.Boolean({
            description:
              'embedded broker: let clients connect without a user name (and do anything but publish malformed topics). Default: true only when no users are configured and the broker listens on loopback',
          }),
        ),
        users: Type.Array(MqttUserSchema, {
          default: [],
          description: 'embedded broker: who may connect, and what each may publish (docs/security.md)',
        }),
        tls: Type.Optional(
          Type.Object(
            {
              ca: Type.Optional(
                Type.String({ minLength: 1, description: 'PEM file of the CA that signed the broker certificate' }),
              ),
              cert: Type.Optional(
                Type.String({
                  minLength: 1,
                  description: 'PEM file of this client certificate (brokers that require one)',
                }),
              ),
              key: Type.Optional(Type.String({ minLength: 1, description: 'PEM file of the client private key' })),
              rejectUnauthorized: Type.Boolean({
                default: true,
                description: 'refuse a broker whose certificate does not verify against the CA',
              }),
            },
            { additionalProperties: false, description: 'TLS for mqtts:// and wss:// URLs' },
          ),
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    http: Type.Object(
      {
        host: Type.String({ default: '127.0.0.1', description: 'address the HTTP server listens on' }),
        port: Port('dashboard and ingest HTTP port', 8080),
        bodyLimitBytes: Type.Integer({
          minimum: 1024,
          default: 20 * 1024 * 1024,
          description: 'largest accepted frame upload; larger gets 413',
        }),
        trustProxy: Type.Boolean({
          default: false,
          description:
            'behind a reverse proxy: take the client address from X-Forwarded-For (login throttling is per address); only when every request comes through the proxy',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    dashboard: Type.Object(
      {
        claimSeconds: Type.Number({
          exclusiveMinimum: 0,
          default: 120,
          description: 'how long a technician holds a review they opened before others may take it',
        }),
        undoSeconds: Type.Number({
          minimum: 0,
          maximum: 30,
          default: 4,
          description: 'how long a decision waits on the screen, undoable with U, before it is sent',
        }),
        guardMs: Type.Integer({
          minimum: 0,
          maximum: 3000,
          default: 700,
          description: 'after a part is shown, how long the decision keys and buttons wait before they act on it',
        }),
        sessionHours: Type.Number({
          exclusiveMinimum: 0,
          maximum: 720,
          default: 12,
          description: 'how long a login lasts (a shift, by default)',
        }),
        feedBufferBytes: Type.Integer({
          minimum: 65_536,
          default: 2 * 1024 * 1024,
          description:
            'a live-feed (WebSocket) client that stops reading is dropped once this much waits for it; its screen reconnects and gets a fresh snapshot',
        }),
        secureCookies: Type.Boolean({
          default: false,
          description: 'mark the session cookie Secure and send HSTS: turn on when the dashboard is served over HTTPS',
        }),
        admin: Type.Optional(
          Type.Object(
            {
              user: Type.String({
                pattern: '^[A-Za-z0-9._@-]{1,64}$',
                default: 'admin',
                description:
                  'name of the first admin, created on first start when nobody is registered (or env LOUPE_ADMIN_USER)',
              }),
              password: Type.Optional(
                Type.String({
                  minLength: 10,
                  description:
                    'their password; prefer env LOUPE_ADMIN_PASSWORD or ${VAR}. Unset: a random one is shown once on first start',
                }),
              ),
            },
            { additionalProperties: false },
          ),
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    memory: Type.Object(
      {
        framesInFlightBytes: Type.Integer({
          minimum: 1024 * 1024,
          default: 256 * 1024 * 1024,
          description:
            'bytes of camera frames held in memory at once, across every ingest path and station: over it, HTTP uploads get 503 and other frames go to review with reason overload',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    log: Type.Object(
      {
        retentionDays: Type.Number({
          exclusiveMinimum: 0,
          default: 90,
          description:
            'images of parts older than this many days are deleted (never those of an open review); the log entries stay, marked expired',
        }),
        imageQuotaMb: Type.Number({
          exclusiveMinimum: 0,
          default: 2048,
          description:
            'disk space for kept images (MiB); over it, the oldest are deleted first (never those of an open review)',
        }),
        shifts: Type.Array(ShiftSchema, {
          default: [
            { name: 'early', start: '06:00' },
            { name: 'late', start: '14:00' },
            { name: 'night', start: '22:00' },
          ],
          description:
            'shifts for the analytics, by local start time; each lasts until the next starts (the last runs past midnight)',
        }),
      },
      {
        additionalProperties: false,
        default: {},
        description:
          'the defect log (every inspection counted, every part not plainly passed stored in full) and image retention',
      },
    ),
    stations: Type.Array(StationSchema, { minItems: 1, description: 'one entry per camera' }),
    opcua: Type.Optional(OpcUaSchema),
    sparkplug: Type.Optional(SparkplugSchema),
  },
  { additionalProperties: false },
);

export type Config = Static<typeof ConfigSchema>;
export type StationConfig = Static<typeof StationSchema>;
export type Thresholds = Static<typeof ThresholdsSchema>;
export type Shift = Static<typeof ShiftSchema>;
