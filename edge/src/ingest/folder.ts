/**
 * Folder ingest: image files dropped into a folder become frames. The folder is polled (fs.watch
 * misses events on network shares and some filesystems); a file is taken once its size has stopped
 * changing between two scans, so a half-copied image is not inspected. Taken files move to
 * `done/`, so a restart does not inspect them again.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { isPartId } from '../../../contract/topics.ts';
import type { Frame } from '../station.ts';
import { PartIdInUse } from '../parts/memory.ts';

const IMAGE_FILE = /\.(jpe?g|png|bmp|tiff?|webp)$/i;

export class FolderIngest {
  private timer: NodeJS.Timeout | null = null;
  private readonly sizes = new Map<string, number>();
  private scanning = false;

  constructor(
    private readonly folder: string,
    private readonly pollMs: number,
    private readonly submit: (frame: Frame) => Promise<unknown>,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    await mkdir(path.join(this.folder, 'done'), { recursive: true });
    this.timer = setInterval(() => void this.scan(), this.pollMs);
    this.log.info({ folder: this.folder }, 'watching folder for frames');
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async scan(): Promise<void> {
    if (this.scanning) return;
    this.scanning = true;
    try {
      const names = (await readdir(this.folder)).filter((name) => IMAGE_FILE.test(name));
      for (const name of names) {
        const file = path.join(this.folder, name);
        const size = (await stat(file).catch(() => null))?.size;
        if (size === undefined) continue;
        if (this.sizes.get(name) !== size) {
          this.sizes.set(name, size); // still being written, or new: look again next scan
          continue;
        }
        this.sizes.delete(name);
        await this.take(file, name);
      }
    } catch (error) {
      this.log.error({ folder: this.folder, err: (error as Error).message }, 'folder scan failed');
    } finally {
      this.scanning = false;
    }
  }

  private async take(file: string, name: string): Promise<void> {
    const receivedAt = performance.now();
    const partId = partIdFromFile(name);
    const image = await readFile(file);
    const done = path.join(this.folder, 'done', name);
    await rename(file, done);
    this.submit({ partId, image, source: 'folder', receivedAt }).catch(async (error: unknown) => {
      if (!(error instanceof PartIdInUse))
        return this.log.error({ file: name, partId, err: (error as Error).message }, 'frame from folder failed');
      // Another frame under this part id is still in inspection or review: the file goes back and is taken again later.
      this.log.warn({ file: name, partId }, `${error.message}; the file is taken again on a later scan`);
      await rename(done, file).catch((err: unknown) =>
        this.log.error({ file: name, err: (err as Error).message }, 'could not put the file back'),
      );
    });
  }
}

/**
 * The file name without its extension, when that is a valid part id. Otherwise the name made safe
 * for topics and file names, plus a short hash of the whole file name: "a b.jpg" and "a_b.jpg" are
 * two parts, not one part id twice.
 */
export function partIdFromFile(name: string): string {
  const base = path.basename(name).replace(IMAGE_FILE, '');
  if (isPartId(base)) return base;
  const hash = createHash('sha256').update(path.basename(name)).digest('hex').slice(0, 8);
  const safe = base
    .replace(/[^A-Za-z0-9._:-]/g, '_')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 128 - 9);
  return safe.length > 0 ? `${safe}-${hash}` : `file-${hash}`;
}
