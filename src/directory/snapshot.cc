// The directory snapshot: built once, then read-only (shared by shards);
// and the per-shard handle to the current one.
#include "posthorn/directory.hh"
#include "posthorn/core/panic.hh"

#include <algorithm>

namespace posthorn::directory {

std::string to_lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

snapshot::snapshot(std::vector<std::string> local_domains, std::vector<user> users,
                   std::unordered_map<std::string, std::vector<std::string>> aliases, std::vector<group> groups)
    : _users(std::move(users)), _groups(std::move(groups)), _groups_of(_users.size()) {
    PH_ASSERT(!local_domains.empty());
    for (auto& d : local_domains) _domains.push_back(to_lower(d));
    for (size_t i = 0; i < _users.size(); ++i) {
        _users[i].name = to_lower(_users[i].name);
        _by_name.emplace(_users[i].name, i);
        for (auto& a : _users[i].addresses) _by_address.emplace(to_lower(a), i);
    }
    for (auto& [k, v] : aliases) _aliases.emplace(to_lower(k), std::move(v));
    for (size_t g = 0; g < _groups.size(); ++g) {
        for (auto& m : _groups[g].members) {
            m = to_lower(m);
            auto it = _by_name.find(m);
            PH_ASSERT(it != _by_name.end());  // the config checks members name users
            auto& of = _groups_of[it->second];
            if (of.empty() || of.back() != g) of.push_back(g);
        }
    }
}

const std::vector<size_t>& snapshot::groups_of(const user& u) const noexcept {
    PH_ASSERT(&u >= _users.data() && &u < _users.data() + _users.size());
    return _groups_of[static_cast<size_t>(&u - _users.data())];
}

namespace {
// RFC 5321 §4.5.3.1: local part 64 + "@" + domain 255. Lookups lower-case
// into this stack buffer, so RCPT allocates nothing here.
constexpr size_t k_address_bytes_max = 320;

struct lowered {
    char bytes[k_address_bytes_max];
    size_t length = 0;
    bool fits = false;

    explicit lowered(std::string_view s) noexcept {
        if (s.size() > sizeof bytes) return;
        for (char c : s) bytes[length++] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
        fits = true;
    }
    std::string_view view() const noexcept { return {bytes, length}; }
};
}  // namespace

bool snapshot::is_local_domain(std::string_view domain) const noexcept {
    lowered d(domain);
    return d.fits && std::find(_domains.begin(), _domains.end(), d.view()) != _domains.end();
}

const user* snapshot::find_user(std::string_view login) const {
    lowered l(login);
    if (!l.fits) return nullptr;
    auto it = _by_name.find(l.view());
    return it == _by_name.end() ? nullptr : &_users[it->second];
}

const user* snapshot::find_login(std::string_view login) const {
    lowered l(login);
    if (!l.fits) return nullptr;
    if (auto it = _by_name.find(l.view()); it != _by_name.end()) return &_users[it->second];
    if (auto it = _by_address.find(l.view()); it != _by_address.end()) return &_users[it->second];
    return nullptr;
}

resolution snapshot::resolve(std::string_view address) const {
    lowered lower(address);
    if (!lower.fits) return {address_kind::foreign, nullptr, nullptr};  // too long to be ours
    std::string_view addr = lower.view();
    size_t at = addr.rfind('@');
    std::string_view domain = at == std::string_view::npos ? std::string_view() : addr.substr(at + 1);
    if (at == std::string_view::npos || !is_local_domain(domain)) {
        if (auto a = _aliases.find(addr); a != _aliases.end())
            return {address_kind::alias, nullptr, &a->second};
        return {address_kind::foreign, nullptr, nullptr};
    }
    if (auto it = _by_address.find(addr); it != _by_address.end())
        return {address_kind::local_user, &_users[it->second], nullptr};
    if (auto a = _aliases.find(addr); a != _aliases.end())
        return {address_kind::alias, nullptr, &a->second};
    // mydestination semantics: every local domain shares the users' names.
    if (auto it = _by_name.find(addr.substr(0, at)); it != _by_name.end())
        return {address_kind::local_user, &_users[it->second], nullptr};
    return {address_kind::unknown_local, nullptr, nullptr};
}

handle::handle(std::shared_ptr<const snapshot> first) noexcept : _current(std::move(first)) {
    PH_ASSERT(_current);
}

handle::handle(snapshot first) : _current(std::make_shared<const snapshot>(std::move(first))) {}

void handle::replace(std::shared_ptr<const snapshot> next) noexcept {
    PH_ASSERT(next);
    _current = std::move(next);
    ++_generation;
}

}  // namespace posthorn::directory
