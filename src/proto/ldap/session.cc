// The LDAP server session (ldap_session.hh): one state machine, fed bytes
// in any split. It owns the connection state (a partial PDU, a bind being
// checked, a search being streamed, nothing after close), the bound
// identity, and the search in progress. The operation table below is the
// protocol's rules, a row per request; result codes and texts come from
// replies.hh, BER from ber.hh, filters from filter.hh, entries from tree.hh.
//
// Threading: shard-local, not thread-safe.
// Limits: at most one partial PDU is buffered (pdu_bytes_max, refused from
// its header); a streaming search holds its filter, its index candidates
// (4 bytes each) and one window of output.
// Returns: replies in output(), close via wants_close(). Logs one line per
// bind, per non-success result (reason=...) and per disconnect.
#include "posthorn/proto/ldap_session.hh"

#include "posthorn/core/log.hh"
#include "proto/ldap/ber.hh"
#include "proto/ldap/dn.hh"
#include "proto/ldap/filter.hh"
#include "proto/ldap/replies.hh"
#include "proto/ldap/tree.hh"

#include <chrono>
#include <span>

namespace posthorn::proto::ldap {
namespace {

enum class state : uint8_t {
    open,        // requests are read and answered in order
    checking,    // a bind's password is with the host (login.hh)
    streaming,   // a search's entries go out through next_output()
    closed,      // wants_close(): input is ignored
};

constexpr size_t k_log_bytes = 80;
constexpr uint32_t k_time_check_every = 256;   // entries examined between clock reads
constexpr size_t k_window_bytes_min = 4096;

// RFC 4511 §4.2..§4.12 protocolOp tags.
constexpr uint8_t op_bind = ber::application(0, true), op_bind_response = ber::application(1, true),
                  op_unbind = ber::application(2, false), op_search = ber::application(3, true),
                  op_entry = ber::application(4, true), op_search_done = ber::application(5, true),
                  op_modify = ber::application(6, true), op_modify_response = ber::application(7, true),
                  op_add = ber::application(8, true), op_add_response = ber::application(9, true),
                  op_delete = ber::application(10, false), op_delete_response = ber::application(11, true),
                  op_moddn = ber::application(12, true), op_moddn_response = ber::application(13, true),
                  op_compare = ber::application(14, true), op_compare_response = ber::application(15, true),
                  op_abandon = ber::application(16, false), op_extended = ber::application(23, true),
                  op_extended_response = ber::application(24, true);

constexpr std::string_view k_manage_dsa_it = "2.16.840.1.113730.3.4.2";

int64_t steady_ms() noexcept {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// FNV-1a, for the paging cookie's fingerprint of a search request.
uint64_t fnv1a(std::string_view s, uint64_t h = 1469598103934665603ull) noexcept {
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
    return h;
}

void write_notice(std::string& out, uint8_t rc, std::string_view text) {
    ber::writer w(out);
    size_t msg = w.begin(ber::t_sequence);
    w.integer(ber::t_integer, 0);
    size_t op = w.begin(op_extended_response);
    w.integer(ber::t_enumerated, rc);
    w.octets(ber::t_octets, "");
    w.octets(ber::t_octets, text);
    w.octets(ber::context(10, false), k_oid_notice_of_disconnection);
    w.end(op);
    w.end(msg);
}

struct control {
    std::string_view oid;
    bool critical = false;
    std::string_view value;
    bool has_value = false;
};

struct search_state {
    int32_t msgid = 0;
    uint32_t base = 0;
    uint8_t scope = 0;          // 0 base, 1 one level, 2 subtree
    bool base_pending = false;  // subtree: the base itself is visited first
    uint64_t mask = 0;
    bool types_only = false;
    filter f;
    bool indexed = false;
    std::vector<uint32_t> candidates;
    size_t next = 0;            // into candidates, or the next index to scan
    size_t scan_end = 0;
    uint32_t returned = 0;
    uint32_t limit = 0;         // 0 = none
    bool paged = false;
    uint32_t page_size = 0;
    uint32_t resume_from = 0;
    uint64_t fingerprint = 0;
    int64_t deadline_ms = 0;    // 0 = none
    uint32_t examined = 0;
};

}  // namespace

struct session::impl {
    using act_fn = void (impl::*)(int32_t msgid, std::string_view body, std::span<const control> controls);
    struct op_row {
        uint8_t tag;
        std::string_view name;
        uint8_t response;   // 0: the request has no response (Unbind, Abandon)
        act_fn act;
    };
    static std::span<const op_row> table() noexcept;   // defined below the handlers

