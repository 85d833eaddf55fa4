#include "posthorn/app/commands.hh"
#include <cstdio>
namespace posthorn::app {
int run_serve(const config&) { std::fprintf(stderr, "serve: not wired yet\n"); return 1; }
}
