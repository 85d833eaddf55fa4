// The SMTP server session (RFC 5321): one state machine, fed bytes in any
// split. It owns the connection state (what the next byte is: a command
// line, DATA or BDAT content, a skipped chunk, nothing while a commit is in
// flight), the transaction phase (which commands make sense), the envelope
// under construction, and the content slices not yet handed to the sink.
// The command table below is the protocol's rules, a row per verb; replies
// come from replies.hh, paths and parameters from address.hh, content from
// data_scanner.hh.
//
// Threading: shard-local, not thread-safe.
// Limits (session_config): a command line is at most line_length_max bytes
// (its CRLF included) and only a partial one is ever buffered; errors_max
// error replies, then 421 and close; max_recipients; max_message_size for
// SIZE= and for the content; at most body_window_bytes of content (and
// k_body_pieces_max slices) held before write_body(). Idle, the session
// holds its small fixed state, the envelope strings it reuses, and nothing
// else.
// Returns: replies in output(), close via wants_close(), messages through
// the message_sink. Logs `smtp session=<id> event=...` lines; peer bytes go
// through core::log::escaped. Nothing throws out of it except allocation
// failure of its own small buffers.
#include "posthorn/core/log.hh"
#include "posthorn/core/panic.hh"
#include "posthorn/proto/smtp_session.hh"
#include "proto/smtp/address.hh"
#include "proto/smtp/data_scanner.hh"
#include "proto/smtp/received.hh"
#include "proto/smtp/replies.hh"

#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

