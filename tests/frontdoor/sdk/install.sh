#!/usr/bin/env bash
# Installs the OpenAI SDK test kit into this directory's node_modules,
# exactly as package-lock.json pins it (npm ci: no resolution, no
# lockfile changes, install scripts off). Needs node and npm
# (deploy/install-deps.sh installs Debian's when they are missing) and the
# npm registry. Idempotent: skips when node_modules matches the lock.
set -euo pipefail
cd "$(dirname "$0")"

for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "sdk kit: $tool is missing (deploy/install-deps.sh installs it)" >&2; exit 1; }
done

want=$(node -p 'require("./package-lock.json").packages["node_modules/openai"].version')
have=$(node -p 'try { require("./node_modules/openai/package.json").version } catch { "" }')
if [[ "$have" == "$want" && -f node_modules/.package-lock.json ]]; then
  echo "sdk kit: openai $have already installed"
  exit 0
fi

npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
node --input-type=module -e 'import OpenAI from "openai"; import { VERSION } from "openai/version";
  if (typeof OpenAI !== "function") throw new Error("no OpenAI class");
  console.log(`sdk kit: openai ${VERSION} installed`);'