    session_config cfg;
    const std::shared_ptr<const tree>& source;   // the host's current tree (a reload replaces it)
    std::shared_ptr<const tree> pinned;          // the tree of the request in progress
    const tree* tr = nullptr;
    std::string id;

    state st = state::open;
    std::string out;
    std::string partial;          // a PDU not received whole yet
    uint32_t auth_failures = 0;
    std::string_view last_error;
    std::string bound;            // DN; "" = anonymous
    login_request pending;        // while checking
    int32_t bind_msgid = 0;
    const entry* bind_entry = nullptr;
    std::string bind_dn;          // as the client wrote it, cut for logs
    search_state search;
    std::vector<control> controls_scratch;

    impl(const session_config& c, const std::shared_ptr<const tree>& current, std::string sid)
        : cfg(c), source(current), pinned(current), tr(current.get()), id(std::move(sid)) {
        if (!cfg.clock_ms) cfg.clock_ms = &steady_ms;
    }

    // A request starts on the host's current tree (after a reload, the new
    // one); a search streams, a bind is checked, on the tree it began with.
    void follow_source() noexcept {
        if (st != state::open || pinned.get() == source.get() || !source) return;
        pinned = source;
        tr = pinned.get();
    }

    // --- state and replies.
    void set_state(state s) noexcept { st = s; }

    void result(int32_t msgid, uint8_t response, replies::code rc, std::string_view text,
                std::string_view matched = {}) {
        ber::writer w(out);
        size_t msg = w.begin(ber::t_sequence);
        w.integer(ber::t_integer, msgid);
        size_t op = w.begin(response);
        w.integer(ber::t_enumerated, rc);
        w.octets(ber::t_octets, matched);
        w.octets(ber::t_octets, text);
        w.end(op);
        w.end(msg);
    }

    void fail(int32_t msgid, uint8_t response, const replies::error& e, std::string_view op_name,
              std::string_view detail = {}, std::string_view matched = {}) {
        last_error = e.reason;
        core::log::info("ldap session={} event=result op={} msgid={} code={} reason={} detail={}", id, op_name, msgid,
                        static_cast<int>(e.rc), e.reason, core::log::escaped{detail, k_log_bytes});
        result(msgid, response, e.rc, e.text, matched);
    }

    // RFC 4511 §4.4.1: the Notice of Disconnection, then close.
    void disconnect(const char* reason) {
        last_error = reason;
        core::log::warn("ldap session={} event=disconnect reason={} note=\"malformed PDU: notice of disconnection\"",
                        id, reason);
        write_notice(out, replies::protocol_error, "malformed request");
        close();
    }

    void close() noexcept {
        set_state(state::closed);
        partial.clear();
        search.candidates.clear();
    }

    // --- input: whole PDUs out of any split.
    size_t feed(std::string_view in) {
        size_t used = 0;
        while (used < in.size()) {
            if (st == state::closed) return in.size();
            if (st == state::checking) break;
            if (st == state::streaming) {
                // Only an Abandon or an Unbind, whole, is taken now.
                if (!partial.empty()) break;
                ber::pdu_header h = ber::read_header(in.substr(used));
                if (h.status != ber::header_status::ok || h.content_bytes > in.size() - used - h.header_bytes) break;
                std::string_view pdu = in.substr(used, h.header_bytes + static_cast<size_t>(h.content_bytes));
                if (!is_abandon_or_unbind(pdu)) break;
                used += pdu.size();
                process(pdu);
                continue;
            }
            if (!partial.empty()) {
                ber::pdu_header h = ber::read_header(partial);
                while (h.status == ber::header_status::need_more && used < in.size()) {
                    partial.push_back(in[used++]);
                    h = ber::read_header(partial);
                }
                if (h.status == ber::header_status::need_more) break;
                if (!header_ok(h)) return in.size();
                const size_t total = h.header_bytes + static_cast<size_t>(h.content_bytes);
                const size_t take = std::min(total - partial.size(), in.size() - used);
                partial.append(in.substr(used, take));
                used += take;
                if (partial.size() < total) break;
                std::string pdu = std::move(partial);
                partial.clear();
                process(pdu);
                continue;
            }
            std::string_view rest = in.substr(used);
            ber::pdu_header h = ber::read_header(rest);
            if (h.status == ber::header_status::need_more) {
                partial.assign(rest);
                used = in.size();
                break;
            }
            if (!header_ok(h)) return in.size();
            const size_t total = h.header_bytes + static_cast<size_t>(h.content_bytes);
            if (rest.size() < total) {
                partial.assign(rest);
                used = in.size();
                break;
            }
            used += total;
            process(rest.substr(0, total));
        }
        if (st == state::closed) return in.size();
        return used;
    }

