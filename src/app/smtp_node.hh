// The SMTP side of one shard: wires each accepted connection to a sans-I/O
// smtp::session, moves bytes between them, parks sessions whose message waits
// for the group commit and wakes them when the spool's fdatasync completes.
//
// Threading: shard-local, not thread-safe; lives on its shard's thread.
// Limits: connection caps come from net::registry (refused here with 421
// 4.7.0); timeouts from the config (command vs DATA). Logs one line per
// refused connection and per timeout; sessions log their own events.
#pragma once

#include "posthorn/app/config.hh"
#include "posthorn/directory.hh"
#include "posthorn/net.hh"
#include "posthorn/proto/smtp_session.hh"
#include "metrics.hh"
#include "spool_sink.hh"

#include <cstdint>
#include <unordered_map>

namespace posthorn::app {

proto::smtp::session_config make_session_config(const config& cfg);

class smtp_node final : public net::handler {
public:
    smtp_node(const config& cfg, const directory::handle& dir, spool_sink& sink);

    void on_open(net::connection& c) noexcept override;
    size_t on_data(net::connection& c, const core::slice& bytes) noexcept override;
    void on_deadline(net::connection& c) noexcept override;
    void on_close(net::connection& c) noexcept override;

    uint64_t sessions_opened() const noexcept { return _opened; }
    void set_metrics(shard_metrics* m) noexcept { _metrics = m; }

private:
    static void on_commit_done(void* ctx, uint64_t token, bool ok) noexcept;
    void greet(net::connection& c) noexcept;
    void on_greet_pause_over(uint64_t conn_id) noexcept;
    void after_session_step(net::connection& c, proto::smtp::session& s) noexcept;
    bool is_trusted(std::string_view ip) const noexcept;

    const config& _cfg;
    const directory::handle& _dir;  // the shard's current directory, read by each session
    spool_sink& _sink;
    proto::smtp::session_config _session_cfg;
    std::unordered_map<uint64_t, net::connection*> _parked;  // connection id -> waiting for commit
    std::unordered_map<uint64_t, net::connection*> _pausing; // connection id -> in the greet pause
    uint64_t _opened = 0;
    shard_metrics* _metrics = nullptr;
};

}  // namespace posthorn::app
