/** Logging in to a running Loupe from a test, as a browser would: session cookie plus CSRF token. */
import { expect } from 'vitest';

/** The first admin every test product starts with (startLoupe passes it in the environment). */
export const ADMIN = { name: 'admin', password: 'admin-password-for-tests' };

export interface Client {
  name: string;
  cookie: string;
  csrf: string;
  get(path: string): Promise<Response>;
  post(path: string, body?: object): Promise<Response>;
}

export async function login(baseUrl: string, name = ADMIN.name, password = ADMIN.password): Promise<Client> {
  const response = await fetch(new URL('/api/login', baseUrl), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name, password }),
  });
  expect(response.status, `login as ${name}: ${await response.clone().text()}`).toBe(200);
  const cookie = (response.headers.get('set-cookie') ?? '').split(';')[0];
  const { csrf } = (await response.json()) as { csrf: string };
  const headers = { cookie, 'x-csrf-token': csrf };
  return {
    name,
    cookie,
    csrf,
    get: (path) => fetch(new URL(path, baseUrl), { headers }),
    post: (path, body) =>
      fetch(new URL(path, baseUrl), {
        method: 'POST',
        headers: body ? { ...headers, 'content-type': 'application/json' } : headers,
        body: body ? JSON.stringify(body) : undefined,
      }),
  };
}

/** Registers a person (as the admin) and logs them in. */
export async function person(
  baseUrl: string,
  name: string,
  role: 'technician' | 'manager' | 'admin' = 'technician',
): Promise<Client> {
  const admin = await login(baseUrl);
  const password = `${name}-password-123`;
  const added = await admin.post('/api/people', { name, role, password });
  expect(added.status, await added.clone().text()).toBe(201);
  return login(baseUrl, name, password);
}
