// V8 settings every station process starts with: bin/loupe.js, and the bench's contract floor, so
// the two differ only in what Loupe does per part.
//
// A smaller young generation is collected more often and keeps an edge box's peak memory low
// (measured when it was set: peak RSS under the pipeline benchmark 391 MB → 355 MB, throughput
// unchanged within noise; 2026-11-30, three alternating pairs without it: +10–15 MB, the ratio
// within noise). Set at run time, a V8 flag reaches only the isolates created after it: here the
// inspection workers, whose young generation it takes from the 8 MB their resource limits ask for
// down to 4 MB. The event loop's own isolate keeps V8's default (32 MB); only the command line
// (`node --max-semi-space-size=2`) would change that.
import v8 from 'node:v8';

v8.setFlagsFromString('--max-semi-space-size=2');
