#include "imap_access.hh"

namespace posthorn::app {
namespace {

using imap_access_session = access_session_of<proto::imap::session>;
// RFC 3501 §5.4: the autologout timer; an untagged BYE says why.
constexpr std::string_view k_last_word = "* BYE Autologout; idle for too long\r\n";

}  // namespace

imap_protocol::imap_protocol(const config& cfg, const directory::handle& dir, store::shard_store& store)
    : _cfg(cfg), _dir(dir), _store(store) {}

proto::imap::session_config imap_protocol::session_config(access_peer& peer) const {
    proto::imap::session_config c;
    c.errors_max = _cfg.errors_max;
    c.append_bytes_max = _cfg.max_message_size;
    c.plaintext_allowed = peer.plaintext_allowed;
    c.on_output = std::move(peer.wake);
    return c;
}

std::unique_ptr<access_session> imap_protocol::open(access_peer peer) {
    auto s = std::make_unique<proto::imap::session>(session_config(peer), _dir, _store, std::move(peer.session_id));
    return std::make_unique<imap_access_session>(std::move(s), k_last_word);
}

std::unique_ptr<access_session> imap_protocol::resume(access_peer peer, std::string_view blob) {
    auto s = proto::imap::session::resume(session_config(peer), _dir, _store, std::move(peer.session_id), blob);
    if (!s) return nullptr;
    return std::make_unique<imap_access_session>(std::move(s), k_last_word);
}

}  // namespace posthorn::app
