/** Runs in every test file (vitest `setupFiles`); its `afterAll` runs after the file's own hooks. */
import { afterAll } from 'vitest';
import { removeTempDirs } from './temp.ts';

afterAll(removeTempDirs);

// Every HTTP answer of a Loupe server started by a test (in process or as a child) is checked
// against its route's response schema before it is sent (shared/http/openapi.ts).
process.env.LOUPE_CHECK_ANSWERS = '1';
