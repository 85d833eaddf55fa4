// Every reply the SMTP server sends, with its code and RFC 3463 enhanced
// status code, in one table (STYLE.md "Each protocol's replies ... in one
// table"). As Postfix does, the 220 greeting and the HELO/EHLO replies carry
// no enhanced code (RFC 2034 §3); every other reply does.
//
// Threading: the table is constant; the append functions touch only `out`.
// Limits: a reply's one argument (`{}` in its text) is cut to 256 bytes and
// every byte outside printable ASCII becomes '?', so peer data cannot break
// the reply framing. Nothing here allocates beyond growing `out`, or logs.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace posthorn::proto::smtp {

enum class reply_id : uint8_t {
    none,
    greeting,            // 220 connection opened
    pregreet,            // 554 client spoke before the greeting
    helo,                // 250 HELO accepted
    ehlo,                // 250 EHLO head line (the keywords follow, append_ehlo)
    ok,                  // 250 RSET, NOOP
    mail_ok,             // 250 MAIL accepted
    rcpt_ok,             // 250 RCPT accepted
    data_go,             // 354 send the body
    queued,              // 250 message durable
    chunk_ok,            // 250 a BDAT chunk received
    user_ok,             // 250 VRFY/EXPN: one mailbox
    help,                // 214 HELP
    bye,                 // 221 QUIT
    cannot_vrfy,         // 252 VRFY in cannot_verify mode, or a foreign address
    vrfy_disabled,       // 502
    expn_disabled,       // 502
    bad_syntax,          // 500 an empty or unparseable line
    unknown_command,     // 500
    line_too_long,       // 500
    syntax,              // 501 arguments do not parse: the command's syntax
    bad_sender,          // 501 the reverse-path does not parse
    bad_recipient,       // 501 the forward-path does not parse
    bad_parameter,       // 501 an ESMTP parameter's value does not parse
    need_helo,           // 503
    nested_mail,         // 503
    need_mail,           // 503
    need_rcpt,           // 503
    binarymime_data,     // 503 DATA after BODY=BINARYMIME
    data_after_bdat,     // 503 DATA inside a BDAT transaction
    no_valid_rcpts,      // 554 DATA/BDAT when every RCPT was refused
    unsupported_param,   // 555 an ESMTP parameter we do not know
    too_big,             // 552 SIZE= or the content over max_message_size
    too_many_rcpts,      // 452 over max_recipients
    user_unknown,        // 550 local domain, no such user
    not_local,           // 550 EXPN of a foreign address
    relay_denied,        // 554 foreign domain from an untrusted peer
    utf8_required,       // 553 non-ASCII address without SMTPUTF8
    bare_newline,        // 550 bare CR or LF in the content
    queue_error,         // 451 the spool failed
    improper_pipelining, // 554 a command that must end a group did not
    too_many_errors,     // 421
    timeout,             // 421
    count_,
};

struct reply_row {
    uint16_t code;
    std::string_view enhanced;  // empty: none (greeting, HELO/EHLO)
    std::string_view text;      // may hold one `{}` for the argument
    bool counts_as_error;       // the peer's fault: counts toward errors_max
};

const reply_row& reply_of(reply_id id) noexcept;

// "code enhanced text\r\n", `{}` replaced by `arg`.
void append_reply(std::string& out, reply_id id, std::string_view arg = {});
// A multi-line reply (RFC 5321 §4.2.1): the code and enhanced code of `id`
// before each line, '-' after the code on all but the last.
void append_lines(std::string& out, reply_id id, std::span<const std::string_view> lines);
// The EHLO reply: the hostname, then the keywords we offer (RFC 5321 §4.1.1.1).
void append_ehlo(std::string& out, std::string_view hostname, uint64_t max_message_size,
                 bool expn_enabled);

}  // namespace posthorn::proto::smtp
