// The posthorn binary: `posthorn serve | check-config | queue ... | spool ... |
// mailbox ... | reload | mkpasswd`, each taking -c FILE (default: the embedded demo config).
#include "posthorn/app/commands.hh"
#include "posthorn/app/config.hh"
#include "posthorn/core/log.hh"

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

void usage(FILE* out) {
    std::fputs(
        "usage: posthorn COMMAND [-c FILE] [ARGS]\n"
        "  serve                 run the server (foreground)\n"
        "  check-config          parse the configuration and print a summary\n"
        "  queue list            list the messages in the spool\n"
        "  queue show ID         print a message's envelope\n"
        "  queue cat ID          print a message's stored content\n"
        "  queue flush           ask the running daemon to retry deferred mail now\n"
        "  queue delete ID       ask the running daemon to drop a message (a tombstone)\n"
        "  mailbox list USER [FOLDER]     a user's messages: UID, size, date, flags\n"
        "  mailbox cat USER UID|all [FOLDER]  print one message (all: each after \"uid N size S\")\n"
        "  spool stat            segments, records and recovery counters\n"
        "  spool verify          check every record's checksum (exit 1 if any fails)\n"
        "  mkpasswd              read a password on stdin, print its crypt(3) hash\n"
        "  reload                ask the running daemon to re-read its config's directory part\n"
        "                        ([domains] [[users]] [[groups]] [aliases]); also on SIGHUP\n"
        "Without -c, the embedded demo configuration is used (example.test on 127.0.0.1:2525).\n",
        out);
}

}  // namespace

int main(int argc, char** argv) {
    using namespace posthorn;
    std::string config_path;
    std::vector<std::string> args;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if ((a == "-c" || a == "--config") && i + 1 < argc) config_path = argv[++i];
        else if (a == "-h" || a == "--help") { usage(stdout); return 0; }
        else args.push_back(a);
    }
    if (args.empty()) { usage(stderr); return 2; }

    if (args[0] == "mkpasswd") return app::run_mkpasswd();

    app::config cfg;
    std::string message;
    if (!app::load_config(config_path, cfg, message)) {
        if (args[0] == "reload") {
            // The daemon re-reads this file too and would refuse it the same
            // way; without it we cannot even find the daemon's socket.
            std::fprintf(stderr, "posthorn reload: failed: %s\nthe daemon was not asked and keeps the directory it had\n",
                         message.c_str());
            return 1;
        }
        std::fprintf(stderr, "posthorn: %s\n", message.c_str());
        return 2;
    }
    if (cfg.log_level == "debug") core::log::set_level(core::log::level::debug);
    else if (cfg.log_level == "warn") core::log::set_level(core::log::level::warn);
    else if (cfg.log_level == "error") core::log::set_level(core::log::level::error);

    const std::string& cmd = args[0];
    std::vector<std::string> rest(args.begin() + 1, args.end());
    if (cmd == "serve") return app::run_serve(cfg);
    if (cmd == "check-config") return app::run_check_config(cfg);
    if (cmd == "queue") return app::run_queue(cfg, rest);
    if (cmd == "spool") return app::run_spool(cfg, rest);
    if (cmd == "mailbox") return app::run_mailbox(cfg, rest);
    if (cmd == "reload") return app::run_reload(cfg);
    std::fprintf(stderr, "posthorn: unknown command \"%s\"\n", cmd.c_str());
    usage(stderr);
    return 2;
}
