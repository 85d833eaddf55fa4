// The IMAP session (see imap_session.hh): framing (command_reader), the
// states of RFC 3501 §3, the command table, tagged replies and errors, the
// login (proto/login.hh) with LOGIN and AUTHENTICATE PLAIN, and the small
// commands valid in any state (CAPABILITY, NOOP, LOGOUT, ID, ENABLE,
// NAMESPACE, IDLE). Mailbox and message commands are in the
// commands_*.cc files, FETCH in fetch.cc, untagged news in updates.cc.
//
// Threading: shard-local, not thread-safe.
// Limits: see session_config; BAD replies count towards errors_max, then
// BYE and close.
// Returns: replies in output(), close via wants_close(). Logs one line per
// BAD/NO (reason=...) and per login/logout; never passwords.
#include "proto/imap/session_impl.hh"

#include "posthorn/core/log.hh"
#include "posthorn/core/text.hh"
#include "proto/pop3/sasl_plain.hh"

#include <charconv>

namespace posthorn::proto::imap {
namespace {

constexpr size_t k_log_bytes = 40;
constexpr size_t k_keep_bytes = 4096;   // buffers above this are dropped between commands
constexpr std::string_view k_blob_magic = "posthorn-imap-1";

bool tag_ok(std::string_view t) noexcept {
    for (char c : t)
        if (c == '+' || !(cursor::atom_char(c))) return false;
    return !t.empty();
}

}  // namespace

session::impl::~impl() { close(); }

// --- framing.

size_t session::impl::feed(std::string_view in) {
    // The host sent and cleared output(): a big answer's buffer is not
    // kept by an idle session.
    if (out.empty() && out.capacity() > k_keep_bytes) std::string().swap(out);
    in_feed = true;
    size_t pos = 0;
    while (st != state::closed && st != state::fresh &&
           (waiting == wait::none || waiting == wait::sasl || waiting == wait::idle || waiting == wait::append)) {
        auto ev = reader.next(in, pos);
        if (ev == command_reader::event::more) break;
        switch (ev) {
        case command_reader::event::command: {
            std::string_view text = reader.text();
            if (waiting == wait::sasl) on_sasl_line(text);
            else if (waiting == wait::idle) on_idle_line(text);
            else if (waiting == wait::append) on_append_end(text);
            else on_command(text);
            break;
        }
        case command_reader::event::literal: on_literal(); break;
        case command_reader::event::literal_bytes: on_append_bytes(reader.chunk()); break;
        case command_reader::event::line_too_long: on_line_too_long(); break;
        case command_reader::event::literal_end:
        case command_reader::event::dropped:
        case command_reader::event::more: break;
        }
    }
    in_feed = false;
    return st == state::closed ? in.size() : pos;
}

void session::impl::on_command(std::string_view text) {
    arena.clear();
    cursor c(text, arena);
    verb.clear();
    hold_expunge = false;
    auto t = c.atom("]");
    if (!t || !tag_ok(*t) || !c.sp()) {
        tag = "*";
        return fail(replies::no_tag);
    }
    tag.assign(*t);
    auto v = c.atom();
    if (!v) return fail(replies::unknown_command);
    verb = *v;
    for (const command_row& row : table()) {
        if (!core::iequals(*v, row.verb)) continue;
        uint8_t now = st == state::not_authenticated ? in_not_auth : st == state::authenticated ? in_auth : in_selected;
        if (!(row.allowed & now)) {
            if (now == in_not_auth) return fail(replies::not_authenticated);
            if (row.allowed == in_not_auth) return fail(replies::already_authenticated);
            return fail(replies::not_selected);
        }
        if (!c.at_end() && !c.sp()) return fail(replies::syntax);
        return (this->*row.act)(c);
    }
    fail(replies::unknown_command);
}

// A literal announced at the end of a line: APPEND's message streams into
// the store; any other literal is small and joins the command text.
void session::impl::on_literal() {
    auto lit = reader.literal();
    std::string_view text = reader.text();
    if (waiting == wait::none && st != state::not_authenticated) {
        arena.clear();
        cursor c(text, arena);
        auto t = c.atom("]");
        if (t && tag_ok(*t) && c.sp() && c.skip_word("APPEND") && c.sp()) {
            tag.assign(*t);
            verb = "APPEND";
            if (append_literal(c)) return;
        }
    }
    if (waiting == wait::append) {
        // A second message (MULTIAPPEND, RFC 3502) is not offered.
        store.append_abort(append_id);
        append_id = 0;
    }
    if (waiting != wait::none) {
        // SASL and IDLE lines carry no literal.
        reader.drop_literal_and_command();
        waiting = wait::none;
        return fail(replies::syntax);
    }
    if (lit.size > cfg.literal_bytes_max || text.size() + lit.size > cfg.command_bytes_max) {
        arena.clear();
        cursor c(text, arena);
        auto t = c.atom("]");
        tag = t && tag_ok(*t) ? std::string(*t) : std::string("*");
        if (!lit.sync && lit.size > cfg.literal_discard_bytes_max) {
            fail(replies::literal_too_big);
            return bye("Literal too big, closing");
        }
        reader.drop_literal_and_command();
        return fail(replies::literal_too_big);
    }
    if (lit.sync) out.append(replies::continue_ready);
    reader.take_literal();
}

void session::impl::on_line_too_long() {
    // Whatever the line was (a SASL response, IDLE's DONE, the end of an
    // APPEND), the command it belongs to ends with this BAD.
    if (waiting == wait::append && append_id) {
        store.append_abort(append_id);
        append_id = 0;
    }
    if (waiting != wait::none) {
        waiting = wait::none;   // the tag is that command's
        return fail(replies::line_too_long);
    }
    arena.clear();
    cursor c(reader.text(), arena);
    auto t = c.atom("]");
    tag = t && tag_ok(*t) && c.sp() ? std::string(*t) : std::string("*");
    fail(replies::line_too_long);
}

// --- replies.

void session::impl::tagged_ok(std::string_view text) {
    if (sel) report(!hold_expunge);
    if (st == state::closed) return;   // report() said BYE
    out.append(tag).append(" OK ").append(text).append("\r\n");
    finish_command();
}

void session::impl::fail(const replies::error& e) {
    last_error = e.reason;
    const bool bad = e.st == replies::status::bad;
    if (bad) ++errors;
    core::log::info("imap session={} event={} reason={} command={} errors={}", id, bad ? "bad" : "no", e.reason,
                    core::log::escaped{verb, k_log_bytes}, errors);
    out.append(tag).append(bad ? " BAD " : " NO ").append(e.text).append("\r\n");
    finish_command();
    if (bad && errors >= cfg.errors_max && st != state::closed) {
        core::log::warn("imap session={} event=too_many_errors errors={}", id, errors);
        last_error = replies::too_many_errors.reason;
        bye(replies::too_many_errors.text);
    }
}

void session::impl::bye(std::string_view text) {
    out.append("* BYE ").append(text).append("\r\n");
    close();
}

void session::impl::finish_command() {
    arena.clear();
    job.msg = store::message{};
    parts.release_buffers();
    if (scratch.capacity() > k_keep_bytes) std::string().swap(scratch);
    if (scratch2.capacity() > k_keep_bytes) std::string().swap(scratch2);
    if (uids_tmp.capacity() > k_keep_bytes / 4) std::vector<uint32_t>().swap(uids_tmp);
    if (uids_tmp2.capacity() > k_keep_bytes / 4) std::vector<uint32_t>().swap(uids_tmp2);
    if (job.text.capacity() > k_keep_bytes) std::string().swap(job.text);
}

void session::impl::signal_output() {
    if (!in_feed && !out.empty() && cfg.on_output) cfg.on_output();
}

void session::impl::close() noexcept {
    if (append_id) {
        store.append_abort(append_id);
        append_id = 0;
    }
    if (watch) {
        store.unwatch(watch);
        watch = 0;
    }
    if (waiting == wait::login) {
        std::fill(login.password.begin(), login.password.end(), '\0');
        login.password.clear();
    }
    waiting = wait::none;
    sel.reset();
    st = state::closed;
}

std::string_view session::impl::capabilities() const noexcept {
    if (st == state::authenticated || st == state::selected) return replies::caps_authenticated;
    return cfg.plaintext_allowed ? replies::caps_login : replies::caps_disabled;
}

// --- commands valid in any state.

void session::impl::on_capability(cursor& a) {
    if (!a.at_end()) return fail(replies::syntax);
    out.append("* CAPABILITY ").append(capabilities()).append("\r\n");
    tagged_ok("CAPABILITY completed");
}

void session::impl::on_noop(cursor& a) {
    if (!a.at_end()) return fail(replies::syntax);
    tagged_ok("NOOP completed");
}

void session::impl::on_logout(cursor& a) {
    if (!a.at_end()) return fail(replies::syntax);
    core::log::info("imap session={} event=logout user={}", id, user.empty() ? "-" : std::string_view(user));
    out.append(replies::bye_logout);
    sel.reset();   // LOGOUT reports nothing more (and expunges nothing)
    tagged_ok("LOGOUT completed");
    close();
}

void session::impl::on_id(cursor& a) {
    // RFC 2971: "NIL" or a list of up to 30 field/value string pairs.
    if (!a.skip_word("NIL")) {
        if (!a.skip('(')) return fail(replies::syntax);
        for (int n = 0; !a.skip(')'); ++n) {
            if (n >= 60 || (n > 0 && !a.sp())) return fail(replies::syntax);
            if (!a.skip_word("NIL") && !a.string()) return fail(replies::syntax);
        }
    }
    if (!a.at_end()) return fail(replies::syntax);
    out.append(replies::id_line);
    tagged_ok("ID completed");
}

void session::impl::on_enable(cursor& a) {
    // RFC 5161: nothing here changes behaviour when enabled, so nothing is.
    if (!a.atom()) return fail(replies::syntax);
    while (a.sp())
        if (!a.atom()) return fail(replies::syntax);
    if (!a.at_end()) return fail(replies::syntax);
    out.append(replies::enabled_line);
    tagged_ok("ENABLE completed");
}

void session::impl::on_namespace(cursor& a) {
    if (!a.at_end()) return fail(replies::syntax);
    out.append(replies::namespace_line);
    tagged_ok("NAMESPACE completed");
}

void session::impl::on_idle(cursor& a) {
    if (!a.at_end()) return fail(replies::syntax);
    out.append(replies::continue_idle);
    waiting = wait::idle;
    if (sel) report(true);
}

void session::impl::on_idle_line(std::string_view line) {
    waiting = wait::none;
    if (!core::iequals(line, "DONE")) return fail(replies::idle_done);
    tagged_ok("IDLE terminated");
}

// --- login (proto/login.hh).

void session::impl::on_login(cursor& a) {
    if (!cfg.plaintext_allowed) return fail(replies::privacy_required);
    auto u = a.astring();
    if (!u || !a.sp()) return fail(replies::syntax);
    auto p = a.astring();
    if (!p || !a.at_end()) return fail(replies::syntax);
    login.user.assign(*u);
    login.password.assign(*p);
    wipe_command();
    waiting = wait::login;
}

void session::impl::on_authenticate(cursor& a) {
    auto mech = a.atom();
    if (!mech) return fail(replies::syntax);
    if (!core::iequals(*mech, "PLAIN")) return fail(replies::mechanism);
    if (!cfg.plaintext_allowed) return fail(replies::privacy_required);
    if (a.sp()) {
        // SASL-IR (RFC 4959): the initial response on the command line.
        auto ir = a.atom();
        if (!ir || !a.at_end()) return fail(replies::syntax);
        sasl_response(*ir == "=" ? std::string_view() : *ir);
        return wipe_command();
    }
    if (!a.at_end()) return fail(replies::syntax);
    waiting = wait::sasl;
    out.append(replies::continue_sasl);
}

void session::impl::on_sasl_line(std::string_view line) {
    waiting = wait::none;
    if (line == "*") return fail(replies::auth_cancelled);
    sasl_response(line);
    wipe_command();
}

// The password is copied into `login`: the framing buffer does not keep it.
void session::impl::wipe_command() noexcept {
    std::fill(reader.text().begin(), reader.text().end(), '\0');
    for (std::string& a : arena) std::fill(a.begin(), a.end(), '\0');
}

void session::impl::sasl_response(std::string_view b64) {
    auto c = pop3::parse_sasl_plain(b64);
    if (!c) return fail(replies::auth_malformed);
    // Acting as someone else is not offered: an authzid must name the
    // same user.
    if (!c->authzid.empty() && dir.current().find_login(c->authzid) != dir.current().find_login(c->authcid))
        return fail(replies::authz_failed);
    login.user = std::move(c->authcid);
    login.password = std::move(c->password);
    std::fill(c->password.begin(), c->password.end(), '\0');
    waiting = wait::login;
}

void session::impl::login_checked(bool ok, std::string_view canonical_user) {
    if (waiting != wait::login) return;
    waiting = wait::none;
    std::fill(login.password.begin(), login.password.end(), '\0');
    login.password.clear();
    verb = "LOGIN";
    if (!ok) {
        ++auth_failures;
        core::log::info("imap session={} event=auth_failed login={} failures={}", id,
                        core::log::escaped{login.user, k_log_bytes}, auth_failures);
        return fail(replies::auth_failed);
    }
    if (auto r = store.ensure_inbox(canonical_user); !r) return store_error("ensure_inbox", r.err());
    user.assign(canonical_user);
    watch = store.watch(user, [this](const store::change& ch) { on_change(ch); });
    st = state::authenticated;
    core::log::info("imap session={} event=login user={}", id, user);
    out.append(tag).append(" OK [CAPABILITY ").append(capabilities()).append("] Logged in\r\n");
    finish_command();
}

void session::impl::store_error(std::string_view op, const core::error& e) {
    core::log::warn("imap session={} event=store_error op={} error={}", id, op, e.reason());
    fail(replies::server_error);
}

// The command table (RFC 3501 §6 and the extensions' sections). UID is
// one row: its subcommands dispatch in commands_message.cc.
namespace {
using row = session::impl::command_row;
using I = session::impl;
const row commands[] = {
    {"CAPABILITY", in_any, &I::on_capability},     // §6.1.1
    {"NOOP", in_any, &I::on_noop},                 // §6.1.2
    {"LOGOUT", in_any, &I::on_logout},             // §6.1.3
    {"ID", in_any, &I::on_id},                     // RFC 2971
    {"LOGIN", in_not_auth, &I::on_login},          // §6.2.3
    {"AUTHENTICATE", in_not_auth, &I::on_authenticate},  // §6.2.2, RFC 4959
    {"SELECT", in_logged, &I::on_select},          // §6.3.1
    {"EXAMINE", in_logged, &I::on_examine},        // §6.3.2
    {"CREATE", in_logged, &I::on_create},          // §6.3.3
    {"DELETE", in_logged, &I::on_delete},          // §6.3.4
    {"RENAME", in_logged, &I::on_rename},          // §6.3.5
    {"SUBSCRIBE", in_logged, &I::on_subscribe},    // §6.3.6
    {"UNSUBSCRIBE", in_logged, &I::on_unsubscribe},  // §6.3.7
    {"LIST", in_logged, &I::on_list},              // §6.3.8, RFC 6154, RFC 3348
    {"LSUB", in_logged, &I::on_lsub},              // §6.3.9
    {"STATUS", in_logged, &I::on_status},          // §6.3.10
    {"APPEND", in_logged, &I::on_append},          // §6.3.11, RFC 4315, RFC 7888
    {"NAMESPACE", in_logged, &I::on_namespace},    // RFC 2342
    {"ENABLE", in_logged, &I::on_enable},          // RFC 5161
    {"IDLE", in_logged, &I::on_idle},              // RFC 2177
    {"CHECK", in_selected, &I::on_check},          // §6.4.1
    {"CLOSE", in_selected, &I::on_close},          // §6.4.2
    {"UNSELECT", in_selected, &I::on_unselect},    // RFC 3691
    {"EXPUNGE", in_selected, &I::on_expunge},      // §6.4.3
    {"SEARCH", in_selected, &I::on_search},        // §6.4.4
    {"FETCH", in_selected, &I::on_fetch},          // §6.4.5
    {"STORE", in_selected, &I::on_store},          // §6.4.6
    {"COPY", in_selected, &I::on_copy},            // §6.4.7, RFC 4315
    {"MOVE", in_selected, &I::on_move},            // RFC 6851
    {"UID", in_selected, &I::on_uid},              // §6.4.8
};
}  // namespace

std::span<const session::impl::command_row> session::impl::table() noexcept { return commands; }

// --- the public face.

session::session(const session_config& cfg, const directory::handle& dir, store::shard_store& store,
                 std::string session_id)
    : _impl(std::make_unique<impl>(cfg, dir, store, std::move(session_id))) {}

session::~session() = default;

void session::start() {
    if (_impl->st != state::fresh) return;
    _impl->st = state::not_authenticated;
    _impl->out.append("* OK [CAPABILITY ").append(_impl->capabilities()).append("] ");
    _impl->out.append(replies::greeting_text).append("\r\n");
}

size_t session::feed(std::string_view input) { return _impl->feed(input); }

const login_request* session::pending_login() const noexcept {
    return _impl->waiting == wait::login ? &_impl->login : nullptr;
}

void session::login_checked(bool ok, std::string_view canonical_user, std::shared_ptr<const directory::snapshot>) {
    _impl->login_checked(ok, canonical_user);
}

// The blob: magic, tag, error and failure counts, then the login name as
// typed (the rest). Never the password.
std::string session::suspend() {
    impl& s = *_impl;
    if (s.waiting != wait::login) return {};   // only a pending login moves
    std::string blob(k_blob_magic);
    blob.push_back('\n');
    blob.append(s.tag).push_back('\n');
    blob.append(std::to_string(s.errors)).push_back('\n');
    blob.append(std::to_string(s.auth_failures)).push_back('\n');
    blob.append(s.login.user);
    s.out.clear();
    s.close();
    return blob;
}

std::unique_ptr<session> session::resume(const session_config& cfg, const directory::handle& dir,
                                         store::shard_store& store, std::string session_id, std::string_view blob) {
    auto line = [&blob](std::string_view& v) {
        size_t nl = blob.find('\n');
        if (nl == std::string_view::npos) return false;
        v = blob.substr(0, nl);
        blob.remove_prefix(nl + 1);
        return true;
    };
    auto number = [](std::string_view v, uint32_t& n) {
        auto r = std::from_chars(v.data(), v.data() + v.size(), n);
        return r.ec == std::errc() && r.ptr == v.data() + v.size();
    };
    std::string_view magic, tag, errors, failures;
    uint32_t e = 0, f = 0;
    if (!line(magic) || magic != k_blob_magic || !line(tag) || !tag_ok(tag) || !line(errors) || !line(failures) ||
        !number(errors, e) || !number(failures, f))
        return nullptr;
    auto s = std::make_unique<session>(cfg, dir, store, std::move(session_id));
    impl& i = *s->_impl;
    i.st = state::not_authenticated;
    i.waiting = wait::login;
    i.tag.assign(tag);
    i.errors = e;
    i.auth_failures = f;
    i.login.user.assign(blob);
    return s;
}

bool session::streaming() const noexcept { return _impl->waiting == wait::fetch; }
void session::next_output(size_t window_bytes) { _impl->next_output(window_bytes); }
void session::on_disconnect() noexcept { _impl->close(); }
std::string& session::output() noexcept { return _impl->out; }
bool session::wants_close() const noexcept { return _impl->st == state::closed; }
bool session::idling() const noexcept { return _impl->waiting == wait::idle; }
bool session::authenticated() const noexcept { return !_impl->user.empty() && _impl->st != state::closed; }
uint32_t session::error_count() const noexcept { return _impl->errors; }
uint32_t session::auth_failures() const noexcept { return _impl->auth_failures; }
std::string_view session::last_error() const noexcept { return _impl->last_error; }
const store::uid_list* session::view_uids() const noexcept { return _impl->sel ? _impl->sel->uids.list() : nullptr; }

}  // namespace posthorn::proto::imap