namespace posthorn::proto::smtp {
namespace {

// What the next received byte is.
enum class state : uint8_t {
    fresh,        // start() not called yet
    command,      // a command line
    data,         // DATA content, up to <CRLF>.<CRLF>
    bdat,         // the octets of an accepted BDAT chunk
    bdat_skip,    // the octets of a refused BDAT chunk, discarded
    commit_wait,  // the sink is making the message durable; input waits
    closed,       // wants_close(): input is ignored
};

const char* state_name(state s) noexcept {
    switch (s) {
    case state::fresh: return "fresh";
    case state::command: return "command";
    case state::data: return "data";
    case state::bdat: return "bdat";
    case state::bdat_skip: return "bdat_skip";
    case state::commit_wait: return "commit_wait";
    case state::closed: return "closed";
    }
    return "?";
}

// Transaction phases, the command table's "allowed" column.
enum phase : uint8_t {
    ph_init = 1 << 0,   // no HELO/EHLO yet
    ph_ready = 1 << 1,  // greeted, no transaction
    ph_mail = 1 << 2,   // MAIL accepted, no valid recipient yet
    ph_rcpt = 1 << 3,   // at least one valid recipient
    ph_bdat = 1 << 4,   // BDAT chunks under way (RFC 3030)
};
constexpr uint8_t ph_any = ph_init | ph_ready | ph_mail | ph_rcpt | ph_bdat;

// Slices held before write_body(), whatever their bytes: bounds the chunks a
// trickling client can pin and the slices normalized content can create.
constexpr size_t k_body_pieces_max = 32;
constexpr size_t k_body_pieces_kept = 16;  // slice capacity kept between messages
constexpr size_t k_rcpts_kept = 8;         // recipients (and their strings) kept for reuse
constexpr size_t k_helo_bytes_max = 255;
constexpr size_t k_log_bytes = 80;

// Scratch for text built and consumed within one call (Received:, VRFY).
thread_local std::string t_scratch;


std::string_view trim_right(std::string_view s) noexcept {
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

// HELO/EHLO argument: one printable token (a domain or an address literal;
// not policed further, as Postfix). It goes into the Received: header.
bool valid_helo(std::string_view s) noexcept {
    if (s.empty() || s.size() > k_helo_bytes_max) return false;
    for (char c : s)
        if (c < 0x21 || c > 0x7e) return false;
    return true;
}

// "BDAT" SP chunk-size [ SP "LAST" ] (RFC 3030 §2).
bool parse_bdat(std::string_view args, uint64_t& octets, bool& last) noexcept {
    size_t i = 0;
    octets = 0;
    while (i < args.size() && args[i] >= '0' && args[i] <= '9') {
        if (i == 19) return false;
        octets = octets * 10 + static_cast<uint64_t>(args[i] - '0');
        ++i;
    }
    if (i == 0) return false;
    std::string_view rest = args.substr(i);
    last = false;
    if (rest.empty()) return true;
    if (rest[0] != ' ') return false;
    while (!rest.empty() && rest[0] == ' ') rest.remove_prefix(1);
    last = iequals(rest, "LAST");
    return last;
}

int64_t system_now_ms() noexcept {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace

struct session::impl {
    impl(const session_config& c, const directory::handle& d, message_sink& s, peer_info p,
         std::string i)
        : cfg(c), dir_handle(d), sink(s), peer(std::move(p)), id(std::move(i)) {
        env.client_address = peer.address;
    }

    // ---- wiring
    const session_config& cfg;
    // The shard's current snapshot, read at each command: a reload between
    // two RCPTs is seen by the second. Nothing is kept from it across calls.
    const directory::handle& dir_handle;
    const directory::snapshot& dir() const noexcept { return dir_handle.current(); }
    message_sink& sink;
    peer_info peer;
    std::string id;

    // ---- connection
    std::string out;
    std::string line;  // a partial command line, shorter than line_length_max
    state st = state::fresh;
    uint8_t ph = ph_init;
    bool esmtp = false;             // EHLO (vs HELO)
    bool discarding_line = false;   // the rest of a too-long line, up to its LF
    uint32_t errors = 0;

    // ---- the command being handled (valid inside on_line only)
    std::string_view cmd_line;
    size_t bytes_after = 0;         // bytes after this line in the same feed

    // ---- transaction
    queue::envelope env;
    std::vector<queue::recipient> spare;   // recipients kept for their strings
    bool msg_open = false;          // begin_message() done, not yet committed or aborted
    bool failure_told = false;      // BDAT: txn_failure was answered once
    bool bdat_last = false;
    reply_id txn_failure = reply_id::none;  // the message is lost; told at its end
    uint64_t msg_id = 0;
    uint64_t chunk_octets = 0;      // the BDAT chunk under way, for its 250
    uint64_t skip_left = 0;         // bdat_skip: octets still to discard
    uint64_t spilled_bytes = 0;     // content already passed to write_body()
    data_scanner scanner;
    std::vector<core::slice> body;  // content not yet passed to the sink

    // ---- the one place the connection state changes
    void set_state(state s) {
        if (s == st) return;
        core::log::debug("smtp session={} event=state from={} to={}", id, state_name(st), state_name(s));
        st = s;
    }

    int64_t now_ms() const noexcept { return cfg.clock_unix_ms ? cfg.clock_unix_ms() : system_now_ms(); }

    void reply(reply_id r, std::string_view arg = {});
    void close();
    void reset_transaction();
    queue::recipient& add_rcpt();
    bool begin_message();
    void fail_transaction(reply_id r);
    void spill();
    void end_of_message();
    void on_chunk_done();

    size_t on_command_bytes(const core::slice& input, size_t pos);
    void on_line(std::string_view text);
    size_t on_body_bytes(const core::slice& input);
    size_t on_skip_bytes(size_t available);
};

using impl = session::impl;

// The whole process has 8 KiB per idle connection; the session's own state
// (488 bytes with GCC 12) is a small part of it.
static_assert(sizeof(impl) <= 512, "an idle SMTP session must stay small");

// ---------------------------------------------------------------- replies

void impl::reply(reply_id r, std::string_view arg) {
    append_reply(out, r, arg);
    const reply_row& row = reply_of(r);
    if (row.code >= 400)
        core::log::info("smtp session={} event=reject code={} enhanced={} line={}", id, row.code,
                        row.enhanced, core::log::escaped{cmd_line, k_log_bytes});
    if (!row.counts_as_error || st == state::closed) return;
    if (++errors < cfg.errors_max) return;
    core::log::warn("smtp session={} event=too_many_errors errors={} peer={}", id, errors, peer.address);
    append_reply(out, reply_id::too_many_errors, cfg.hostname);
    close();
}

// ---------------------------------------------------------------- transaction

void impl::close() {
    reset_transaction();
    set_state(state::closed);
}

void impl::reset_transaction() {
    if (msg_open) {
        sink.abort_message(msg_id);
        msg_open = false;
    }
    for (auto& r : env.rcpts)
        if (spare.size() < k_rcpts_kept) spare.push_back(std::move(r));
    env.clear();
    if (env.rcpts.capacity() > k_rcpts_kept) std::vector<queue::recipient>().swap(env.rcpts);
    body.clear();
    if (body.capacity() > k_body_pieces_kept) std::vector<core::slice>().swap(body);
    txn_failure = reply_id::none;
    failure_told = false;
    bdat_last = false;
    spilled_bytes = 0;
    if (ph != ph_init) ph = ph_ready;
}

queue::recipient& impl::add_rcpt() {
    if (spare.empty()) return env.rcpts.emplace_back();
    env.rcpts.push_back(std::move(spare.back()));
    spare.pop_back();
    return env.rcpts.back();
}

bool impl::begin_message() {
    auto r = sink.begin_message();
    if (!r) {
        core::log::error("smtp session={} event=begin_failed error=\"{}: {}\"", id, r.err().what,
                         r.err().reason());
        return false;
    }
    msg_id = r.value();
    msg_open = true;
    spilled_bytes = 0;
    body.clear();
    return true;
}

// The message cannot be accepted; the client still sends the rest of it.
void impl::fail_transaction(reply_id r) {
    if (txn_failure != reply_id::none) return;
    txn_failure = r;
    core::log::info("smtp session={} event=message_failed reason={} content_bytes={}", id,
                    r == reply_id::too_big        ? "size"
                    : r == reply_id::bare_newline ? "bare_newline"
                                                  : "queue",
                    scanner.content_bytes());
    if (msg_open) {
        sink.abort_message(msg_id);
        msg_open = false;
    }
    body.clear();
    scanner.discard();
}

void impl::spill() {
    if (body.empty()) return;
    if (msg_open) {
        for (const auto& s : body) spilled_bytes += s.length;
        auto r = sink.write_body(msg_id, body);
        body.clear();
        if (!r) {
            core::log::error("smtp session={} event=write_failed error=\"{}: {}\"", id, r.err().what,
                             r.err().reason());
            fail_transaction(reply_id::queue_error);
        }
    }
    body.clear();
}

// After <CRLF>.<CRLF> or BDAT LAST: commit, or tell why not.
void impl::end_of_message() {
    if (txn_failure != reply_id::none || !msg_open) {
        reply_id r = txn_failure != reply_id::none ? txn_failure : reply_id::queue_error;
        bool told = failure_told;
        reset_transaction();
        set_state(state::command);
        if (told)
            append_reply(out, r);  // BDAT: said and counted once already
        else
            reply(r);  // last: it may close
        return;
    }
    const std::string qid = queue::format_queue_id(msg_id);
    t_scratch.clear();
    append_received(t_scratch,
                    trace_info{env.helo, peer.address, cfg.hostname,
                               env.smtputf8 ? "UTF8SMTP" : (esmtp ? "ESMTP" : "SMTP"), qid,
                               env.rcpts.size() == 1 ? std::string_view(env.rcpts[0].address)
                                                     : std::string_view(),
                               env.received_unix_ms});
    core::log::info("smtp session={} event=commit queue_id={} from={} nrcpt={} size={}", id, qid,
                    core::log::escaped{env.mail_from, k_log_bytes}, env.rcpts.size(),
                    scanner.content_bytes());
    msg_open = false;  // the sink owns it now
    set_state(state::commit_wait);
    auto r = sink.commit(msg_id, env, t_scratch, body);
    body.clear();
    if (!r && st == state::commit_wait) {
        core::log::error("smtp session={} event=commit_failed queue_id={} error=\"{}: {}\"", id, qid,
                         r.err().what, r.err().reason());
        reset_transaction();
        set_state(state::command);
        reply(reply_id::queue_error);
    }
}

void impl::on_chunk_done() {
    if (bdat_last) {
        scanner.finish_counted(body);
        if (scanner.failed() == data_scanner::failure::bare_newline) fail_transaction(reply_id::bare_newline);
        if (scanner.failed() == data_scanner::failure::too_big) fail_transaction(reply_id::too_big);
        end_of_message();
        return;
    }
    set_state(state::command);
    if (txn_failure == reply_id::none) {
        char digits[24];
        int n = std::snprintf(digits, sizeof digits, "%llu", static_cast<unsigned long long>(chunk_octets));
        reply(reply_id::chunk_ok, std::string_view(digits, n > 0 ? static_cast<size_t>(n) : 0));
    } else if (!failure_told) {
        failure_told = true;
        reply(txn_failure);
    } else {
        append_reply(out, txn_failure);  // said and counted once already
    }
}

// ---------------------------------------------------------------- the command table

namespace {

using check_fn = reply_id (*)(const impl&);
using act_fn = void (*)(impl&, std::string_view args);

struct command_row {
    std::string_view verb;
    uint8_t allowed;       // phases where the verb makes sense
    bool ends_group;       // must be last in a pipelined group (RFC 2920 §3.1)
    reply_id refused;      // the reply outside `allowed` (before HELO: need_helo)
    check_fn check;        // further preconditions, pure; none = go ahead
    act_fn act;            // does the work, parses the arguments, replies
    act_fn on_refused;     // after a refusal (BDAT: the chunk's octets follow anyway)
    std::string_view syntax;  // for 501 and HELP <verb>
};

// -- checks

reply_id check_rcpt(const impl& s) {
    // RFC 5321 §4.5.3.1.8: 452 when too many recipients; the client goes on.
    return s.env.rcpts.size() >= s.cfg.max_recipients ? reply_id::too_many_rcpts : reply_id::none;
}

reply_id check_data(const impl& s) {
    if (s.ph == ph_mail) return reply_id::no_valid_rcpts;
    if (s.ph == ph_bdat) return reply_id::data_after_bdat;
    if (s.env.body == queue::body_type::binary_mime) return reply_id::binarymime_data;  // RFC 3030 §3
    return reply_id::none;
}

reply_id check_bdat(const impl& s) { return s.ph == ph_mail ? reply_id::no_valid_rcpts : reply_id::none; }

// -- acts

void greet(impl& s, std::string_view args, bool esmtp) {
    if (!valid_helo(args)) return s.reply(reply_id::syntax, esmtp ? "EHLO hostname" : "HELO hostname");
    s.reset_transaction();  // RFC 5321 §4.1.4: HELO/EHLO reset the transaction
    s.env.helo.assign(args);
    s.esmtp = esmtp;
    s.ph = ph_ready;
    if (esmtp)
        append_ehlo(s.out, s.cfg.hostname, s.cfg.max_message_size, s.cfg.expn_enabled);
    else
        s.reply(reply_id::helo, s.cfg.hostname);
}

void act_helo(impl& s, std::string_view args) { greet(s, args, false); }
void act_ehlo(impl& s, std::string_view args) { greet(s, args, true); }

void act_mail(impl& s, std::string_view args) {
    path p;
    std::string_view params;
    if (!strip_keyword(args, "FROM:")) return s.reply(reply_id::syntax, "MAIL FROM:<address>");
    if (!parse_path(args, p, params)) return s.reply(reply_id::bad_sender);
    mail_params mp;
    if (auto e = parse_mail_params(params, mp); e.reply != reply_id::none) return s.reply(e.reply, e.keyword);
    if (p.non_ascii && !mp.smtputf8) return s.reply(reply_id::utf8_required);
    if (mp.size > s.cfg.max_message_size) return s.reply(reply_id::too_big);  // RFC 1870 §6.1
    qualify(p, s.dir().primary_domain(), s.env.mail_from);
    s.env.declared_size = mp.size;
    s.env.body = mp.body;
    s.env.smtputf8 = mp.smtputf8;
    s.env.ret = mp.ret;
    s.env.envid.assign(mp.envid);
    s.env.received_unix_ms = s.now_ms();
    s.ph = ph_mail;
    s.reply(reply_id::mail_ok);
}

void act_rcpt(impl& s, std::string_view args) {
    path p;
    std::string_view params;
    if (!strip_keyword(args, "TO:")) return s.reply(reply_id::syntax, "RCPT TO:<address>");
    if (!parse_path(args, p, params) || p.null) return s.reply(reply_id::bad_recipient);
    rcpt_params rp;
    if (auto e = parse_rcpt_params(params, rp); e.reply != reply_id::none) return s.reply(e.reply, e.keyword);
    if (p.non_ascii && !s.env.smtputf8) return s.reply(reply_id::utf8_required);

    queue::recipient& r = s.add_rcpt();
    qualify(p, s.dir().primary_domain(), r.address);
    reply_id verdict = reply_id::rcpt_ok;
    switch (s.dir().resolve(r.address).kind) {
    case directory::address_kind::local_user:
    case directory::address_kind::alias:
        break;
    case directory::address_kind::unknown_local:
        // RFC 5321 §4.5.1: postmaster is always accepted.
        if (!is_postmaster(p)) verdict = reply_id::user_unknown;
        break;
    case directory::address_kind::foreign:
        // DESIGN.md promise 3: relay only for trusted peers.
        if (!s.peer.trusted) verdict = reply_id::relay_denied;
        break;
    }
    if (verdict != reply_id::rcpt_ok) {
        queue::recipient refused = std::move(r);
        s.env.rcpts.pop_back();
        s.reply(verdict, refused.address);  // may close, which resets the envelope
        if (s.spare.size() < k_rcpts_kept) s.spare.push_back(std::move(refused));
        return;
    }
    r.orcpt.assign(rp.orcpt);
    r.notify = rp.notify;
    s.ph = ph_rcpt;
    s.reply(reply_id::rcpt_ok);
}

void act_data(impl& s, std::string_view args) {
    if (!args.empty()) return s.reply(reply_id::syntax, "DATA");
    if (!s.begin_message()) return s.reply(reply_id::queue_error);
    s.scanner.start_dot(s.cfg.bare_newlines == bare_newline_policy::normalize ? newline_rule::normalize
                                                                              : newline_rule::reject,
                        s.cfg.max_message_size);
    s.reply(reply_id::data_go);
    s.set_state(state::data);
}

void act_bdat(impl& s, std::string_view args) {
    uint64_t octets = 0;
    bool last = false;
    if (!parse_bdat(args, octets, last)) return s.reply(reply_id::syntax, "BDAT size [LAST]");
    if (s.ph != ph_bdat) {  // the first chunk of the message
        newline_rule rule = s.env.body == queue::body_type::binary_mime ? newline_rule::keep
                            : s.cfg.bare_newlines == bare_newline_policy::normalize ? newline_rule::normalize
                                                                                    : newline_rule::reject;
        s.scanner.start_counted(rule, s.cfg.max_message_size);
        s.ph = ph_bdat;
        if (!s.begin_message()) s.fail_transaction(reply_id::queue_error);
    }
    s.chunk_octets = octets;
    s.bdat_last = last;
    s.scanner.next_chunk(octets);
    s.set_state(state::bdat);
    if (octets == 0) s.on_chunk_done();
}

// A refused BDAT still has its octets coming: read past them.
void skip_bdat(impl& s, std::string_view args) {
    uint64_t octets = 0;
    bool last = false;
    if (!parse_bdat(args, octets, last) || octets == 0 || s.st != state::command) return;
    s.skip_left = octets;
    s.set_state(state::bdat_skip);
}

void act_rset(impl& s, std::string_view args) {
    if (!args.empty()) return s.reply(reply_id::syntax, "RSET");
    s.reset_transaction();
    s.reply(reply_id::ok);
}

void act_noop(impl& s, std::string_view) { s.reply(reply_id::ok); }

void act_quit(impl& s, std::string_view) {
    s.reply(reply_id::bye);
    s.close();
}

void act_help(impl& s, std::string_view args);

void act_vrfy(impl& s, std::string_view args) {
    if (s.cfg.vrfy == vrfy_policy::disabled) return s.reply(reply_id::vrfy_disabled);
    if (args.empty()) return s.reply(reply_id::syntax, "VRFY address");
    if (s.cfg.vrfy == vrfy_policy::cannot_verify) return s.reply(reply_id::cannot_vrfy);
    path p;
    std::string_view rest;
    if (!parse_path(args, p, rest) || p.null || !rest.empty()) return s.reply(reply_id::syntax, "VRFY address");
    std::string addr;
    qualify(p, s.dir().primary_domain(), addr);
    auto res = s.dir().resolve(addr);
    switch (res.kind) {
    case directory::address_kind::local_user:
        t_scratch.clear();
        if (!res.owner->display_name.empty()) t_scratch.append(res.owner->display_name).append(" ");
        t_scratch.append("<").append(addr).append(">");
        return s.reply(reply_id::user_ok, t_scratch);
    case directory::address_kind::alias:
        return s.reply(reply_id::user_ok, "<" + addr + ">");
    case directory::address_kind::unknown_local:
        return s.reply(is_postmaster(p) ? reply_id::cannot_vrfy : reply_id::user_unknown, addr);
    case directory::address_kind::foreign:
        return s.reply(reply_id::cannot_vrfy);
    }
}

void act_expn(impl& s, std::string_view args) {
    if (!s.cfg.expn_enabled) return s.reply(reply_id::expn_disabled);
    path p;
    std::string_view rest;
    if (args.empty() || !parse_path(args, p, rest) || p.null || !rest.empty())
        return s.reply(reply_id::syntax, "EXPN address");
    std::string addr;
    qualify(p, s.dir().primary_domain(), addr);
    auto res = s.dir().resolve(addr);
    switch (res.kind) {
    case directory::address_kind::alias: {
        std::vector<std::string> lines;
        for (const auto& t : *res.targets) lines.push_back("<" + t + ">");
        std::vector<std::string_view> views(lines.begin(), lines.end());
        if (views.empty()) return s.reply(reply_id::user_unknown, addr);
        return append_lines(s.out, reply_id::user_ok, views);
    }
    case directory::address_kind::local_user:
        return s.reply(reply_id::user_ok, "<" + addr + ">");
    case directory::address_kind::unknown_local:
        return s.reply(reply_id::user_unknown, addr);
    case directory::address_kind::foreign:
        return s.reply(reply_id::not_local, addr);
    }
}

// clang-format off
constexpr command_row k_commands[] = {
//   verb    allowed                      last   refused               check       act       on_refused syntax
    // RFC 5321 §4.1.1.1; HELO/EHLO reset the transaction (§4.1.4); RFC 2920 §3.1: last.
    {"HELO", ph_any,                      true,  reply_id::none,       nullptr,    act_helo, nullptr,   "HELO hostname"},
    {"EHLO", ph_any,                      true,  reply_id::none,       nullptr,    act_ehlo, nullptr,   "EHLO hostname"},
    // §4.1.1.2, §3.3: MAIL starts a transaction; not inside one. RFC 1870, 6152, 3030, 6531, 3461.
    {"MAIL", ph_ready,                    false, reply_id::nested_mail, nullptr,   act_mail, nullptr,   "MAIL FROM:<address> [SIZE=n] [BODY=7BIT|8BITMIME|BINARYMIME] [SMTPUTF8] [RET=FULL|HDRS] [ENVID=xtext]"},
    // §4.1.1.3: after MAIL; §4.5.3.1.8 recipients limit; RFC 3461 NOTIFY/ORCPT.
    {"RCPT", ph_mail | ph_rcpt,           false, reply_id::need_mail,  check_rcpt, act_rcpt, nullptr,   "RCPT TO:<address> [NOTIFY=NEVER|SUCCESS,FAILURE,DELAY] [ORCPT=type;xtext]"},
    // §4.1.1.4: needs a valid recipient; RFC 2920 §3.1: last; RFC 3030 §3: not after BDAT or with BINARYMIME.
    {"DATA", ph_mail | ph_rcpt | ph_bdat, true,  reply_id::need_rcpt,  check_data, act_data, nullptr,   "DATA"},
    // RFC 3030 §2: counted chunks, may be pipelined; a refused chunk's octets are skipped.
    {"BDAT", ph_mail | ph_rcpt | ph_bdat, false, reply_id::need_rcpt,  check_bdat, act_bdat, skip_bdat, "BDAT size [LAST]"},
    // §4.1.1.5: any time; aborts the transaction.
    {"RSET", ph_any,                      false, reply_id::none,       nullptr,    act_rset, nullptr,   "RSET"},
    // §4.1.1.9; RFC 2920 §3.1: last.
    {"NOOP", ph_any,                      true,  reply_id::none,       nullptr,    act_noop, nullptr,   "NOOP"},
    // §4.1.1.10: 221, then close.
    {"QUIT", ph_any,                      false, reply_id::none,       nullptr,    act_quit, nullptr,   "QUIT"},
    // §4.1.1.8: 214 with the commands, or one command's syntax.
    {"HELP", ph_any,                      false, reply_id::none,       nullptr,    act_help, nullptr,   "HELP [command]"},
    // §4.1.1.6, §3.5.3: 252 when we will not verify; RFC 2920 §3.1: last.
    {"VRFY", ph_any,                      true,  reply_id::none,       nullptr,    act_vrfy, nullptr,   "VRFY address"},
    // §4.1.1.7, §3.5.2; RFC 2920 §3.1: last.
    {"EXPN", ph_any,                      true,  reply_id::none,       nullptr,    act_expn, nullptr,   "EXPN address"},
};
// clang-format on

const command_row* find_command(std::string_view verb) noexcept {
    for (const auto& row : k_commands)
        if (iequals(row.verb, verb)) return &row;
    return nullptr;
}

void act_help(impl& s, std::string_view args) {
    if (const command_row* row = args.empty() ? nullptr : find_command(args))
        return s.reply(reply_id::help, row->syntax);
    char verbs[std::size(k_commands) * 5];
    size_t n = 0;
    for (const auto& row : k_commands) {
        if (n > 0) verbs[n++] = ' ';
        std::memcpy(verbs + n, row.verb.data(), row.verb.size());
        n += row.verb.size();
    }
    std::string_view lines[] = {"Commands supported:", std::string_view(verbs, n)};
    append_lines(s.out, reply_id::help, lines);
}

}  // namespace

// ---------------------------------------------------------------- input

// One command line (or part of one) from input[pos...]; returns bytes used.
size_t impl::on_command_bytes(const core::slice& input, size_t pos) {
    const char* p = input.data() + pos;
    const size_t available = input.length - pos;
    const char* lf = static_cast<const char*>(std::memchr(p, '\n', available));
    if (discarding_line) {
        if (!lf) return available;
        discarding_line = false;
        return static_cast<size_t>(lf - p) + 1;
    }
    if (!lf) {
        // A partial line: buffer it, unless it is already too long.
        if (line.size() + available >= cfg.line_length_max) {
            core::log::info("smtp session={} event=line_too_long line={}", id,
                            core::log::escaped{line.empty() ? std::string_view(p, available) : line, k_log_bytes});
            line.clear();
            discarding_line = true;
            reply(reply_id::line_too_long);
            return available;
        }
        if (line.capacity() < cfg.line_length_max) line.reserve(cfg.line_length_max);
        line.append(p, available);
        return available;
    }
    const size_t n = static_cast<size_t>(lf - p);
    if (line.size() + n + 1 > cfg.line_length_max) {
        core::log::info("smtp session={} event=line_too_long line={}", id,
                        core::log::escaped{line.empty() ? std::string_view(p, n) : line, k_log_bytes});
        line.clear();
        reply(reply_id::line_too_long);
        return n + 1;
    }
    std::string_view text(p, n);
    if (!line.empty()) {
        line.append(p, n);
        text = line;
    }
    bytes_after = available - n - 1;
    on_line(text);
    line.clear();
    return n + 1;
}

// A complete command line, its LF removed: the table decides.
void impl::on_line(std::string_view text) {
    text = trim_right(text);
    cmd_line = text;
    size_t sp = text.find(' ');
    std::string_view verb = text.substr(0, sp);
    std::string_view args;
    if (sp != std::string_view::npos) {
        args = text.substr(sp);
        while (!args.empty() && args[0] == ' ') args.remove_prefix(1);
    }
    const command_row* row = find_command(verb);
    if (!row) {
        reply(text.empty() ? reply_id::bad_syntax : reply_id::unknown_command);
    } else if (row->ends_group && cfg.forbid_unauth_pipelining && bytes_after > 0) {
        // As Postfix smtpd_forbid_unauth_pipelining: the client did not wait.
        core::log::warn("smtp session={} event=improper_pipelining after={} peer={} next_bytes={}", id,
                        row->verb, peer.address, bytes_after);
        close();
        reply(reply_id::improper_pipelining, row->verb);
    } else if ((ph & row->allowed) == 0) {
        reply(ph == ph_init ? reply_id::need_helo : row->refused);
        if (row->on_refused) row->on_refused(*this, args);
    } else if (reply_id r = row->check ? row->check(*this) : reply_id::none; r != reply_id::none) {
        reply(r);
        if (row->on_refused) row->on_refused(*this, args);
    } else {
        row->act(*this, args);
    }
    cmd_line = {};
}

// DATA/BDAT content from `input`; returns bytes used.
size_t impl::on_body_bytes(const core::slice& input) {
    if (body.size() >= k_body_pieces_max) spill();
    size_t n = scanner.scan(input, body, k_body_pieces_max);
    switch (scanner.failed()) {
    case data_scanner::failure::none: break;
    case data_scanner::failure::too_big: fail_transaction(reply_id::too_big); break;
    case data_scanner::failure::bare_newline: fail_transaction(reply_id::bare_newline); break;
    }
    if (scanner.content_bytes() - spilled_bytes >= cfg.body_window_bytes || body.size() >= k_body_pieces_max)
        spill();
    if (scanner.done()) {
        if (st == state::data)
            end_of_message();
        else
            on_chunk_done();
    }
    return n;
}

size_t impl::on_skip_bytes(size_t available) {
    size_t n = available < skip_left ? available : static_cast<size_t>(skip_left);
    skip_left -= n;
    if (skip_left == 0) set_state(state::command);
    return n;
}

// ---------------------------------------------------------------- the public face

session::session(const session_config& cfg, const directory::handle& dir, message_sink& sink,
                 peer_info peer, std::string session_id)
    : _impl(std::make_unique<impl>(cfg, dir, sink, std::move(peer), std::move(session_id))) {}

session::~session() {
    if (_impl && _impl->msg_open) _impl->sink.abort_message(_impl->msg_id);
}

void session::start(bool input_pending) {
    impl& s = *_impl;
    PH_ASSERT(s.st == state::fresh);
    core::log::debug("smtp session={} event=connect peer={} trusted={}", s.id, s.peer.address,
                     s.peer.trusted ? "yes" : "no");
    if (input_pending && s.cfg.forbid_unauth_pipelining) {
        core::log::warn("smtp session={} event=pregreet peer={}", s.id, s.peer.address);
        s.close();
        s.reply(reply_id::pregreet);
        return;
    }
    s.set_state(state::command);
    s.reply(reply_id::greeting, s.cfg.hostname);
}

size_t session::feed(const core::slice& input) {
    impl& s = *_impl;
    PH_ASSERT(s.st != state::fresh);
    size_t pos = 0;
    while (pos < input.length) {
        switch (s.st) {
        case state::fresh:
        case state::closed:
            return input.length;
        case state::commit_wait:
            return pos;
        case state::command:
            pos += s.on_command_bytes(input, pos);
            break;
        case state::data:
        case state::bdat: {
            const state before = s.st;
            size_t n = s.on_body_bytes(input.suffix_from(static_cast<uint32_t>(pos)));
            // The scanner stops only at the end of the body or chunk (the state
            // changes), or after making pieces for us to spill.
            PH_ASSERT(n > 0 || s.st != before);
            pos += n;
            break;
        }
        case state::bdat_skip:
            pos += s.on_skip_bytes(input.length - pos);
            break;
        }
    }
    return pos;
}

void session::on_committed(bool ok) {
    impl& s = *_impl;
    if (s.st != state::commit_wait) return;  // closed meanwhile: nobody to tell
    const std::string qid = queue::format_queue_id(s.msg_id);
    s.reset_transaction();
    s.set_state(state::command);
    if (ok) {
        core::log::info("smtp session={} event=queued queue_id={}", s.id, qid);
        s.errors = 0;  // as Postfix: errors count "without delivering mail"
        s.reply(reply_id::queued, qid);
    } else {
        core::log::error("smtp session={} event=commit_failed queue_id={}", s.id, qid);
        s.reply(reply_id::queue_error);
    }
}

void session::on_timeout() {
    impl& s = *_impl;
    if (s.st == state::closed) return;
    core::log::info("smtp session={} event=timeout state={} peer={}", s.id, state_name(s.st), s.peer.address);
    s.reply(reply_id::timeout, s.cfg.hostname);
    s.close();
}

void session::on_disconnect() noexcept {
    impl& s = *_impl;
    if (s.msg_open) {
        s.sink.abort_message(s.msg_id);
        s.msg_open = false;
    }
    if (s.st != state::closed) core::log::debug("smtp session={} event=disconnect state={}", s.id, state_name(s.st));
    s.st = state::closed;
}

std::string& session::output() noexcept { return _impl->out; }
bool session::wants_close() const noexcept { return _impl->st == state::closed; }
bool session::waiting_for_commit() const noexcept { return _impl->st == state::commit_wait; }
bool session::in_data() const noexcept {
    return _impl->st == state::data || _impl->st == state::bdat || _impl->st == state::bdat_skip;
}
uint32_t session::error_count() const noexcept { return _impl->errors; }

}  // namespace posthorn::proto::smtp
