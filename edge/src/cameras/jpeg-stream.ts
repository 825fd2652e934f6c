/**
 * Cuts a byte stream of concatenated JPEG images (ffmpeg's `image2pipe`/`mjpeg` output, a
 * multipart MJPEG body without its headers) into whole images. It walks the JPEG's segments by
 * their lengths up to the scan, then the entropy-coded data to the end marker, so an end marker
 * inside an embedded thumbnail or a byte pattern in the data does not cut an image in two.
 * Bytes that are not a JPEG are skipped and counted, never passed on as a frame.
 */
export class JpegSplitter {
  private buffer: Buffer = Buffer.alloc(0);
  /** bytes skipped because they were not part of a JPEG (a torn frame after a reconnect, headers) */
  skipped = 0;

  constructor(private readonly onImage: (image: Buffer) => void) {}

  push(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    for (;;) {
      const start = findStart(this.buffer);
      if (start < 0) {
        // keep the last two bytes: they may begin the next start marker (FF D8 FF)
        const keep = Math.min(2, this.buffer.length);
        this.skipped += this.buffer.length - keep;
        this.buffer = this.buffer.subarray(this.buffer.length - keep);
        return;
      }
      if (start > 0) {
        this.skipped += start;
        this.buffer = this.buffer.subarray(start);
      }
      const end = imageEnd(this.buffer);
      if (end === null) return; // incomplete: wait for more bytes
      if (end < 0) {
        // not a well-formed JPEG: drop its start marker and look for the next
        this.skipped += 2;
        this.buffer = this.buffer.subarray(2);
        continue;
      }
      this.onImage(Buffer.from(this.buffer.subarray(0, end)));
      this.buffer = this.buffer.subarray(end);
    }
  }

  /** Bytes held for an image not yet complete. */
  get pending(): number {
    return this.buffer.length;
  }

  reset(): void {
    this.skipped += this.buffer.length;
    this.buffer = Buffer.alloc(0);
  }
}

function findStart(b: Buffer): number {
  for (let i = b.indexOf(0xff); i >= 0 && i + 2 < b.length; i = b.indexOf(0xff, i + 1)) {
    if (b[i + 1] === 0xd8 && b[i + 2] === 0xff) return i;
  }
  return -1;
}

/** The end of the JPEG at the start of `b`: an offset, null when more bytes are needed, -1 when malformed. */
function imageEnd(b: Buffer): number | null {
  let i = 2;
  for (;;) {
    if (i + 2 > b.length) return null;
    if (b[i] !== 0xff) return -1;
    const marker = b[i + 1];
    if (marker === 0xff) {
      i += 1; // fill byte
      continue;
    }
    if (marker === 0xd9) return i + 2;
    if (marker >= 0xd0 && marker <= 0xd7) {
      i += 2;
      continue;
    }
    if (i + 4 > b.length) return null;
    const length = b.readUInt16BE(i + 2);
    if (length < 2) return -1;
    i += 2 + length;
    if (marker !== 0xda) continue;
    // Scan data: runs until a marker other than a stuffed 0xFF00 or a restart marker.
    for (;;) {
      const at = b.indexOf(0xff, i);
      if (at < 0 || at + 1 >= b.length) return null;
      const next = b[at + 1];
      if (next === 0x00 || (next >= 0xd0 && next <= 0xd7) || next === 0xff) {
        i = next === 0xff ? at + 1 : at + 2;
        continue;
      }
      i = at;
      break;
    }
  }
}
