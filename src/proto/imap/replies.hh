// Every fixed IMAP reply the session sends, in one table (STYLE.md): the
// capability lists, the greeting, and each error as (status, text, reason
// logged). Replies carrying numbers or names are built in the command
// files from these pieces. Response codes in brackets are RFC 3501 §7.1,
// RFC 5530 (AUTHENTICATIONFAILED, TOOBIG, ...) and RFC 4315 ones.
#pragma once

#include <string_view>

namespace posthorn::proto::imap::replies {

// RFC 3501 §7.2.1; LOGINDISABLED (§6.2.3) replaces AUTH=PLAIN when
// plaintext logins are not allowed.
#define POSTHORN_IMAP_CAPS "IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UIDPLUS MOVE SPECIAL-USE CHILDREN UNSELECT"
inline constexpr std::string_view caps_login = POSTHORN_IMAP_CAPS " AUTH=PLAIN";
inline constexpr std::string_view caps_disabled = POSTHORN_IMAP_CAPS " LOGINDISABLED";
inline constexpr std::string_view caps_authenticated = POSTHORN_IMAP_CAPS;
#undef POSTHORN_IMAP_CAPS

inline constexpr std::string_view greeting_text = "posthorn IMAP4rev1 ready";
inline constexpr std::string_view system_flags = "\\Answered \\Flagged \\Deleted \\Seen \\Draft";
inline constexpr std::string_view permanent_flags_none = "* OK [PERMANENTFLAGS ()] Read-only mailbox\r\n";
inline constexpr std::string_view bye_logout = "* BYE posthorn IMAP4rev1 signing off\r\n";
inline constexpr std::string_view continue_ready = "+ Ready for literal data\r\n";
inline constexpr std::string_view continue_sasl = "+ \r\n";
inline constexpr std::string_view continue_idle = "+ idling\r\n";
inline constexpr std::string_view namespace_line = "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n";
inline constexpr std::string_view id_line = "* ID (\"name\" \"posthorn\" \"version\" \"0.1.0\")\r\n";
inline constexpr std::string_view enabled_line = "* ENABLED\r\n";

// Errors: the tagged status, the text after it, the reason logged.
enum class status : uint8_t { no, bad };
struct error {
    status st;
    std::string_view text;
    std::string_view reason;
};
inline constexpr error no_tag{status::bad, "Missing or invalid tag", "missing_tag"};
inline constexpr error unknown_command{status::bad, "Unknown command", "unknown_command"};
inline constexpr error syntax{status::bad, "Syntax error in arguments", "syntax"};
inline constexpr error line_too_long{status::bad, "[TOOBIG] Command line too long", "line_too_long"};
inline constexpr error literal_too_big{status::bad, "[TOOBIG] Literal too big", "literal_too_big"};
inline constexpr error bad_sequence{status::bad, "Message sequence number past the last message",
                                    "bad_sequence"};
inline constexpr error too_deep{status::bad, "Too deeply nested", "nesting_too_deep"};
inline constexpr error not_authenticated{status::bad, "Log in first", "command_before_login"};
inline constexpr error already_authenticated{status::bad, "Already logged in", "command_after_login"};
inline constexpr error not_selected{status::bad, "No mailbox selected", "command_without_select"};
inline constexpr error privacy_required{status::no, "[PRIVACYREQUIRED] Plaintext login is disabled",
                                        "plaintext_disabled"};
inline constexpr error auth_failed{status::no, "[AUTHENTICATIONFAILED] Authentication failed", "auth_failed"};
inline constexpr error authz_failed{status::no, "[AUTHORIZATIONFAILED] Cannot act as that user", "authz_failed"};
inline constexpr error mechanism{status::no, "Unsupported authentication mechanism", "sasl_mechanism"};
inline constexpr error auth_cancelled{status::bad, "Authentication cancelled", "auth_cancelled"};
inline constexpr error auth_malformed{status::bad, "Malformed SASL response", "sasl_malformed"};
inline constexpr error no_mailbox{status::no, "[NONEXISTENT] Mailbox does not exist", "no_such_mailbox"};
inline constexpr error keyword_limit{status::no, "[LIMIT] No room for another keyword in this mailbox",
                                     "keyword_limit"};
inline constexpr error keyword_invalid{status::no, "[CANNOT] Invalid keyword", "keyword_invalid"};
inline constexpr error try_create{status::no, "[TRYCREATE] Mailbox does not exist", "no_such_mailbox"};
inline constexpr error mailbox_exists{status::no, "[ALREADYEXISTS] Mailbox already exists", "mailbox_exists"};
inline constexpr error bad_name{status::no, "[CANNOT] Invalid mailbox name", "bad_mailbox_name"};
inline constexpr error inbox_delete{status::no, "[CANNOT] INBOX cannot be deleted", "delete_inbox"};
inline constexpr error read_only{status::no, "[READ-ONLY] Mailbox is read-only", "read_only"};
inline constexpr error server_error{status::no, "[SERVERBUG] Internal error, try again later", "store_error"};
inline constexpr error append_too_big{status::no, "[TOOBIG] Message too big", "append_too_big"};
inline constexpr error bad_charset{status::no, "[BADCHARSET (US-ASCII UTF-8)] Unsupported charset", "bad_charset"};
inline constexpr error some_expunged{status::no, "Some of the requested messages no longer exist", "expunged"};
inline constexpr error same_mailbox{status::no, "[CANNOT] Source and destination are the same mailbox",
                                    "move_same_mailbox"};
inline constexpr error idle_done{status::bad, "Expected DONE", "idle_syntax"};
inline constexpr error too_many_errors{status::bad, "Too many errors", "too_many_errors"};

}  // namespace posthorn::proto::imap::replies
