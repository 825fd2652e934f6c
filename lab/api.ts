/**
 * Loupe's HTTP API as our own tools call it (simulate, benchmarks): logged in as a person, with the
 * session cookie and CSRF token a browser would send, and loud. A refused call throws with its status
 * and the server's message; a tool that went on after a 401 or 403 would report figures from a loop
 * that never closed.
 */

export interface ApiClient {
  get<T>(path: string): Promise<T>;
  post<T>(path: string, body: object): Promise<T>;
  /** a frame upload (public route, no session needed on loopback) */
  frame<T>(station: string, partId: string, image: Buffer, type?: string): Promise<T>;
}

export class ApiRefused extends Error {}

async function answer<T>(what: string, response: Response): Promise<T> {
  const text = await response.text();
  if (!response.ok) throw new ApiRefused(`${what} was refused: HTTP ${response.status} ${text.slice(0, 300)}`);
  return (text.length > 0 ? JSON.parse(text) : undefined) as T;
}

/** Logs in as `name` and answers a client that sends its session with every call. */
export async function loginApi(baseUrl: string, name: string, password: string): Promise<ApiClient> {
  const url = (p: string) => new URL(p, baseUrl);
  const response = await fetch(url('/api/login'), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name, password }),
  });
  const session = await answer<{ csrf: string; role: string }>(`login as ${name}`, response);
  const cookie = (response.headers.get('set-cookie') ?? '').split(';')[0];
  const headers = { cookie, 'x-csrf-token': session.csrf };
  return {
    get: async (p) => answer(`GET ${p}`, await fetch(url(p), { headers })),
    post: async (p, body) =>
      answer(
        `POST ${p}`,
        await fetch(url(p), {
          method: 'POST',
          headers: { ...headers, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        }),
      ),
    frame: async (station, partId, image, type = 'image/jpeg') =>
      answer(
        `frame ${partId}`,
        await fetch(url(`/api/stations/${station}/frames?partId=${encodeURIComponent(partId)}`), {
          method: 'POST',
          headers: { 'content-type': type },
          body: new Uint8Array(image),
        }),
      ),
  };
}
