// auth_worker: password checks off a shard's loop. crypt(3) with yescrypt
// takes milliseconds of CPU; run on the reactor thread it would stall every
// session of the shard. Each shard has one worker thread, woken through a
// condition variable; it answers through an eventfd the shard polls
// (core/fd_poll.hh), so results arrive as ordinary loop events.
//
// Threading: check() and the done callback run on the shard's thread; the
// worker thread touches only the job queue and the result list (under one
// mutex), never the reactor. The directory user it reads is immutable, and
// its job shares the snapshot holding it (a reload may replace the shard's).
// Limits: jobs queue without bound, but each waits for a connection's
// login, so there are at most as many as the shard's connections.
// Shutdown: stop() cancels the poll; the owner runs the loop until idle,
// then destroys the worker (which joins its thread). Logs nothing.
#pragma once

#include "posthorn/core/fd_poll.hh"
#include "posthorn/core/reactor.hh"
#include "posthorn/directory.hh"

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace posthorn::app {

class auth_worker final : private core::poll_handler {
public:
    using done_fn = void (*)(void* ctx, uint64_t token, bool ok) noexcept;

    auth_worker(core::reactor& io, done_fn done, void* ctx);
    ~auth_worker();
    auth_worker(const auth_worker&) = delete;
    auth_worker& operator=(const auth_worker&) = delete;

    // Checks `password` against u (null: no such user, same cost, false);
    // done(token, ok) follows from the loop. `dir` is the snapshot u lives
    // in: the job keeps it, so a reload meanwhile cannot free u.
    void check(const directory::user* u, std::shared_ptr<const directory::snapshot> dir, std::string password,
               uint64_t token);
    void stop() noexcept;

private:
    struct job {
        const directory::user* user;
        std::shared_ptr<const directory::snapshot> dir;  // keeps *user alive
        std::string password;
        uint64_t token;
    };
    struct result {
        uint64_t token;
        bool ok;
    };
    void on_poll(int events) noexcept override;
    void run() noexcept;

    core::reactor& _io;
    done_fn _done;
    void* _ctx;
    int _event_fd = -1;
    core::fd_poll _poll;
    bool _stopped = false;
    std::mutex _mutex;
    std::condition_variable _wake;
    std::deque<job> _jobs;          // under _mutex
    std::vector<result> _results;   // under _mutex
    bool _quit = false;             // under _mutex
    std::vector<result> _taken;     // loop side, reused
    std::thread _thread;
};

}  // namespace posthorn::app
