// Socket addresses for the net layer: "addr:port" text (IPv4 "127.0.0.1:25",
// IPv6 "[::1]:25", "*:25" for every IPv4 address), peer IPs as text, a key
// for counting connections per client IP, and bound sockets with
// SO_REUSEADDR + SO_REUSEPORT so every shard binds every listener itself.
//
// Threading: pure functions; bind_socket() makes one socket.
// Errors: parse_endpoint() rejects anything but a literal address and a
// port in 0..65535 (EINVAL, with what naming the problem); bind_socket()
// returns the failing call's errno. Nothing here logs.
#pragma once

#include "posthorn/core/result.hh"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace posthorn::net {

enum class transport : uint8_t { tcp, udp };

struct endpoint {
    sockaddr_storage addr{};
    socklen_t length = 0;

    int family() const noexcept { return addr.ss_family; }
    uint16_t port() const noexcept;
    const sockaddr* sa() const noexcept { return reinterpret_cast<const sockaddr*>(&addr); }
    std::string text() const;  // "127.0.0.1:25", "[::1]:25", "unix:/path"
};

core::result<endpoint> parse_endpoint(std::string_view text);

// Longest IP text (an IPv6 address) plus its terminating NUL.
inline constexpr size_t ip_text_max = 46;

// The IP of sa as text ("192.0.2.1", "2001:db8::1"; an IPv4-mapped IPv6
// address prints as IPv4) into out[ip_text_max]; returns its length.
size_t format_ip(const sockaddr* sa, char* out) noexcept;

// 16 bytes that identify a client IP (IPv4 as IPv4-mapped IPv6).
struct ip_key {
    uint64_t hi = 0;
    uint64_t lo = 0;
    bool operator==(const ip_key&) const = default;
};
ip_key key_of(const sockaddr* sa) noexcept;

struct ip_key_hash {
    size_t operator()(const ip_key& k) const noexcept {
        return std::hash<uint64_t>{}(k.hi * 0x9e3779b97f4a7c15ull ^ k.lo);
    }
};

// A socket bound to ep with SO_REUSEADDR and SO_REUSEPORT (IPv6: V6ONLY),
// close-on-exec and non-blocking; TCP sockets listen(backlog) with
// TCP_NODELAY set, which accepted sockets inherit.
core::result<int> bind_socket(const endpoint& ep, transport t, int backlog = 1024);

// The local address a socket is bound to (after binding port 0).
core::result<endpoint> local_endpoint(int fd);

}  // namespace posthorn::net