    bool header_ok(const ber::pdu_header& h) {
        if (h.status == ber::header_status::bad) {
            disconnect(h.reason);
            return false;
        }
        if (h.tag != ber::t_sequence) {
            disconnect("not_an_ldap_message");
            return false;
        }
        if (h.content_bytes > cfg.pdu_bytes_max) {
            disconnect("pdu_too_big");
            return false;
        }
        return true;
    }

    static bool is_abandon_or_unbind(std::string_view pdu) noexcept {
        ber::reader r(pdu), msg(std::string_view{});
        int64_t msgid = 0;
        if (!r.enter(ber::t_sequence, msg) || !msg.integer(ber::t_integer, msgid)) return false;
        return msg.peek() == op_abandon || msg.peek() == op_unbind;
    }

    // One whole LDAPMessage (RFC 4511 §4.1.1).
    void process(std::string_view pdu) {
        follow_source();
        ber::reader r(pdu), msg(std::string_view{});
        int64_t msgid = 0;
        uint8_t tag = 0;
        std::string_view body;
        if (!r.enter(ber::t_sequence, msg) || !msg.integer(ber::t_integer, msgid) || !msg.any(tag, body))
            return disconnect(msg.failed() ? msg.reason() : r.reason());
        controls_scratch.clear();
        if (!msg.empty()) {
            ber::reader list(std::string_view{});
            if (!msg.enter(ber::context(0, true), list)) return disconnect(msg.reason());
            while (!list.empty()) {
                ber::reader c(std::string_view{});
                control ctl;
                if (!list.enter(ber::t_sequence, c) || !c.element(ber::t_octets, ctl.oid))
                    return disconnect(list.failed() ? list.reason() : c.reason());
                if (c.peek() == ber::t_boolean && !c.boolean(ber::t_boolean, ctl.critical)) return disconnect(c.reason());
                if (c.peek() == ber::t_octets) {
                    if (!c.element(ber::t_octets, ctl.value)) return disconnect(c.reason());
                    ctl.has_value = true;
                }
                if (!c.empty()) return disconnect("control_trailing_bytes");
                controls_scratch.push_back(ctl);
            }
            if (!msg.empty()) return disconnect("message_trailing_bytes");
        }
        const int32_t id32 = static_cast<int32_t>(msgid);
        for (const op_row& row : table()) {
            if (row.tag != tag) continue;
            for (const control& c : controls_scratch) {
                const bool known = c.oid == k_manage_dsa_it || (c.oid == k_oid_paged_results && tag == op_search);
                if (c.critical && !known) {
                    if (row.response) fail(id32, row.response, replies::critical_control, row.name, c.oid);
                    return;
                }
            }
            return (this->*row.act)(id32, body, controls_scratch);
        }
        disconnect("unknown_operation");
    }

