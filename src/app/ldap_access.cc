// ldap_access (ldap_access.hh): the LDAP session behind access_node's
// interface, and its session_config from [ldap].
#include "ldap_access.hh"

namespace posthorn::app {
namespace {

// LDAP has no autologout word: an idle connection is closed (as slapd's
// idletimeout does).
using ldap_access_session = access_session_of<proto::ldap::session>;

constexpr uint8_t k_busy = 51;

}  // namespace

ldap_protocol::ldap_protocol(const config& cfg, shard_directory& directory)
    : _cfg(cfg),
      _directory(directory),
      _tree(directory.current().ldap),
      _busy(proto::ldap::notice_of_disconnection(k_busy, "too many connections, try again later")) {
    _subscription = _directory.subscribe([this](const directory_generation& g) {
        if (g.ldap) _tree = g.ldap;   // the old one lives on while requests hold it
    });
    _session_cfg.size_limit = cfg.ldap_size_limit;
    _session_cfg.time_limit_s = static_cast<uint32_t>(cfg.ldap_time_limit_ms / 1000);
    _session_cfg.anonymous_allowed = cfg.ldap_anonymous;
}

ldap_protocol::~ldap_protocol() { _directory.unsubscribe(_subscription); }

std::unique_ptr<access_session> ldap_protocol::open(access_peer peer) {
    auto s = std::make_unique<proto::ldap::session>(_session_cfg, _tree, std::move(peer.session_id));
    return std::make_unique<ldap_access_session>(std::move(s), "");
}

}  // namespace posthorn::app
