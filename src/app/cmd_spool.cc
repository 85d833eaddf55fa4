#include "posthorn/app/commands.hh"
#include <cstdio>
namespace posthorn::app {
int run_queue(const config&, const std::vector<std::string>&) { return 1; }
int run_spool(const config&, const std::vector<std::string>&) { return 1; }
}
