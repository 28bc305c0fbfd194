#!/usr/bin/env bash
# faultline's test command (README "Set-up"; CI runs exactly this through .ci/run).
# Builds once, in the release profile, and runs every unit, property and end-to-end test.
# Tests that need system packages fail with a message naming the package; none is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
  echo "error: cargo not found: install a Rust toolchain (https://rustup.rs) first" >&2
  exit 3
fi
if [ ! -f ../shared/data/porcupine/EXPECTED.tsv ] && [ -z "${FAULTLINE_TESTDATA:-}" ]; then
  echo "error: known-answer histories not found at ../shared/data/porcupine;" \
       "check out shared/ beside this repository or set FAULTLINE_TESTDATA" >&2
  exit 3
fi

# System packages the tests use: nftables and iproute2 (kernel partitions), libfaketime (clock
# faults), etcd-server (the etcd target), postgresql (the postgres target), rabbitmq-server (the
# rabbitmq target), zookeeper (the zookeeper target), openssl (certificates for etcd over TLS), chromium and chromium-driver (the HTML report, tested
# in a real headless browser), openssh-server and openssh-client (`faultline lab`'s hosts),
# redis-server, webdis and nginx (the example target files' services). As root, install what is missing; otherwise say what is missing
# and go on — the tests that need it then fail and name it.
need=()
command -v nft >/dev/null 2>&1 || need+=(nftables)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
ls /usr/lib/*/faketime/libfaketimeMT.so.1 /usr/lib/faketime/libfaketimeMT.so.1 >/dev/null 2>&1 \
  || need+=(libfaketime)
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || need+=(rabbitmq-server)
[ -f /usr/share/zookeeper/bin/zkServer.sh ] || need+=(zookeeper)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null 2>&1 || need+=(openssh-client)
# The example target files' services (tests/examples.rs runs each).
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v webdis >/dev/null 2>&1 || need+=(webdis)
command -v nginx >/dev/null 2>&1 || need+=(nginx)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${need[*]} (needed by the fault-injection tests)" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
  else
    echo "warning: missing ${need[*]}; install them (as root: apt-get install ${need[*]})." \
         "Tests that need them will fail and say so." >&2
  fi
fi
# moto's S3 server (examples/targets/moto-s3.toml) comes from PyPI.
if ! command -v moto_server >/dev/null 2>&1; then
  if command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1; then
    echo "installing moto[server] from PyPI (the moto S3 example's service)" >&2
    python3 -m pip install --quiet --disable-pip-version-check 'moto[server]' >&2
  else
    echo "warning: moto_server missing; install it with pip install 'moto[server]'" \
         "(tests/examples.rs will fail and say so)" >&2
  fi
fi
if [ "$(id -u)" != 0 ]; then
  echo "warning: not root: the network-namespace tests (--net netns, faultline heal) will fail;" \
       "run this as root" >&2
fi

# Style first: formatting, lints and the API docs are part of passing.
cargo fmt --all --check
cargo clippy --release --workspace --all-targets -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --workspace --quiet

cargo test --release --workspace --all-targets --no-fail-fast
