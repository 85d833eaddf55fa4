// The reply table. Texts follow Postfix where Postfix has one, so operators
// and scripts recognise them.
#include "proto/smtp/replies.hh"

#include <array>

namespace posthorn::proto::smtp {
namespace {

constexpr size_t k_arg_bytes_max = 256;

using R = reply_id;
struct entry {
    reply_id id;
    reply_row row;
};

// clang-format off
constexpr entry k_entries[] = {
    {R::none,                {0,   "",      "", false}},
    {R::greeting,            {220, "",      "{} ESMTP posthorn ready", false}},
    {R::pregreet,            {554, "5.5.1", "Error: SMTP protocol synchronization", true}},
    {R::helo,                {250, "",      "{}", false}},
    {R::ehlo,                {250, "",      "{}", false}},
    {R::ok,                  {250, "2.0.0", "Ok", false}},
    {R::mail_ok,             {250, "2.1.0", "Ok", false}},
    {R::rcpt_ok,             {250, "2.1.5", "Ok", false}},
    {R::data_go,             {354, "",      "End data with <CR><LF>.<CR><LF>", false}},
    {R::queued,              {250, "2.0.0", "Ok: queued as {}", false}},
    {R::chunk_ok,            {250, "2.0.0", "Ok: {} octets received", false}},
    {R::user_ok,             {250, "2.1.5", "{}", false}},
    {R::help,                {214, "2.0.0", "{}", false}},
    {R::bye,                 {221, "2.0.0", "Bye", false}},
    {R::cannot_vrfy,         {252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery", false}},
    {R::vrfy_disabled,       {502, "5.5.1", "VRFY command is disabled", true}},
    {R::expn_disabled,       {502, "5.5.1", "EXPN command is disabled", true}},
    {R::bad_syntax,          {500, "5.5.2", "Error: bad syntax", true}},
    {R::unknown_command,     {500, "5.5.2", "Error: command not recognized", true}},
    {R::line_too_long,       {500, "5.5.2", "Error: line too long", true}},
    {R::syntax,              {501, "5.5.4", "Syntax: {}", true}},
    {R::bad_sender,          {501, "5.1.7", "Bad sender address syntax", true}},
    {R::bad_recipient,       {501, "5.1.3", "Bad recipient address syntax", true}},
    {R::bad_parameter,       {501, "5.5.4", "Bad {} parameter syntax", true}},
    {R::need_helo,           {503, "5.5.1", "Error: send HELO/EHLO first", true}},
    {R::nested_mail,         {503, "5.5.1", "Error: nested MAIL command", true}},
    {R::need_mail,           {503, "5.5.1", "Error: need MAIL command", true}},
    {R::need_rcpt,           {503, "5.5.1", "Error: need RCPT command", true}},
    {R::binarymime_data,     {503, "5.5.1", "Error: BODY=BINARYMIME requires BDAT", true}},
    {R::data_after_bdat,     {503, "5.5.1", "Error: DATA cannot follow BDAT", true}},
    {R::no_valid_rcpts,      {554, "5.5.1", "Error: no valid recipients", true}},
    {R::unsupported_param,   {555, "5.5.4", "Unsupported option: {}", true}},
    {R::too_big,             {552, "5.3.4", "Message size exceeds fixed maximum message size", true}},
    {R::too_many_rcpts,      {452, "4.5.3", "Error: too many recipients", false}},
    {R::user_unknown,        {550, "5.1.1", "<{}>: Recipient address rejected: User unknown", true}},
    {R::not_local,           {550, "5.1.2", "<{}>: Not a local address", true}},
    {R::relay_denied,        {554, "5.7.1", "<{}>: Relay access denied", true}},
    {R::utf8_required,       {553, "5.6.7", "Error: non-ASCII address requires SMTPUTF8", true}},
    {R::bare_newline,        {550, "5.5.2", "Message contains bare CR or LF (see RFC 5321 section 2.3.8)", true}},
    {R::queue_error,         {451, "4.3.0", "Error: queue file write error", false}},
    {R::improper_pipelining, {554, "5.5.0", "Error: improper command pipelining after {}", true}},
    {R::too_many_errors,     {421, "4.7.0", "{} Error: too many errors", false}},
    {R::timeout,             {421, "4.4.2", "{} Error: timeout exceeded", false}},
};
// clang-format on

constexpr auto k_table = [] {
    std::array<reply_row, static_cast<size_t>(reply_id::count_)> t{};
    for (const auto& e : k_entries) t[static_cast<size_t>(e.id)] = e.row;
    return t;
}();
static_assert(std::size(k_entries) == static_cast<size_t>(reply_id::count_),
              "every reply_id has a row");
static_assert([] {
    for (size_t i = 0; i < std::size(k_entries); ++i)
        if (static_cast<size_t>(k_entries[i].id) != i) return false;
    return true;
}(), "rows are in reply_id order");

void append_code(std::string& out, uint16_t code, char sep) {
    out.push_back(static_cast<char>('0' + code / 100));
    out.push_back(static_cast<char>('0' + code / 10 % 10));
    out.push_back(static_cast<char>('0' + code % 10));
    out.push_back(sep);
}

void append_sanitized(std::string& out, std::string_view arg) {
    if (arg.size() > k_arg_bytes_max) arg = arg.substr(0, k_arg_bytes_max);
    for (char c : arg) out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
}

void append_text(std::string& out, std::string_view text, std::string_view arg) {
    size_t hole = text.find("{}");
    if (hole == std::string_view::npos) {
        out.append(text);
        return;
    }
    out.append(text.substr(0, hole));
    append_sanitized(out, arg);
    out.append(text.substr(hole + 2));
}

void append_line(std::string& out, const reply_row& row, char sep, std::string_view text,
                 std::string_view arg) {
    append_code(out, row.code, sep);
    if (!row.enhanced.empty()) {
        out.append(row.enhanced);
        out.push_back(' ');
    }
    append_text(out, text, arg);
    out.append("\r\n");
}

}  // namespace

const reply_row& reply_of(reply_id id) noexcept { return k_table[static_cast<size_t>(id)]; }

void append_reply(std::string& out, reply_id id, std::string_view arg) {
    const reply_row& row = reply_of(id);
    append_line(out, row, ' ', row.text, arg);
}

void append_lines(std::string& out, reply_id id, std::span<const std::string_view> lines) {
    const reply_row& row = reply_of(id);
    for (size_t i = 0; i < lines.size(); ++i)
        append_line(out, row, i + 1 < lines.size() ? '-' : ' ', "{}", lines[i]);
}

void append_ehlo(std::string& out, std::string_view hostname, uint64_t max_message_size,
                 bool expn_enabled) {
    char size_line[32] = "SIZE ";
    size_t n = 5;
    char digits[24];
    size_t d = 0;
    do {
        digits[d++] = static_cast<char>('0' + max_message_size % 10);
        max_message_size /= 10;
    } while (max_message_size > 0);
    while (d > 0) size_line[n++] = digits[--d];

    // RFC 2920 PIPELINING, RFC 1870 SIZE, RFC 6152 8BITMIME, RFC 2034
    // ENHANCEDSTATUSCODES, RFC 3030 CHUNKING and BINARYMIME, RFC 6531
    // SMTPUTF8, RFC 3461 DSN, RFC 5321 §4.1.1.8 HELP (and EXPN when enabled).
    std::string_view lines[] = {
        hostname,        "PIPELINING", std::string_view(size_line, n), "8BITMIME",
        "ENHANCEDSTATUSCODES", "CHUNKING", "BINARYMIME", "SMTPUTF8", "DSN",
        expn_enabled ? std::string_view("EXPN") : std::string_view(), "HELP",
    };
    std::string_view kept[std::size(lines)];
    size_t k = 0;
    for (auto l : lines)
        if (!l.empty()) kept[k++] = l;
    append_lines(out, reply_id::ehlo, std::span<const std::string_view>(kept, k));
}

}  // namespace posthorn::proto::smtp
