// Launcher of the contract floor (bench/contract-floor.ts) with the V8 settings bin/loupe.js gives
// a real station, so the two differ only in what Loupe does per part.
import v8 from 'node:v8';
import { register } from 'tsx/esm/api';

v8.setFlagsFromString('--max-semi-space-size=2');

register();
await import('./contract-floor.ts');
