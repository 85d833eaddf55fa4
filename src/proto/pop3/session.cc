// The POP3 server session (RFC 1939): one state machine, fed bytes in any
// split. It owns the connection state (a command line, an AUTH PLAIN
// continuation line, a message being streamed, nothing after close), the
// login (user, lock), and the maildrop: the INBOX's UIDs and sizes at
// login, with the DELE marks. The command table below is the protocol's
// rules, a row per verb; fixed replies come from replies.hh, SASL PLAIN
// from sasl_plain.hh, dot-stuffing from the SMTP client's dot_stuffer (the
// same rule, RFC 1939 §3 = RFC 5321 §4.5.2).
//
// Threading: shard-local, not thread-safe.
// Limits: a command line is at most line_length_max bytes (CRLF included),
// and only a partial one is buffered; errors_max -ERR replies, then close.
// Streaming holds one window of message bytes. The maildrop costs 16 bytes
// a message; LIST and UIDL without argument build their reply whole (about
// 20 bytes a message).
// Returns: replies in output(), close via wants_close(). Logs one line per
// -ERR (reason=...) and per login/logout; never passwords.
#include "posthorn/proto/pop3_session.hh"

#include "posthorn/core/text.hh"

#include "posthorn/core/log.hh"
#include "posthorn/proto/smtp_client.hh"
#include "proto/pop3/replies.hh"
#include "proto/pop3/sasl_plain.hh"

#include <algorithm>
#include <cstring>
#include <optional>
#include <span>
#include <vector>

namespace posthorn::proto::pop3 {
namespace {

enum class state : uint8_t {
    fresh,          // start() not called yet
    authorization,  // RFC 1939 §4
    auth_plain,     // AUTH PLAIN sent "+ ", the next line is the response
    checking,       // credentials parsed; the host checks them (login.hh)
    transaction,    // RFC 1939 §5
    streaming,      // RETR/TOP bytes go out through next_output()
    closed,         // wants_close(): input is ignored
};

// The table's "allowed" column.
enum allowed : uint8_t { in_auth = 1, in_trans = 2, in_both = 3 };

constexpr size_t k_log_bytes = 40;
constexpr size_t k_window_bytes_min = 512;

struct drop_entry {
    uint32_t uid;
    bool deleted;
    uint64_t size;
};

// Digits only, no sign, no overflow (RFC 1939 §3: "msg" is a number).
std::optional<uint64_t> parse_number(std::string_view s) {
    if (s.empty() || s.size() > 19) return std::nullopt;
    uint64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    return v;
}

using core::iequals;

std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
    return s;
}

}  // namespace

struct session::impl {
    using act_fn = void (impl::*)(std::string_view args);
    struct command_row {
        std::string_view verb;
        uint8_t allowed;
        act_fn act;
    };
    static std::span<const command_row> table() noexcept;  // defined below the rows

    session_config cfg;
    const directory::handle& dir;   // the shard's current snapshot (logins)
    store::shard_store& store;
    maildrop_locks& locks;
    std::string id;

    state st = state::fresh;
    std::string out;
    std::string line;          // a partial command line
    bool discarding = false;   // the rest of a too-long line
    uint32_t errors = 0;
    uint32_t auth_failures = 0;
    std::string_view last_error;

    std::string user_arg;                 // USER given, PASS awaited
    login_request pending;                // while checking
    std::string pending_authzid;
    // The logged-in user, and the snapshot it lives in: kept for the
    // session's life, so a reload that drops the user lets this session
    // finish (as Dovecot does) and frees the old snapshot after it.
    const directory::user* user = nullptr;
    std::shared_ptr<const directory::snapshot> user_dir;
    bool locked = false;
    uint32_t folder_id = 0;
    uint32_t uidvalidity = 0;
    std::vector<drop_entry> drop;

    // The message being streamed.
    store::message msg;
    uint64_t sent = 0;           // message bytes done
    bool top = false;
    bool in_header = true;
    uint64_t top_left = 0;       // body lines still to send
    uint64_t line_bytes = 0;     // bytes of the current line seen so far
    char last_char = '\n';
    smtp::dot_stuffer stuffer;
    std::string window;

    impl(const session_config& c, const directory::handle& d, store::shard_store& s, maildrop_locks& l,
         std::string sid)
        : cfg(c), dir(d), store(s), locks(l), id(std::move(sid)) {}

    // --- state and replies.
    void set_state(state s) noexcept { st = s; }

    void close() noexcept {
        set_state(state::closed);
        if (locked) {
            locks.unlock(user->name);
            locked = false;
        }
    }

    void reply(std::string_view text) { out.append(text); }