    // --- Bind (RFC 4511 §4.2, RFC 4513 §5).
    void on_bind(int32_t msgid, std::string_view body, std::span<const control>) {
        ber::reader r(body);
        int64_t version = 0;
        std::string_view name;
        if (!r.integer(ber::t_integer, version) || !r.element(ber::t_octets, name)) return disconnect(r.reason());
        uint8_t auth_tag = 0;
        std::string_view password;
        if (!r.any(auth_tag, password)) return disconnect(r.reason());
        if (!r.empty()) return disconnect("bind_trailing_bytes");
        bound.clear();   // a bind, whatever its outcome, ends the previous identity
        if (version != 3) return fail(msgid, op_bind_response, replies::version_unsupported, "bind", name);
        if (auth_tag == ber::context(3, true)) return fail(msgid, op_bind_response, replies::sasl_unsupported, "bind", name);
        if (auth_tag != ber::context(0, false)) return disconnect("bind_bad_authentication_choice");
        if (name.empty() && password.empty()) {
            // Even with anonymous reads off: an anonymous client may still
            // read the rootDSE and the subschema; its other reads get 50.
            core::log::debug("ldap session={} event=bind msgid={} dn=\"\" result=anonymous", id, msgid);
            return result(msgid, op_bind_response, replies::success, "");
        }
        if (password.empty()) return fail(msgid, op_bind_response, replies::unauthenticated_bind, "bind", name);
        bind_entry = nullptr;
        if (auto norm = normalize_dn(name))
            if (const entry* e = tr->find_dn(*norm); e && !e->user.empty()) bind_entry = e;
        pending.user = bind_entry ? bind_entry->user : std::string();
        bind_dn.assign(name.substr(0, k_log_bytes + 1));   // for the log line (escaped and cut there)
        pending.password.assign(password);
        bind_msgid = msgid;
        set_state(state::checking);
        core::log::debug("ldap session={} event=bind_check msgid={} dn={}", id, msgid,
                         core::log::escaped{name, k_log_bytes});
    }

    void login_checked(bool ok, std::string_view user) {
        if (st != state::checking) return;
        pending.password.assign(pending.password.size(), '\0');
        pending.password.clear();
        set_state(state::open);
        if (ok && bind_entry && user == bind_entry->user) {
            bound = bind_entry->dn;
            core::log::info("ldap session={} event=bind msgid={} dn={} result=ok", id, bind_msgid,
                            core::log::escaped{bound, k_log_bytes});
            result(bind_msgid, op_bind_response, replies::success, "");
        } else {
            ++auth_failures;
            fail(bind_msgid, op_bind_response, replies::bad_credentials, "bind", bind_dn);
        }
        bind_entry = nullptr;
        pending.user.clear();
    }

    void on_unbind(int32_t, std::string_view, std::span<const control>) {
        core::log::debug("ldap session={} event=unbind", id);
        close();
    }

    void on_abandon(int32_t, std::string_view body, std::span<const control>) {
        // AbandonRequest ::= [APPLICATION 16] MessageID: the content is the integer.
        if (body.empty() || body.size() > 4 || (static_cast<uint8_t>(body[0]) & 0x80))
            return disconnect("abandon_bad_message_id");
        int64_t target = 0;
        for (char c : body) target = (target << 8) | static_cast<uint8_t>(c);
        if (st == state::streaming && target == search.msgid) {
            core::log::info("ldap session={} event=abandoned msgid={} returned={}", id, target, search.returned);
            search.candidates.clear();
            set_state(state::open);
        }
    }

    void refuse_write(int32_t msgid, uint8_t response, std::string_view name) {
        fail(msgid, response, replies::read_only, name);
    }
    void on_add(int32_t m, std::string_view, std::span<const control>) { refuse_write(m, op_add_response, "add"); }
    void on_modify(int32_t m, std::string_view, std::span<const control>) { refuse_write(m, op_modify_response, "modify"); }
    void on_delete(int32_t m, std::string_view, std::span<const control>) { refuse_write(m, op_delete_response, "delete"); }
    void on_moddn(int32_t m, std::string_view, std::span<const control>) { refuse_write(m, op_moddn_response, "moddn"); }

    // --- Extended (RFC 4511 §4.12): WhoAmI (RFC 4532).
    void on_extended(int32_t msgid, std::string_view body, std::span<const control>) {
        ber::reader r(body);
        std::string_view oid, value;
        if (!r.element(ber::context(0, false), oid)) return disconnect(r.reason());
        if (r.peek() == ber::context(1, false) && !r.element(ber::context(1, false), value)) return disconnect(r.reason());
        if (!r.empty()) return disconnect("extended_trailing_bytes");
        if (oid != k_oid_whoami) return fail(msgid, op_extended_response, replies::unknown_extended, "extended", oid);
        ber::writer w(out);
        size_t msg = w.begin(ber::t_sequence);
        w.integer(ber::t_integer, msgid);
        size_t op = w.begin(op_extended_response);
        w.integer(ber::t_enumerated, replies::success);
        w.octets(ber::t_octets, "");
        w.octets(ber::t_octets, "");
        size_t v = w.begin(ber::context(11, false));
        if (!bound.empty()) out.append("dn:").append(bound);
        w.end(v);
        w.end(op);
        w.end(msg);
    }

