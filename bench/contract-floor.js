// Launcher of the contract floor (bench/contract-floor.ts) with the V8 settings of a real station.
import '../bin/v8-flags.js';
import { register } from 'tsx/esm/api';

register();
await import('./contract-floor.ts');