    void fail(const replies::error& e, std::string_view verb = {}) {
        ++errors;
        last_error = e.reason;
        core::log::info("pop3 session={} event=error reason={} command={} errors={}", id, e.reason,
                        core::log::escaped{verb, k_log_bytes}, errors);
        out.append("-ERR ").append(e.text).append("\r\n");
        if (errors >= cfg.errors_max && st != state::closed) {
            core::log::warn("pop3 session={} event=too_many_errors errors={}", id, errors);
            out.append("-ERR ").append(replies::too_many_errors.text).append("\r\n");
            close();
        }
    }

    // --- input.
    size_t feed(std::string_view in) {
        if (st == state::closed) return in.size();
        size_t i = 0;
        while (i < in.size() && st != state::streaming && st != state::closed && st != state::checking) {
            const void* nl = std::memchr(in.data() + i, '\n', in.size() - i);
            size_t end = nl ? static_cast<size_t>(static_cast<const char*>(nl) - in.data()) : in.size();
            std::string_view piece = in.substr(i, end - i);
            i = nl ? end + 1 : end;
            if (discarding) {
                if (nl) discarding = false;
                continue;
            }
            if (line.size() + piece.size() + (nl ? 1 : 0) > cfg.line_length_max) {
                // Answer at once so the client is not left waiting on a line
                // we will never read; the rest of it is dropped unread.
                line.clear();
                discarding = nl == nullptr;
                fail(replies::line_too_long);
                continue;
            }
            line.append(piece);
            if (!nl) break;
            if (!line.empty() && line.back() == '\r') line.pop_back();
            on_line(line);
            line.clear();
        }
        if (st == state::closed) return in.size();
        return i;
    }

    void on_line(std::string_view l) {
        if (st == state::auth_plain) {
            set_state(state::authorization);
            if (l == "*") return fail(replies::auth_cancelled, "AUTH");
            return auth_plain_response(trim(l));
        }
        size_t sp = l.find(' ');
        std::string_view verb = l.substr(0, sp);
        std::string_view args = sp == std::string_view::npos ? std::string_view() : l.substr(sp + 1);
        for (const command_row& row : table()) {
            if (!iequals(verb, row.verb)) continue;
            uint8_t now = st == state::authorization ? in_auth : in_trans;
            if (!(row.allowed & now))
                return fail(now == in_auth ? replies::wrong_state_auth : replies::wrong_state_trans, verb);
            return (this->*row.act)(args);
        }
        fail(replies::unknown_command, verb);
    }

    // --- AUTHORIZATION.
    bool plaintext_refused(std::string_view verb) {
        if (cfg.plaintext_allowed) return false;
        fail(replies::plaintext_disabled, verb);
        return true;
    }

    void on_user(std::string_view args) {
        if (plaintext_refused("USER")) return;
        args = trim(args);
        if (args.empty()) return fail(replies::syntax, "USER");
        user_arg.assign(args);
        reply(replies::user_ok);
    }

    void on_pass(std::string_view args) {
        if (plaintext_refused("PASS")) return;
        // RFC 1939 §7: the argument is the rest of the line (spaces allowed).
        if (user_arg.empty()) return fail(replies::pass_without_user, "PASS");
        std::string name = std::move(user_arg);
        user_arg.clear();
        login(name, {}, args);
    }

    void on_auth(std::string_view args) {
        args = trim(args);
        if (args.empty()) return reply(cfg.plaintext_allowed ? replies::auth_list : replies::auth_list_empty);
        if (plaintext_refused("AUTH")) return;
        size_t sp = args.find(' ');
        std::string_view mech = args.substr(0, sp);
        if (!iequals(mech, "PLAIN")) return fail(replies::mechanism, "AUTH");
        if (sp == std::string_view::npos) {
            set_state(state::auth_plain);
            return reply(replies::auth_continue);
        }
        auth_plain_response(trim(args.substr(sp + 1)));
    }

    void auth_plain_response(std::string_view b64) {
        auto c = parse_sasl_plain(b64);
        if (!c) return fail(replies::auth_malformed, "AUTH");
        login(c->authcid, c->authzid, c->password);
    }

    void on_apop(std::string_view) { fail(replies::apop_disabled, "APOP"); }

    // The host checks the password (login.hh); feed() waits meanwhile.
    void login(std::string_view name, std::string_view authzid, std::string_view password) {
        pending.user.assign(name);
        pending.password.assign(password);
        pending_authzid.assign(authzid);
        set_state(state::checking);
    }

