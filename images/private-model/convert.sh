#!/usr/bin/env bash
# Converts a Hugging Face checkpoint to GGUF for the private model server, with llama.cpp's own
# converter (convert_hf_to_gguf.py) taken from the llama-cpp-python sdist of the version the
# server image runs, so the converter and the server are the same llama.cpp.
#
# Usage: convert.sh [--force] [MODEL [OUTPUT.gguf]] [-- CONVERTER-OPTIONS...]
#        convert.sh --fetch       only get the converter and its Python environment (then offline)
#
#   MODEL   a checkpoint folder (config.json, *.safetensors, tokenizer files), or a Hub id
#           downloaded before with `hf download ID` (found in the Hugging Face cache) or with
#           `hf download ID --local-dir $MODELS_DIR/NAME`.
#           Default: deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B.
#   OUTPUT  default: $MODELS_DIR/<name, lower case>-<outtype>.gguf, e.g.
#           ~/models/deepseek-r1-distill-qwen-1.5b-f16.gguf (what private-model.container serves).
#
# Environment:
#   MODELS_DIR             where models live (default ~/models; the unit mounts it read-only)
#   OUTTYPE                f16 (default), bf16, q8_0 or f32
#   PRIVATE_MODEL_CACHE    the converter, its sdist and its venv (default ~/.cache/private-model)
#   LLAMA_CPP_PYTHON_SDIST a llama_cpp_python-0.3.36.tar.gz already on disk (hosts without PyPI)
#   CONVERTER_PYTHON       a Python that already has requirements-convert.txt (skips the venv)
#   PYTHON                 the Python that makes the venv (default python3, 3.10 or later)
#
# A model that is GGUF already needs no conversion: point install.sh --model at it.
set -euo pipefail

LLAMA_CPP_PYTHON_VERSION=0.3.36   # as in requirements-server.txt: the server's llama.cpp
DEFAULT_MODEL=deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${PRIVATE_MODEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/private-model}
models_dir=${MODELS_DIR:-$HOME/models}
outtype=${OUTTYPE:-f16}
sdist_name=llama_cpp_python-${LLAMA_CPP_PYTHON_VERSION}.tar.gz
converter_dir=$cache/llama.cpp-from-llama-cpp-python-${LLAMA_CPP_PYTHON_VERSION}
venv=$cache/convert-venv-${LLAMA_CPP_PYTHON_VERSION}

die() { echo "convert.sh: $*" >&2; exit 1; }
log() { echo "convert.sh: $*" >&2; }

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }

# The converter, its `conversion` package, its `gguf` package (gguf-py) and its chat templates,
# unpacked from the sdist once. $1: a Python with pip, to download the sdist.
fetch_converter() {
    [[ -f $converter_dir/convert_hf_to_gguf.py ]] && return
    mkdir -p "$cache"
    local sdist=${LLAMA_CPP_PYTHON_SDIST:-$cache/$sdist_name}
    if [[ ! -f $sdist ]]; then
        log "downloading the llama-cpp-python ${LLAMA_CPP_PYTHON_VERSION} sdist (75 MB, source only)"
        "$1" -m pip download --disable-pip-version-check --quiet --no-binary :all: --no-deps \
            "llama-cpp-python==${LLAMA_CPP_PYTHON_VERSION}" -d "$cache" \
            || die "could not download the sdist; put $sdist_name there or set LLAMA_CPP_PYTHON_SDIST"
    fi
    local top=llama_cpp_python-${LLAMA_CPP_PYTHON_VERSION}/vendor/llama.cpp tmp
    tmp=$(mktemp -d "$cache/.unpack.XXXXXX")
    chmod 0755 "$tmp"
    tar -xzf "$sdist" -C "$tmp" --strip-components=3 --wildcards \
        "$top/convert_hf_to_gguf.py" "$top/conversion/*" "$top/gguf-py/*" "$top/models/templates/*" "$top/LICENSE" \
        || { rm -rf "$tmp"; die "$sdist is not the llama-cpp-python ${LLAMA_CPP_PYTHON_VERSION} sdist"; }
    rm -rf "$converter_dir"
    mv "$tmp" "$converter_dir"
    log "converter in $converter_dir"
}