    bool anonymous_refused() const noexcept { return bound.empty() && !cfg.anonymous_allowed; }

    // --- Compare (RFC 4511 §4.10).
    void on_compare(int32_t msgid, std::string_view body, std::span<const control>) {
        ber::reader r(body), ava(std::string_view{});
        std::string_view dn, desc, raw;
        if (!r.element(ber::t_octets, dn) || !r.enter(ber::t_sequence, ava) || !ava.element(ber::t_octets, desc) ||
            !ava.element(ber::t_octets, raw))
            return disconnect(r.failed() ? r.reason() : ava.reason());
        if (!r.empty() || !ava.empty()) return disconnect("compare_trailing_bytes");
        if (anonymous_refused()) return fail(msgid, op_compare_response, replies::anonymous_search, "compare");
        auto norm = normalize_dn(dn);
        if (!norm) return fail(msgid, op_compare_response, replies::bad_base, "compare", dn);
        const entry* e = tr->find_dn(*norm);
        if (!e) return fail(msgid, op_compare_response, replies::no_object, "compare", dn);
        auto type = find_attribute(desc);
        if (!type) return fail(msgid, op_compare_response, replies::compare_unknown_type, "compare", desc);
        if (type_of(*type).equality.empty())
            return fail(msgid, op_compare_response, replies::compare_no_rule, "compare", desc);
        if (!e->find(*type)) return fail(msgid, op_compare_response, replies::compare_no_attribute, "compare", desc);
        std::string v;
        if (!normalize_value(*type, raw, v)) return result(msgid, op_compare_response, replies::compare_false, "");
        tri m = equality(*e, *type, v);
        result(msgid, op_compare_response, m == tri::true_ ? replies::compare_true : replies::compare_false, "");
    }

