// The IMAP session's state, shared by its files: session.cc (framing,
// states, the command table, login), commands_mailbox.cc (SELECT, LIST,
// CREATE, ... STATUS), append.cc (APPEND, streamed into the store),
// commands_message.cc (STORE, COPY, MOVE, EXPUNGE, SEARCH), fetch.cc
// (FETCH, streamed out), updates.cc (the selected mailbox's view and the
// untagged news of other sessions' changes).
//
// What a session holds (kept small: 1,000 idle sessions fit in 32 KiB
// each): the framing buffer, the tag, the login, and when a mailbox is
// selected its view — one UID per message (the sequence numbers this
// session reported so far; uid_view.hh: while they are the folder's, one
// array shared with the store and every other such session, so an idle
// session's view costs a pointer, not 4 bytes a message), the \Recent UID
// ranges it claimed, and the changes other sessions made that it has not
// reported yet.
//
// Threading: shard-local, not thread-safe.
#pragma once

#include "posthorn/proto/imap_session.hh"

#include "posthorn/store/mime.hh"
#include "proto/imap/cursor.hh"
#include "proto/imap/message_parts.hh"
#include "proto/imap/reader.hh"
#include "proto/imap/replies.hh"
#include "proto/imap/seqset.hh"
#include "proto/imap/uid_view.hh"

#include <deque>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace posthorn::proto::imap {

enum class state : uint8_t {
    fresh,             // start() not called yet
    not_authenticated, // RFC 3501 §3.1
    authenticated,     // §3.2
    selected,          // §3.3
    closed,            // wants_close(): input is ignored
};

// What the session waits for besides the next command.
enum class wait : uint8_t {
    none,
    login,        // the host checks a login (login.hh)
    sasl,         // AUTHENTICATE PLAIN sent "+ ", the next line is the response
    idle,         // IDLE: the next line must be DONE
    append,       // APPEND's message literal is streaming into the store
    fetch,        // a FETCH has more output (streaming())
};

// The table's "allowed" column (RFC 3501 §6: in which states).
enum allowed : uint8_t { in_not_auth = 1, in_auth = 2, in_selected = 4, in_any = 7, in_logged = 6 };

struct fetch_att {
    enum class kind : uint8_t {
        uid, flags, internaldate, rfc822_size, envelope, body, bodystructure, section, rfc822, rfc822_header,
        rfc822_text
    };
    kind what = kind::uid;
    bool peek = false;                 // does not set \Seen
    store::mime::section section;
    std::vector<std::string_view> fields;   // HEADER.FIELDS (NOT) names
    std::string_view spec;             // the section text between [ and ], echoed back
    bool partial = false;
    uint32_t partial_offset = 0;
    uint32_t partial_length = 0;
};

// A FETCH in progress: resumable, so big literals and long answers go out
// in windows (next_output).
struct fetch_job {
    std::string text;                  // the command: attribute views point into it
    std::vector<fetch_att> atts;
    std::vector<seq_range> ranges;     // message sequence numbers
    size_t range_i = 0;
    uint32_t seq = 0;                  // the message being answered (0: next)
    size_t att_i = 0;                  // the next attribute of that message
    bool uid_command = false;
    bool flags_added = false;          // FLAGS answered because \Seen was set
    bool missing = false;              // a message expunged meanwhile was skipped
    bool first_item = true;
    store::message msg;                // the message being answered (a copy)
    const store::folder* box = nullptr;   // its folder, while fetch_message runs
    uint64_t lit_offset = 0;           // a literal being streamed
    uint64_t lit_left = 0;
};

struct selected_view {
    uint32_t folder_id = 0;
    uint32_t uidvalidity = 0;
    bool read_only = false;
    uid_view uids;                                            // sequence number - 1 -> UID
    std::vector<std::pair<uint32_t, uint32_t>> recent;        // claimed [first, end), ascending, disjoint
    // Changes not reported yet (other sessions, deliveries).
    bool appended = false;                                    // wakes IDLE; report() finds them past the view's last UID
    bool expunged = false;
    bool gone = false;                                        // the folder was deleted
    std::vector<uint32_t> flag_uids;                          // other sessions' flag changes
    size_t keywords_shown = 0;                                // the folder's keywords FLAGS listed

