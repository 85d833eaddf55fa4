// The directory snapshot: built once, then read-only (shared by shards).
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
                   std::unordered_map<std::string, std::vector<std::string>> aliases)
    : _users(std::move(users)) {
    PH_ASSERT(!local_domains.empty());
    for (auto& d : local_domains) _domains.push_back(to_lower(d));
    for (size_t i = 0; i < _users.size(); ++i) {
        _users[i].name = to_lower(_users[i].name);
        _by_name.emplace(_users[i].name, i);
        for (auto& a : _users[i].addresses) _by_address.emplace(to_lower(a), i);
    }
    for (auto& [k, v] : aliases) _aliases.emplace(to_lower(k), std::move(v));
}

bool snapshot::is_local_domain(std::string_view domain) const noexcept {
    std::string d = to_lower(domain);
    return std::find(_domains.begin(), _domains.end(), d) != _domains.end();
}

const user* snapshot::find_user(std::string_view login) const {
    auto it = _by_name.find(to_lower(login));
    return it == _by_name.end() ? nullptr : &_users[it->second];
}

resolution snapshot::resolve(std::string_view address) const {
    std::string addr = to_lower(address);
    size_t at = addr.rfind('@');
    std::string_view domain = at == std::string::npos ? std::string_view() : std::string_view(addr).substr(at + 1);
    if (at == std::string::npos || !is_local_domain(domain)) {
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

}  // namespace posthorn::directory
