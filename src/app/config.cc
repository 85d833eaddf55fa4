// Parses the TOML configuration into app::config. Runs once at start on the
// main thread; toml++ exceptions stay inside this file.
#include "posthorn/app/config.hh"
#include "posthorn/core/log.hh"
#include "posthorn/core/text.hh"
#include "posthorn/net/resolver.hh"
#include "posthorn/proto/ldap_session.hh"
#include "posthorn/queue/retry.hh"

#include <arpa/inet.h>
#include <charconv>
#include <fstream>
#include <sstream>
#include <thread>
#include <toml++/toml.h>
#include <unordered_set>

namespace posthorn::app {
namespace {

struct parser {
    const toml::table& root;
    config& out;
    std::string& message;

    bool fail(std::string_view key, std::string_view why) {
        message = std::string(key) + ": " + std::string(why);
        return false;
    }

    bool str(const toml::table& t, std::string_view section, std::string_view key, std::string& dst) {
        const toml::node* n = t.get(key);
        if (!n) return true;
        if (auto v = n->value<std::string>()) { dst = *v; return true; }
        return fail(std::string(section) + "." + std::string(key), "must be a string");
    }
    template <typename U>
    bool num(const toml::table& t, std::string_view section, std::string_view key, U& dst) {
        const toml::node* n = t.get(key);
        if (!n) return true;
        auto v = n->value<int64_t>();
        if (!v || *v < 0) return fail(std::string(section) + "." + std::string(key), "must be a non-negative integer");
        dst = static_cast<U>(*v);
        return true;
    }
    bool boolean(const toml::table& t, std::string_view section, std::string_view key, bool& dst) {
        const toml::node* n = t.get(key);
        if (!n) return true;
        if (auto v = n->value<bool>()) { dst = *v; return true; }
        return fail(std::string(section) + "." + std::string(key), "must be true or false");
    }
    bool duration(const toml::table& t, std::string_view section, std::string_view key, uint64_t& dst) {
        std::string text;
        const toml::node* n = t.get(key);
        if (!n) return true;
        if (auto i = n->value<int64_t>(); i && *i >= 0) { dst = static_cast<uint64_t>(*i) * 1000; return true; }
        if (!str(t, section, key, text)) return false;
        if (!parse_duration_ms(text, dst))
            return fail(std::string(section) + "." + std::string(key), "must be a duration like \"30s\", \"5m\", \"250ms\"");
        return true;
    }
    bool strings(const toml::table& t, std::string_view section, std::string_view key, std::vector<std::string>& dst) {
        const toml::node* n = t.get(key);
        if (!n) return true;
        const toml::array* a = n->as_array();
        if (!a) return fail(std::string(section) + "." + std::string(key), "must be a list of strings");
        dst.clear();
        for (const auto& e : *a) {
            auto v = e.value<std::string>();
            if (!v) return fail(std::string(section) + "." + std::string(key), "must be a list of strings");
            dst.push_back(*v);
        }
        return true;
    }
    static std::string lower(std::string_view s) {
        std::string out(s);
        for (char& c : out) c = core::ascii_lower(c);
        return out;
    }
    const toml::table* section(std::string_view name) {
        const toml::node* n = root.get(name);
        return n ? n->as_table() : nullptr;
    }

    void warn_unknown(const toml::table& t, std::string_view section_name, std::initializer_list<std::string_view> known) {
        for (const auto& [k, v] : t) {
            bool found = false;
            for (auto name : known) found = found || k.str() == name;
            if (!found) core::log::warn("event=config_unknown_key key={}.{} source={}", section_name, k.str(), out.source);
        }
    }

