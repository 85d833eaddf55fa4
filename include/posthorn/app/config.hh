// The configuration: one TOML file (DESIGN.md "Configuration and tools"), or
// the embedded demo config when no file is given. Parsed once at start into
// plain values; shards copy what they need (no global mutable config).
//
// Errors: load() returns a message naming the key and the problem; unknown
// keys are warned about, not fatal, so a newer file still starts.
#pragma once

#include "posthorn/core/result.hh"

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace posthorn::app {

enum class io_choice : uint8_t { auto_detect, io_uring, epoll };
enum class durability_mode : uint8_t { fsync, none };

struct cidr {
    bool v6 = false;
    uint8_t bytes[16] = {};
    uint8_t prefix_bits = 0;
    bool contains(const uint8_t* addr, bool addr_v6) const noexcept;
};

struct user_entry {
    std::string name;
    std::string password;
    std::string display_name;
    std::vector<std::string> addresses;
    std::string given_name, surname, title, department, telephone;
};

struct group_entry {
    std::string name;
    std::string description;
    std::vector<std::string> members;  // user names
};

struct config {
    // [server]
    std::string hostname = "mx.example.test";
    uint32_t shards = 0;                    // 0 = one per CPU ("auto")
    io_choice io = io_choice::auto_detect;
    std::string data_dir = "var";
    durability_mode durability = durability_mode::fsync;
    std::string log_level = "info";
    uint32_t idle_poll_us = 50;             // core::reactor_config::idle_poll_us (µs)
    // [listen]
    std::vector<std::string> listen_smtp, listen_pop3, listen_imap, listen_ldap, listen_rpc, listen_metrics;
    // [smtp]
    uint64_t max_message_size = 52428800;
    uint32_t max_recipients = 1000;
    uint32_t line_length_max = 512;
    uint32_t errors_max = 10;
    uint64_t command_timeout_ms = 300000;   // RFC 5321 §4.5.3.2.7: 5 minutes
    uint64_t data_timeout_ms = 600000;      // §4.5.3.2.6: 10 minutes for the terminator
    uint32_t max_connections_per_ip = 50;   // per shard
    uint32_t max_connections = 10000;       // per shard
    uint32_t body_window_bytes = 256 * 1024;
    std::vector<cidr> trusted_networks;
    std::vector<std::string> trusted_networks_text;
    std::string bare_newlines = "reject";   // reject | normalize
    std::string vrfy = "cannot_verify";     // cannot_verify | verify | disabled
    bool expn = false;
    bool forbid_unauth_pipelining = true;
    uint64_t greet_pause_ms = 0;            // wait before 220 to catch pre-greeting talkers
    // [spool]
    uint64_t segment_bytes = 64ull << 20;
    uint64_t zero_ahead_bytes = 2ull << 20;  // spool::options::zero_ahead_bytes; 0 = off
    uint32_t chunk_bytes = 16384;
    uint32_t chunks_per_shard = 512;        // 8 MiB of receive buffers per shard: the RSS bound
    // [domains] [[users]] [[groups]] [aliases] [routes]
    std::vector<std::string> local_domains;
    std::vector<user_entry> users;
    std::vector<group_entry> groups;
    std::unordered_map<std::string, std::vector<std::string>> aliases;
    std::unordered_map<std::string, std::string> routes;
    // [queue]
    std::vector<uint64_t> retry_ms;
    uint64_t lifetime_ms = 5ull * 24 * 3600 * 1000;
    uint32_t max_connections_per_destination = 20;
    uint64_t connection_cache_time_ms = 2000;  // an idle relay connection waits this long for more work
    // [queue] defer_transports, as Postfix's: "local" and/or "smtp" hold
    // those deliveries (the mail stays in the spool) until a restart
    // without them; for maintenance, and for tests of the spool alone.
    bool defer_local = false;
    bool defer_smtp = false;
    // The port MX (and implicit-MX) deliveries connect to: 25. Another port
    // is for tests and labs, where the next hop is not on port 25.
    uint16_t mx_port = 25;
    // [dns]: resolvers for MX and host lookups.
    std::vector<std::string> dns_servers;   // "addr:port"; empty = /etc/resolv.conf
    uint64_t dns_timeout_ms = 0;            // per try; 0 = resolv.conf / c-ares default
    uint32_t dns_attempts = 0;              // tries per server; 0 = default

    // [auth]: logins to POP3 and IMAP.
    bool allow_plaintext = false;           // loopback clients may always (as Dovecot's localhost)
    uint64_t auth_failure_delay_ms = 2000;  // per failure, times the client's recent failures (at most 8)
    // [pop3] [imap]: autologout timers.
    uint64_t pop3_timeout_ms = 600000;      // RFC 1939 §3: at least 10 minutes
    uint64_t imap_timeout_ms = 1800000;     // RFC 3501 §5.4: at least 30 minutes
    // [ldap]: the directory over LDAPv3, read-only (proto/ldap_session.hh).
    std::string ldap_base;                  // "" = dc=<labels of the primary domain>
    bool ldap_anonymous = true;             // anonymous binds and reads, as slapd's default
    uint32_t ldap_size_limit = 500;         // entries per search (per page when paged), slapd's default; 0 = none
    uint64_t ldap_time_limit_ms = 3600000;  // per search, slapd's default; 0 = none
    uint64_t ldap_timeout_ms = 900000;      // idle connections are closed after this

    std::string source = "embedded demo config";
    std::string path;   // the file load_config() read; empty for the embedded demo config
};

// The embedded demo configuration (DESIGN.md): example.test, user1..user5.
std::string_view demo_config_text() noexcept;

// Parses TOML text; `source` names it in messages. On error, `message` says why.
bool parse_config(std::string_view text, std::string source, config& out, std::string& message);
bool load_config(const std::string& path_or_empty, config& out, std::string& message);

// "5m", "300s", "250ms", "1h", "5d", or a bare number of seconds.
bool parse_duration_ms(std::string_view text, uint64_t& out_ms);
bool parse_cidr(std::string_view text, cidr& out);

}  // namespace posthorn::app
