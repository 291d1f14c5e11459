#!/bin/sh
# Main container of the inference pod: serves the base model under its name and, with
# --lora-modules, each adapter the init container found, under the adapter's own name.
set -eu
: "${BASE_MODEL:?}" "${SERVED_MODEL_NAME:?}" "${MODELS_DIR:=/models}" "${PORT:=8000}"

# The image's user has no home of its own: caches go under HOME on the scratch volume.
mkdir -p "${HOME:-/tmp}" 2>/dev/null || true

model="${BASE_MODEL}"
if [ -f "${MODELS_DIR}/base/config.json" ]; then
  model="${MODELS_DIR}/base"
fi

set -- "${model}" --served-model-name "${SERVED_MODEL_NAME}" --host 0.0.0.0 --port "${PORT}" \
  --download-dir "${MODELS_DIR}/hub" --dtype "${DTYPE:-auto}" --max-model-len "${MAX_MODEL_LEN:?}" \
  --gpu-memory-utilization "${GPU_MEMORY_UTILIZATION:?}" --tensor-parallel-size "${TENSOR_PARALLEL_SIZE:-1}"

# --lora-modules takes every adapter after one flag (given twice, the second would replace the first).
# Adapter names are DNS labels and the paths have no spaces, so plain word splitting is safe.
modules=""
count=0
for adapter in ${ADAPTERS:-}; do
  if [ -f "${MODELS_DIR}/adapters/${adapter}/adapter_config.json" ]; then
    modules="${modules} ${adapter}=${MODELS_DIR}/adapters/${adapter}"
    count=$((count + 1))
  fi
done
if [ "${count}" -gt 0 ]; then
  # shellcheck disable=SC2086
  set -- "$@" --enable-lora --max-loras "${count}" --max-lora-rank "${MAX_LORA_RANK:?}" --lora-modules ${modules}
fi

echo "vllm serve $*"
exec vllm serve "$@"
