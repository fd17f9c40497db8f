#!/usr/bin/env bash
# Builds credwatch and runs every test (GoogleTest through CTest).
#   scripts/test.sh                 release build in build/
#   CREDWATCH_SANITIZE=address,undefined scripts/test.sh   sanitizer build in build-asan/
#   CREDWATCH_SANITIZE=thread scripts/test.sh              in build-tsan/
# Extra arguments go to ctest, e.g. `scripts/test.sh -R Spsc`.
# CREDWATCH_BUILD_TARGETS="a_test b_test" builds only those targets (use with -R).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

sanitize="${CREDWATCH_SANITIZE:-}"
case "$sanitize" in
  "") dir=build; type=Release ;;
  address,undefined) dir=build-asan; type=Debug ;;
  thread) dir=build-tsan; type=Debug ;;
  *) echo "test.sh: CREDWATCH_SANITIZE must be '', 'address,undefined' or 'thread'" >&2; exit 2 ;;
esac

cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE="$type" -DCREDWATCH_SANITIZE="$sanitize" \
  -DCREDWATCH_WERROR=ON >/dev/null
if [[ -n "${CREDWATCH_BUILD_TARGETS:-}" ]]; then
  # shellcheck disable=SC2086
  cmake --build "$dir" -j"$(nproc)" --target ${CREDWATCH_BUILD_TARGETS}
else
  cmake --build "$dir" -j"$(nproc)"
fi
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp"
ctest --test-dir "$dir" --output-on-failure -j"$(nproc)" --timeout 600 "$@"
