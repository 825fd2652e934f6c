#!/usr/bin/env -S node --max-semi-space-size=2
// Launcher: runs the TypeScript CLI through tsx so that `npm start` needs no build step.
import './v8-flags.js';
import { register } from 'tsx/esm/api';

register();
await import('../cli/main.ts');