    // --- Search (RFC 4511 §4.5).
    void on_search(int32_t msgid, std::string_view body, std::span<const control> controls) {
        ber::reader r(body), attrs(std::string_view{});
        std::string_view base_dn;
        int64_t scope = 0, deref = 0, size_limit = 0, time_limit = 0;
        bool types_only = false;
        if (!r.element(ber::t_octets, base_dn) || !r.integer(ber::t_enumerated, scope) ||
            !r.integer(ber::t_enumerated, deref) || !r.integer(ber::t_integer, size_limit) ||
            !r.integer(ber::t_integer, time_limit) || !r.boolean(ber::t_boolean, types_only))
            return disconnect(r.reason());
        search_state& s = search;
        const char* why = "";
        const size_t filter_start = body.size() - r.remaining();
        if (!s.f.decode(r, cfg.filter_depth_max, cfg.filter_nodes_max, why)) return disconnect(why);
        if (!r.enter(ber::t_sequence, attrs)) return disconnect(r.reason());
        if (!r.empty()) return disconnect("search_trailing_bytes");
        if (scope > 2) return fail(msgid, op_search_done, replies::bad_scope, "search");
        s.msgid = msgid;
        s.scope = static_cast<uint8_t>(scope);
        s.types_only = types_only;
        s.mask = 0;
        // RFC 4511 §4.5.1.8: none listed = all user attributes; "1.1" =
        // none (ignored beside others); "*" and "+" (RFC 3673) add theirs;
        // names we do not know select nothing.
        bool any_attr = false;
        while (!attrs.empty()) {
            std::string_view a;
            if (!attrs.element(ber::t_octets, a)) return disconnect(attrs.reason());
            any_attr = true;
            if (a == "*") s.mask |= tr->user_attrs_mask;
            else if (a == "+") s.mask |= tr->operational_mask;
            else if (a == "1.1") continue;
            else if (auto type = find_attribute(a)) s.mask |= uint64_t{1} << *type;
        }
        if (!any_attr) s.mask = tr->user_attrs_mask;

        // The base: as written, when that is already a normalized DN of
        // ours (what clients send; no allocation), else normalized.
        uint32_t base = 0;
        if (auto it = tr->by_dn.find(base_dn); it != tr->by_dn.end() && !base_dn.empty()) {
            base = it->second;
        } else {
            auto norm = normalize_dn(base_dn);
            if (!norm) return fail(msgid, op_search_done, replies::bad_base, "search", base_dn);
            if (norm->empty()) {
                if (s.scope != 0) return fail(msgid, op_search_done, replies::no_object, "search", base_dn);
                base = tr->root_dse;
            } else if (auto found = tr->by_dn.find(*norm); found != tr->by_dn.end()) {
                base = found->second;
            } else {
                return fail(msgid, op_search_done, replies::no_object, "search", base_dn, matched_dn(*norm));
            }
        }
        if (anonymous_refused() && base != tr->root_dse && base != tr->subschema)
            return fail(msgid, op_search_done, replies::anonymous_search, "search");
        s.base = base;

        // Limits: the smaller of the client's and ours (0 = none).
        auto smaller = [](uint32_t a, uint32_t b) { return a == 0 ? b : b == 0 ? a : std::min(a, b); };
        s.limit = smaller(static_cast<uint32_t>(size_limit), cfg.size_limit);
        const uint32_t seconds = smaller(static_cast<uint32_t>(time_limit), cfg.time_limit_s);
        s.deadline_ms = seconds ? cfg.clock_ms() + int64_t{seconds} * 1000 : 0;
        s.returned = 0;
        s.examined = 0;
        s.paged = false;
        s.resume_from = 0;
        for (const control& c : controls) {
            if (c.oid != k_oid_paged_results) continue;
            if (!paging(s, c, msgid, body.substr(filter_start), base_dn)) return;
            break;
        }
        if (s.paged) {
            s.limit = static_cast<uint32_t>(size_limit);   // the client's, per page
            if (cfg.size_limit && s.page_size > cfg.size_limit) s.page_size = cfg.size_limit;
            if (s.page_size == 0) return search_done(replies::success, "", false, 0);   // RFC 2696: abandon the paging
        }

        // Candidates: the indexes when the filter allows, else the scope.
        s.indexed = s.f.candidates(*tr, s.candidates);
        s.base_pending = false;
        if (s.indexed) {
            s.next = 0;
        } else {
            const entry& b = tr->entries[base];
            if (s.scope == 0) s.next = base, s.scan_end = base + 1;
            else if (s.scope == 1) s.next = b.child_begin, s.scan_end = b.child_end;
            else {
                s.base_pending = true;
                s.next = b.desc_begin;
                s.scan_end = b.desc_end;
            }
        }
        set_state(state::streaming);
        step(cfg.search_window_bytes);
    }

    // RFC 2696 paged results: the control's value and the cookie, which is
    // the index of the next entry to return and a fingerprint of the search.
    bool paging(search_state& s, const control& c, int32_t msgid, std::string_view filter_and_attrs,
                std::string_view base_dn) {
        ber::reader v(c.value), seq(std::string_view{});
        int64_t size = 0;
        std::string_view cookie;
        if (!c.has_value || !v.enter(ber::t_sequence, seq) || !seq.integer(ber::t_integer, size) ||
            !seq.element(ber::t_octets, cookie) || !seq.empty() || !v.empty()) {
            fail(msgid, op_search_done, replies::bad_paging, "search");
            return false;
        }
        s.paged = true;
        s.page_size = static_cast<uint32_t>(size);
        // The fingerprint: base, scope, filter and attribute list (the rest
        // of the request, minus the limits a client may change per page).
        uint64_t h = fnv1a(base_dn, tr->generation);
        h = fnv1a(std::string_view(reinterpret_cast<const char*>(&s.scope), 1), h);
        h = fnv1a(filter_and_attrs, h);
        s.fingerprint = h;
        if (cookie.empty()) return true;
        if (cookie.size() != 12) {
            fail(msgid, op_search_done, replies::bad_cookie, "search");
            return false;
        }
        uint64_t got = 0;
        uint32_t next = 0;
        for (size_t i = 0; i < 8; ++i) got = (got << 8) | static_cast<uint8_t>(cookie[i]);
        for (size_t i = 8; i < 12; ++i) next = (next << 8) | static_cast<uint8_t>(cookie[i]);
        if (got != h || next >= tr->entries.size()) {
            fail(msgid, op_search_done, replies::bad_cookie, "search");
            return false;
        }
        s.resume_from = next;
        return true;
    }