    bool is_recent(uint32_t uid) const noexcept {
        for (const auto& r : recent)
            if (uid >= r.first && uid < r.second) return true;
        return false;
    }
    uint32_t recent_count() const noexcept;
    // Sequence number of a UID, 0 for none.
    uint32_t seq_of(uint32_t uid) const noexcept;
};

// "(" [flag *(SP flag)] ")" into system flag bits, and keywords appended
// to `keywords` (views into the command); \Recent is refused, other
// \-flags (extensions) are accepted and dropped.
bool parse_flag_list(cursor& a, uint32_t& flags, std::vector<std::string_view>& keywords);
bool parse_flag(cursor& a, uint32_t& flags, std::vector<std::string_view>& keywords);

struct session::impl {
    using act_fn = void (impl::*)(cursor& args);
    struct command_row {
        std::string_view verb;
        uint8_t allowed;
        act_fn act;
    };
    static std::span<const command_row> table() noexcept;

    session_config cfg;
    const directory::handle& dir;   // the shard's current snapshot
    store::shard_store& store;
    std::string id;

    state st = state::fresh;
    wait waiting = wait::none;
    std::string out;
    command_reader reader;
    std::deque<std::string> arena;     // unescaped quoted strings of the current command
    std::string tag;
    std::string verb;                  // of the current command (for logs)
    uint32_t errors = 0;
    uint32_t auth_failures = 0;
    std::string_view last_error;

    login_request login;               // pending while waiting == login
    std::string user;                  // canonical, once logged in
    store::watch_id watch = 0;
    bool self_change = false;          // our own STORE: the watcher keeps quiet
    bool in_feed = false;              // output goes out after feed() anyway
    bool hold_expunge = false;         // FETCH/STORE/SEARCH: no EXPUNGE news (RFC 3501 §7.4.1)
    size_t append_text_bytes = 0;      // the APPEND line up to its message literal

    std::optional<selected_view> sel;
    store::shard_store::append_id append_id = 0;   // waiting == append
    bool append_failed = false;
    std::string append_mailbox;        // for APPENDUID
    fetch_job job;                     // waiting == fetch, or the last one (buffers reused)
    message_parts parts;
    // Reused buffers (dropped past 4 KiB after each command, finish_command):
    std::string scratch;               // message bytes of a small literal; LIST pattern
    std::string scratch2;              // filtered header fields; reply texts with codes
    std::vector<seq_range> ranges;     // STORE/COPY/MOVE's set
    std::vector<seq_range> uid_ranges_tmp;   // a UID set before it becomes sequence numbers
    std::vector<uint32_t> uids_tmp;    // UIDs to expunge/copy/move
    std::vector<std::string_view> keywords_tmp;   // STORE/APPEND's keywords
    std::vector<uint32_t> uids_tmp2;   // their copies' new UIDs

    impl(const session_config& c, const directory::handle& d, store::shard_store& s, std::string sid)
        : cfg(c), dir(d), store(s), id(std::move(sid)), reader(c.command_bytes_max), parts(s) {}
    ~impl();

    // --- session.cc: framing, states, replies.
    size_t feed(std::string_view in);
    void on_command(std::string_view text);
    void on_literal();
    void on_line_too_long();
    void on_sasl_line(std::string_view line);
    void on_idle_line(std::string_view line);
    void close() noexcept;
    void tagged_ok(std::string_view text);
    void fail(const replies::error& e);
    void bye(std::string_view text);
    std::string_view capabilities() const noexcept;
    void finish_command();                          // after the tagged reply: buffers back
    void signal_output();

