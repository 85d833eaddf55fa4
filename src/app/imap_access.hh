// imap_access: IMAP4rev1 as an access_protocol (access_node.hh): makes and
// resumes proto::imap sessions on a shard's store. Untagged news (IDLE,
// other sessions' changes) reach the node through the peer's wake.
//
// Threading: shard-local, not thread-safe.
#pragma once

#include "posthorn/app/config.hh"
#include "posthorn/proto/imap_session.hh"
#include "access_node.hh"

namespace posthorn::app {

class imap_protocol final : public access_protocol {
public:
    imap_protocol(const config& cfg, const directory::handle& dir, store::shard_store& store);

    std::string_view name() const noexcept override { return "imap"; }
    uint64_t timeout_ms() const noexcept override { return _cfg.imap_timeout_ms; }
    std::unique_ptr<access_session> open(access_peer peer) override;
    std::unique_ptr<access_session> resume(access_peer peer, std::string_view blob) override;
    std::string_view too_many_connections() const noexcept override {
        return "* BYE [UNAVAILABLE] too many connections, try again later\r\n";
    }

private:
    proto::imap::session_config session_config(access_peer& peer) const;

    const config& _cfg;
    const directory::handle& _dir;
    store::shard_store& _store;
};

}  // namespace posthorn::app
