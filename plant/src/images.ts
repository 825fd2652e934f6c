/**
 * Images stay on the edge box that took them; the plant fetches a part's image or heatmap through
 * that box's dashboard routes when someone opens the part. The plant logs in to each box as a
 * person of its own (a `manager` account made on the box for the plant), keeps the session cookie
 * and logs in again when the box forgets it. A box that does not answer gives a placeholder image
 * that says so, never an error page in place of evidence.
 */
export interface EdgeBox {
  /** the box's HTTP base URL, e.g. http://edge-3.plant:8080 */
  url: string;
}

export type Fetched = { ok: true; type: string; bytes: Buffer } | { ok: false; status: 404 | 502; type: 'image/svg+xml'; bytes: Buffer; message: string };

/** A placeholder the log page shows in place of the image, with the reason in words. */
export function placeholder(title: string, detail: string): Buffer {
  const escape = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  return Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="320" height="240" viewBox="0 0 320 240"><rect width="320" height="240" fill="#eee" stroke="#999" stroke-dasharray="6 4"/>` +
      `<text x="160" y="112" font-family="sans-serif" font-size="18" text-anchor="middle" fill="#333">${escape(title)}</text>` +
      `<text x="160" y="140" font-family="sans-serif" font-size="12" text-anchor="middle" fill="#555">${escape(detail)}</text></svg>`,
  );
}

export class EdgeImages {
  private readonly cookies = new Map<string, string>();

  constructor(
    /** line id → the edge box that runs its stations */
    private readonly boxes: Map<string, EdgeBox>,
    private readonly credentials: { user: string; password: string } | null,
    private readonly timeoutMs = 3000,
  ) {}

  async fetch(line: string, station: string, partId: string, what: 'image' | 'heatmap'): Promise<Fetched> {
    const box = this.boxes.get(line);
    if (!box) return { ok: false, status: 404, type: 'image/svg+xml', bytes: placeholder('no edge box known', `line ${line} has no edge URL in the plant's settings`), message: `no edge box for line ${line}` };
    const url = `${box.url.replace(/\/$/, '')}/api/parts/${line}/${station}/${encodeURIComponent(partId)}/${what}`;
    try {
      let response = await this.get(box.url, url);
      if (response.status === 401 && this.credentials) {
        this.cookies.delete(box.url);
        response = await this.get(box.url, url);
      }
      if (response.ok) return { ok: true, type: response.headers.get('content-type') ?? 'application/octet-stream', bytes: Buffer.from(await response.arrayBuffer()) };
      const status = response.status === 404 ? 404 : 502;
      const detail = status === 404 ? 'expired on the edge box, or never kept' : `the edge box answered ${response.status}`;
      return { ok: false, status, type: 'image/svg+xml', bytes: placeholder(`${what} not available`, detail), message: detail };
    } catch (error) {
      const detail = `edge box ${new URL(box.url).host} is offline`;
      return { ok: false, status: 502, type: 'image/svg+xml', bytes: placeholder(`${what} not available now`, detail), message: `${detail}: ${(error as Error).message}` };
    }
  }

  private async get(base: string, url: string): Promise<Response> {
    let cookie = this.cookies.get(base);
    if (!cookie && this.credentials) {
      const login = await fetch(`${base.replace(/\/$/, '')}/api/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: this.credentials.user, password: this.credentials.password }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      if (!login.ok) return login;
      cookie = login.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
      this.cookies.set(base, cookie);
    }
    return fetch(url, { headers: cookie ? { cookie } : {}, signal: AbortSignal.timeout(this.timeoutMs) });
  }
}
