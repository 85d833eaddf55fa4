// The pieces of a directory reload: building a generation, telling which
// other keys changed, and a shard's switch to a new generation.
#include "directory_reload.hh"

#include "posthorn/core/log.hh"
#include "posthorn/core/panic.hh"

#include <algorithm>

namespace posthorn::app {

std::shared_ptr<const directory_generation> build_generation(const config& cfg, uint64_t number) {
    std::vector<directory::user> users;
    users.reserve(cfg.users.size());
    for (const auto& u : cfg.users)
        users.push_back({u.name, u.password, u.display_name, u.addresses, u.given_name, u.surname, u.title,
                         u.department, u.telephone});
    std::vector<directory::group> groups;
    groups.reserve(cfg.groups.size());
    for (const auto& g : cfg.groups) groups.push_back({g.name, g.description, g.members});
    auto gen = std::make_shared<directory_generation>();
    gen->number = number;
    gen->dir = std::make_shared<const directory::snapshot>(cfg.local_domains, std::move(users), cfg.aliases,
                                                           std::move(groups));
    // Derived data (the LDAP tree) is built here from gen->dir, once per
    // load, before any shard sees the generation. parse_config() checked
    // [ldap] base, so this does not fail; if it did, the log says why and
    // the shards keep the tree they have.
    if (!cfg.listen_ldap.empty()) {
        std::string why;
        gen->ldap = proto::ldap::build_tree(*gen->dir, cfg.ldap_base, why);
        if (!gen->ldap) core::log::error("event=ldap_tree_failed generation={} reason=\"{}\"", number, why);
        else core::log::info("event=ldap_tree generation={} base=\"{}\" entries={}", number,
                             proto::ldap::tree_base(*gen->ldap), proto::ldap::tree_entries(*gen->ldap));
    }
    return gen;
}

std::vector<std::string> restart_keys(const config& a, const config& b) {
    std::vector<std::string> out;
    auto check = [&out](const char* key, bool same) {
        if (!same) out.emplace_back(key);
    };
    // Every config member outside [domains] [[users]] [[groups]] [aliases]:
    // a new member of config.hh belongs here too.
    check("server.hostname", a.hostname == b.hostname);
    check("server.shards", a.shards == b.shards);
    check("server.io", a.io == b.io);
    check("server.data_dir", a.data_dir == b.data_dir);
    check("server.durability", a.durability == b.durability);
    check("server.log_level", a.log_level == b.log_level);
    check("server.idle_poll_us", a.idle_poll_us == b.idle_poll_us);
    check("listen.smtp", a.listen_smtp == b.listen_smtp);
    check("listen.pop3", a.listen_pop3 == b.listen_pop3);
    check("listen.imap", a.listen_imap == b.listen_imap);
    check("listen.ldap", a.listen_ldap == b.listen_ldap);
    check("listen.rpc", a.listen_rpc == b.listen_rpc);
    check("listen.metrics", a.listen_metrics == b.listen_metrics);
    check("smtp.max_message_size", a.max_message_size == b.max_message_size);
    check("smtp.max_recipients", a.max_recipients == b.max_recipients);
    check("smtp.line_length_max", a.line_length_max == b.line_length_max);
    check("smtp.errors_max", a.errors_max == b.errors_max);
    check("smtp.command_timeout", a.command_timeout_ms == b.command_timeout_ms);
    check("smtp.data_timeout", a.data_timeout_ms == b.data_timeout_ms);
    check("smtp.max_connections_per_ip", a.max_connections_per_ip == b.max_connections_per_ip);
    check("smtp.max_connections", a.max_connections == b.max_connections);
    check("smtp.body_window_bytes", a.body_window_bytes == b.body_window_bytes);
    check("smtp.trusted_networks", a.trusted_networks_text == b.trusted_networks_text);
    check("smtp.bare_newlines", a.bare_newlines == b.bare_newlines);
    check("smtp.vrfy", a.vrfy == b.vrfy);
    check("smtp.expn", a.expn == b.expn);
    check("smtp.forbid_unauth_pipelining", a.forbid_unauth_pipelining == b.forbid_unauth_pipelining);
    check("smtp.greet_pause", a.greet_pause_ms == b.greet_pause_ms);
    check("spool.segment_bytes", a.segment_bytes == b.segment_bytes);
    check("spool.zero_ahead_bytes", a.zero_ahead_bytes == b.zero_ahead_bytes);
    check("spool.chunk_bytes", a.chunk_bytes == b.chunk_bytes);
    check("spool.chunks_per_shard", a.chunks_per_shard == b.chunks_per_shard);
    check("routes", a.routes == b.routes);
    check("queue.retry", a.retry_ms == b.retry_ms);
    check("queue.lifetime", a.lifetime_ms == b.lifetime_ms);
    check("queue.max_connections_per_destination",
          a.max_connections_per_destination == b.max_connections_per_destination);
    check("queue.connection_cache_time", a.connection_cache_time_ms == b.connection_cache_time_ms);
    check("queue.defer_transports", a.defer_local == b.defer_local && a.defer_smtp == b.defer_smtp);
    check("queue.mx_port", a.mx_port == b.mx_port);
    check("dns.servers", a.dns_servers == b.dns_servers);
    check("dns.timeout", a.dns_timeout_ms == b.dns_timeout_ms);
    check("dns.attempts", a.dns_attempts == b.dns_attempts);
    check("auth.allow_plaintext", a.allow_plaintext == b.allow_plaintext);
    check("auth.failure_delay", a.auth_failure_delay_ms == b.auth_failure_delay_ms);
    check("pop3.timeout", a.pop3_timeout_ms == b.pop3_timeout_ms);
    check("imap.timeout", a.imap_timeout_ms == b.imap_timeout_ms);
    // [ldap] base is part of the tree a reload rebuilds; the rest is session policy.
    check("ldap.anonymous", a.ldap_anonymous == b.ldap_anonymous);
    check("ldap.size_limit", a.ldap_size_limit == b.ldap_size_limit);
    check("ldap.time_limit", a.ldap_time_limit_ms == b.ldap_time_limit_ms);
    check("ldap.timeout", a.ldap_timeout_ms == b.ldap_timeout_ms);
    return out;
}

shard_directory::shard_directory(std::shared_ptr<const directory_generation> first)
    : _current(std::move(first)), _handle(_current->dir) {}

uint64_t shard_directory::subscribe(listener fn) {
    const uint64_t id = _next_listener++;
    _listeners.emplace_back(id, std::move(fn));
    return id;
}

void shard_directory::unsubscribe(uint64_t id) noexcept {
    std::erase_if(_listeners, [id](const auto& l) { return l.first == id; });
}

bool shard_directory::install(std::shared_ptr<const directory_generation> next) noexcept {
    PH_ASSERT(next && next->dir);
    if (next->number <= _current->number) return false;
    _current = std::move(next);
    _handle.replace(_current->dir);
    for (const auto& [id, fn] : _listeners) fn(*_current);
    return true;
}

}  // namespace posthorn::app
