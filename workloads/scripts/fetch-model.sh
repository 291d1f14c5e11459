#!/bin/sh
# Init container of the inference pod: copies the base model (when it is mirrored in the
# model-assets bucket) and every published adapter into /models. A missing adapter is not an
# error: the server starts without it, and a restart after the fine-tuning run picks it up.
set -eu
: "${MODEL_ASSETS_BUCKET:?}" "${BASE_MODEL:?}" "${BASE_MODEL_PREFIX:?}" "${MODELS_DIR:=/models}"
bucket="s3://${MODEL_ASSETS_BUCKET}"

# Whether an object exists. `aws s3 ls` exits 1 when nothing matches; any other failure (no
# credentials, AccessDenied) stops the pod with the error instead of looking like "not there".
exists() {
  code=0
  aws s3 ls "$1" >/dev/null 2>"${TMPDIR:-/tmp}/aws-error" || code=$?
  if [ "${code}" -eq 0 ]; then return 0; fi
  if [ "${code}" -eq 1 ]; then return 1; fi
  cat "${TMPDIR:-/tmp}/aws-error" >&2
  echo "cannot read $1 (aws exit ${code}): check the pod's IRSA role" >&2
  exit "${code}"
}

if exists "${bucket}/${BASE_MODEL_PREFIX}/config.json"; then
  echo "base model: syncing ${bucket}/${BASE_MODEL_PREFIX}/"
  aws s3 sync --only-show-errors "${bucket}/${BASE_MODEL_PREFIX}/" "${MODELS_DIR}/base/"
else
  echo "base model: not mirrored at ${bucket}/${BASE_MODEL_PREFIX}/; the server downloads ${BASE_MODEL} from Hugging Face"
fi

for adapter in ${ADAPTERS:-}; do
  source="${bucket}/adapters/${adapter}/"
  if exists "${source}adapter_config.json"; then
    echo "adapter ${adapter}: syncing ${source}"
    aws s3 sync --only-show-errors "${source}" "${MODELS_DIR}/adapters/${adapter}/"
  else
    echo "adapter ${adapter}: not published yet at ${source}; serving without it"
  fi
done
