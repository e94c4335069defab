#!/usr/bin/env bash
# Installs what is missing, and only that (fast when all is there).
#   install-deps.sh        what building and running `fathom` needs (`make run`, `make install`)
#   install-deps.sh test   that, plus what the test suite needs: the kernel benchmark's library, the
#                          Python and Node references and their npm packages, and Chromium for the
#                          chat page's browser test (`make test`, `make test-browser`)
set -euo pipefail
cd "$(dirname "$0")/.."
WHAT=${1:-run}

# CMake finds GoogleTest at configure time, so it is a build dependency even for `make run`.
APT_PACKAGES=(build-essential cmake pkg-config git libgtest-dev libgmock-dev
  nlohmann-json3-dev libfmt-dev libcli11-dev libpcre2-dev libcpp-httplib-dev libssl-dev
  # OpenMPI: `mpirun -np N fathom ...` (docs/DISTRIBUTED.md). CMake finds it if present; without
  # it fathom builds as a one-process program and the mpi tests report themselves skipped.
  openmpi-bin libopenmpi-dev)
if [ "$WHAT" = test ]; then
  APT_PACKAGES+=(libbenchmark-dev python3 python3-numpy tmux
    # Debian's PyTorch: the independent reference trainer (tests/reference/torch_train.py) that test
    # train_reference_torch compares `fathom train` against (a large download).
    python3-torch
    # matplotlib: scripts/plot-training.py, which draws the training plots in docs/TRAINING.md
    # (test plot_training_check runs it).
    python3-matplotlib
    # Headless Chromium, which tests/browser/chat_page.mjs drives through puppeteer-core.
    chromium)
fi

# FATHOM_DEPS_FUZZ=1 (`make fuzz`): clang-14, and libclang-rt-14-dev, whose runtimes are what
# -fsanitize=fuzzer,address,undefined links (libFuzzer included). Left out otherwise: only fuzzing
# needs them, and they are large.
if [ "${FATHOM_DEPS_FUZZ:-0}" = 1 ]; then
  APT_PACKAGES+=(clang-14 libclang-rt-14-dev)
fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "$WHAT" = test ]; then
  # Node.js and npm: whatever provides the commands will do (a nodesource nodejs bundles npm, and
  # Debian's npm package would conflict with it); Debian's are installed only when there is none.
  command -v node > /dev/null || missing+=(nodejs)
  command -v npm > /dev/null || missing+=(npm)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "[deps] installing: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" > /dev/null
fi

# Node packages for the conformance tests (reference tokenizer, jinja, openai client, ajv), the browser
# test (puppeteer-core) and the chat page's bundle (markdown-it, highlight.js: scripts/bundle-web.mjs).
if [ "$WHAT" = test ] && [ -f tests/npm/package.json ]; then
  if [ ! -d tests/npm/node_modules ] || [ tests/npm/package.json -nt tests/npm/node_modules/.stamp ]; then
    echo "[deps] npm install in tests/npm"
    (cd tests/npm && npm install --no-audit --no-fund --loglevel=error > /dev/null && touch node_modules/.stamp)
  fi
fi
