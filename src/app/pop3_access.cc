#include "pop3_access.hh"

namespace posthorn::app {
namespace {

using pop3_access_session = access_session_of<proto::pop3::session>;
// RFC 1939 §3: the autologout timer closes without a word (and without
// entering UPDATE: nothing is deleted).
constexpr std::string_view k_last_word = "";

}  // namespace

pop3_protocol::pop3_protocol(const config& cfg, const directory::handle& dir, store::shard_store& store)
    : _cfg(cfg), _dir(dir), _store(store) {}

proto::pop3::session_config pop3_protocol::session_config(const access_peer& peer) const {
    proto::pop3::session_config c;
    c.errors_max = _cfg.errors_max;
    c.plaintext_allowed = peer.plaintext_allowed;
    return c;
}

std::unique_ptr<access_session> pop3_protocol::open(access_peer peer) {
    auto s = std::make_unique<proto::pop3::session>(session_config(peer), _dir, _store, *this,
                                                    std::move(peer.session_id));
    return std::make_unique<pop3_access_session>(std::move(s), k_last_word);
}

std::unique_ptr<access_session> pop3_protocol::resume(access_peer peer, std::string_view blob) {
    auto s = proto::pop3::session::resume(session_config(peer), _dir, _store, *this, std::move(peer.session_id), blob);
    if (!s) return nullptr;
    return std::make_unique<pop3_access_session>(std::move(s), k_last_word);
}

}  // namespace posthorn::app