    std::string matched_dn(std::string_view norm) const {
        // The longest existing ancestor (RFC 4511 §4.1.9 matchedDN).
        for (size_t i = 0; i < norm.size(); ++i) {
            if (norm[i] != ',' || (i > 0 && norm[i - 1] == '\\')) continue;
            if (const entry* e = tr->find_dn(norm.substr(i + 1))) return e->dn;
        }
        return {};
    }

    bool in_scope(uint32_t i) const noexcept {
        const search_state& s = search;
        if (s.scope == 0) return i == s.base;
        if (s.scope == 1) return tr->entries[i].parent == s.base;
        const entry& b = tr->entries[s.base];
        return i == s.base || (i >= b.desc_begin && i < b.desc_end);
    }

    bool next_candidate(uint32_t& i) noexcept {
        search_state& s = search;
        if (s.indexed) {
            if (s.next >= s.candidates.size()) return false;
            i = s.candidates[s.next++];
            return true;
        }
        if (s.base_pending) {
            s.base_pending = false;
            i = s.base;
            return true;
        }
        if (s.next >= s.scan_end) return false;
        i = static_cast<uint32_t>(s.next++);
        return true;
    }

    // Entries until the window is full or the search is done.
    void step(size_t window_bytes) {
        search_state& s = search;
        const size_t start = out.size();
        uint32_t i = 0;
        while (next_candidate(i)) {
            if (s.deadline_ms && ++s.examined % k_time_check_every == 0 && cfg.clock_ms() >= s.deadline_ms)
                return search_done(replies::time_limit_exceeded, "", false, 0);
            if (i < s.resume_from || !in_scope(i)) continue;
            const entry& e = tr->entries[i];
            if (s.f.evaluate(e) != tri::true_) continue;
            if (s.paged && s.returned == s.page_size) return search_done(replies::success, "", true, i);
            if (s.limit && s.returned == s.limit) return search_done(replies::size_limit_exceeded, "", false, 0);
            write_entry(e);
            ++s.returned;
            if (out.size() - start >= window_bytes) return;
        }
        search_done(replies::success, "", false, 0);
    }

    // SearchResultEntry (RFC 4511 §4.5.2), lengths computed first: headers
    // plus the entry's pre-encoded attributes, no patching.
    void write_entry(const entry& e) {
        const search_state& s = search;
        size_t attrs_len = 0;
        for (const attribute& a : e.attrs) {
            if (!(s.mask >> a.type & 1)) continue;
            if (s.types_only) {
                const size_t name = type_of(a.type).name.size();
                const size_t content = ber::header_bytes(name) + name + 2;
                attrs_len += ber::header_bytes(content) + content;
            } else {
                attrs_len += a.ber_length;
            }
        }
        const size_t op_len = ber::header_bytes(e.dn.size()) + e.dn.size() + ber::header_bytes(attrs_len) + attrs_len;
        const size_t msg_len = ber::integer_bytes(s.msgid) + ber::header_bytes(op_len) + op_len;
        out.reserve(out.size() + ber::header_bytes(msg_len) + msg_len);
        ber::writer w(out);
        w.header(ber::t_sequence, msg_len);
        w.integer(ber::t_integer, s.msgid);
        w.header(op_entry, op_len);
        w.octets(ber::t_octets, e.dn);
        w.header(ber::t_sequence, attrs_len);
        for (const attribute& a : e.attrs) {
            if (!(s.mask >> a.type & 1)) continue;
            if (s.types_only) {
                const std::string_view name = type_of(a.type).name;
                w.header(ber::t_sequence, ber::header_bytes(name.size()) + name.size() + 2);
                w.octets(ber::t_octets, name);
                w.header(ber::t_set, 0);
            } else {
                out.append(e.ber, a.ber_offset, a.ber_length);
            }
        }
    }

