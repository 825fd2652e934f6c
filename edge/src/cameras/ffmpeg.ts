/**
 * IP and USB cameras, and files, through Debian's ffmpeg as a child process: whatever it reads
 * (RTSP, HTTP MJPEG, V4L2, a video or image file) comes out on its stdout as a stream of JPEG
 * images (`image2pipe`), cut into frames by JpegSplitter.
 */
import type { CameraConfig } from '../../../config/camera.ts';
import type { ChildSpec } from './driver.ts';
import { JpegSplitter } from './jpeg-stream.ts';

export function ffmpegArgs(camera: CameraConfig): string[] {
  const url = camera.url as string;
  const args = ['-hide_banner', '-loglevel', 'error', '-nostdin'];
  if (url.startsWith('rtsp://') || url.startsWith('rtsps://')) args.push('-rtsp_transport', camera.rtspTransport);
  if (url.startsWith('/dev/video')) args.push('-f', 'v4l2');
  if (camera.loop) args.push('-re', '-stream_loop', '-1');
  // Network sources: a stalled connection ends ffmpeg (and the supervisor opens it again) instead of hanging.
  if (/^(rtsps?|https?):\/\//.test(url)) args.push('-timeout', String(camera.lostAfterMs * 1000));
  args.push(...camera.input, '-i', url, '-an');
  if (camera.copy) args.push('-c:v', 'copy');
  else if (camera.frameRate)
    args.push('-vf', `fps=${camera.frameRate}`, '-c:v', 'mjpeg', '-q:v', String(qScale(camera.jpegQuality)));
  else args.push('-c:v', 'mjpeg', '-q:v', String(qScale(camera.jpegQuality)));
  args.push('-f', 'image2pipe', '-');
  return args;
}

/** ffmpeg's MJPEG quantiser scale (2 best … 31 worst) nearest a JPEG quality 1–100. */
function qScale(quality: number): number {
  return Math.max(2, Math.min(31, Math.round(2 + ((100 - quality) / 100) * 29)));
}

export function ffmpegSpec(camera: CameraConfig, binary = 'ffmpeg'): ChildSpec {
  return {
    command: binary,
    args: ffmpegArgs(camera),
    attach(_child, events) {
      const splitter = new JpegSplitter((image) => events.frame(image, performance.now()));
      return { stdout: (chunk) => splitter.push(chunk) };
    },
  };
}
