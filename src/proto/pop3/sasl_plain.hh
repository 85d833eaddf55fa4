// SASL PLAIN (RFC 4616) for POP3 AUTH (and IMAP later): base64 decoding and
// the authzid NUL authcid NUL passwd split. Strict: padding must be right,
// no whitespace inside, each field at most 255 bytes (RFC 4616 §2). Pure
// functions, no state.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace posthorn::proto::pop3 {

// RFC 4648 base64; nullopt for anything malformed.
std::optional<std::string> base64_decode(std::string_view in);

struct plain_credentials {
    std::string authzid;   // empty: act as authcid
    std::string authcid;
    std::string password;
};
std::optional<plain_credentials> parse_sasl_plain(std::string_view base64);

}  // namespace posthorn::proto::pop3
