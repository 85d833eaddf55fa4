// pop3_access: POP3 as an access_protocol (access_node.hh): makes and
// resumes proto::pop3 sessions on a shard's store, and holds the shard's
// maildrop locks (RFC 1939 §8: one session per maildrop; a mailbox lives on
// one shard, so a per-shard set is the whole truth).
//
// Threading: shard-local, not thread-safe.
#pragma once

#include "posthorn/app/config.hh"
#include "posthorn/proto/pop3_session.hh"
#include "access_node.hh"

#include <set>
#include <string>

namespace posthorn::app {

class pop3_protocol final : public access_protocol, public proto::pop3::maildrop_locks {
public:
    pop3_protocol(const config& cfg, const directory::handle& dir, store::shard_store& store);

    std::string_view name() const noexcept override { return "pop3"; }
    uint64_t timeout_ms() const noexcept override { return _cfg.pop3_timeout_ms; }
    std::unique_ptr<access_session> open(access_peer peer) override;
    std::unique_ptr<access_session> resume(access_peer peer, std::string_view blob) override;
    std::string_view too_many_connections() const noexcept override {
        return "-ERR [SYS/TEMP] too many connections, try again later\r\n";
    }

    bool try_lock(std::string_view user) override { return _locked.emplace(user).second; }
    void unlock(std::string_view user) noexcept override {
        if (auto it = _locked.find(user); it != _locked.end()) _locked.erase(it);
    }
private:
    proto::pop3::session_config session_config(const access_peer& peer) const;

    const config& _cfg;
    const directory::handle& _dir;
    store::shard_store& _store;
    std::set<std::string, std::less<>> _locked;
};

}  // namespace posthorn::app
