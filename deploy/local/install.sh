#!/usr/bin/env bash
# Installs the Python environment (.venv) from requirements.lock and builds the native core (native/,
# Rust, with cargo), once per change of those files.
set -euo pipefail
source "$(dirname "$0")/env.sh"
PY="${PYTHON:-python3}"
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
  || die "Python 3.11+ is required (found $("$PY" --version 2>&1)); set PYTHON=/path/to/python3.11"
stamp="$(cd "$ROOT" && cat pyproject.toml requirements.lock native/pyproject.toml native/Cargo.toml native/Cargo.lock native/build.rs \
  native/src/*.rs | sha256sum | cut -c1-16)"
if [[ -f "$VENV/.stamp" && "$(cat "$VENV/.stamp")" == "$stamp" ]]; then exit 0; fi
if [[ ! -x "$VENV/bin/python" ]]; then
  "$PY" -m venv "$VENV" 2>/dev/null || {
    [[ $EUID -eq 0 ]] || die "python3-venv is missing: apt-get install python3-venv"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    "$PY" -m venv "$VENV"
  }
fi
# cargo (Rust 1.71 or later) builds native/; rustup puts it in ~/.cargo/bin. Debian 12's own
# `cargo` is too old (1.63): its `cargo-web` package is a current one, in /usr/bin.
[[ -x "$HOME/.cargo/bin/cargo" ]] && export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v cargo >/dev/null; then
  [[ $EUID -eq 0 ]] || die "cargo is missing (it builds native/): install Rust with rustup, or apt-get install cargo-web"
  log "installing cargo from Debian's packages (cargo-web)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cargo-web >/dev/null
fi
log "installing Python dependencies into $VENV"
"$VENV/bin/pip" install -q --upgrade pip
# The versions CI tested (requirements.lock, made by `make lock` from pyproject.toml), then the
# native core and the project itself without resolving anything again.
"$VENV/bin/pip" install -q -r "$ROOT/requirements.lock"
"$VENV/bin/pip" install -q "$ROOT/native"
"$VENV/bin/pip" install -q --no-deps -e "$ROOT"
echo "$stamp" >"$VENV/.stamp"
