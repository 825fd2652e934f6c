/**
 * Several views of one part (a top and a side camera): each view has its camera, its own model and
 * its own thresholds, and the part gets one verdict, the worst of its views. To the station the set
 * is one camera and one inspector, so nothing else in the station changes:
 * - `capture` takes a frame from every view for the part (each within its camera's own deadline;
 *   a view that has none fails the part with that view's reason and name) and answers one image,
 *   the views side by side, which is what the review shows;
 * - `inspect` gates and scores each view's own frame with its own model, and answers the worst
 *   view's score on a common scale: each view's score is placed between its own thresholds
 *   (`(score − passBelow) / (rejectAbove − passBelow)`), so the station's thresholds are 0 and 1 —
 *   below 0 every view passes, from 1 one view rejects.
 * A frame that did not come from `capture` (HTTP, folder, MQTT) cannot be split into views: it is a
 * review with reason `model_error` saying so, never a guess.
 */
import sharp from 'sharp';
import type { Thresholds } from '../../../config/schema.ts';
import { InspectionError } from '../reasons.ts';
import type { Camera, Inspector, Measured } from '../station.ts';
import type { QualityGate } from '../vision/quality.ts';
import type { LineCamera } from './camera.ts';

export interface View {
  name: string;
  camera: LineCamera;
  model: Inspector & { close(): Promise<void> };
  /** the view's thresholds: configured, else its model's */
  thresholds: Thresholds;
}

/** Height each view is drawn at in the image a person reviews. */
const REVIEW_HEIGHT = 512;

export class ViewSet implements Camera, Inspector {
  readonly manifest: Inspector['manifest'];
  /** the views' own frames behind each combined image `capture` answered */
  private readonly frames = new WeakMap<Buffer, Buffer[]>();
  gates: QualityGate[] = [];

  constructor(readonly views: View[]) {
    this.manifest = {
      id: views.map((v) => `${v.name}:${v.model.manifest.id}`).join('+'),
      version: views.map((v) => String(v.model.manifest.version)).join('+'),
      thresholds: { passBelow: 0, rejectAbove: 1 },
    };
  }

  async capture(partId: string): Promise<Buffer> {
    const settled = await Promise.allSettled(this.views.map((view) => view.camera.capture(partId)));
    const failed = settled.findIndex((s) => s.status === 'rejected');
    if (failed >= 0) {
      const error = (settled[failed] as PromiseRejectedResult).reason as Error;
      const code = error instanceof InspectionError ? error.code : 'missing_frame';
      throw new InspectionError(code, `view ${this.views[failed].name}: ${error.message}`);
    }
    const images = settled.map((s) => (s as PromiseFulfilledResult<Buffer>).value);
    const combined = await sideBySide(images);
    this.frames.set(combined, images);
    return combined;
  }

  async inspect(image: Buffer): Promise<Measured & { score: number }> {
    const images = this.frames.get(image);
    if (!images)
      throw new InspectionError(
        'model_error',
        `this station has several views (${this.views.map((v) => v.name).join(', ')}): it inspects frames from its cameras only, not one frame from elsewhere`,
      );
    // Each view is fit to be scored, or the part is image_quality, naming the view: each view's worker
    // checks its frame on its own decode and refuses an unfit one unscored.
    const settled = await Promise.allSettled(
      this.views.map((view, i) => {
        const gate = this.gates[i];
        return gate
          ? gate.watch(view.model.manifest.quality, view.model.inspect(images[i], undefined, { quality: true }))
          : view.model.inspect(images[i]);
      }),
    );
    const refused = settled.findIndex(
      (s) => s.status === 'rejected' && s.reason instanceof InspectionError && s.reason.code === 'image_quality',
    );
    if (refused >= 0) {
      const error = (settled[refused] as PromiseRejectedResult).reason as InspectionError;
      throw new InspectionError(error.code, `view ${this.views[refused].name}: ${error.message}`);
    }
    const failed = settled.find((s) => s.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    const inspections = settled.map((s) => (s as PromiseFulfilledResult<Measured & { score: number }>).value);
    const placed = inspections.map((inspection, i) => {
      const { passBelow, rejectAbove } = this.views[i].thresholds;
      return (inspection.score - passBelow) / Math.max(rejectAbove - passBelow, 1e-9);
    });
    const worst = placed.indexOf(Math.max(...placed));
    return {
      score: placed[worst],
      decodeMs: Math.max(...inspections.map((i) => i.decodeMs)),
      inferMs: Math.max(...inspections.map((i) => i.inferMs)),
    };
  }

  async close(): Promise<void> {
    await Promise.all(this.views.map((view) => view.model.close()));
  }
}

/** The views side by side at one height, as one JPEG (what the review shows). */
async function sideBySide(images: Buffer[]): Promise<Buffer> {
  const scaled = await Promise.all(
    images.map((image) =>
      sharp(image)
        .resize({ height: REVIEW_HEIGHT })
        .toColourspace('srgb')
        .removeAlpha()
        .png()
        .toBuffer({ resolveWithObject: true }),
    ),
  );
  const width = scaled.reduce((sum, s) => sum + s.info.width, 0);
  let left = 0;
  const composite = scaled.map((s) => {
    const at = { input: s.data, left, top: 0 };
    left += s.info.width;
    return at;
  });
  return sharp({ create: { width, height: REVIEW_HEIGHT, channels: 3, background: '#000' } })
    .composite(composite)
    .jpeg({ quality: 90 })
    .toBuffer();
}
