// directory_reload: what a directory reload is made of, without the
// daemon around it (the shard-0 machinery that drives it is reloader.hh).
//
//  - directory_generation: everything built from the directory part of the
//    config ([domains] [[users]] [[groups]] [aliases]) once per load, before
//    any shard sees it; immutable, shared read-only by every shard.
//  - build_generation(): config -> generation. THE HOOK for derived data:
//    anything else built from the directory (the LDAP tree) is built here,
//    once per reload, next to the snapshot, and added as a member.
//  - restart_keys(): the keys outside the directory part that differ between
//    the running config and a new one; a reload ignores them and says so.
//  - shard_directory: one shard's current generation. Nodes and sessions
//    hold its handle() (directory.hh) and read the current snapshot at each
//    lookup; install() switches it at a safe point (a shard message, run
//    between callbacks), then calls the shard's listeners — the second hook:
//    a node holding derived data (the LDAP node and its tree) subscribes and
//    takes the new generation's there.
//
// Threading: build_generation() and restart_keys() are pure (any thread);
// a shard_directory is shard-local, not thread-safe. The generation is
// shared between shards only through shared_ptr<const ...>.
// Errors: build_generation() does not fail on a config that parse_config()
// accepted (it checks what the snapshot relies on: group members name users).
#pragma once

#include "posthorn/app/config.hh"
#include "posthorn/directory.hh"
#include "posthorn/proto/ldap_session.hh"

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace posthorn::app {

struct directory_generation {
    uint64_t number = 0;   // 1 for the config the daemon started with, +1 per reload
    std::shared_ptr<const directory::snapshot> dir;
    // Derived data, built in build_generation() from `dir`:
    // the LDAP tree, when [listen] ldap is set (null otherwise).
    std::shared_ptr<const proto::ldap::tree> ldap;
};

// The directory part of `cfg` as generation `number`.
std::shared_ptr<const directory_generation> build_generation(const config& cfg, uint64_t number);

// "server.hostname", "listen.smtp", ...: keys a reload cannot apply (they
// need a restart) whose values differ between `running` and `next`, in the
// file's order. Empty when only the directory part changed (or nothing).
std::vector<std::string> restart_keys(const config& running, const config& next);

class shard_directory {
public:
    explicit shard_directory(std::shared_ptr<const directory_generation> first);
    shard_directory(const shard_directory&) = delete;
    shard_directory& operator=(const shard_directory&) = delete;

    // What nodes and sessions hold: reads the current snapshot.
    const directory::handle& handle() const noexcept { return _handle; }
    const directory_generation& current() const noexcept { return *_current; }
    const std::shared_ptr<const directory_generation>& share() const noexcept { return _current; }

    // Called on this shard after each switch, in subscription order. A
    // listener must not throw, nor subscribe or unsubscribe from inside.
    using listener = std::function<void(const directory_generation&)>;
    uint64_t subscribe(listener fn);
    void unsubscribe(uint64_t id) noexcept;

    // Switches to `next`: the handle, then the listeners. A generation not
    // newer than the current one changes nothing (false).
    bool install(std::shared_ptr<const directory_generation> next) noexcept;

private:
    std::shared_ptr<const directory_generation> _current;
    directory::handle _handle;
    std::vector<std::pair<uint64_t, listener>> _listeners;
    uint64_t _next_listener = 1;
};

// Slot i: shard i's directory, written by shard i at its start (before its
// loop runs) and at its end; read only on shard i (a reload's shard message
// finds the shard's directory there).
using directory_table = std::array<shard_directory*, 256>;

}  // namespace posthorn::app
