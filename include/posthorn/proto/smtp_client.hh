// The SMTP client session (RFC 5321, with RFC 2920 PIPELINING, RFC 1870 SIZE,
// RFC 6152 8BITMIME, RFC 6531 SMTPUTF8, RFC 3461 DSN parameters): one
// sans-I/O state machine for the relay agent. It owns no socket and no timer:
// its host (src/app) connects, feeds it the server's bytes in any split, sends
// what it puts in output(), streams the body when asked (dot-stuffed, see
// dot_stuffer) and closes when it says so. Per-stage timeouts are the host's,
// chosen by stage() (RFC 5321 §4.5.3.2).
//
// One connection carries many transactions: after `done`, start() again or
// quit(). Every call returns the next thing the host must act on.
//
// Threading: shard-local, not thread-safe.
// Limits: reply line length and lines per reply (client_config); a server
// that breaks them, or sends what is not a reply, fails the session.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace posthorn::proto::smtp {

struct reply {
    uint16_t code = 0;   // 0: no reply (connection lost or command never sent)
    std::string text;    // the reply's lines after the code, joined by "; "

    bool ok() const noexcept { return code >= 200 && code < 300; }
    bool transient() const noexcept { return code == 0 || (code >= 400 && code < 500); }
    bool permanent() const noexcept { return code >= 500; }
};

struct client_config {
    std::string helo_name = "localhost";
    uint32_t reply_line_max = 4096;   // octets, CRLF included
    uint32_t reply_lines_max = 200;   // lines of one multi-line reply
    uint32_t reply_text_max = 1024;   // reply::text keeps this much
};

// What the server said it supports (EHLO keywords).
struct extensions {
    bool esmtp = false;       // EHLO worked (else HELO)
    bool pipelining = false;
    bool eight_bit_mime = false;
    bool smtputf8 = false;
    bool dsn = false;
    bool chunking = false;
    bool size = false;        // SIZE offered
    uint64_t size_max = 0;    // its limit; 0 = none given
};

struct out_recipient {
    std::string_view address;   // local@domain
    uint8_t notify = 0;         // queue::notify_bits, sent only when the server offers DSN
    std::string_view orcpt;     // addr-type;xtext, sent only with DSN
};

// One transaction. Borrowed: the views must outlive the transaction.
struct transaction {
    std::string_view mail_from;   // "" = null sender <>
    std::span<const out_recipient> rcpts;
    uint64_t size = 0;            // body octets, for SIZE= when offered
    bool eight_bit = false;       // BODY=8BITMIME when offered
    bool smtputf8 = false;        // SMTPUTF8 when offered (the host checks it is)
    uint8_t ret = 0;              // 1 FULL, 2 HDRS (queue::dsn_ret); with DSN only
    std::string_view envid;       // with DSN only
};

enum class client_event : uint8_t {
    none,       // waiting for the server: feed() more
    ready,      // greeted (or the last transaction is over): start() or quit()
    send_body,  // 354: send the body through a dot_stuffer, then body_sent()
    done,       // transaction over: rcpt_replies() hold each recipient's outcome
    failed,     // the session is over (bad greeting, 421, garbage, lost): close
    closed,     // QUIT answered: close
};

// Where the session waits, for the host's timeouts (RFC 5321 §4.5.3.2).
enum class client_stage : uint8_t { greeting, ehlo, mail, rcpt, data_start, body, data_end, idle, quit, over };

class client {
public:
    explicit client(const client_config& cfg);

    client_event feed(std::string_view bytes);
    client_event start(const transaction& tx);
    client_event body_sent();   // the whole body went out: sends "."
    client_event quit();
    // The connection broke: every outcome not yet known becomes code 0.
    client_event connection_lost();

    // Bytes to send; the host sends them and clears the string.
    std::string& output() noexcept { return _out; }
    client_stage stage() const noexcept { return _stage; }
    const extensions& server() const noexcept { return _ext; }
    // After done: one per recipient of the transaction, in order. A
    // recipient the server took gets the reply to the end of data.
    const std::vector<reply>& rcpt_replies() const noexcept { return _rcpt; }
    // After failed: what ended the session (code 0 for garbage or a loss).
    const reply& session_reply() const noexcept { return _session; }
    uint64_t transactions() const noexcept { return _transactions; }

private:
    enum class expect : uint8_t { greeting, ehlo, helo, mail, rcpt, data, dot, quit };
    client_event on_reply(expect what, const reply& r);
    client_event pump();
    void send_rcpt(size_t i);
    void send_data();
    client_event finish_transaction();
    client_event fail(reply r);
    void parse_ehlo_line(std::string_view line);

    client_config _cfg;
    std::string _in;            // unparsed server bytes
    size_t _in_used = 0;
    std::string _out;
    std::vector<expect> _pending;  // commands sent, replies awaited, in order
    size_t _pending_head = 0;
    // the reply being assembled
    reply _cur;
    uint32_t _cur_lines = 0;
    bool _host_turn = false;    // send_body handed to the host: stop parsing
    client_stage _stage = client_stage::greeting;
    extensions _ext;
    // the transaction
    transaction _tx{};
    std::vector<reply> _rcpt;
    size_t _rcpt_sent = 0;      // RCPT commands sent
    size_t _rcpt_answered = 0;
    size_t _accepted = 0;
    bool _in_tx = false;
    bool _mail_ok = false;
    bool _tx_failed = false;
    reply _tx_reply;            // MAIL or DATA refusal that ends the transaction
    reply _session;
    uint64_t _transactions = 0;
    bool _over = false;
};

// Dot-stuffs a message body for DATA (RFC 5321 §4.5.2) a buffer at a time:
// a "." that starts a line is doubled. finish() makes sure the body ends
// with CRLF and appends the ".<CRLF>" terminator. The body is the spool's
// CRLF-clean bytes, so lines end in CRLF.
class dot_stuffer {
public:
    void stuff(std::string_view in, std::string& out);
    void finish(std::string& out);
    void reset() noexcept { _prev = '\n'; _prev2 = '\r'; _any = false; }
    // Where `in` needs stuffing, for hosts that send the body from the
    // kernel (sendfile) and write only the extra dots: the offsets in `in`
    // of the dots that start a line. Advances the state like stuff().
    void dot_offsets(std::string_view in, std::vector<size_t>& out);
    // What finish() would append, for those hosts.
    std::string_view terminator() const noexcept;

private:
    char _prev = '\n';    // the last two body bytes seen
    char _prev2 = '\r';
    bool _any = false;
};

}  // namespace posthorn::proto::smtp
