# Sourced by the bench scripts: installs what is missing and builds the
# Release binaries they name (default: credwatch) in build-bench/.
#   source bench/build.sh [TARGET...]
bash scripts/setup.sh >/dev/null
cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DCREDWATCH_BUILD_TESTS=OFF \
  -DCREDWATCH_BUILD_BENCH=ON >/dev/null
cmake --build build-bench -j"$(nproc)" --target "${@:-credwatch}" >/dev/null
