// Every fixed POP3 reply the session sends, in one table (STYLE.md): the
// texts clients see and tests compare. Replies that carry numbers are built
// in session.cc from the prefixes here. Response codes in brackets are
// RFC 2449 §8 / RFC 3206 ones, advertised by CAPA RESP-CODES/AUTH-RESP-CODE.
#pragma once

#include <string_view>

namespace posthorn::proto::pop3::replies {

inline constexpr std::string_view greeting = "+OK posthorn POP3 ready\r\n";
inline constexpr std::string_view capa =
    "+OK capability list follows\r\n"
    "USER\r\n"
    "UIDL\r\n"
    "TOP\r\n"
    "RESP-CODES\r\n"
    "AUTH-RESP-CODE\r\n"
    "PIPELINING\r\n"
    "SASL PLAIN\r\n"
    "IMPLEMENTATION posthorn\r\n"
    ".\r\n";
inline constexpr std::string_view capa_without_plaintext =
    "+OK capability list follows\r\n"
    "UIDL\r\n"
    "TOP\r\n"
    "RESP-CODES\r\n"
    "AUTH-RESP-CODE\r\n"
    "PIPELINING\r\n"
    "IMPLEMENTATION posthorn\r\n"
    ".\r\n";
inline constexpr std::string_view auth_list = "+OK\r\nPLAIN\r\n.\r\n";
inline constexpr std::string_view auth_list_empty = "+OK\r\n.\r\n";
inline constexpr std::string_view auth_continue = "+ \r\n";
inline constexpr std::string_view ok = "+OK\r\n";
inline constexpr std::string_view user_ok = "+OK send PASS\r\n";
inline constexpr std::string_view bye = "+OK posthorn POP3 signing off\r\n";

// Errors: the text after "-ERR ", and the reason logged with it.
struct error {
    std::string_view text;
    std::string_view reason;
};
inline constexpr error plaintext_disabled{"[AUTH] plaintext authentication disallowed on non-secure connections",
                                          "plaintext_disabled"};
inline constexpr error auth_failed{"[AUTH] authentication failed", "auth_failed"};
inline constexpr error in_use{"[IN-USE] maildrop already locked", "maildrop_locked"};
inline constexpr error sys_temp{"[SYS/TEMP] mailbox unavailable, try again later", "store_error"};
inline constexpr error update_failed{"[SYS/TEMP] deleted messages not removed", "expunge_failed"};
inline constexpr error line_too_long{"line too long", "line_too_long"};
inline constexpr error too_many_errors{"too many errors, closing", "too_many_errors"};
inline constexpr error unknown_command{"unknown command", "unknown_command"};
inline constexpr error wrong_state_auth{"not logged in", "command_before_login"};
inline constexpr error wrong_state_trans{"already logged in", "command_after_login"};
inline constexpr error syntax{"syntax error in arguments", "syntax"};
inline constexpr error pass_without_user{"send USER first", "pass_without_user"};
inline constexpr error no_such_message{"no such message", "no_such_message"};
inline constexpr error message_deleted{"message is deleted", "message_deleted"};
inline constexpr error message_gone{"message no longer available", "message_gone"};
inline constexpr error apop_disabled{"APOP not supported", "apop_disabled"};
inline constexpr error mechanism{"unsupported SASL mechanism", "sasl_mechanism"};
inline constexpr error auth_cancelled{"authentication cancelled", "auth_cancelled"};
inline constexpr error auth_malformed{"[AUTH] malformed SASL response", "sasl_malformed"};

}  // namespace posthorn::proto::pop3::replies
