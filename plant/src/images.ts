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

export type Fetched =
  | { ok: true; type: string; bytes: Buffer }
  | { ok: false; status: 404 | 502; type: 'image/svg+xml'; bytes: Buffer; message: string };

/** A placeholder the log page shows in place of the image, with the reason in words. */
export function placeholder(title: string, detail: string): Buffer {
  const escape = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  return Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="320" height="240" viewBox="0 0 320 240"><rect width="320" height="240" fill="#eee" stroke="#999" stroke-dasharray="6 4"/>` +
      `<text x="160" y="112" font-family="sans-serif" font-size="18" text-anchor="middle" fill="#333">${escape(title)}</text>` +
      `<text x="160" y="140" font-family="sans-serif" font-size="12" text-anchor="middle" fill="#555">${escape(detail)}</text></svg>`,
  );
}

export class EdgeBoxes {
  private readonly cookies = new Map<string, string>();
  private readonly csrf = new Map<string, string>();

  constructor(
    /** line id → the edge box that runs its stations */
    private readonly boxes: Map<string, EdgeBox>,
    private readonly credentials: { user: string; password: string } | null,
    private readonly timeoutMs = 3000,
  ) {}

  async fetch(line: string, station: string, partId: string, what: 'image' | 'heatmap'): Promise<Fetched> {
    const box = this.boxes.get(line);
    if (!box)
      return {
        ok: false,
        status: 404,
        type: 'image/svg+xml',
        bytes: placeholder('no edge box known', `line ${line} has no edge URL in the plant's settings`),
        message: `no edge box for line ${line}`,
      };
    const url = `${box.url.replace(/\/$/, '')}/api/parts/${line}/${station}/${encodeURIComponent(partId)}/${what}`;
    try {
      let response = await this.get(box.url, url);
      if (response.status === 401 && this.credentials) {
        this.cookies.delete(box.url);
        response = await this.get(box.url, url);
      }
      if (response.ok)
        return {
          ok: true,
          type: response.headers.get('content-type') ?? 'application/octet-stream',
          bytes: Buffer.from(await response.arrayBuffer()),
        };
      const status = response.status === 404 ? 404 : 502;
      const detail =
        status === 404 ? 'expired on the edge box, or never kept' : `the edge box answered ${response.status}`;
      return {
        ok: false,
        status,
        type: 'image/svg+xml',
        bytes: placeholder(`${what} not available`, detail),
        message: detail,
      };
    } catch (error) {
      const detail = `edge box ${new URL(box.url).host} is offline`;
      return {
        ok: false,
        status: 502,
        type: 'image/svg+xml',
        bytes: placeholder(`${what} not available now`, detail),
        message: `${detail}: ${(error as Error).message}`,
      };
    }
  }

  /** The box's URL for a line, or undefined when the plant knows none. */
  urlOf(line: string): string | undefined {
    return this.boxes.get(line)?.url;
  }

  /** An authenticated JSON request to the edge box of a line (the fleet's model roll-outs); throws when the box does not answer. */
  async call(line: string, route: string, body: object): Promise<{ status: number; body: unknown }> {
    const box = this.boxes.get(line);
    if (!box)
      return {
        status: 404,
        body: { error: 'unknown_edge', message: `no edge box known for line ${line} (--edge ${line}=URL)` },
      };
    const url = `${box.url.replace(/\/$/, '')}${route}`;
    const post = async () => {
      const cookie = await this.session(box.url);
      const csrf = this.csrf.get(box.url);
      return fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(cookie ? { cookie } : {}),
          ...(csrf ? { 'x-csrf-token': csrf } : {}),
        },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs * 10),
      });
    };
    let response = await post();
    if (response.status === 401 && this.credentials) {
      this.cookies.delete(box.url);
      response = await post();
    }
    return { status: response.status, body: await response.json().catch(() => null) };
  }

  private async session(base: string): Promise<string | undefined> {
    let cookie = this.cookies.get(base);
    if (!cookie && this.credentials) {
      const login = await fetch(`${base.replace(/\/$/, '')}/api/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: this.credentials.user, password: this.credentials.password }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      if (!login.ok) return undefined;
      cookie = login.headers
        .getSetCookie()
        .map((c) => c.split(';')[0])
        .join('; ');
      this.cookies.set(base, cookie);
      const { csrf } = (await login.json().catch(() => ({}))) as { csrf?: string };
      if (csrf) this.csrf.set(base, csrf);
    }
    return cookie;
  }

  private async get(base: string, url: string): Promise<Response> {
    const cookie = await this.session(base);
    return fetch(url, { headers: cookie ? { cookie } : {}, signal: AbortSignal.timeout(this.timeoutMs) });
  }
}
