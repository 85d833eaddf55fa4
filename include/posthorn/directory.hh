// directory: an immutable snapshot of the domain's directory — local domains,
// users, aliases and password hashes (DESIGN.md "Process model"). Built once
// from the configuration; a reload builds a new snapshot and hands it to every
// shard. Read-only after construction, so shards may share one safely.
//
// Matching: domains and local parts are compared case-insensitively. For a
// local domain an address resolves to a user if it is one of the user's
// addresses, or if its local part is a user's name (as Postfix treats
// mydestination), or through an alias.
//
// handle: a shard's current snapshot (shard-local, not thread-safe). Nodes
// and sessions hold the handle, not a snapshot, and look up through
// current() at each command, so the first lookup after a reload sees the new
// data. A snapshot is swapped only between loop callbacks, never during
// one: a reference from current() is good until the callback returns.
// Whoever keeps a pointer into a snapshot longer (a logged-in session's
// user, a login check on the auth thread) keeps share() with it; the old
// snapshot is freed when the last such holder lets go.
#pragma once

#include "posthorn/core/text.hh"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace posthorn::directory {

struct user {
    std::string name;            // login name, lower case
    std::string password_hash;   // crypt(3) string, or {PLAIN}secret
    std::string display_name;
    std::vector<std::string> addresses;
    // Address-book attributes (LDAP inetOrgPerson); empty = absent.
    std::string given_name;
    std::string surname;
    std::string title;
    std::string department;
    std::string telephone;
};

// A named set of users (LDAP groupOfNames). Members are user names, lower
// case, each naming a user of the same snapshot (checked when built).
struct group {
    std::string name;
    std::string description;
    std::vector<std::string> members;
};

enum class address_kind { local_user, alias, unknown_local, foreign };

struct resolution {
    address_kind kind = address_kind::foreign;
    const user* owner = nullptr;                       // for local_user
    const std::vector<std::string>* targets = nullptr; // for alias
};

using core::string_map;

class snapshot {
public:
    snapshot(std::vector<std::string> local_domains, std::vector<user> users,
             std::unordered_map<std::string, std::vector<std::string>> aliases, std::vector<group> groups = {});

    // The first local domain; unqualified addresses are qualified with it.
    const std::string& primary_domain() const noexcept { return _domains.front(); }
    const std::vector<std::string>& local_domains() const noexcept { return _domains; }
    const std::vector<user>& users() const noexcept { return _users; }
    const std::vector<group>& groups() const noexcept { return _groups; }
    size_t alias_count() const noexcept { return _aliases.size(); }
    // Indexes into groups() of the groups `u` (one of users()) belongs to.
    const std::vector<size_t>& groups_of(const user& u) const noexcept;

    bool is_local_domain(std::string_view domain) const noexcept;
    // `address` is local@domain (already qualified).
    resolution resolve(std::string_view address) const;
    const user* find_user(std::string_view login) const;
    // A login name for POP3/IMAP: the user's name or any of its addresses,
    // compared case-insensitively. Null for no such user.
    const user* find_login(std::string_view login) const;

private:
    std::vector<std::string> _domains;   // lower case, never empty
    std::vector<user> _users;
    std::vector<group> _groups;
    std::vector<std::vector<size_t>> _groups_of;  // parallel to _users
    string_map<size_t> _by_address;   // lower-cased full address -> user
    string_map<size_t> _by_name;
    string_map<std::vector<std::string>> _aliases;  // lower-cased keys
};

// The current snapshot of one shard; see the top of this file.
class handle {
public:
    explicit handle(std::shared_ptr<const snapshot> first) noexcept;
    explicit handle(snapshot first);

    const snapshot& current() const noexcept { return *_current; }
    // The current snapshot, to keep with a pointer into it.
    const std::shared_ptr<const snapshot>& share() const noexcept { return _current; }
    // Installs `next` (non-null); a safe point: between callbacks. Holders of
    // share() keep the old one alive.
    void replace(std::shared_ptr<const snapshot> next) noexcept;
    // Counts replace() calls: 0 for the first snapshot.
    uint64_t generation() const noexcept { return _generation; }

private:
    std::shared_ptr<const snapshot> _current;
    uint64_t _generation = 0;
};

std::string to_lower(std::string_view s);

// Checks `password` against the user's hash (password.cc): "{PLAIN}secret"
// is compared in constant time ("{DEMO}secret" ignoring ASCII case: the
// embedded demo's, for the seed's labs); anything else goes to crypt(3) (yescrypt,
// SHA-512, ... whatever libcrypt knows), its output compared in constant
// time. An empty or unusable hash never matches. CPU-bound (yescrypt takes
// milliseconds): the caller decides where to run it. Thread-safe.
bool verify_password(const user& u, std::string_view password);
// {PLAIN}/{DEMO} entries take no time to check: a host may check them on
// its loop. crypt(3) hashes and unknown users (null) take milliseconds.
bool password_check_is_cheap(const user* u) noexcept;
// The same work as checking a yescrypt hash, for a login name that matches
// no user, so the reply's timing does not tell which names exist. Always
// false.
bool verify_password_of_nobody(std::string_view password);

}  // namespace posthorn::directory