    void search_done(replies::code rc, std::string_view text, bool more, uint32_t next) {
        search_state& s = search;
        if (rc != replies::success) {
            const replies::error& e = rc == replies::size_limit_exceeded ? replies::size_limit : replies::time_limit;
            last_error = e.reason;
            core::log::info("ldap session={} event=result op=search msgid={} code={} reason={} returned={}", id,
                            s.msgid, static_cast<int>(rc), e.reason, s.returned);
        }
        ber::writer w(out);
        size_t msg = w.begin(ber::t_sequence);
        w.integer(ber::t_integer, s.msgid);
        size_t op = w.begin(op_search_done);
        w.integer(ber::t_enumerated, rc);
        w.octets(ber::t_octets, "");
        w.octets(ber::t_octets, text);
        w.end(op);
        if (s.paged) {
            size_t ctls = w.begin(ber::context(0, true));
            size_t ctl = w.begin(ber::t_sequence);
            w.octets(ber::t_octets, k_oid_paged_results);
            size_t value = w.begin(ber::t_octets);
            size_t seq = w.begin(ber::t_sequence);
            w.integer(ber::t_integer, 0);   // size estimate: unknown
            char cookie[12];
            for (size_t i = 0; i < 8; ++i) cookie[i] = static_cast<char>(s.fingerprint >> (56 - 8 * i));
            for (size_t i = 0; i < 4; ++i) cookie[8 + i] = static_cast<char>(next >> (24 - 8 * i));
            w.octets(ber::t_octets, more ? std::string_view(cookie, sizeof cookie) : std::string_view());
            w.end(seq);
            w.end(value);
            w.end(ctl);
            w.end(ctls);
        }
        w.end(msg);
        s.candidates.clear();
        if (st == state::streaming) set_state(state::open);
    }

    void next_output(size_t window_bytes) {
        if (st != state::streaming) return;
        step(std::max(window_bytes, k_window_bytes_min));
    }
};

std::span<const session::impl::op_row> session::impl::table() noexcept {
    // RFC 4511 §4.2-§4.12: a row per request; the response tag for errors.
    static constexpr op_row rows[] = {
        {op_bind, "bind", op_bind_response, &impl::on_bind},                  // §4.2
        {op_unbind, "unbind", 0, &impl::on_unbind},                           // §4.3
        {op_search, "search", op_search_done, &impl::on_search},              // §4.5
        {op_modify, "modify", op_modify_response, &impl::on_modify},          // §4.6: read-only
        {op_add, "add", op_add_response, &impl::on_add},                      // §4.7: read-only
        {op_delete, "delete", op_delete_response, &impl::on_delete},          // §4.8: read-only
        {op_moddn, "moddn", op_moddn_response, &impl::on_moddn},              // §4.9: read-only
        {op_compare, "compare", op_compare_response, &impl::on_compare},      // §4.10
        {op_abandon, "abandon", 0, &impl::on_abandon},                        // §4.11
        {op_extended, "extended", op_extended_response, &impl::on_extended},  // §4.12
    };
    return rows;
}

std::string notice_of_disconnection(uint8_t result_code, std::string_view text) {
    std::string out;
    write_notice(out, result_code, text);
    return out;
}

session::session(const session_config& cfg, const std::shared_ptr<const tree>& current, std::string session_id)
    : _impl(std::make_unique<impl>(cfg, current, std::move(session_id))) {}
session::~session() = default;
void session::start() {}
const login_request* session::pending_login() const noexcept {
    return _impl->st == state::checking ? &_impl->pending : nullptr;
}
void session::login_checked(bool ok, std::string_view canonical_user) { _impl->login_checked(ok, canonical_user); }
size_t session::feed(std::string_view input) { return _impl->feed(input); }
bool session::streaming() const noexcept { return _impl->st == state::streaming; }
void session::next_output(size_t window_bytes) { _impl->next_output(window_bytes); }
void session::on_disconnect() noexcept { _impl->close(); }
std::string& session::output() noexcept { return _impl->out; }
bool session::wants_close() const noexcept { return _impl->st == state::closed; }
uint32_t session::auth_failures() const noexcept { return _impl->auth_failures; }
std::string_view session::bound_dn() const noexcept { return _impl->bound; }
std::string_view session::last_error() const noexcept { return _impl->last_error; }

}  // namespace posthorn::proto::ldap
