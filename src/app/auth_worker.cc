#include "auth_worker.hh"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstring>

namespace posthorn::app {

auth_worker::auth_worker(core::reactor& io, done_fn done, void* ctx) : _io(io), _done(done), _ctx(ctx) {
    _event_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    // shard.hh: threads other than the shards' must not take SIGINT/SIGTERM.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    _thread = std::thread([this] { run(); });
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    if (_event_fd >= 0) _io.poll_arm(_poll, _event_fd, POLLIN, *this);
}

auth_worker::~auth_worker() {
    {
        std::lock_guard lock(_mutex);
        _quit = true;
    }
    _wake.notify_one();
    _thread.join();
    if (_event_fd >= 0) ::close(_event_fd);
}

void auth_worker::stop() noexcept {
    _stopped = true;
    if (_poll.busy()) _io.poll_cancel(_poll);
}

void auth_worker::check(const directory::user* u, std::shared_ptr<const directory::snapshot> dir,
                        std::string password, uint64_t token) {
    {
        std::lock_guard lock(_mutex);
        _jobs.push_back({u, std::move(dir), std::move(password), token});
    }
    _wake.notify_one();
}

void auth_worker::run() noexcept {
    std::unique_lock lock(_mutex);
    for (;;) {
        _wake.wait(lock, [this] { return _quit || !_jobs.empty(); });
        if (_quit) return;
        job j = std::move(_jobs.front());
        _jobs.pop_front();
        lock.unlock();
        bool ok = j.user ? directory::verify_password(*j.user, j.password)
                         : directory::verify_password_of_nobody(j.password);
        explicit_bzero(j.password.data(), j.password.size());
        j.dir.reset();  // may free an old snapshot: not under the lock
        lock.lock();
        _results.push_back({j.token, ok});
        uint64_t one = 1;
        (void)!::write(_event_fd, &one, sizeof one);
    }
}

void auth_worker::on_poll(int events) noexcept {
    if (events < 0 || _stopped) return;  // cancelled at stop
    uint64_t n;
    (void)!::read(_event_fd, &n, sizeof n);
    {
        std::lock_guard lock(_mutex);
        _taken.swap(_results);
    }
    _io.poll_arm(_poll, _event_fd, POLLIN, *this);
    for (const result& r : _taken) _done(_ctx, r.token, r.ok);
    _taken.clear();
}

}  // namespace posthorn::app
