// `posthorn mailbox list USER [FOLDER]` and `posthorn mailbox cat USER UID|all
// [FOLDER]`: read a user's mailbox from the store files, with or without a
// running daemon (read-only: nothing is locked or changed). The user's
// directory is found by looking in every shard's store, so a reader need
// not know how many shards the daemon runs.
#include "posthorn/app/commands.hh"
#include "posthorn/app/config.hh"
#include "posthorn/core/log.hh"
#include "posthorn/directory.hh"
#include "posthorn/store.hh"

#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

namespace posthorn::app {

namespace {

std::string flag_text(const store::folder& folder, uint32_t f) {
    std::string s;
    auto add = [&](uint32_t bit, const char* name) {
        if (!(f & bit)) return;
        if (!s.empty()) s += ' ';
        s += name;
    };
    add(store::flag_seen, "\\Seen");
    add(store::flag_answered, "\\Answered");
    add(store::flag_flagged, "\\Flagged");
    add(store::flag_deleted, "\\Deleted");
    add(store::flag_draft, "\\Draft");
    for (uint32_t i = 0; i < folder.keywords.size(); ++i) add(store::keyword_bit(i), folder.keywords[i].c_str());
    return s;
}

// The store (one per shard directory) that has the user's folder.
std::unique_ptr<store::shard_store> find_store(const config& cfg, const std::string& user, const std::string& folder) {
    for (uint32_t i = 0; i < 256; ++i) {
        std::string dir = cfg.data_dir + "/store/" + std::to_string(i);
        if (::access(dir.c_str(), F_OK) != 0) continue;
        store::options o;
        o.dir = dir;
        o.read_only = true;
        auto s = store::shard_store::open(o);
        if (!s) {
            std::fprintf(stderr, "posthorn: %s: %s\n", dir.c_str(), s.err().reason());
            continue;
        }
        if ((*s)->find_folder(user, folder)) return std::move(s.value());
    }
    return nullptr;
}

}  // namespace

int run_mailbox(const config& cfg, const std::vector<std::string>& args) {
    core::log::set_level(core::log::level::warn);  // the store's open line is noise here
    if (args.size() < 2 || (args[0] != "list" && args[0] != "cat") || (args[0] == "cat" && args.size() < 3)) {
        std::fputs("usage: posthorn mailbox list USER [FOLDER] | mailbox cat USER UID|all [FOLDER]\n", stderr);
        return 2;
    }
    const std::string user = directory::to_lower(args[1]);
    const bool cat = args[0] == "cat";
    const size_t folder_at = cat ? 3 : 2;
    const std::string folder = args.size() > folder_at ? args[folder_at] : std::string(store::inbox);
    auto st = find_store(cfg, user, folder);
    if (!st) {
        std::fprintf(stderr, "posthorn: %s has no folder \"%s\"\n", user.c_str(), folder.c_str());
        return 1;
    }
    const store::folder* f = st->find_folder(user, folder);
    if (!cat) {
        std::printf("folder %s uidvalidity %u uidnext %u messages %zu\n", f->name.c_str(), f->uidvalidity, f->uidnext,
                    f->messages.size());
        for (const store::message& m : f->messages) {
            char when[32];
            std::time_t t = m.internal_date;
            std::tm tm{};
            ::gmtime_r(&t, &tm);
            std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
            std::printf("%u %llu %s (%s)\n", m.uid, static_cast<unsigned long long>(m.size), when,
                        flag_text(*f, m.flags).c_str());
        }
        return 0;
    }
    std::string bytes;
    if (args[2] == "all") {
        // Every message, each after a line "uid N size S" (for scripts).
        for (const store::message& m : f->messages) {
            if (auto r = st->read(m, 0, m.size, bytes); !r) {
                std::fprintf(stderr, "posthorn: read UID %u: %s\n", m.uid, r.err().reason());
                return 1;
            }
            std::printf("uid %u size %zu\n", m.uid, bytes.size());
            std::fwrite(bytes.data(), 1, bytes.size(), stdout);
        }
        return 0;
    }
    char* end = nullptr;
    unsigned long uid = std::strtoul(args[2].c_str(), &end, 10);
    const store::message* m = end && *end == '\0' ? f->find(static_cast<uint32_t>(uid)) : nullptr;
    if (!m) {
        std::fprintf(stderr, "posthorn: no UID %s in %s of %s\n", args[2].c_str(), f->name.c_str(), user.c_str());
        return 1;
    }
    if (auto r = st->read(*m, 0, m->size, bytes); !r) {
        std::fprintf(stderr, "posthorn: read: %s\n", r.err().reason());
        return 1;
    }
    std::fwrite(bytes.data(), 1, bytes.size(), stdout);
    return 0;
}

}  // namespace posthorn::app
