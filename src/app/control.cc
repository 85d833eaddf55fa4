// The control socket: JSON lines in, shard messages out, replies back.
#include "control.hh"

#include "delivery.hh"
#include "reloader.hh"
#include "posthorn/core/log.hh"
#include "posthorn/queue.hh"

#include <fmt/format.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace posthorn::app {
namespace {
constexpr size_t request_max = 1024;

// The string value of "key" in a flat JSON object of string values; empty
// when absent. Escapes are not needed by any command and are refused.
bool json_string(std::string_view obj, std::string_view key, std::string& out) {
    std::string pattern = fmt::format("\"{}\"", key);
    size_t at = obj.find(pattern);
    out.clear();
    if (at == std::string_view::npos) return true;
    at += pattern.size();
    while (at < obj.size() && (obj[at] == ' ' || obj[at] == ':')) ++at;
    if (at >= obj.size() || obj[at] != '"') return false;
    size_t end = obj.find('"', at + 1);
    if (end == std::string_view::npos) return false;
    std::string_view v = obj.substr(at + 1, end - at - 1);
    if (v.find('\\') != std::string_view::npos) return false;
    out.assign(v);
    return true;
}

bool parse_id(std::string_view s, uint64_t& id) {
    if (s.size() != 16) return false;
    id = 0;
    for (char c : s) {
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (v < 0) return false;
        id = id << 4 | static_cast<uint64_t>(v);
    }
    return true;
}

struct delete_request {
    uint64_t id;
    uint64_t conn;
    uint32_t origin;
    control_node* node;
    delivery_table* deliveries;
    bool found = false;
};

void on_delete_answered(core::shard* here, void* payload) noexcept {
    auto* req = static_cast<delete_request*>(payload);
    if (here)
        req->node->reply(req->conn, req->found ? fmt::format("{{\"ok\":true,\"id\":\"{}\"}}", queue::format_queue_id(req->id))
                                               : std::string("{\"ok\":false,\"error\":\"no such message\"}"));
    delete req;
}

void on_delete_at_owner(core::shard* here, void* payload) noexcept {
    auto* req = static_cast<delete_request*>(payload);
    if (!here) {
        delete req;
        return;
    }
    delivery* d = (*req->deliveries)[here->id()];
    req->found = d && d->remove(req->id);
    if (!here->send(req->origin, core::shard_message{&on_delete_answered, req})) {
        core::log::error("event=control_reply_lost note=\"ring to shard 0 full\"");
        delete req;
    }
}

void on_flush_at_shard(core::shard* here, void* payload) noexcept {
    auto* table = static_cast<delivery_table*>(payload);
    if (here && (*table)[here->id()]) (*table)[here->id()]->flush();
}
}  // namespace

void control_node::on_open(net::connection& c) noexcept {
    c.set_idle_timeout_ms(30'000);
    _open.emplace(c.id(), &c);
}

size_t control_node::on_data(net::connection& c, const core::slice& bytes) noexcept {
    if (c.closing()) return bytes.length;
    std::string& buf = _partial[c.id()];
    buf.append(bytes.view());
    size_t nl;
    while ((nl = buf.find('\n')) != std::string::npos) {
        std::string line = buf.substr(0, nl);
        buf.erase(0, nl + 1);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        handle(c, line);
    }
    if (buf.size() > request_max) {
        c.write("{\"ok\":false,\"error\":\"request too long\"}\n");
        c.close();
    }
    return bytes.length;
}

void control_node::handle(net::connection& c, std::string_view line) noexcept {
    std::string cmd, id_text;
    if (line.size() > request_max || line.empty() || line.front() != '{' || !json_string(line, "cmd", cmd) ||
        !json_string(line, "id", id_text)) {
        core::log::info("event=control_bad_request line=\"{}\"", line.substr(0, 80));
        c.write("{\"ok\":false,\"error\":\"bad request: one JSON object per line\"}\n");
        return;
    }
    if (cmd == "flush") {
        uint32_t n = _shard.count();
        for (uint32_t s = 0; s < n; ++s) _shard.send(s, core::shard_message{&on_flush_at_shard, &_deliveries});
        c.write(fmt::format("{{\"ok\":true,\"shards\":{}}}\n", n));
        return;
    }
    if (cmd == "delete") {
        uint64_t id = 0;
        if (!parse_id(id_text, id)) {
            c.write("{\"ok\":false,\"error\":\"id: 16 hex digits\"}\n");
            return;
        }
        uint32_t owner = static_cast<uint32_t>(id >> 56);
        if (owner >= _shard.count()) {
            c.write("{\"ok\":false,\"error\":\"no such message\"}\n");
            return;
        }
        auto* req = new delete_request{id, c.id(), _shard.id(), this, &_deliveries};
        if (!_shard.send(owner, core::shard_message{&on_delete_at_owner, req})) {
            delete req;
            c.write("{\"ok\":false,\"error\":\"busy, try again\"}\n");
        }
        return;
    }
    if (cmd == "reload" && _reloader) {
        core::log::info("event=reload_requested via=control");
        _reloader->reload("control", [this, conn = c.id()](const reloader::outcome& out) {
            if (!out.ok) {
                reply(conn, fmt::format("{{\"ok\":false,\"error\":\"{}\"}}", json_escape(out.text)));
                return;
            }
            std::string keys;
            for (const auto& k : out.restart_keys) keys.append(keys.empty() ? "" : ",").append(k);
            reply(conn, fmt::format("{{\"ok\":true,\"text\":\"{}\",\"restart_needed\":\"{}\"}}",
                                    json_escape(out.text), json_escape(keys)));
        });
        return;
    }
    c.write(fmt::format("{{\"ok\":false,\"error\":\"unknown command {}\"}}\n", json_escape(cmd.substr(0, 40))));
}

void control_node::reply(uint64_t conn, const std::string& line) noexcept {
    auto it = _open.find(conn);
    if (it == _open.end()) return;  // the client left
    it->second->write(line + "\n");
}

void control_node::on_close(net::connection& c) noexcept {
    _open.erase(c.id());
    _partial.erase(c.id());
}

std::string json_escape(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(ch);
        } else if (c < 0x20) {
            out.append(fmt::format("\\u{:04x}", c));
        } else {
            out.push_back(ch);
        }
    }
    return out;
}

