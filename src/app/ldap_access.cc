// ldap_access (ldap_access.hh): the LDAP session behind access_node's
// interface, and its session_config from [ldap].
#include "ldap_access.hh"

namespace posthorn::app {
namespace {

class ldap_access_session final : public access_session {
public:
    explicit ldap_access_session(std::unique_ptr<proto::ldap::session> s) : _s(std::move(s)) {}
    void start() override { _s->start(); }
    size_t feed(std::string_view input) override { return _s->feed(input); }
    std::string& output() noexcept override { return _s->output(); }
    bool streaming() const noexcept override { return _s->streaming(); }
    void next_output(size_t window_bytes) override { _s->next_output(window_bytes); }
    bool wants_close() const noexcept override { return _s->wants_close(); }
    const proto::login_request* pending_login() const noexcept override { return _s->pending_login(); }
    // The bound DN comes from the tree, whatever snapshot the password was
    // checked in.
    void login_checked(bool ok, std::string_view user, std::shared_ptr<const directory::snapshot>) override {
        _s->login_checked(ok, user);
    }
    std::string suspend() override { return _s->suspend(); }
    void on_disconnect() noexcept override { _s->on_disconnect(); }
    void on_timeout() override {}
    bool feeds_while_streaming() const noexcept override { return true; }

private:
    std::unique_ptr<proto::ldap::session> _s;
};

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
    return std::make_unique<ldap_access_session>(std::move(s));
}

}  // namespace posthorn::app
