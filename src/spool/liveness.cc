// Liveness: segment reference counts over message ranges, tombstone guards,
// and the sweep that finds dead segments (rules in liveness.hh).
#include "spool/liveness.hh"

#include "posthorn/core/panic.hh"

#include <algorithm>

namespace posthorn::spool {

void liveness::add_segment(uint64_t seq) {
    PH_ASSERT(_segments.empty() || _segments.rbegin()->first < seq);
    _segments.emplace(seq, segment{});
}

uint32_t liveness::refs(uint64_t seq) const {
    auto it = _segments.find(seq);
    return it == _segments.end() ? 0 : it->second.refs;
}

liveness::message& liveness::track(uint64_t id, uint64_t seq) {
    auto [it, fresh] = _messages.try_emplace(id);
    if (fresh) {
        it->second.first = it->second.last = seq;
        if (auto s = _segments.find(seq); s != _segments.end()) ++s->second.refs;
    } else {
        extend(it->second, seq);
    }
    return it->second;
}

void liveness::extend(message& m, uint64_t seq) {
    if (seq <= m.last) return;
    for (auto it = _segments.upper_bound(m.last); it != _segments.end() && it->first <= seq; ++it)
        ++it->second.refs;
    m.last = seq;
}

void liveness::release(const message& m) {
    for (auto it = _segments.lower_bound(m.first); it != _segments.end() && it->first <= m.last; ++it) {
        PH_ASSERT(it->second.refs > 0);
        if (--it->second.refs == 0) _maybe_dead = true;
    }
}

void liveness::on_body(uint64_t id, uint64_t seq) { track(id, seq); }

void liveness::on_message(uint64_t id, uint64_t seq) {
    message& m = track(id, seq);
    if (m.message_seg == 0) m.message_seg = seq;
}

void liveness::on_rcpt_done(uint64_t id, uint64_t seq) {
    auto it = _messages.find(id);
    if (it == _messages.end() || it->second.message_seg == 0) return;
    extend(it->second, seq);
}

void liveness::on_finish(uint64_t id, uint64_t seq) {
    auto it = _messages.find(id);
    if (it == _messages.end()) return;
    const message m = it->second;
    _messages.erase(it);
    release(m);
    if (m.message_seg != 0 && m.message_seg < seq) {
        auto s = _segments.find(seq);
        if (s != _segments.end() && _segments.count(m.message_seg)) {
            auto& g = s->second.guards;
            if (std::find(g.begin(), g.end(), m.message_seg) == g.end()) g.push_back(m.message_seg);
            s->second.guarded = true;
        }
    }
}

void liveness::on_sealed(uint64_t seq) {
    if (refs(seq) == 0) _maybe_dead = true;
}

void liveness::forget(uint64_t id) {
    auto it = _messages.find(id);
    if (it == _messages.end()) return;
    const message m = it->second;
    _messages.erase(it);
    release(m);
}

void liveness::drop_uncommitted() {
    for (auto it = _messages.begin(); it != _messages.end();) {
        if (it->second.message_seg == 0) {
            release(it->second);
            it = _messages.erase(it);
        } else {
            ++it;
        }
    }
}

bool liveness::covers(uint64_t id, uint64_t seq) const {
    auto it = _messages.find(id);
    return it != _messages.end() && it->second.first <= seq && seq <= it->second.last;
}

void liveness::sweep(uint64_t current, std::vector<uint64_t>& dead, std::vector<bool>& barrier) {
    dead.clear();
    barrier.clear();
    if (!_maybe_dead) return;
    _maybe_dead = false;
    // Ascending: a guard is always older than the segment it guards, so it
    // has been decided by the time the guarded segment is looked at.
    for (auto it = _segments.begin(); it != _segments.end() && it->first < current;) {
        segment& s = it->second;
        if (s.refs != 0) {
            ++it;
            continue;
        }
        auto& g = s.guards;
        g.erase(std::remove_if(g.begin(), g.end(), [this](uint64_t seq) { return _segments.count(seq) == 0; }),
                g.end());
        if (!g.empty()) {
            _maybe_dead = true;  // look again once the guard is gone
            ++it;
            continue;
        }
        dead.push_back(it->first);
        barrier.push_back(s.guarded);
        it = _segments.erase(it);
    }
}

}  // namespace posthorn::spool
