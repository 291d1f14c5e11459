#!/usr/bin/env bash
# Installs the private model server for the current user as a rootless podman Quadlet unit:
# builds the image (once), writes ~/.config/containers/systemd/private-model.container from
# private-model.container with the options below, turns on lingering (so the server starts at
# boot, with no one logged in), reloads systemd and (re)starts private-model.service, then waits
# until http://127.0.0.1:PORT/v1/models answers. Run it again to change a setting.
#
# Usage: install.sh [options]
#   --model FILE.gguf  the model (default $MODELS_DIR/deepseek-r1-distill-qwen-1.5b-f16.gguf,
#                      what convert.sh writes); its folder is mounted read-only
#   --name NAME        the name the server lists and answers to (default deepseek-r1-distill-qwen-1.5b);
#                      the chatbot's PRIVATE_MODEL
#   --ctx N            context size in tokens (default 8192)
#   --threads N        CPU threads (default: half the CPUs, about the physical cores)
#   --port N           the port on 127.0.0.1 (default 8000; the Skupper connector's port)
#   --image REF        the server image (default localhost/private-model:0.3.36, built from
#                      the Dockerfile here when missing)
#   --no-build         fail instead of building a missing image
#   --no-start         install the unit and reload systemd, start nothing
#   --wait SECONDS     how long to wait for the server (default 600; 0: do not wait)
#
# Needs podman 4.6 or later and systemd. Environment: MODELS_DIR (default ~/models).
set -euo pipefail

VERSION=0.3.36   # llama-cpp-python, as in requirements-server.txt
UNIT=private-model

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
models_dir=${MODELS_DIR:-$HOME/models}
model=$models_dir/deepseek-r1-distill-qwen-1.5b-f16.gguf
name=deepseek-r1-distill-qwen-1.5b
ctx=8192
threads=$(($(nproc) / 2))
((threads >= 1)) || threads=1
port=8000
image=localhost/private-model:$VERSION
build=1
start=1
wait_s=600

die() { echo "install.sh: $*" >&2; exit 1; }
log() { echo "install.sh: $*" >&2; }
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }
need_value() { (($# >= 2)) && [[ -n $2 ]] || die "$1 needs a value"; }
whole_number() { [[ $2 =~ ^(0|[1-9][0-9]*)$ ]] || die "$1 must be a whole number, not '$2'"; }

while (($#)); do
    case $1 in
        -h | --help) usage; exit 0 ;;
        --model) need_value "$@"; model=$2; shift ;;
        --name) need_value "$@"; name=$2; shift ;;
        --ctx) need_value "$@"; whole_number "$1" "$2"; ctx=$2; shift ;;
        --threads) need_value "$@"; whole_number "$1" "$2"; threads=$2; shift ;;
        --port) need_value "$@"; whole_number "$1" "$2"; port=$2; shift ;;
        --image) need_value "$@"; image=$2; shift ;;
        --no-build) build=0 ;;
        --no-start) start=0 ;;
        --wait) need_value "$@"; whole_number "$1" "$2"; wait_s=$2; shift ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
    shift
done

((port >= 1 && port <= 65535)) || die "--port must be between 1 and 65535, not $port"
((ctx >= 256)) || die "--ctx must be 256 or more, not $ctx"
((threads >= 1)) || die "--threads must be 1 or more"
[[ $name =~ ^[A-Za-z0-9][A-Za-z0-9._:-]*$ ]] || die "--name may hold letters, digits and . _ : - only, not '$name'"
[[ $image =~ ^[A-Za-z0-9][A-Za-z0-9./:@_-]*$ ]] || die "--image is not an image reference: '$image'"

# The model: a readable GGUF file, at a path systemd takes as is (no spaces, quotes, % or \).
[[ -f $model ]] || die "no model at $model: convert one with convert.sh, or pass --model FILE.gguf"
[[ -r $model ]] || die "$model is not readable"
model_dir=$(cd "$(dirname "$model")" && pwd)
model_file=$(basename "$model")
[[ $model_dir/$model_file =~ ^[A-Za-z0-9/._+-]+$ ]] \
    || die "the model's path may hold letters, digits and / . _ + - only: $model_dir/$model_file"
[[ $(head -c 4 "$model") == GGUF ]] || die "$model is not a GGUF file"

