// The LDAPv3 server session (RFC 4511) over the directory, read-only: one
// sans-I/O state machine fed received bytes in any split, answering in
// output(). It owns no socket and no timer; its host (app/ldap_access)
// feeds it, sends output(), pulls search windows while streaming(), checks
// bind passwords (proto/login.hh) and closes when wants_close().
//
// The tree (build_tree): base `dc=<each label of the primary domain>` (or
// [ldap] base), `ou=people` with one inetOrgPerson `uid=<name>` per user
// (cn = display name or name, sn = surname or the display name's last word,
// givenName, displayName, mail per address, uid, title, ou = department,
// telephoneNumber; memberOf operational, as slapd's memberof overlay),
// `ou=groups` with one groupOfNames `cn=<group>` per group (member = user
// DNs, description); the rootDSE ("" : namingContexts, supportedLDAPVersion,
// supportedExtension, supportedControl, supportedFeatures,
// subschemaSubentry, vendorName/Version, all operational as in slapd) and
// `cn=Subschema` (attributeTypes, objectClasses of what the tree uses).
//
// Operations: Bind (simple, anonymous; SASL -> authMethodNotSupported),
// Unbind, Search (base/one/sub, every filter type, attribute lists with *,
// + and 1.1, typesOnly, size and time limits, paged results RFC 2696),
// Compare, Abandon, WhoAmI (RFC 4532). Add, Delete, Modify and ModDN are
// answered unwillingToPerform (53): the directory is read-only over LDAP.
// Unknown extended operations get protocolError (2); a critical control we
// do not know gets unavailableCriticalExtension (12).
//
// Bind rules (RFC 4513): "" with no password is anonymous; a DN with an
// empty password is unwillingToPerform (53) (§5.1.2, unauthenticated bind);
// a wrong password and an unknown DN both get invalidCredentials (49) with
// the same empty text. With anonymous off, the anonymous bind still
// succeeds (clients bind before they discover), but an anonymous client may
// read only the rootDSE and cn=Subschema; other searches and compares get
// insufficientAccessRights (50).
//
// Limits (session_config): a PDU is at most pdu_bytes_max (its length is
// checked as soon as its header is read, before any of it is buffered);
// filters nest at most filter_depth_max deep with at most filter_nodes_max
// nodes. A search returns at most size_limit entries (the client's
// sizeLimit if smaller; sizeLimitExceeded (4) after them), runs at most
// time_limit_s (timeLimitExceeded (3)); with paging, size_limit caps each
// page instead. Results go out search_window_bytes at a time (then the host
// pulls with next_output): a search never holds more than one window of
// encoded entries, plus at most 4 bytes per index candidate. Any malformed
// PDU (BER, lengths, tags, nesting) gets the Notice of Disconnection
// (RFC 4511 §4.4.1: protocolError, OID 1.3.6.1.4.1.1466.20036) and close.
//
// Logs `ldap session=<id> event=...` lines: bind results, every non-success
// result with its reason, disconnects; peer bytes escaped and truncated,
// passwords never.
//
// Threading: shard-local, not thread-safe. The tree is immutable and shared
// by every shard. The session reads the host's current tree through a
// reference to the host's shared_ptr (which must outlive the session) and
// holds a share of it per request: after a reload replaces it, the next
// request sees the new tree, while a search in progress finishes on the
// old one (its paging cookies then no longer match: unwillingToPerform).
#pragma once

#include "posthorn/directory.hh"
#include "posthorn/proto/login.hh"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace posthorn::proto::ldap {

class tree;

// Builds the tree from a snapshot. `base` empty: from the primary domain.
// Null (with `error` set) for a base that is not a DN.
std::shared_ptr<const tree> build_tree(const directory::snapshot& dir, std::string_view base, std::string& error);
const std::string& tree_base(const tree& t) noexcept;
// A non-empty RFC 4514 DN (what [ldap] base must be).
bool is_distinguished_name(std::string_view text);
size_t tree_entries(const tree& t) noexcept;

// Protocol OIDs, for the host and tests.
inline constexpr std::string_view k_oid_whoami = "1.3.6.1.4.1.4203.1.11.3";
inline constexpr std::string_view k_oid_paged_results = "1.2.840.113556.1.4.319";
inline constexpr std::string_view k_oid_notice_of_disconnection = "1.3.6.1.4.1.1466.20036";

// RFC 4511 §4.4.1: an unsolicited Notice of Disconnection (messageID 0)
// with `result_code`, e.g. 51 busy when a host refuses a connection.
std::string notice_of_disconnection(uint8_t result_code, std::string_view text);

struct session_config {
    uint32_t pdu_bytes_max = 1u << 20;
    uint32_t filter_depth_max = 32;
    uint32_t filter_nodes_max = 1024;
    uint32_t size_limit = 500;          // entries per search (per page when paged); 0 = none
    uint32_t time_limit_s = 3600;       // 0 = none
    uint32_t search_window_bytes = 64 * 1024;
    bool anonymous_allowed = true;
    // Milliseconds on a monotonic clock; null = std::chrono::steady_clock.
    int64_t (*clock_ms)() noexcept = nullptr;
};

class session {
public:
    session(const session_config& cfg, const std::shared_ptr<const tree>& current, std::string session_id);
    ~session();
    session(const session&) = delete;
    session& operator=(const session&) = delete;

    // LDAP has no greeting: start() does nothing visible.
    void start();

    // login.hh: a simple bind waits here for the host's password check
    // (feed() consumes nothing meanwhile). `user` is the user name of the
    // bind DN's entry, or "" for a DN that names no user (the host then
    // checks against nobody, so both fail alike and take as long).
    const login_request* pending_login() const noexcept;
    void login_checked(bool ok, std::string_view canonical_user);
    // LDAP sessions stay on the shard that accepted them.
    std::string suspend() { return {}; }

    // Received bytes; returns how many were consumed. While a search
    // streams, only an Abandon (or Unbind) is taken; the next request waits.
    size_t feed(std::string_view input);

    // A search in progress: after output() is sent, next_output() appends
    // about window_bytes more entries (and the result when done).
    bool streaming() const noexcept;
    // feed() may be called while streaming() (for an Abandon of the search).
    bool feeds_while_streaming() const noexcept { return true; }
    void next_output(size_t window_bytes);

    void on_disconnect() noexcept;
    std::string& output() noexcept;
    bool wants_close() const noexcept;
    uint32_t auth_failures() const noexcept;
    std::string_view bound_dn() const noexcept;   // "" when anonymous
    // Why the last non-success result or the disconnect happened (also logged).
    std::string_view last_error() const noexcept;

    struct impl;
private:
    std::unique_ptr<impl> _impl;
};

}  // namespace posthorn::proto::ldap