bool json_field(std::string_view obj, std::string_view key, std::string& out) {
    std::string pattern = fmt::format("\"{}\"", key);
    size_t at = obj.find(pattern);
    out.clear();
    if (at == std::string_view::npos) return false;
    at += pattern.size();
    while (at < obj.size() && (obj[at] == ' ' || obj[at] == ':')) ++at;
    if (at >= obj.size() || obj[at] != '"') return false;
    for (++at; at < obj.size(); ++at) {
        char c = obj[at];
        if (c == '"') return true;
        if (c != '\\') {
            out.push_back(c);
            continue;
        }
        if (++at >= obj.size()) return false;
        switch (obj[at]) {
        case '"': case '\\': case '/': out.push_back(obj[at]); break;
        case 'n': out.push_back('\n'); break;
        case 't': out.push_back('\t'); break;
        case 'r': out.push_back('\r'); break;
        case 'u': {
            if (at + 4 >= obj.size()) return false;
            unsigned v = 0;
            for (int k = 1; k <= 4; ++k) {
                char h = obj[at + static_cast<size_t>(k)];
                int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10
                        : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
                if (d < 0) return false;
                v = v << 4 | static_cast<unsigned>(d);
            }
            if (v > 0x7f) return false;  // replies escape only control characters
            out.push_back(static_cast<char>(v));
            at += 4;
            break;
        }
        default: return false;
        }
    }
    return false;
}

int control_request(const std::string& socket_path, const std::string& request_line) {
    std::string reply;
    if (int rc = control_exchange(socket_path, request_line, reply); rc != 0) return rc;
    std::fputs(reply.c_str(), stdout);
    return reply.find("\"ok\":true") != std::string::npos ? 0 : 1;
}

int control_exchange(const std::string& socket_path, const std::string& request_line, std::string& reply) {
    sockaddr_un sun{};
    if (socket_path.size() >= sizeof sun.sun_path) {
        std::fprintf(stderr, "posthorn: control socket path too long: %s\n", socket_path.c_str());
        return 2;
    }
    sun.sun_family = AF_UNIX;
    std::memcpy(sun.sun_path, socket_path.data(), socket_path.size());
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval tv{30, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun) != 0) {
        std::fprintf(stderr, "posthorn: cannot reach the daemon at %s: %s (is `posthorn serve` running with this config?)\n",
                     socket_path.c_str(), std::strerror(errno));
        if (fd >= 0) ::close(fd);
        return 1;
    }
    std::string line = request_line + "\n";
    if (::send(fd, line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size())) {
        std::fprintf(stderr, "posthorn: control socket: %s\n", std::strerror(errno));
        ::close(fd);
        return 1;
    }
    reply.clear();
    char buf[512];
    while (reply.find('\n') == std::string::npos) {
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        reply.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    if (reply.empty()) {
        std::fprintf(stderr, "posthorn: no reply from the daemon\n");
        return 1;
    }
    return 0;
}

}  // namespace posthorn::app