    // --- login (session.cc).
    void on_capability(cursor& a);
    void on_noop(cursor& a);
    void on_logout(cursor& a);
    void on_login(cursor& a);
    void on_authenticate(cursor& a);
    void sasl_response(std::string_view b64);
    void wipe_command() noexcept;
    void login_checked(bool ok, std::string_view canonical_user);
    void on_id(cursor& a);
    void on_enable(cursor& a);
    void on_namespace(cursor& a);
    void on_idle(cursor& a);

    // --- commands_mailbox.cc (APPEND: append.cc).
    void on_select(cursor& a);
    void on_examine(cursor& a);
    void select(cursor& a, bool read_only);
    void on_create(cursor& a);
    void on_delete(cursor& a);
    void on_rename(cursor& a);
    void rename_inbox(std::string_view to);
    void on_subscribe(cursor& a);
    void on_unsubscribe(cursor& a);
    void on_list(cursor& a);
    void on_lsub(cursor& a);
    void on_status(cursor& a);
    void on_check(cursor& a);
    void on_close(cursor& a);
    void on_unselect(cursor& a);
    bool append_literal(cursor& a);       // the APPEND message literal announced
    void on_append_bytes(std::string_view bytes);
    void on_append_end(std::string_view text);
    void on_append(cursor& a);            // a complete APPEND without a streamed literal
    void store_error(std::string_view op, const core::error& e);

    // --- commands_message.cc.
    void on_expunge(cursor& a);
    void on_store(cursor& a);
    void on_copy(cursor& a);
    void on_move(cursor& a);
    void on_search(cursor& a);
    void on_uid(cursor& a);
    void store_cmd(cursor& a, bool uid);
    void copy_cmd(cursor& a, bool uid, bool move);
    void search_cmd(cursor& a, bool uid);
    void expunge_cmd(cursor& a, const seqset* uid_set);
    // The view's messages a set names, as sequence-number ranges.
    bool set_arg(cursor& a, bool uid, std::vector<seq_range>& out);
    bool set_past_exists = false;         // why set_arg failed
    const replies::error& set_error() const noexcept {
        return set_past_exists ? replies::bad_sequence : replies::syntax;
    }

    // --- fetch.cc.
    void on_fetch(cursor& a);
    void fetch_cmd(cursor& a, bool uid);
    bool parse_fetch_atts(cursor& a, std::vector<fetch_att>& atts);
    void run_fetch();                     // until done or paused
    bool fetch_message(const store::folder* f);   // false: paused inside it
    bool fetch_att_out(const fetch_att& f);  // false: paused (a literal streams)
    void next_output(size_t window_bytes);

    // --- updates.cc.
    void on_change(const store::change& c);
    // Untagged EXPUNGE/EXISTS/RECENT/FETCH for what changed (EXPUNGE only
    // when allowed, RFC 3501 §7.4.1).
    void report(bool allow_expunge);
    // `f`: the selected folder, naming its keyword bits (null: none).
    void write_flags(const store::folder* f, uint32_t flags, bool recent);
    // `* FLAGS` and `* OK [PERMANENTFLAGS]` for the selected folder, with
    // its keywords (RFC 3501 §7.2.6, §7.1): at SELECT, and again whenever
    // the folder gained keywords since.
    void write_flag_lines(const store::folder& f);
    void write_flags_line(const store::folder& f);
    void write_permanent_flags(const store::folder& f);   // and notes the keywords as shown
    void write_keywords(const store::folder& f);          // " kw1 kw2 ..."
    // The NO for a keyword_bits() failure (logged as a store error when it
    // is not the client's: no slot left or a bad name).
    const replies::error& keyword_refusal(const core::error& e);
    const store::folder* folder() const;
    // The folder's message for a sequence number of the view, or null when
    // it was expunged (and not reported yet).
    const store::message* message_at(const store::folder* f, uint32_t seq) const noexcept;
    void claim_recent();
};

}  // namespace posthorn::proto::imap
