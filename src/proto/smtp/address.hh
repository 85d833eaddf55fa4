// SMTP argument parsing: the reverse-/forward-path of MAIL and RCPT (RFC 5321
// §4.1.2) and their ESMTP parameters (RFC 1870 SIZE, RFC 6152/3030 BODY,
// RFC 6531 SMTPUTF8, RFC 3461 RET/ENVID/NOTIFY/ORCPT).
//
// Paths: `<local@domain>`, `<>`, a source route `<@a,@b:local@domain>` (the
// route is ignored, §4.1.2), and the lenient forms of the seed's lab: no angle
// brackets and/or no domain (`MAIL FROM:USER1`), accepted from any client and
// qualified with the primary domain, as Sendmail and Postfix do. The local
// part is kept as given; only the domain is lower-cased.
//
// Threading: pure functions. Limits: local part 64, domain 255 octets
// (§4.5.3.1), ENVID 100, ORCPT 500 (RFC 3461). Results are views into the
// caller's line (no allocation), except qualify(), which writes into `out`.
// Failures return the reply the session sends; nothing here logs.
#pragma once

#include "posthorn/core/text.hh"

#include "posthorn/queue.hh"
#include "proto/smtp/replies.hh"

#include <cstdint>
#include <string>
#include <string_view>

namespace posthorn::proto::smtp {

struct path {
    std::string_view local;    // as given; a quoted local part keeps its quotes
    std::string_view domain;   // empty: unqualified
    bool null = false;         // <>
    bool non_ascii = false;    // UTF-8 octets: needs SMTPUTF8 (RFC 6531)
};

// Case-insensitive ASCII prefix ("FROM:", "TO:"); on a match `s` loses it.
bool strip_keyword(std::string_view& s, std::string_view keyword) noexcept;

// `in` follows "FROM:" / "TO:" (spaces before the path are allowed). On
// success `params` is what follows the path, without leading spaces.
bool parse_path(std::string_view in, path& out, std::string_view& params) noexcept;

// local@domain, the domain lower-cased; `primary_domain` when unqualified.
void qualify(const path& p, std::string_view primary_domain, std::string& out);

// ASCII case-insensitive equality (verbs, keywords, parameter names).
using core::iequals;

// RFC 5321 §4.5.1: "postmaster", any case, must always be accepted.
bool is_postmaster(const path& p) noexcept;

struct mail_params {
    uint64_t size = 0;                 // SIZE=, 0 when absent
    queue::body_type body = queue::body_type::unspecified;
    bool smtputf8 = false;
    queue::dsn_ret ret = queue::dsn_ret::unspecified;
    std::string_view envid;            // xtext as given
};

struct rcpt_params {
    uint8_t notify = 0;                // queue::notify_bits
    std::string_view orcpt;            // addr-type;xtext as given
};

// reply_id::none when every parameter is known and well formed; else
// unsupported_param (555) or bad_parameter (501) with the offending keyword.
struct param_error {
    reply_id reply = reply_id::none;
    std::string_view keyword;
};
param_error parse_mail_params(std::string_view text, mail_params& out) noexcept;
param_error parse_rcpt_params(std::string_view text, rcpt_params& out) noexcept;

bool is_xtext(std::string_view s) noexcept;   // RFC 3461 §4

}  // namespace posthorn::proto::smtp
