// Next-hop selection: local, [routes], smarthost, else MX.
#include "posthorn/queue/routing.hh"

#include <cerrno>
#include <charconv>
#include <fmt/format.h>

namespace posthorn::queue {
namespace {
std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}
}  // namespace

core::result<host_port> parse_host_port(std::string_view text) {
    auto bad = [] { return core::error{EINVAL, "bad host:port (host, host:port, [v6]:port)"}; };
    host_port out;
    std::string_view host, port;
    if (!text.empty() && text.front() == '[') {
        size_t close = text.find(']');
        if (close == std::string_view::npos || close == 1) return bad();
        host = text.substr(1, close - 1);
        std::string_view rest = text.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') return bad();
            port = rest.substr(1);
            if (port.empty()) return bad();
        }
    } else {
        size_t colon = text.rfind(':');
        if (colon != std::string_view::npos && text.find(':') != colon) return bad();  // bare v6: use brackets
        host = text.substr(0, colon);
        if (colon != std::string_view::npos) {
            port = text.substr(colon + 1);
            if (port.empty()) return bad();
        }
    }
    if (host.empty()) return bad();
    for (char c : host)
        if (static_cast<unsigned char>(c) <= ' ' || c == '/' || c == '@') return bad();
    if (!port.empty()) {
        unsigned p = 0;
        auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
        if (ec != std::errc{} || end != port.data() + port.size() || p == 0 || p > 65535) return bad();
        out.port = static_cast<uint16_t>(p);
    }
    out.host = lower(host);
    return out;
}

std::string next_hop::key() const {
    switch (how) {
    case kind::local: return "local";
    case kind::host: return fmt::format("[{}]:{}", target.host, target.port);
    case kind::mx: break;
    }
    return "mx:" + target.host;
}

core::result<void> route_table::add(std::string_view domain, std::string_view text) {
    auto hp = parse_host_port(text);
    if (!hp) return hp.err();
    std::string d = lower(domain);
    if (d.empty() || d == ".") return core::error{EINVAL, "empty route domain"};
    if (d.front() == '.')
        _parents[d.substr(1)] = std::move(hp.value());
    else
        _exact[d] = std::move(hp.value());
    return core::ok();
}

core::result<void> route_table::set_smarthost(std::string_view text) {
    auto hp = parse_host_port(text);
    if (!hp) return hp.err();
    _smarthost = std::move(hp.value());
    _has_smarthost = true;
    return core::ok();
}

next_hop route_table::route(std::string_view domain, bool local) const {
    if (local) return next_hop{next_hop::kind::local, {}};
    std::string d(domain);
    if (auto it = _exact.find(d); it != _exact.end()) return next_hop{next_hop::kind::host, it->second};
    // ".parent" matches every proper subdomain, nearest parent first.
    for (size_t dot = d.find('.'); dot != std::string::npos; dot = d.find('.', dot + 1)) {
        if (auto it = _parents.find(d.substr(dot + 1)); it != _parents.end())
            return next_hop{next_hop::kind::host, it->second};
    }
    if (_has_smarthost) return next_hop{next_hop::kind::host, _smarthost};
    return next_hop{next_hop::kind::mx, host_port{d, 25}};
}

}  // namespace posthorn::queue