command -v podman >/dev/null || die "podman is not installed"
command -v systemctl >/dev/null || die "systemd (systemctl) is not available"
podman_version=$(podman version --format '{{.Client.Version}}' 2>/dev/null || podman --version | awk '{print $NF}')
IFS=. read -r major minor _ <<<"$podman_version"
if ! ((major > 4 || (major == 4 && minor >= 6))); then
    die "podman $podman_version is too old: Quadlet with health checks needs 4.6 or later"
fi

if ! podman image exists "$image"; then
    ((build)) || die "the image $image is missing (and --no-build was given)"
    log "building $image from $here/Dockerfile (compiles llama-cpp-python: several minutes)"
    podman build --tag "$image" "$here"
fi

# The unit, with this host's settings in place of the template's.
units=${XDG_CONFIG_HOME:-$HOME/.config}/containers/systemd
mkdir -p "$units"
tmp=$(mktemp "$units/.$UNIT.XXXXXX")
trap 'rm -f "$tmp"' EXIT
IMAGE=$image PORT=$port DIR=$model_dir FILE=$model_file NAME=$name CTX=$ctx THREADS=$threads awk '
    /^Image=/                    { print "Image=" ENVIRON["IMAGE"]; next }
    /^PublishPort=/              { print "PublishPort=127.0.0.1:" ENVIRON["PORT"] ":8000"; next }
    /^Volume=/                   { print "Volume=" ENVIRON["DIR"] ":/models:ro,Z"; next }
    /^Environment=MODEL=/        { print "Environment=MODEL=/models/" ENVIRON["FILE"]; next }
    /^Environment=MODEL_ALIAS=/  { print "Environment=MODEL_ALIAS=" ENVIRON["NAME"]; next }
    /^Environment=N_CTX=/        { print "Environment=N_CTX=" ENVIRON["CTX"]; next }
    /^Environment=N_THREADS=/    { print "Environment=N_THREADS=" ENVIRON["THREADS"]; next }
    { print }
' "$here/$UNIT.container" >"$tmp"
chmod 0644 "$tmp"
# Quadlet skips a unit it cannot read, silently: ask its generator first, where it can be found.
for quadlet in "$(command -v quadlet || true)" /usr/libexec/podman/quadlet /usr/lib/podman/quadlet; do
    [[ -n $quadlet && -x $quadlet ]] || continue
    check=$(mktemp -d)
    cp "$tmp" "$check/$UNIT.container"
    if ! errors=$(QUADLET_UNIT_DIRS=$check "$quadlet" -dryrun -user 2>&1 >/dev/null); then
        echo "$errors" >&2
        rm -rf "$check"
        die "Quadlet cannot use the unit (above); nothing was installed"
    fi
    rm -rf "$check"
    break
done
mv -f "$tmp" "$units/$UNIT.container"
trap - EXIT
log "wrote $units/$UNIT.container"

# Lingering: the user's systemd (and so the server) starts at boot and outlives logouts.
if ! loginctl enable-linger "$(id -un)"; then
    log "could not turn on lingering; ask an administrator: sudo loginctl enable-linger $(id -un)"
fi
systemctl --user daemon-reload
if ((!start)); then
    log "installed; start it with: systemctl --user start $UNIT"
    exit 0
fi
# restart: starts it when stopped, and makes a running one take the new unit.
systemctl --user restart "$UNIT"

url=http://127.0.0.1:$port/v1/models
answers() {
    if command -v curl >/dev/null; then
        curl --fail --silent --max-time 5 "$1" >/dev/null 2>&1
    else
        python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)' "$1" >/dev/null 2>&1
    fi
}
if ((wait_s > 0)); then
    log "waiting up to ${wait_s}s for $url"
    deadline=$((SECONDS + wait_s))
    until answers "$url"; do
        if ((SECONDS >= deadline)); then
            die "no answer from $url after ${wait_s}s; see: systemctl --user status $UNIT; journalctl --user -u $UNIT"
        fi
        if ! systemctl --user is-active --quiet "$UNIT"; then
            log "$UNIT is not running (yet); systemd restarts it, see: journalctl --user -u $UNIT"
        fi
        sleep 2
    done
    log "serving $name at $url"
fi
cat >&2 <<EOF
install.sh: next: the Skupper site's Connector (routing key private-llm) targets 127.0.0.1:$port;
install.sh: the stack's privateModel.servedModelName (the chatbot's PRIVATE_MODEL) is $name
EOF