    void login_checked(bool ok, std::string_view canonical, std::shared_ptr<const directory::snapshot> checked_in) {
        if (st != state::checking) return;
        set_state(state::authorization);
        std::string name = std::move(pending.user);
        std::fill(pending.password.begin(), pending.password.end(), '\0');
        pending.password.clear();
        // The snapshot the host checked the password in (login.hh), so a
        // reload between the check and here changes nothing.
        std::shared_ptr<const directory::snapshot> in = checked_in ? std::move(checked_in) : dir.share();
        const directory::user* u = ok ? in->find_login(canonical) : nullptr;
        // Acting as someone else is not offered: an authzid must name the
        // same user.
        if (u && !pending_authzid.empty() && in->find_login(pending_authzid) != u) u = nullptr;
        pending_authzid.clear();
        if (!u) {
            ++auth_failures;
            core::log::info("pop3 session={} event=auth_failed login={} failures={}", id,
                            core::log::escaped{name, k_log_bytes}, auth_failures);
            return fail(replies::auth_failed, "LOGIN");
        }
        if (!locks.try_lock(u->name)) return fail(replies::in_use, "LOGIN");
        user = u;
        user_dir = std::move(in);
        locked = true;
        if (!load_maildrop()) {
            locks.unlock(u->name);
            locked = false;
            user = nullptr;
            user_dir.reset();
            return fail(replies::sys_temp, "LOGIN");
        }
        set_state(state::transaction);
        core::log::info("pop3 session={} event=login user={} messages={}", id, u->name, drop.size());
        maildrop_summary("+OK maildrop has ");
    }

    bool load_maildrop() {
        if (auto r = store.ensure_inbox(user->name); !r) {
            core::log::warn("pop3 session={} event=store_error op=ensure_inbox error={}", id, r.err().reason());
            return false;
        }
        const store::folder* f = store.find_folder(user->name, store::inbox);
        if (!f) return false;
        folder_id = f->id;
        uidvalidity = f->uidvalidity;
        drop.clear();
        drop.reserve(f->messages.size());
        for (const store::message& m : f->messages) drop.push_back({m.uid, false, m.size});
        return true;
    }

    // --- TRANSACTION.
    void maildrop_summary(std::string_view prefix) {
        uint64_t n = 0, bytes = 0;
        for (const drop_entry& e : drop)
            if (!e.deleted) ++n, bytes += e.size;
        out.append(prefix).append(std::to_string(n)).append(" messages (").append(std::to_string(bytes));
        out.append(" octets)\r\n");
    }

    // The message `arg` names, or null after answering -ERR.
    drop_entry* message_arg(std::string_view arg, std::string_view verb) {
        auto n = parse_number(arg);
        if (!n) return fail(replies::syntax, verb), nullptr;
        if (*n == 0 || *n > drop.size()) return fail(replies::no_such_message, verb), nullptr;
        drop_entry& e = drop[*n - 1];
        if (e.deleted) return fail(replies::message_deleted, verb), nullptr;
        return &e;
    }

    void on_stat(std::string_view) {
        uint64_t n = 0, bytes = 0;
        for (const drop_entry& e : drop)
            if (!e.deleted) ++n, bytes += e.size;
        out.append("+OK ").append(std::to_string(n)).append(" ").append(std::to_string(bytes)).append("\r\n");
    }

    // LIST and UIDL share their shape: one message, or all undeleted ones.
    template <typename F>
    void listing(std::string_view args, std::string_view verb, F&& item) {
        args = trim(args);
        if (!args.empty()) {
            drop_entry* e = message_arg(args, verb);
            if (!e) return;
            out.append("+OK ").append(std::to_string(e - drop.data() + 1)).append(" ");
            item(*e);
            return;
        }
        maildrop_summary("+OK ");
        for (size_t i = 0; i < drop.size(); ++i) {
            if (drop[i].deleted) continue;
            out.append(std::to_string(i + 1)).append(" ");
            item(drop[i]);
        }
        out.append(".\r\n");
    }

    void on_list(std::string_view args) {
        listing(args, "LIST", [this](const drop_entry& e) { out.append(std::to_string(e.size)).append("\r\n"); });
    }

    // RFC 1939 §7: a unique-id is 1..70 characters 0x21..0x7E, stable
    // across sessions: UIDVALIDITY.UID is (the store never reuses a UID
    // within a UIDVALIDITY).
    void on_uidl(std::string_view args) {
        listing(args, "UIDL", [this](const drop_entry& e) {
            out.append(std::to_string(uidvalidity)).append(".").append(std::to_string(e.uid)).append("\r\n");
        });
    }

    void on_retr(std::string_view args) {
        drop_entry* e = message_arg(trim(args), "RETR");
        if (!e) return;
        begin_stream(*e, false, 0, "RETR");
    }

