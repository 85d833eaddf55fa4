// "addr:port" parsing and formatting, peer IP text and keys, and bound
// sockets with SO_REUSEADDR + SO_REUSEPORT (see net/address.hh).
// Pure functions; no logging; errno values in core::error.
#include "posthorn/net/address.hh"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <sys/un.h>
#include <unistd.h>

#include <charconv>
#include <cstring>

namespace posthorn::net {

uint16_t endpoint::port() const noexcept {
    if (addr.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&addr)->sin_port);
    if (addr.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_port);
    return 0;
}

std::string endpoint::text() const {
    if (family() == AF_UNIX) return "unix:" + std::string(reinterpret_cast<const sockaddr_un*>(&addr)->sun_path);
    char ip[ip_text_max];
    size_t n = format_ip(sa(), ip);
    std::string out;
    if (family() == AF_INET6 && std::string_view(ip, n).find(':') != std::string_view::npos) {
        out.append("[").append(ip, n).append("]");
    } else {
        out.append(ip, n);
    }
    out.append(":").append(std::to_string(port()));
    return out;
}

core::result<endpoint> parse_endpoint(std::string_view text) {
    std::string_view host;
    std::string_view port_text;
    if (!text.empty() && text.front() == '[') {
        size_t close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
            return core::error{EINVAL, "address: expected [ipv6]:port"};
        host = text.substr(1, close - 1);
        port_text = text.substr(close + 2);
    } else {
        size_t colon = text.rfind(':');
        if (colon == std::string_view::npos) return core::error{EINVAL, "address: expected addr:port"};
        host = text.substr(0, colon);
        port_text = text.substr(colon + 1);
        if (host.find(':') != std::string_view::npos)
            return core::error{EINVAL, "address: an IPv6 address needs brackets, [addr]:port"};
    }
    unsigned port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() || port > 65535)
        return core::error{EINVAL, "address: port must be 0..65535"};

    if (host == "*") host = "0.0.0.0";
    char host_z[ip_text_max + 1];
    if (host.size() >= sizeof host_z) return core::error{EINVAL, "address: host too long"};
    std::memcpy(host_z, host.data(), host.size());
    host_z[host.size()] = '\0';

    endpoint ep;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&ep.addr);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&ep.addr);
    if (text.front() != '[' && ::inet_pton(AF_INET, host_z, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(static_cast<uint16_t>(port));
        ep.length = sizeof(sockaddr_in);
        return ep;
    }
    if (text.front() == '[' && ::inet_pton(AF_INET6, host_z, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(static_cast<uint16_t>(port));
        ep.length = sizeof(sockaddr_in6);
        return ep;
    }
    return core::error{EINVAL, "address: not an IP literal (names are not resolved)"};
}

size_t format_ip(const sockaddr* sa, char* out) noexcept {
    out[0] = '\0';
    if (sa->sa_family == AF_INET) {
        ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, out, ip_text_max);
    } else if (sa->sa_family == AF_INET6) {
        const in6_addr& a = reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(&a))
            ::inet_ntop(AF_INET, &a.s6_addr[12], out, ip_text_max);
        else
            ::inet_ntop(AF_INET6, &a, out, ip_text_max);
    }
    return std::strlen(out);
}

ip_key key_of(const sockaddr* sa) noexcept {
    unsigned char b[16] = {};
    if (sa->sa_family == AF_INET) {
        b[10] = b[11] = 0xff;
        std::memcpy(b + 12, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        std::memcpy(b, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, 16);
    }
    ip_key k;
    std::memcpy(&k.hi, b, 8);
    std::memcpy(&k.lo, b + 8, 8);
    return k;
}

core::result<int> bind_socket(const endpoint& ep, transport t, int backlog) {
    int type = (t == transport::tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC;
    int fd = ::socket(ep.family(), type, 0);
    if (fd < 0) return core::errno_error("socket");
    auto fail = [fd](const char* what) {
        core::error e = core::errno_error(what);
        ::close(fd);
        return e;
    };
    int one = 1;
    if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) return fail("setsockopt SO_REUSEADDR");
    if (::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) return fail("setsockopt SO_REUSEPORT");
    if (ep.family() == AF_INET6 && ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0)
        return fail("setsockopt IPV6_V6ONLY");
    if (t == transport::tcp && ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
        return fail("setsockopt TCP_NODELAY");
    if (::bind(fd, ep.sa(), ep.length) < 0) return fail("bind");
    if (t == transport::tcp && ::listen(fd, backlog) < 0) return fail("listen");
    return fd;
}

core::result<endpoint> local_endpoint(int fd) {
    endpoint ep;
    ep.length = sizeof ep.addr;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ep.addr), &ep.length) < 0)
        return core::errno_error("getsockname");
    return ep;
}

}  // namespace posthorn::net
