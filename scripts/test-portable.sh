#!/usr/bin/env bash
# The Jest suite against the addon macOS and the BSDs build, compiled on Linux with the
# `portable-fallbacks` feature (the reader set the I/O thread watches, accept and fcntl, plain
# UDP loops). The binary goes into a copy of the package and its tests, so the working tree's
# own binary stays as it is. Arguments go to Jest (test files, -t NAME).
set -euo pipefail
cd "$(dirname "$0")/.."

copy=$(mktemp -d)
trap 'rm -rf "$copy"' EXIT
cp -r package.json index.* polyfill.* binding.js binding.d.ts bun-module.d.ts lib __test__ "$copy"
ln -s "$PWD/node_modules" "$copy/node_modules"
node scripts/build.js build --features portable-fallbacks --output-dir "$copy"
cd "$copy"
node node_modules/jest/bin/jest.js --ci "$@"
