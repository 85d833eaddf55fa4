// The directory reload on shard 0: SIGHUP and control requests in, a new
// generation out to every shard, answers back (reloader.hh).
#include "reloader.hh"

#include "posthorn/core/log.hh"

#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace posthorn::app {

// One shard's copy of the news: out to the shard, then back to shard 0 as
// its answer (the same object, so an answer cannot fail to allocate).
struct reloader::switch_message {
    std::shared_ptr<const directory_generation> next;
    directory_table* table = nullptr;
    reloader* origin = nullptr;   // on shard `origin_shard`
    uint32_t origin_shard = 0;
};

reloader::reloader(core::shard& here, const config& running, std::string config_path, directory_table& table)
    : _here(here), _running(running), _config_path(std::move(config_path)), _table(table) {
    _start_task.set([](void* self) noexcept { static_cast<reloader*>(self)->start(); }, this);
}

reloader::~reloader() {
    stop();
    if (_signal_fd >= 0) ::close(_signal_fd);
}

void reloader::watch_sighup() noexcept {
    sigset_t hup;
    sigemptyset(&hup);
    sigaddset(&hup, SIGHUP);
    _signal_fd = ::signalfd(-1, &hup, SFD_CLOEXEC | SFD_NONBLOCK);
    if (_signal_fd < 0) {
        core::log::warn("event=sighup_unwatched reason=\"{}\" note=\"posthorn reload still works\"",
                        std::strerror(errno));
        return;
    }
    _here.io().poll_arm(_poll, _signal_fd, POLLIN, *this);
}

void reloader::on_poll(int events) noexcept {
    if (events < 0 || _stopped) return;  // cancelled at stop
    signalfd_siginfo si{};
    bool hup = false;
    while (::read(_signal_fd, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) hup = true;
    _here.io().poll_arm(_poll, _signal_fd, POLLIN, *this);
    if (hup) reload("sighup", nullptr);
}

void reloader::stop() noexcept {
    if (_stopped) return;
    _stopped = true;
    if (_poll.busy()) _here.io().poll_cancel(_poll);
    if (_retry) _here.io().cancel(_retry);
    _retry = {};
    _start_task.unlink();
    _waiting.clear();
    _next.clear();
    _unsent.clear();
    _out.reset();
}

void reloader::reload(std::string_view why, done_fn done) {
    if (_stopped) return;
    if (_start_task.queued()) {  // not started yet: that one reads the file for this request too
        if (done) _waiting.push_back(std::move(done));
        return;
    }
    if (_running_reload) {
        // The file may have changed after the running reload read it: one
        // more reload answers this request and every other that arrives
        // before it starts.
        _again = true;
        _next_why.assign(why);
        if (done) _next.push_back(std::move(done));
        return;
    }
    if (done) _waiting.push_back(std::move(done));
    _why.assign(why);
    _running_reload = true;
    _here.io().post(_start_task);
}

void reloader::start() noexcept {
    if (_stopped) return;
    config next;
    std::string message;
    if (!load_config(_config_path, next, message)) {
        core::log::error("event=reload_failed trigger={} generation={} reason={} note=\"the directory is unchanged\"",
                         _why, _generation, core::log::escaped{message, 400});
        finish({false, std::move(message), {}});
        return;
    }
    _out_restart_keys = restart_keys(_running, next);
    if (!_out_restart_keys.empty())
        core::log::warn("event=reload_needs_restart keys={} note=\"only [domains] [[users]] [[groups]] [aliases] "
                        "are reloaded; these keep their running values until a restart\"",
                        fmt::join(_out_restart_keys, ","));
    _out = build_generation(next, _generation + 1);
    _answers_left = _here.count();
    _unsent.clear();
    for (uint32_t s = 0; s < _here.count(); ++s) _unsent.push_back(s);
    send_pending();
}

void reloader::send_pending() noexcept {
    _retry = {};
    if (_stopped || !_out) return;
    std::vector<uint32_t> still;
    for (uint32_t to : _unsent) {
        auto* m = new switch_message{_out, &_table, this, _here.id()};
        if (!_here.send(to, core::shard_message{&reloader::on_switch_at_shard, m})) {
            delete m;
            still.push_back(to);
        }
    }
    _unsent.swap(still);
    if (!_unsent.empty())
        _retry = _here.io().schedule_after(1, [self = this]() noexcept { self->send_pending(); });
}

void reloader::on_switch_at_shard(core::shard* here, void* payload) noexcept {
    auto* m = static_cast<switch_message*>(payload);
    if (!here) {
        delete m;
        return;
    }
    if (m->next) {
        if (shard_directory* d = (*m->table)[here->id()]) d->install(m->next);
        m->next.reset();  // this shard's reference goes; the shard_directory keeps its own
    }
    // The answer; a full ring to shard 0 is tried again next turn (a
    // message to oneself is never refused).
    uint32_t to = m->origin_shard;
    if (!here->send(to, core::shard_message{&reloader::on_switched, m}))
        here->send(here->id(), core::shard_message{&reloader::on_switch_at_shard, m});
}

void reloader::on_switched(core::shard* here, void* payload) noexcept {
    std::unique_ptr<switch_message> m(static_cast<switch_message*>(payload));
    if (!here) return;
    reloader& self = *m->origin;
    if (self._stopped || !self._out || self._answers_left == 0) return;
    if (--self._answers_left > 0) return;
    const directory::snapshot& dir = *self._out->dir;
    const uint64_t number = self._out->number;
    std::string text = fmt::format("reloaded generation={} users={} groups={} aliases={}", number, dir.users().size(),
                                   dir.groups().size(), dir.alias_count());
    core::log::info("event=reloaded trigger={} generation={} users={} groups={} aliases={} shards={}", self._why,
                    number, dir.users().size(), dir.groups().size(), dir.alias_count(), self._here.count());
    self._generation = number;
    self._out.reset();
    self.finish({true, std::move(text), std::move(self._out_restart_keys)});
}

void reloader::finish(outcome out) noexcept {
    if (_metrics) (out.ok ? _metrics->reloads_ok : _metrics->reloads_failed).fetch_add(1, std::memory_order_relaxed);
    std::vector<done_fn> waiting;
    waiting.swap(_waiting);
    _running_reload = false;
    _out_restart_keys.clear();
    // The next reload is set up before the callers hear of this one, so a
    // request a callback makes joins it rather than being lost.
    if (_again && !_stopped) {
        _again = false;
        _waiting.swap(_next);
        _why = std::move(_next_why);
        _running_reload = true;
        _here.io().post(_start_task);
    }
    for (auto& done : waiting) done(out);
}

}  // namespace posthorn::app
