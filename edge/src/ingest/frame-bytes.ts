/**
 * A cap on the bytes of camera frames held in memory at once, across every ingest path and every
 * station of the process. The station's queue bounds frames by count, which says nothing about
 * memory when frames may be 20 MiB each; this bounds them by size. HTTP uploads reserve their
 * declared length before the body is read (over the cap: 503 at once); a frame that reaches a
 * station over the cap (MQTT, folder, trigger) is not inspected and goes to review with reason
 * `overload`, never a pass.
 */
export class FrameBytes {
  private held = 0;

  constructor(readonly capacity: number) {}

  get inUse(): number {
    return this.held;
  }

  /** Takes `bytes` if they fit; false (and nothing taken) when they would pass the cap. */
  take(bytes: number): boolean {
    if (bytes > 0 && this.held + bytes > this.capacity) return false;
    this.held += bytes;
    return true;
  }

  give(bytes: number): void {
    this.held = Math.max(0, this.held - bytes);
  }
}
