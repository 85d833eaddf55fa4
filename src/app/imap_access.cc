#include "imap_access.hh"

namespace posthorn::app {
namespace {

class imap_access_session final : public access_session {
public:
    explicit imap_access_session(std::unique_ptr<proto::imap::session> s) : _s(std::move(s)) {}
    void start() override { _s->start(); }
    size_t feed(std::string_view input) override { return _s->feed(input); }
    std::string& output() noexcept override { return _s->output(); }
    bool streaming() const noexcept override { return _s->streaming(); }
    void next_output(size_t window_bytes) override { _s->next_output(window_bytes); }
    bool wants_close() const noexcept override { return _s->wants_close(); }
    const proto::login_request* pending_login() const noexcept override { return _s->pending_login(); }
    void login_checked(bool ok, std::string_view user) override { _s->login_checked(ok, user); }
    std::string suspend() override { return _s->suspend(); }
    void on_disconnect() noexcept override { _s->on_disconnect(); }
    // RFC 3501 §5.4: the autologout timer; an untagged BYE says why.
    void on_timeout() override { _s->output().append("* BYE Autologout; idle for too long\r\n"); }

private:
    std::unique_ptr<proto::imap::session> _s;
};

}  // namespace

imap_protocol::imap_protocol(const config& cfg, const directory::snapshot& dir, store::shard_store& store)
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
    return std::make_unique<imap_access_session>(std::move(s));
}

std::unique_ptr<access_session> imap_protocol::resume(access_peer peer, std::string_view blob) {
    auto s = proto::imap::session::resume(session_config(peer), _dir, _store, std::move(peer.session_id), blob);
    if (!s) return nullptr;
    return std::make_unique<imap_access_session>(std::move(s));
}

}  // namespace posthorn::app
