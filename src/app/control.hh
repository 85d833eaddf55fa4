// control: the running daemon's control socket, data_dir/control.sock (a
// Unix socket, mode 0600), served by shard 0. JSON lines, one request and
// one reply per line:
//   {"cmd":"flush"}                    -> {"ok":true,"shards":N}
//     every shard tries its deferred deliveries now
//   {"cmd":"delete","id":"<16 hex>"}   -> {"ok":true,"id":"..."} or
//                                         {"ok":false,"error":"no such message"}
//     the owner shard (the id's top byte) tombstones the message
//   {"cmd":"reload"}                   -> {"ok":true,"text":"reloaded generation=G users=N groups=M aliases=K",
//                                          "restart_needed":"listen.smtp,..."} or
//                                         {"ok":false,"error":"<why the config was refused>"}
//     re-reads the daemon's config file and hands the new directory to every
//     shard (reloader.hh); answered once every shard switched
// Anything else gets {"ok":false,"error":...} and a log line. `posthorn queue
// flush|delete` and `posthorn reload` are its clients; `queue list|show|cat`
// read the spool.
//
// Threading: the node lives on shard 0; requests reach the other shards as
// shard messages and replies come back the same way (core/shard.hh).
// Limits: a request line of 1 KiB; connections close after 30 s idle.
#pragma once

#include "posthorn/core/shard.hh"
#include "posthorn/net.hh"

#include <array>
#include <cstdint>
#include <string>
#include <unordered_map>

namespace posthorn::app {

class delivery;
class reloader;

// Each shard's delivery, set by that shard and read only on it.
using delivery_table = std::array<delivery*, 256>;

class control_node final : public net::handler {
public:
    // `reload`: shard 0's reloader, or null (then "reload" is refused).
    control_node(core::shard& here, delivery_table& deliveries, reloader* reload = nullptr)
        : _shard(here), _deliveries(deliveries), _reloader(reload) {}

    void on_open(net::connection& c) noexcept override;
    size_t on_data(net::connection& c, const core::slice& bytes) noexcept override;
    void on_close(net::connection& c) noexcept override;

    // Answers connection `conn` (if still open); shard 0's thread.
    void reply(uint64_t conn, const std::string& line) noexcept;

private:
    void handle(net::connection& c, std::string_view line) noexcept;

    core::shard& _shard;
    delivery_table& _deliveries;
    reloader* _reloader;
    std::unordered_map<uint64_t, net::connection*> _open;
    std::unordered_map<uint64_t, std::string> _partial;  // connection id -> bytes of an unfinished line
};

// The CLI side: sends one request line to the daemon's socket, prints the
// reply; 0 when it says ok.
int control_request(const std::string& socket_path, const std::string& request_line);
// The same without printing the reply: `reply` gets its line. 0 when the
// daemon answered (whatever it said); 1 (with a message on stderr) when not.
int control_exchange(const std::string& socket_path, const std::string& request_line, std::string& reply);

// JSON string escaping for replies ("\"", "\\", control characters as \u00XX),
// and the value of a string field of a flat reply object (escapes decoded;
// false when absent or malformed).
std::string json_escape(std::string_view text);
bool json_field(std::string_view object, std::string_view key, std::string& out);

}  // namespace posthorn::app
