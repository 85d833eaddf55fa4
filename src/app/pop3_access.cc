#include "pop3_access.hh"

namespace posthorn::app {
namespace {

class pop3_access_session final : public access_session {
public:
    explicit pop3_access_session(std::unique_ptr<proto::pop3::session> s) : _s(std::move(s)) {}
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
    // RFC 1939 §3: the autologout timer closes without a word (and without
    // entering UPDATE: nothing is deleted).
    void on_timeout() override {}

private:
    std::unique_ptr<proto::pop3::session> _s;
};

}  // namespace

pop3_protocol::pop3_protocol(const config& cfg, const directory::snapshot& dir, store::shard_store& store)
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
    return std::make_unique<pop3_access_session>(std::move(s));
}

std::unique_ptr<access_session> pop3_protocol::resume(access_peer peer, std::string_view blob) {
    auto s = proto::pop3::session::resume(session_config(peer), _dir, _store, *this, std::move(peer.session_id), blob);
    if (!s) return nullptr;
    return std::make_unique<pop3_access_session>(std::move(s));
}

}  // namespace posthorn::app
