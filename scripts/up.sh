#!/usr/bin/env bash
# From a fresh clone to a running platform with one command. State stays on this machine
# (a local file backend), so no Pulumi Cloud account is needed.
#   ./scripts/up.sh [stack] [extra `pulumi up` flags]     e.g. ./scripts/up.sh dev --yes
set -euo pipefail
stack="${1:-dev}"
shift || true
cd "$(dirname "$0")/.."

for tool in pulumi aws python3; do
  command -v "$tool" >/dev/null || { echo "needs '$tool' on PATH (see README: Requirements)" >&2; exit 1; }
done
aws sts get-caller-identity --query Arn --output text >/dev/null \
  || { echo "no working AWS credentials (try 'aws sso login' or set AWS_PROFILE)" >&2; exit 1; }

python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt

export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://$PWD/.pulumi-state}"
mkdir -p .pulumi-state
if [ -z "${PULUMI_CONFIG_PASSPHRASE:-}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
  echo "Pulumi will ask for a passphrase that encrypts this stack's secrets; keep it (or set PULUMI_CONFIG_PASSPHRASE)."
fi
pulumi stack select --create "$stack"
pulumi up --stack "$stack" "$@"
