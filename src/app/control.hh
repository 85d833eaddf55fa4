// control: the running daemon's control socket, data_dir/control.sock (a
// Unix socket, mode 0600), served by shard 0. JSON lines, one request and
// one reply per line:
//   {"cmd":"flush"}                    -> {"ok":true,"shards":N}
//     every shard tries its deferred deliveries now
//   {"cmd":"delete","id":"<16 hex>"}   -> {"ok":true,"id":"..."} or
//                                         {"ok":false,"error":"no such message"}
//     the owner shard (the id's top byte) tombstones the message
// Anything else gets {"ok":false,"error":...} and a log line. `posthorn queue
// flush|delete` are its clients; `queue list|show|cat` read the spool.
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

// Each shard's delivery, set by that shard and read only on it.
using delivery_table = std::array<delivery*, 256>;

class control_node final : public net::handler {
public:
    control_node(core::shard& here, delivery_table& deliveries) : _shard(here), _deliveries(deliveries) {}

    void on_open(net::connection& c) noexcept override;
    size_t on_data(net::connection& c, const core::slice& bytes) noexcept override;
    void on_close(net::connection& c) noexcept override;

    // Answers connection `conn` (if still open); shard 0's thread.
    void reply(uint64_t conn, const std::string& line) noexcept;

private:
    void handle(net::connection& c, std::string_view line) noexcept;

    core::shard& _shard;
    delivery_table& _deliveries;
    std::unordered_map<uint64_t, net::connection*> _open;
    std::unordered_map<uint64_t, std::string> _partial;  // connection id -> bytes of an unfinished line
};

// The CLI side: sends one request line to the daemon's socket, prints the
// reply; 0 when it says ok.
int control_request(const std::string& socket_path, const std::string& request_line);

}  // namespace posthorn::app
