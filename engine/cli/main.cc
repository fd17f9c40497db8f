// credwatch: one binary, subcommands.
#include <cstdio>
#include <cstring>
#include <string_view>

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0) {
    std::fprintf(stderr, "usage: credwatch <replay|simulate|rules|run|state> ...\n");
    return argc < 2 ? 2 : 0;
  }
  std::fprintf(stderr, "credwatch: unknown command '%s'\n", argv[1]);
  return 2;
}
