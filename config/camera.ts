/**
 * The camera options of a station (`stations[].camera`, or `stations[].cameras` for several views):
 * a GenICam camera through Aravis, or any stream ffmpeg reads (RTSP, HTTP MJPEG, V4L2, a file).
 * The schema lists every option with its default; `checkCamera` adds the rules that depend on the
 * kind (an ffmpeg camera needs a url, cannot take a software trigger, …), each with the key, the
 * value and what is allowed, like the schema's own errors.
 */
import { Type, type Static } from '@sinclair/typebox';

export const CameraSchema = Type.Object(
  {
    kind: Type.Union([Type.Literal('aravis'), Type.Literal('ffmpeg')], {
      description: 'aravis: a GenICam camera (GigE Vision, USB3 Vision); ffmpeg: RTSP, HTTP MJPEG, V4L2 or a file',
    }),
    name: Type.String({
      pattern: '^[A-Za-z0-9_-]{1,32}$',
      default: 'camera',
      description: 'the view this camera gives (top, side); shown in the status and on reviews',
    }),
    mode: Type.Union(
      [Type.Literal('software'), Type.Literal('hardware'), Type.Literal('freerun'), Type.Literal('each')],
      {
        description:
          "software: a part's trigger fires the camera (TriggerSoftware), its next frame is the part's (aravis); hardware: the line fires the camera, frames pair with trigger messages by order and time (aravis); freerun: the camera streams, a trigger takes the first frame after it; each: every frame is a part (no triggers; the demo)",
      },
    ),
    device: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'aravis: the camera id (as arv-tool-0.8 lists it, e.g. Basler-21234567 or Aravis-Fake-GV01) or its IP address; unset: the first camera found',
      }),
    ),
    url: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'ffmpeg: rtsp://…, http://… (MJPEG), /dev/videoN (V4L2), or a video or image file',
      }),
    ),
    pixelFormat: Type.Optional(
      Type.Union([Type.Literal('Mono8'), Type.Literal('RGB8')], {
        description: 'aravis: PixelFormat to set (default: what the camera has)',
      }),
    ),
    exposureUs: Type.Optional(
      Type.Number({
        exclusiveMinimum: 0,
        description: 'aravis: ExposureTime in microseconds (auto exposure is turned off)',
      }),
    ),
    gain: Type.Optional(Type.Number({ minimum: 0, description: 'aravis: Gain in dB (auto gain is turned off)' })),
    roi: Type.Optional(
      Type.Object(
        {
          x: Type.Integer({ minimum: 0, default: 0 }),
          y: Type.Integer({ minimum: 0, default: 0 }),
          width: Type.Integer({ minimum: 1 }),
          height: Type.Integer({ minimum: 1 }),
        },
        { additionalProperties: false, description: 'aravis: region of interest, in sensor pixels' },
      ),
    ),
    frameRate: Type.Optional(
      Type.Number({
        exclusiveMinimum: 0,
        maximum: 1000,
        description:
          'aravis: AcquisitionFrameRate in free run; ffmpeg: frames per second taken from the stream (default: all)',
      }),
    ),
    packetSize: Type.Integer({
      minimum: 576,
      maximum: 9000,
      default: 1400,
      description: 'aravis, GigE Vision: stream packet size in bytes (raise to 8192 on a jumbo-frame network)',
    }),
    windowMs: Type.Integer({
      minimum: 1,
      default: 150,
      description: 'hardware: how far apart in time a frame and its trigger message may arrive to be paired',
    }),
    maxAgeMs: Type.Integer({
      minimum: 1,
      default: 500,
      description: 'freerun: how long after a trigger its frame may come',
    }),
    lostAfterMs: Type.Integer({
      minimum: 100,
      default: 3000,
      description:
        'silence (no frame in freerun/each, no answer from the camera when triggered) after which the camera counts as lost and is opened again',
    }),
    reconnect: Type.Object(
      {
        minMs: Type.Integer({
          minimum: 10,
          default: 500,
          description: 'first wait before opening a lost camera again',
        }),
        maxMs: Type.Integer({
          minimum: 10,
          default: 30000,
          description: 'longest wait; the wait doubles from minMs up to this',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    input: Type.Array(Type.String(), {
      default: [],
      description:
        'ffmpeg: extra options before -i (e.g. ["-input_format", "mjpeg", "-video_size", "1280x1024"] for V4L2)',
    }),
    rtspTransport: Type.Union([Type.Literal('tcp'), Type.Literal('udp')], {
      default: 'tcp',
      description: 'ffmpeg, rtsp://: transport (tcp loses no packets on a busy network)',
    }),
    loop: Type.Boolean({
      default: false,
      description: 'ffmpeg, file: play the file again and again at its own rate (for demos and tests)',
    }),
    copy: Type.Boolean({
      default: false,
      description:
        'ffmpeg: the stream is MJPEG already (an MJPEG IP camera, a V4L2 camera with input_format mjpeg): hand its JPEG frames on as they are, without decoding and encoding them in ffmpeg',
    }),
    model: Type.Optional(
      Type.String({
        minLength: 1,
        description: "several views (cameras[]) only: this view's model folder (default: the station's model)",
      }),
    ),
    thresholds: Type.Optional(
      Type.Object(
        { passBelow: Type.Number(), rejectAbove: Type.Number() },
        {
          additionalProperties: false,
          description: "several views (cameras[]) only: this view's thresholds (default: its model's)",
        },
      ),
    ),
    jpegQuality: Type.Integer({
      minimum: 1,
      maximum: 100,
      default: 92,
      description:
        'quality of the JPEG each frame is handed to the model as (not used when the stream is MJPEG already)',
    }),
  },
  { additionalProperties: false },
);

export type CameraConfig = Static<typeof CameraSchema>;

const ARAVIS_ONLY = ['device', 'pixelFormat', 'exposureUs', 'gain', 'roi'] as const;

/** The camera rules of one station, as error lines (`at` is its key path, e.g. stations[0]). */
export function checkStationCameras(
  station: { camera?: CameraConfig; cameras?: CameraConfig[]; thresholds?: unknown },
  at: string,
): string[] {
  const problems: string[] = [];
  if (station.camera) {
    problems.push(...checkCamera(station.camera, `${at}.camera`));
    for (const key of ['model', 'thresholds'] as const) {
      if (station.camera[key] !== undefined)
        problems.push(
          `${at}.camera.${key}: got ${JSON.stringify(station.camera[key])}; allowed: only for a view in cameras[] (one camera uses the station's ${key})`,
        );
    }
  }
  if (station.cameras) {
    if (station.camera)
      problems.push(
        `${at}.cameras: got both camera and cameras; allowed: camera (one) or cameras (several views), not both`,
      );
    if (station.thresholds)
      problems.push(
        `${at}.thresholds: got ${JSON.stringify(station.thresholds)}; allowed: unset when the station has several views (set thresholds per view in cameras[])`,
      );
    const names = new Set<string>();
    station.cameras.forEach((camera, i) => {
      const where = `${at}.cameras[${i}]`;
      problems.push(...checkCamera(camera, where));
      if (names.has(camera.name))
        problems.push(`${where}.name: got "${camera.name}"; allowed: a name no other view of the station has`);
      names.add(camera.name);
      if (camera.mode === 'each')
        problems.push(
          `${where}.mode: got "each"; allowed: software, hardware or freerun for a view (every view's frame belongs to the part a trigger names)`,
        );
      const t = camera.thresholds;
      if (t && !(t.passBelow <= t.rejectAbove))
        problems.push(
          `${where}.thresholds: got passBelow ${t.passBelow} > rejectAbove ${t.rejectAbove}; allowed: passBelow <= rejectAbove`,
        );
    });
  }
  return problems;
}

/** The rules that depend on the kind, as error lines (`at` is the key path, e.g. stations[0].camera). */
export function checkCamera(camera: CameraConfig, at: string): string[] {
  const problems: string[] = [];
  if (camera.kind === 'ffmpeg') {
    if (!camera.url)
      problems.push(
        `${at}.url: missing; allowed: rtsp://…, http://…, /dev/videoN or a file, required when kind is ffmpeg`,
      );
    if (camera.mode === 'software' || camera.mode === 'hardware') {
      problems.push(
        `${at}.mode: got "${camera.mode}"; allowed: freerun or each when kind is ffmpeg (a stream cannot be triggered; use kind aravis for a triggered camera)`,
      );
    }
    if (camera.copy && camera.frameRate !== undefined)
      problems.push(
        `${at}.frameRate: got ${camera.frameRate}; allowed: unset when copy is true (frames passed on as they are cannot be thinned)`,
      );
    for (const key of ARAVIS_ONLY)
      if (camera[key] !== undefined)
        problems.push(
          `${at}.${key}: got ${JSON.stringify(camera[key])}; allowed: only when kind is aravis (set the stream's own settings in the IP camera)`,
        );
  } else {
    if (camera.url !== undefined)
      problems.push(
        `${at}.url: got ${JSON.stringify(camera.url)}; allowed: only when kind is ffmpeg (an aravis camera is chosen by device)`,
      );
    if (camera.input.length > 0)
      problems.push(`${at}.input: got ${JSON.stringify(camera.input)}; allowed: only when kind is ffmpeg`);
    if (camera.loop) problems.push(`${at}.loop: got true; allowed: only when kind is ffmpeg`);
    if (camera.copy) problems.push(`${at}.copy: got true; allowed: only when kind is ffmpeg`);
  }
  if (camera.reconnect.minMs > camera.reconnect.maxMs)
    problems.push(
      `${at}.reconnect: got minMs ${camera.reconnect.minMs} > maxMs ${camera.reconnect.maxMs}; allowed: minMs <= maxMs`,
    );
  return problems;
}
