// V8 settings every station process starts with: bin/loupe.js, and the bench's contract floor, so
// the two differ only in what Loupe does per part.
//
// A small young generation (2 MB semi-spaces) is collected more often and keeps an edge box's peak
// memory low. Set here, at run time, a V8 flag reaches only the isolates created after it: the
// inspection workers, whose young generation it takes from the 8 MB their resource limits ask for
// down to 4 MB. The event loop's own isolate exists already and keeps V8's default (32 MB of new
// space) unless node gets the flag on its command line, as `npm start`, the `loupe` command's first
// line and the pipeline bench give it. What each saves in peak memory: docs/benchmarks.md, "Why the
// code is as it is".
import v8 from 'node:v8';

v8.setFlagsFromString('--max-semi-space-size=2');