    bool run() {
        if (auto* s = section("server")) {
            warn_unknown(*s, "server", {"hostname", "shards", "io", "data_dir", "durability", "log_level", "idle_poll_us"});
            if (!num(*s, "server", "idle_poll_us", out.idle_poll_us)) return false;
            if (out.idle_poll_us > 1000000) return fail("server.idle_poll_us", "must be at most 1000000 (one second)");
            if (!str(*s, "server", "hostname", out.hostname) || !str(*s, "server", "data_dir", out.data_dir) ||
                !str(*s, "server", "log_level", out.log_level))
                return false;
            if (out.log_level != "debug" && out.log_level != "info" && out.log_level != "warn" && out.log_level != "error")
                return fail("server.log_level", "must be debug, info, warn or error");
            if (const toml::node* n = s->get("shards")) {
                if (auto v = n->value<std::string>(); v && *v == "auto") out.shards = 0;
                else if (auto i = n->value<int64_t>(); i && *i >= 1 && *i <= 256) out.shards = static_cast<uint32_t>(*i);
                else return fail("server.shards", "must be \"auto\" or a number from 1 to 256");
            }
            std::string io = "auto", dur = "fsync";
            if (!str(*s, "server", "io", io) || !str(*s, "server", "durability", dur)) return false;
            if (io == "auto") out.io = io_choice::auto_detect;
            else if (io == "io_uring") out.io = io_choice::io_uring;
            else if (io == "epoll") out.io = io_choice::epoll;
            else return fail("server.io", "must be auto, io_uring or epoll");
            if (dur == "fsync") out.durability = durability_mode::fsync;
            else if (dur == "none") out.durability = durability_mode::none;
            else return fail("server.durability", "must be fsync or none");
        }
        if (auto* s = section("listen")) {
            warn_unknown(*s, "listen", {"smtp", "pop3", "imap", "ldap", "rpc", "metrics"});
            if (!strings(*s, "listen", "smtp", out.listen_smtp) || !strings(*s, "listen", "pop3", out.listen_pop3) ||
                !strings(*s, "listen", "imap", out.listen_imap) || !strings(*s, "listen", "ldap", out.listen_ldap) ||
                !strings(*s, "listen", "rpc", out.listen_rpc) || !strings(*s, "listen", "metrics", out.listen_metrics))
                return false;
        }
        if (auto* s = section("smtp")) {
            warn_unknown(*s, "smtp", {"max_message_size", "max_recipients", "line_length_max", "errors_max",
                                      "command_timeout", "data_timeout", "max_connections_per_ip", "max_connections",
                                      "body_window_bytes", "trusted_networks", "bare_newlines", "vrfy", "expn",
                                      "forbid_unauth_pipelining", "greet_pause"});
            if (!num(*s, "smtp", "max_message_size", out.max_message_size) ||
                !num(*s, "smtp", "max_recipients", out.max_recipients) ||
                !num(*s, "smtp", "line_length_max", out.line_length_max) ||
                !num(*s, "smtp", "errors_max", out.errors_max) ||
                !duration(*s, "smtp", "command_timeout", out.command_timeout_ms) ||
                !duration(*s, "smtp", "data_timeout", out.data_timeout_ms) ||
                !num(*s, "smtp", "max_connections_per_ip", out.max_connections_per_ip) ||
                !num(*s, "smtp", "max_connections", out.max_connections) ||
                !num(*s, "smtp", "body_window_bytes", out.body_window_bytes) ||
                !strings(*s, "smtp", "trusted_networks", out.trusted_networks_text) ||
                !str(*s, "smtp", "bare_newlines", out.bare_newlines) || !str(*s, "smtp", "vrfy", out.vrfy) ||
                !boolean(*s, "smtp", "expn", out.expn) ||
                !boolean(*s, "smtp", "forbid_unauth_pipelining", out.forbid_unauth_pipelining) ||
                !duration(*s, "smtp", "greet_pause", out.greet_pause_ms))
                return false;
            if (out.bare_newlines != "reject" && out.bare_newlines != "normalize")
                return fail("smtp.bare_newlines", "must be reject or normalize");
            if (out.vrfy != "cannot_verify" && out.vrfy != "verify" && out.vrfy != "disabled")
                return fail("smtp.vrfy", "must be cannot_verify, verify or disabled");
            if (out.line_length_max < 32) return fail("smtp.line_length_max", "must be at least 32");
            if (out.body_window_bytes < 4096) return fail("smtp.body_window_bytes", "must be at least 4096");
        }
        out.trusted_networks.clear();
        for (const auto& t : out.trusted_networks_text) {
            cidr c;
            if (!parse_cidr(t, c)) return fail("smtp.trusted_networks", "bad network \"" + t + "\"");
            out.trusted_networks.push_back(c);
        }
        if (auto* s = section("spool")) {
            warn_unknown(*s, "spool", {"segment_bytes", "chunk_bytes", "chunks_per_shard", "zero_ahead_bytes"});
            if (!num(*s, "spool", "segment_bytes", out.segment_bytes) || !num(*s, "spool", "chunk_bytes", out.chunk_bytes) ||
                !num(*s, "spool", "zero_ahead_bytes", out.zero_ahead_bytes) ||
                !num(*s, "spool", "chunks_per_shard", out.chunks_per_shard))
                return false;
            if (out.segment_bytes < (1u << 16)) return fail("spool.segment_bytes", "must be at least 65536");
            if (out.chunk_bytes < 4096 || out.chunk_bytes % 4096) return fail("spool.chunk_bytes", "must be a multiple of 4096");
            if (out.chunks_per_shard < 64) return fail("spool.chunks_per_shard", "must be at least 64");
        }
        if (auto* s = section("domains")) {
            if (!strings(*s, "domains", "local", out.local_domains)) return false;
        }
        if (out.local_domains.empty()) return fail("domains.local", "must name at least one local domain");
        if (const toml::node* n = root.get("users")) {
            const toml::array* a = n->as_array();
            if (!a) return fail("users", "must be an array of tables ([[users]])");
            out.users.clear();
            size_t plain_passwords = 0;
            for (const auto& e : *a) {
                const toml::table* t = e.as_table();
                if (!t) return fail("users", "must be an array of tables ([[users]])");
                user_entry u;
                warn_unknown(*t, "users", {"name", "password", "display_name", "addresses", "given_name", "surname",
                                           "title", "department", "telephone"});
                if (!str(*t, "users", "name", u.name) || !str(*t, "users", "password", u.password) ||
                    !str(*t, "users", "display_name", u.display_name) || !strings(*t, "users", "addresses", u.addresses) ||
                    !str(*t, "users", "given_name", u.given_name) || !str(*t, "users", "surname", u.surname) ||
                    !str(*t, "users", "title", u.title) || !str(*t, "users", "department", u.department) ||
                    !str(*t, "users", "telephone", u.telephone))
                    return false;
                if (u.name.empty()) return fail("users.name", "every user needs a name");
                if (u.password.rfind("{PLAIN}", 0) == 0 || u.password.rfind("{DEMO}", 0) == 0) ++plain_passwords;
                out.users.push_back(std::move(u));
            }
            if (plain_passwords)
                core::log::warn("event=config_plain_passwords users={} source=\"{}\" note=\"for demos and tests; use posthorn mkpasswd\"",
                                plain_passwords, out.source);
        }
        if (const toml::node* n = root.get("groups")) {
            const toml::array* a = n->as_array();
            if (!a) return fail("groups", "must be an array of tables ([[groups]])");
            out.groups.clear();
            std::unordered_set<std::string> user_names;
            for (const auto& u : out.users) user_names.insert(lower(u.name));
            std::unordered_set<std::string> group_names;
            for (const auto& e : *a) {
                const toml::table* t = e.as_table();
                if (!t) return fail("groups", "must be an array of tables ([[groups]])");
                warn_unknown(*t, "groups", {"name", "description", "members"});
                group_entry g;
                if (!str(*t, "groups", "name", g.name) || !str(*t, "groups", "description", g.description) ||
                    !strings(*t, "groups", "members", g.members))
                    return false;
                if (g.name.empty()) return fail("groups.name", "every group needs a name");
                for (const auto& m : g.members)
                    if (!user_names.contains(lower(m)))
                        return fail("groups.members", "group \"" + g.name + "\" names \"" + m + "\", who is no user");
                if (!group_names.insert(lower(g.name)).second)
                    return fail("groups.name", "two groups are named \"" + g.name + "\"");
                out.groups.push_back(std::move(g));
            }
        }
        if (auto* s = section("aliases")) {
            for (const auto& [k, v] : *s) {
                std::vector<std::string> targets;
                if (auto one = v.value<std::string>()) targets.push_back(*one);
                else if (auto* a = v.as_array()) {
                    for (const auto& e : *a) {
                        auto x = e.value<std::string>();
                        if (!x) return fail("aliases", "targets must be strings");
                        targets.push_back(*x);
                    }
                } else return fail("aliases", "each alias maps to a string or a list of strings");
                out.aliases.emplace(std::string(k.str()), std::move(targets));
            }
        }
        if (auto* s = section("routes")) {
            for (const auto& [k, v] : *s) {
                auto x = v.value<std::string>();
                if (!x) return fail("routes", "each route maps a domain to \"host:port\"");
                out.routes.emplace(std::string(k.str()), *x);
            }
        }
        if (auto* s = section("queue")) {
            std::vector<std::string> retry;
            std::vector<std::string> deferred;
            warn_unknown(*s, "queue", {"retry", "lifetime", "max_connections_per_destination", "connection_cache_time",
                                       "defer_transports", "mx_port"});
            if (!strings(*s, "queue", "defer_transports", deferred)) return false;
            for (const auto& t : deferred) {
                if (t == "local") out.defer_local = true;
                else if (t == "smtp") out.defer_smtp = true;
                else return fail("queue.defer_transports", "unknown transport \"" + t + "\" (local, smtp)");
            }
            uint32_t mx_port = out.mx_port;
            if (!num(*s, "queue", "mx_port", mx_port)) return false;
            if (mx_port < 1 || mx_port > 65535) return fail("queue.mx_port", "must be a port from 1 to 65535");
            out.mx_port = static_cast<uint16_t>(mx_port);
            if (!strings(*s, "queue", "retry", retry) || !duration(*s, "queue", "lifetime", out.lifetime_ms) ||
                !duration(*s, "queue", "connection_cache_time", out.connection_cache_time_ms) ||
                !num(*s, "queue", "max_connections_per_destination", out.max_connections_per_destination))
                return false;
            if (out.max_connections_per_destination < 1)
                return fail("queue.max_connections_per_destination", "must be at least 1");
            out.retry_ms.clear();
            for (const auto& r : retry) {
                uint64_t ms;
                if (!parse_duration_ms(r, ms)) return fail("queue.retry", "bad duration \"" + r + "\"");
                out.retry_ms.push_back(ms);
            }
        }
        if (auto* s = section("auth")) {
            warn_unknown(*s, "auth", {"allow_plaintext", "failure_delay"});
            if (!boolean(*s, "auth", "allow_plaintext", out.allow_plaintext) ||
                !duration(*s, "auth", "failure_delay", out.auth_failure_delay_ms))
                return false;
            if (out.auth_failure_delay_ms > 60000) return fail("auth.failure_delay", "must be at most 60s");
        }
        if (auto* s = section("pop3")) {
            warn_unknown(*s, "pop3", {"timeout"});
            if (!duration(*s, "pop3", "timeout", out.pop3_timeout_ms)) return false;
            if (out.pop3_timeout_ms < 1000) return fail("pop3.timeout", "must be at least 1s");
        }
        if (auto* s = section("imap")) {
            warn_unknown(*s, "imap", {"timeout"});
            if (!duration(*s, "imap", "timeout", out.imap_timeout_ms)) return false;
            if (out.imap_timeout_ms < 1000) return fail("imap.timeout", "must be at least 1s");
        }
        if (auto* s = section("ldap")) {
            warn_unknown(*s, "ldap", {"base", "anonymous", "size_limit", "time_limit", "timeout"});
            if (!str(*s, "ldap", "base", out.ldap_base) || !boolean(*s, "ldap", "anonymous", out.ldap_anonymous) ||
                !num(*s, "ldap", "size_limit", out.ldap_size_limit) ||
                !duration(*s, "ldap", "time_limit", out.ldap_time_limit_ms) ||
                !duration(*s, "ldap", "timeout", out.ldap_timeout_ms))
                return false;
            if (out.ldap_timeout_ms < 1000) return fail("ldap.timeout", "must be at least 1s");
            if (!out.ldap_base.empty() && !proto::ldap::is_distinguished_name(out.ldap_base))
                return fail("ldap.base", "must be a distinguished name like \"dc=example,dc=test\"");
            if (out.ldap_time_limit_ms % 1000) return fail("ldap.time_limit", "must be whole seconds");
        }
        if (auto* s = section("dns")) {
            warn_unknown(*s, "dns", {"servers", "timeout", "attempts"});
            if (!strings(*s, "dns", "servers", out.dns_servers) || !duration(*s, "dns", "timeout", out.dns_timeout_ms) ||
                !num(*s, "dns", "attempts", out.dns_attempts))
                return false;
            for (const auto& server : out.dns_servers)
                if (!net::dns_servers_csv({server}))
                    return fail("dns.servers", "bad server \"" + server + "\" (want an address and a port, \"127.0.0.1:53\")");
            if (out.dns_timeout_ms > 0 && out.dns_timeout_ms < 10) return fail("dns.timeout", "must be at least 10ms");
            if (out.dns_attempts > 10) return fail("dns.attempts", "must be at most 10");
        }
        return true;
    }
};

}  // namespace

bool cidr::contains(const uint8_t* addr, bool addr_v6) const noexcept {
    if (addr_v6 != v6) return false;
    uint32_t full = prefix_bits / 8, rest = prefix_bits % 8;
    for (uint32_t i = 0; i < full; ++i)
        if (addr[i] != bytes[i]) return false;
    if (rest) {
        uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
        if ((addr[full] & mask) != (bytes[full] & mask)) return false;
    }
    return true;
}

bool parse_cidr(std::string_view text, cidr& out) {
    std::string s(text);
    std::string bits;
    if (auto slash = s.find('/'); slash != std::string::npos) {
        bits = s.substr(slash + 1);
        s.resize(slash);
    }
    out = cidr{};
    if (inet_pton(AF_INET, s.c_str(), out.bytes) == 1) out.v6 = false;
    else if (inet_pton(AF_INET6, s.c_str(), out.bytes) == 1) out.v6 = true;
    else return false;
    unsigned max = out.v6 ? 128 : 32, p = max;
    if (!bits.empty()) {
        auto [ptr, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), p);
        if (ec != std::errc() || ptr != bits.data() + bits.size() || p > max) return false;
    }
    out.prefix_bits = static_cast<uint8_t>(p);
    return true;
}

bool parse_duration_ms(std::string_view text, uint64_t& out_ms) {
    auto r = queue::parse_duration_ms(text);
    if (!r) return false;
    out_ms = r.value();
    return true;
}

bool parse_config(std::string_view text, std::string source, config& out, std::string& message) {
    out = config{};
    out.source = std::move(source);
    try {
        toml::table root = toml::parse(text, std::string_view(out.source));
        parser p{root, out, message};
        if (!p.run()) {
            message = out.source + ": " + message;
            return false;
        }
    } catch (const toml::parse_error& e) {
        std::ostringstream os;
        os << out.source << ":" << e.source().begin.line << ":" << e.source().begin.column << ": " << e.description();
        message = os.str();
        return false;
    }
    return true;
}

bool load_config(const std::string& path_or_empty, config& out, std::string& message) {
    if (path_or_empty.empty()) return parse_config(demo_config_text(), "embedded demo config", out, message);
    std::ifstream in(path_or_empty, std::ios::binary);
    if (!in) {
        message = path_or_empty + ": cannot open";
        return false;
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    bool ok = parse_config(ss.str(), path_or_empty, out, message);
    out.path = path_or_empty;
    return ok;
}

}  // namespace posthorn::app
