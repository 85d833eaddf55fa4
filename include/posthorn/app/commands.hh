// The binary's commands; each returns the process exit code.
#pragma once

#include "posthorn/app/config.hh"

#include <string>
#include <vector>

namespace posthorn::app {

int run_serve(const config& cfg);
int run_check_config(const config& cfg);
int run_queue(const config& cfg, const std::vector<std::string>& args);
int run_spool(const config& cfg, const std::vector<std::string>& args);
int run_mailbox(const config& cfg, const std::vector<std::string>& args);
int run_mkpasswd();
// Asks the running daemon (found by cfg's data_dir) to reload its directory;
// prints the outcome: 0 reloaded, 1 refused or unreachable.
int run_reload(const config& cfg);

}  // namespace posthorn::app
