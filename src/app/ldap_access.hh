// ldap_access: LDAPv3 as an access_protocol (access_node.hh): makes
// proto::ldap sessions over the shard-shared, read-only LDAP tree. Binds go
// through the node's login path (crypt(3) hashes on the auth worker, the
// failure delay), but an LDAP session has no mailbox, so it never moves to
// another shard. While a search streams, the session is still fed so an
// Abandon can stop it.
//
// Reloads: the tree comes with each directory generation (directory_reload.hh
// builds it); the protocol subscribes to the shard's directory and takes the
// new tree at the switch. Sessions read it through the protocol's
// shared_ptr and start each request on the current one (ldap_session.hh).
//
// Config ([ldap]): base (rebuilt on reload), anonymous, size_limit,
// time_limit, timeout (idle; the session is closed without a word, as
// slapd's idletimeout); these four need a restart.
// Threading: shard-local, not thread-safe; the tree is shared read-only.
#pragma once

#include "posthorn/app/config.hh"
#include "posthorn/proto/ldap_session.hh"
#include "access_node.hh"
#include "directory_reload.hh"

#include <string>

namespace posthorn::app {

class ldap_protocol final : public access_protocol {
public:
    // `directory` must outlive the protocol; its current generation has a tree.
    ldap_protocol(const config& cfg, shard_directory& directory);
    ~ldap_protocol();
    ldap_protocol(const ldap_protocol&) = delete;
    ldap_protocol& operator=(const ldap_protocol&) = delete;

    std::string_view name() const noexcept override { return "ldap"; }
    uint64_t timeout_ms() const noexcept override { return _cfg.ldap_timeout_ms; }
    std::unique_ptr<access_session> open(access_peer peer) override;
    std::unique_ptr<access_session> resume(access_peer, std::string_view) override { return nullptr; }
    // A Notice of Disconnection with busy (51) (RFC 4511 §4.4.1).
    std::string_view too_many_connections() const noexcept override { return _busy; }
    bool moves_to_mailbox_owner() const noexcept override { return false; }

private:
    const config& _cfg;
    shard_directory& _directory;
    uint64_t _subscription = 0;
    std::shared_ptr<const proto::ldap::tree> _tree;   // the current generation's
    proto::ldap::session_config _session_cfg;
    std::string _busy;
};

}  // namespace posthorn::app