# The Python that runs the converter: CONVERTER_PYTHON, or a venv with requirements-convert.txt.
converter_python() {
    if [[ -n ${CONVERTER_PYTHON:-} ]]; then
        echo "$CONVERTER_PYTHON"
        return
    fi
    if [[ ! -x $venv/bin/python || ! -f $venv/.complete ]]; then
        log "making the converter's Python environment in $venv (CPU torch, transformers)"
        rm -rf "$venv"
        "${PYTHON:-python3}" -m venv "$venv" >&2
        local torch_pin
        torch_pin=$(grep -E '^torch==' "$here/requirements-convert.txt")
        "$venv/bin/pip" install --quiet --disable-pip-version-check \
            --index-url https://download.pytorch.org/whl/cpu "$torch_pin" >&2
        "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements-convert.txt" >&2
        touch "$venv/.complete"
    fi
    echo "$venv/bin/python"
}

# A folder as is; a Hub id: $MODELS_DIR/NAME, else the snapshot `hf download` left in the cache.
resolve_model() {
    local model=$1
    if [[ -d $model ]]; then
        (cd "$model" && pwd)
        return
    fi
    [[ $model == */* && $model != /* && $model != .* ]] || die "$model is not a folder"
    if [[ -d $models_dir/${model##*/} ]]; then
        (cd "$models_dir/${model##*/}" && pwd)
        return
    fi
    local hub=${HF_HUB_CACHE:-${HF_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/huggingface}/hub}
    local repo=$hub/models--${model//\//--} revision=main
    [[ -f $repo/refs/main ]] && revision=$(<"$repo/refs/main")
    [[ -d $repo/snapshots/$revision ]] \
        || die "$model is neither a folder nor downloaded: run \`hf download $model\` first"
    echo "$repo/snapshots/$revision"
}

main() {
    local force=0 fetch_only=0 positional=() extra=()
    while (($#)); do
        case $1 in
            -h | --help) usage; exit 0 ;;
            --force) force=1 ;;
            --fetch) fetch_only=1 ;;
            --) shift; extra=("$@"); break ;;
            -*) die "unknown option $1 (see --help)" ;;
            *) positional+=("$1") ;;
        esac
        shift
    done
    ((${#positional[@]} <= 2)) || die "too many arguments (see --help)"
    case $outtype in f16 | bf16 | q8_0 | f32) ;; *) die "OUTTYPE must be f16, bf16, q8_0 or f32, not $outtype" ;; esac

    local python
    if ((fetch_only)); then
        python=$(converter_python)
        fetch_converter "$python"
        log "ready: conversions now need no network"
        return
    fi

    local model_arg=${positional[0]:-$DEFAULT_MODEL} model_dir
    model_dir=$(resolve_model "$model_arg")
    [[ -f $model_dir/config.json ]] || die "$model_dir has no config.json: not a Hugging Face checkpoint"
    local name=${model_arg%/}
    name=${name##*/}
    local output=${positional[1]:-$models_dir/$(tr '[:upper:]' '[:lower:]' <<<"$name")-$outtype.gguf}
    [[ $output == *.gguf ]] || die "the output must end in .gguf: $output"
    if [[ -e $output && $force -eq 0 ]]; then
        log "$output exists; pass --force to convert again"
        echo "$output"
        return
    fi

    python=$(converter_python)
    fetch_converter "$python"
    mkdir -p "$(dirname "$output")"
    # Written next to the target and renamed at the end: the server never sees half a file.
    local partial=$output.partial
    rm -f "$partial"
    log "converting $model_dir to $output ($outtype)"
    if ! "$python" "$converter_dir/convert_hf_to_gguf.py" "$model_dir" \
        --outtype "$outtype" --outfile "$partial" ${extra[@]+"${extra[@]}"} >&2; then
        rm -f "$partial"
        die "the conversion failed"
    fi
    chmod 0644 "$partial"   # the server runs as another user id in the container
    mv -f "$partial" "$output"
    log "done: $output"
    echo "$output"
}

main "$@"