    void on_top(std::string_view args) {
        args = trim(args);
        size_t sp = args.find(' ');
        if (sp == std::string_view::npos) return fail(replies::syntax, "TOP");
        auto lines = parse_number(trim(args.substr(sp + 1)));
        if (!lines) return fail(replies::syntax, "TOP");
        drop_entry* e = message_arg(args.substr(0, sp), "TOP");
        if (!e) return;
        begin_stream(*e, true, *lines, "TOP");
    }

    void on_dele(std::string_view args) {
        drop_entry* e = message_arg(trim(args), "DELE");
        if (!e) return;
        e->deleted = true;
        out.append("+OK message ").append(std::to_string(e - drop.data() + 1)).append(" deleted\r\n");
    }

    void on_noop(std::string_view) { reply(replies::ok); }

    void on_rset(std::string_view) {
        for (drop_entry& e : drop) e.deleted = false;
        maildrop_summary("+OK maildrop has ");
    }

    void on_capa(std::string_view) { reply(cfg.plaintext_allowed ? replies::capa : replies::capa_without_plaintext); }

    void on_quit(std::string_view) {
        if (st == state::authorization) {
            reply(replies::bye);
            return close();
        }
        // UPDATE (RFC 1939 §6).
        std::vector<uint32_t> uids;
        for (const drop_entry& e : drop)
            if (e.deleted) uids.push_back(e.uid);
        if (!uids.empty()) {
            if (auto r = store.expunge(user->name, folder_id, uids); !r) {
                core::log::warn("pop3 session={} event=store_error op=expunge error={}", id, r.err().reason());
                fail(replies::update_failed, "QUIT");
                return close();
            }
        }
        core::log::info("pop3 session={} event=logout user={} expunged={}", id, user->name, uids.size());
        out.append("+OK posthorn POP3 signing off (").append(std::to_string(uids.size()));
        out.append(" messages deleted)\r\n");
        close();
    }

    // --- streaming RETR/TOP.
    void begin_stream(const drop_entry& e, bool is_top, uint64_t lines, std::string_view verb) {
        const store::folder* f = store.folder_by_id(user->name, folder_id);
        const store::message* m = f ? f->find(e.uid) : nullptr;
        if (!m) return fail(replies::message_gone, verb);
        msg = *m;  // a copy: the folder's vector may move while we stream
        sent = 0;
        top = is_top;
        in_header = true;
        top_left = lines;
        line_bytes = 0;
        last_char = '\n';
        stuffer.reset();
        if (is_top)
            reply(replies::ok);
        else
            out.append("+OK ").append(std::to_string(msg.size)).append(" octets\r\n");
        set_state(state::streaming);
    }

    // For TOP: where in `w` the output stops (just after the LF ending the
    // last wanted line), or npos when all of `w` is wanted.
    size_t top_cut(std::string_view w) {
        size_t p = 0;
        for (;;) {
            const void* nl = std::memchr(w.data() + p, '\n', w.size() - p);
            if (!nl) {
                line_bytes += w.size() - p;
                if (!w.empty()) last_char = w.back();
                return std::string_view::npos;
            }
            size_t at = static_cast<size_t>(static_cast<const char*>(nl) - w.data());
            uint64_t len = line_bytes + (at - p);  // bytes before the LF
            char before = at > p ? w[at - 1] : last_char;
            bool empty = len == 0 || (len == 1 && before == '\r');
            line_bytes = 0;
            p = at + 1;
            if (in_header) {
                if (empty) {
                    in_header = false;
                    if (top_left == 0) return p;
                }
            } else if (--top_left == 0) {
                return p;
            }
        }
    }

    void next_output(size_t window_bytes) {
        if (st != state::streaming) return;
        window_bytes = std::max(window_bytes, k_window_bytes_min);
        bool done = sent >= msg.size;
        if (!done) {
            uint64_t length = std::min<uint64_t>(window_bytes, msg.size - sent);
            auto r = store.read(msg, sent, length, window);
            if (!r || window.size() != length) {
                core::log::warn("pop3 session={} event=store_error op=read uid={} error={}", id, msg.uid,
                                r ? "short read" : r.err().reason());
                last_error = replies::sys_temp.reason;
                return close();
            }
            std::string_view w = window;
            if (top) {
                size_t cut = top_cut(w);
                if (cut != std::string_view::npos) {
                    w = w.substr(0, cut);
                    done = true;
                }
            }
            stuffer.stuff(w, out);
            sent += length;
            done = done || sent >= msg.size;
        }
        if (done) {
            stuffer.finish(out);
            set_state(state::transaction);
        }
    }
};

