/** Runs in every test file (vitest `setupFiles`); its `afterAll` runs after the file's own hooks. */
import { afterAll } from 'vitest';
import { removeTempDirs } from './temp.ts';

afterAll(removeTempDirs);
