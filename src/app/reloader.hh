// reloader: reloads the directory of the running daemon (DESIGN.md "a
// reload builds a new snapshot and hands it to every shard"), on SIGHUP or
// the control socket's {"cmd":"reload"} (`posthorn reload`).
//
// One reload: re-read the config file the daemon started with (the embedded
// demo config when none); on a parse or validation error keep the current
// generation and log event=reload_failed reason=...; else log the keys that
// changed outside the directory part (event=reload_needs_restart keys=...,
// ignored), build the next generation (directory_reload.hh: snapshot, then
// derived data, once) and send it to every shard, which switches at its next
// safe point (between callbacks) and answers. When all have answered, log
// event=reloaded generation=G users=N groups=M aliases=K and answer the
// callers: a caller told "reloaded" may count on every shard's next lookup
// seeing the new directory.
//
// Threading: lives on shard 0 and runs there; other shards are reached only
// by shard messages (core/shard.hh), each shard's part is
// shard_directory::install() on its own thread. Reloads run one at a time:
// a request during one waits and is served by the next (one reload answers
// every request that arrived while it ran). SIGHUP: the serve command blocks
// it in every thread before the shards start; shard 0 reads it from a
// signalfd polled on its loop.
// Limits: a ring that is full is retried every millisecond. The config file
// is read and parsed on shard 0's loop (milliseconds for thousands of users).
// Shutdown: stop() drops waiting callers; messages still in flight are freed
// by the shard set.
#pragma once

#include "posthorn/app/config.hh"
#include "posthorn/core/fd_poll.hh"
#include "posthorn/core/shard.hh"
#include "posthorn/core/task.hh"
#include "directory_reload.hh"
#include "metrics.hh"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace posthorn::app {

class reloader final : private core::poll_handler {
public:
    // The outcome of one reload: ok, and the line to show ("reloaded
    // generation=2 users=6 ..." or the reason it failed).
    struct outcome {
        bool ok = false;
        std::string text;
        std::vector<std::string> restart_keys;
    };
    using done_fn = std::function<void(const outcome&)>;

    // `config_path`: the file the daemon started with, empty for the
    // embedded demo config. `running`: that config as parsed at start.
    reloader(core::shard& here, const config& running, std::string config_path, directory_table& table);
    ~reloader();
    reloader(const reloader&) = delete;
    reloader& operator=(const reloader&) = delete;

    // Starts listening for SIGHUP (blocked by the caller in every thread).
    void watch_sighup() noexcept;
    // Asks for a reload; done (may be empty) follows on this shard, never
    // from inside this call.
    void reload(std::string_view why, done_fn done);
    void stop() noexcept;

    uint64_t generation() const noexcept { return _generation; }
    // Counts applied and refused reloads there (shard 0's metrics).
    void set_metrics(shard_metrics* m) noexcept { _metrics = m; }

private:
    struct switch_message;
    static void on_switch_at_shard(core::shard* here, void* payload) noexcept;
    static void on_switched(core::shard* here, void* payload) noexcept;
    void on_poll(int events) noexcept override;
    void start() noexcept;
    void send_pending() noexcept;
    void finish(outcome out) noexcept;

    core::shard& _here;
    const config& _running;
    std::string _config_path;
    directory_table& _table;
    uint64_t _generation = 1;   // the current one (1: the config at start)

    int _signal_fd = -1;
    core::fd_poll _poll;

    bool _stopped = false;
    bool _running_reload = false;     // a generation is out, answers awaited
    bool _again = false;              // a request arrived meanwhile
    std::string _why;                 // sighup | control, for the log
    std::string _next_why;
    std::vector<done_fn> _waiting;    // answered by the running reload
    std::vector<done_fn> _next;       // answered by the one after it
    std::vector<uint32_t> _unsent;    // shards whose ring was full
    std::shared_ptr<const directory_generation> _out;  // the generation being handed out
    std::vector<std::string> _out_restart_keys;
    uint32_t _answers_left = 0;
    core::timer_id _retry{};
    core::task _start_task;
    shard_metrics* _metrics = nullptr;
};

}  // namespace posthorn::app