// The command table (RFC 1939 §4-6, RFC 2449 §5 CAPA, RFC 5034 AUTH).
// APOP is refused: it needs the plain password stored on the server.
namespace {
const session::impl::command_row commands[] = {
    {"USER", in_auth, &session::impl::on_user},   // §7, optional in the RFC; Lab 3 uses it
    {"PASS", in_auth, &session::impl::on_pass},
    {"AUTH", in_auth, &session::impl::on_auth},   // RFC 5034 §4
    {"APOP", in_auth, &session::impl::on_apop},
    {"CAPA", in_both, &session::impl::on_capa},   // RFC 2449 §5
    {"QUIT", in_both, &session::impl::on_quit},   // §4 and §6 (UPDATE)
    {"STAT", in_trans, &session::impl::on_stat},  // §5
    {"LIST", in_trans, &session::impl::on_list},
    {"UIDL", in_trans, &session::impl::on_uidl},  // §7
    {"RETR", in_trans, &session::impl::on_retr},
    {"TOP", in_trans, &session::impl::on_top},    // §7
    {"DELE", in_trans, &session::impl::on_dele},
    {"NOOP", in_trans, &session::impl::on_noop},
    {"RSET", in_trans, &session::impl::on_rset},
};
}  // namespace

std::span<const session::impl::command_row> session::impl::table() noexcept { return commands; }

session::session(const session_config& cfg, const directory::handle& dir, store::shard_store& store,
                 maildrop_locks& locks, std::string session_id)
    : _impl(std::make_unique<impl>(cfg, dir, store, locks, std::move(session_id))) {}

session::~session() { _impl->close(); }

void session::start() {
    if (_impl->st != state::fresh) return;
    _impl->set_state(state::authorization);
    _impl->reply(replies::greeting);
}

// The blob is what a session waiting for its login check needs to go on
// elsewhere: "pop3.1", the counters, the login and the authzid, NUL-separated
// (none of them holds a NUL: they come from lines and SASL fields).
std::string session::suspend() {
    impl& i = *_impl;
    if (i.st != state::checking) return {};
    const std::string errors = std::to_string(i.errors), failures = std::to_string(i.auth_failures);
    std::string blob = "pop3.1";
    for (std::string_view f : {std::string_view(errors), std::string_view(failures), std::string_view(i.pending.user),
                               std::string_view(i.pending_authzid)})
        blob.append(1, '\0').append(f);
    i.pending = {};
    i.set_state(state::closed);
    return blob;
}

std::unique_ptr<session> session::resume(const session_config& cfg, const directory::handle& dir,
                                         store::shard_store& store, maildrop_locks& locks, std::string session_id,
                                         std::string_view blob) {
    std::string_view f[5];
    for (int k = 0; k < 5; ++k) {
        size_t nul = k < 4 ? blob.find('\0') : blob.size();
        if (nul == std::string_view::npos) return nullptr;
        f[k] = blob.substr(0, nul);
        blob.remove_prefix(k < 4 ? nul + 1 : nul);
    }
    auto errors = parse_number(f[1]);
    auto failures = parse_number(f[2]);
    if (f[0] != "pop3.1" || !errors || !failures || f[3].empty()) return nullptr;
    auto s = std::make_unique<session>(cfg, dir, store, locks, std::move(session_id));
    impl& i = *s->_impl;
    i.errors = static_cast<uint32_t>(*errors);
    i.auth_failures = static_cast<uint32_t>(*failures);
    i.pending.user.assign(f[3]);
    i.pending_authzid.assign(f[4]);
    i.set_state(state::checking);
    return s;
}

const login_request* session::pending_login() const noexcept {
    return _impl->st == state::checking ? &_impl->pending : nullptr;
}

void session::login_checked(bool ok, std::string_view canonical_user,
                            std::shared_ptr<const directory::snapshot> checked_in) {
    _impl->login_checked(ok, canonical_user, std::move(checked_in));
}

size_t session::feed(std::string_view input) { return _impl->feed(input); }
bool session::streaming() const noexcept { return _impl->st == state::streaming; }
void session::next_output(size_t window_bytes) { _impl->next_output(window_bytes); }
void session::on_disconnect() noexcept { _impl->close(); }
std::string& session::output() noexcept { return _impl->out; }
bool session::wants_close() const noexcept { return _impl->st == state::closed; }
uint32_t session::error_count() const noexcept { return _impl->errors; }
uint32_t session::auth_failures() const noexcept { return _impl->auth_failures; }
bool session::authenticated() const noexcept { return _impl->user != nullptr; }
std::string_view session::last_error() const noexcept { return _impl->last_error; }

}  // namespace posthorn::proto::pop3
