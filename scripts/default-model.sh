#!/usr/bin/env bash
# Reproduces models/default: synthetic bracket parts (seed 1, 200 good), fitted by `loupe fit`.
set -euo pipefail
cd "$(dirname "$0")/.."
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
node bin/loupe.js synth --out "$data" --seed 1 --count 200 --category bracket
node bin/loupe.js fit --data "$data/bracket" --out models/default --id default --version 1
node bin/loupe.js eval --model models/default --data "$data/bracket"
