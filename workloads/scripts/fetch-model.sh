#!/bin/sh
# Init container of the inference pod: copies the base model (when it is mirrored in the
# model-assets bucket) and every published adapter into /models. A missing adapter is not an
# error: the server starts without it, and a restart after the fine-tuning run picks it up.
set -eu
: "${MODEL_ASSETS_BUCKET:?}" "${BASE_MODEL:?}" "${BASE_MODEL_PREFIX:?}" "${MODELS_DIR:=/models}"
bucket="s3://${MODEL_ASSETS_BUCKET}"

if aws s3 ls "${bucket}/${BASE_MODEL_PREFIX}/config.json" >/dev/null 2>&1; then
  echo "base model: syncing ${bucket}/${BASE_MODEL_PREFIX}/"
  aws s3 sync --only-show-errors "${bucket}/${BASE_MODEL_PREFIX}/" "${MODELS_DIR}/base/"
else
  echo "base model: not mirrored at ${bucket}/${BASE_MODEL_PREFIX}/; the server downloads ${BASE_MODEL} from Hugging Face"
fi

for adapter in ${ADAPTERS:-}; do
  source="${bucket}/adapters/${adapter}/"
  if aws s3 ls "${source}adapter_config.json" >/dev/null 2>&1; then
    echo "adapter ${adapter}: syncing ${source}"
    aws s3 sync --only-show-errors "${source}" "${MODELS_DIR}/adapters/${adapter}/"
  else
    echo "adapter ${adapter}: not published yet at ${source}; serving without it"
  fi
done
