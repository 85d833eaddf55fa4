// The SMTP client state machine. Replies are parsed from _in as they
// complete; each one answers the oldest command in _pending (RFC 2920: a
// pipelining server answers in order). While the host streams a body
// (_host_turn), parsing stops, so later bytes wait in _in.
#include "posthorn/proto/smtp_client.hh"

#include "posthorn/queue/dsn.hh"
#include "proto/smtp/address.hh"

#include <algorithm>
#include <cstring>
#include <fmt/format.h>

namespace posthorn::proto::smtp {
namespace {
bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool keyword_is(std::string_view line, std::string_view kw) {
    if (line.size() < kw.size() || !iequals(line.substr(0, kw.size()), kw)) return false;
    return line.size() == kw.size() || line[kw.size()] == ' ' || line[kw.size()] == '=';
}
}  // namespace

client::client(const client_config& cfg) : _cfg(cfg) {
    _pending.push_back(expect::greeting);
}

client_event client::fail(reply r) {
    _session = std::move(r);
    _over = true;
    _stage = client_stage::over;
    // Outcomes not yet known take the session's reply (or 0: unknown).
    if (_in_tx)
        for (size_t i = 0; i < _rcpt.size(); ++i)
            if (_rcpt[i].code == 0 || (i < _rcpt_answered && _rcpt[i].ok())) _rcpt[i] = _session;
    _in_tx = false;
    // Be polite where the server still listens: a 421 means it is closing.
    if (_session.code != 0 && _session.code != 421) _out += "QUIT\r\n";
    return client_event::failed;
}

client_event client::feed(std::string_view bytes) {
    if (_over) return client_event::none;
    _in.append(bytes);
    return pump();
}

// Parses complete reply lines while no host action is pending.
client_event client::pump() {
    while (!_host_turn && !_over) {
        const char* base = _in.data() + _in_used;
        size_t avail = _in.size() - _in_used;
        const void* nl = std::memchr(base, '\n', avail);
        if (!nl) {
            if (avail >= _cfg.reply_line_max) return fail(reply{0, "reply line too long"});
            break;
        }
        size_t len = static_cast<size_t>(static_cast<const char*>(nl) - base) + 1;
        if (len > _cfg.reply_line_max) return fail(reply{0, "reply line too long"});
        std::string_view line(base, len - 1);
        _in_used += len;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.size() < 3 || !is_digit(line[0]) || !is_digit(line[1]) || !is_digit(line[2]) ||
            (line.size() > 3 && line[3] != ' ' && line[3] != '-'))
            return fail(reply{0, "not an SMTP reply"});
        auto code = static_cast<uint16_t>((line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0'));
        if (code < 200 || code > 599) return fail(reply{0, "reply code out of range"});
        if (_cur_lines > 0 && code != _cur.code) return fail(reply{0, "multi-line reply changed its code"});
        if (++_cur_lines > _cfg.reply_lines_max) return fail(reply{0, "reply has too many lines"});
        _cur.code = code;
        std::string_view text = line.size() > 4 ? line.substr(4) : std::string_view{};
        if (_pending_head < _pending.size() && _pending[_pending_head] == expect::ehlo && _cur_lines > 1)
            parse_ehlo_line(text);
        if (_cur.text.size() < _cfg.reply_text_max) {
            if (!_cur.text.empty()) _cur.text += "; ";
            _cur.text.append(text.substr(0, _cfg.reply_text_max - std::min<size_t>(_cur.text.size(), _cfg.reply_text_max)));
        }
        bool last = line.size() == 3 || line[3] == ' ';
        if (!last) continue;

        reply r = std::move(_cur);
        _cur = reply{};
        _cur_lines = 0;
        if (_in_used == _in.size()) {
            _in.clear();
            _in_used = 0;
        }
        if (_pending_head >= _pending.size()) {
            if (r.code == 421) return fail(std::move(r));
            return fail(reply{0, "reply to no command"});
        }
        expect what = _pending[_pending_head++];
        if (_pending_head == _pending.size()) {
            _pending.clear();
            _pending_head = 0;
        }
        client_event ev = on_reply(what, r);
        if (ev != client_event::none) return ev;
    }
    if (_in_used > 0 && _in_used * 2 > _in.size()) {
        _in.erase(0, _in_used);
        _in_used = 0;
    }
    return client_event::none;
}

void client::parse_ehlo_line(std::string_view kw) {
    if (keyword_is(kw, "PIPELINING")) _ext.pipelining = true;
    else if (keyword_is(kw, "8BITMIME")) _ext.eight_bit_mime = true;
    else if (keyword_is(kw, "SMTPUTF8")) _ext.smtputf8 = true;
    else if (keyword_is(kw, "DSN")) _ext.dsn = true;
    else if (keyword_is(kw, "CHUNKING")) _ext.chunking = true;
    else if (keyword_is(kw, "SIZE")) {
        uint64_t n = 0;
        for (size_t i = 5; i < kw.size() && is_digit(kw[i]); ++i) n = n * 10 + static_cast<uint64_t>(kw[i] - '0');
        _ext.size = true;
        _ext.size_max = n;
    }
}

client_event client::on_reply(expect what, const reply& r) {
    if (r.code == 421 && what != expect::quit) return fail(r);
    switch (what) {
    case expect::greeting:
        if (r.code != 220) return fail(r);
        _out += fmt::format("EHLO {}\r\n", _cfg.helo_name);
        _pending.push_back(expect::ehlo);
        _stage = client_stage::ehlo;
        return client_event::none;
    case expect::ehlo:
        if (r.ok()) {
            _ext.esmtp = true;
            _stage = client_stage::idle;
            return client_event::ready;
        }
        if (r.permanent()) {  // an old server: try HELO
            _ext = extensions{};
            _out += fmt::format("HELO {}\r\n", _cfg.helo_name);
            _pending.push_back(expect::helo);
            return client_event::none;
        }
        return fail(r);
    case expect::helo:
        if (!r.ok()) return fail(r);
        _stage = client_stage::idle;
        return client_event::ready;
    case expect::mail:
        _mail_ok = r.ok();
        if (!_mail_ok) {
            _tx_failed = true;
            _tx_reply = r;
            if (!_ext.pipelining) return finish_transaction();
            return client_event::none;  // the pipelined RCPTs and DATA still get replies
        }
        if (!_ext.pipelining) {
            _stage = client_stage::rcpt;
            send_rcpt(0);
        }
        return client_event::none;
    case expect::rcpt: {
        size_t i = _rcpt_answered++;
        _rcpt[i] = _mail_ok ? r : _tx_reply;
        if (_mail_ok && r.ok()) ++_accepted;
        if (!_ext.pipelining) {
            if (_rcpt_answered < _tx.rcpts.size())
                send_rcpt(_rcpt_answered);
            else if (_accepted > 0)
                send_data();
            else
                return finish_transaction();
        }
        return client_event::none;
    }
    case expect::data:
        if (r.code == 354) {
            if (_accepted == 0 || _tx_failed) {
                // Pipelined DATA the server took with no valid recipient: end
                // it empty; nothing is delivered.
                _out += ".\r\n";
                _pending.push_back(expect::dot);
                _stage = client_stage::data_end;
                return client_event::none;
            }
            _stage = client_stage::body;
            _host_turn = true;
            return client_event::send_body;
        }
        if (!_tx_failed && _accepted > 0) {
            _tx_failed = true;
            _tx_reply = r;
        }
        return finish_transaction();
    case expect::dot:
        if (!_tx_failed && _accepted > 0) _tx_reply = r;
        else _tx_failed = true;
        return finish_transaction();
    case expect::quit:
        _over = true;
        _session = r;
        _stage = client_stage::over;
        return client_event::closed;
    }
    return client_event::none;
}

void client::send_rcpt(size_t i) {
    const out_recipient& rc = _tx.rcpts[i];
    _out += "RCPT TO:<";
    _out += rc.address;
    _out += '>';
    if (_ext.dsn && rc.notify) {
        _out += " NOTIFY=";
        if (rc.notify & 1) {
            _out += "NEVER";
        } else {
            bool first = true;
            for (auto [bit, name] : {std::pair{2, "SUCCESS"}, std::pair{4, "FAILURE"}, std::pair{8, "DELAY"}}) {
                if (!(rc.notify & bit)) continue;
                if (!first) _out += ',';
                _out += name;
                first = false;
            }
        }
    }
    if (_ext.dsn && !rc.orcpt.empty()) {
        _out += " ORCPT=";
        _out += rc.orcpt;  // stored as given: already addr-type;xtext
    }
    _out += "\r\n";
    _pending.push_back(expect::rcpt);
    ++_rcpt_sent;
}

void client::send_data() {
    _out += "DATA\r\n";
    _pending.push_back(expect::data);
    _stage = client_stage::data_start;
}

client_event client::start(const transaction& tx) {
    if (_over || _stage != client_stage::idle || tx.rcpts.empty()) return fail(reply{0, "start() out of turn"});
    _tx = tx;
    _in_tx = true;
    _rcpt.assign(tx.rcpts.size(), reply{});
    _rcpt_sent = _rcpt_answered = _accepted = 0;
    _mail_ok = false;
    _tx_failed = false;
    _tx_reply = reply{};
    // Nothing is owed a reply now: a whole line waiting is unsolicited, and
    // would otherwise be taken for the reply to MAIL.
    if (std::memchr(_in.data() + _in_used, '\n', _in.size() - _in_used)) return fail(reply{0, "reply to no command"});
    _out += "MAIL FROM:<";
    _out += tx.mail_from;
    _out += '>';
    if (_ext.size && tx.size) _out += fmt::format(" SIZE={}", tx.size);
    if (tx.eight_bit && _ext.eight_bit_mime) _out += " BODY=8BITMIME";
    if (tx.smtputf8 && _ext.smtputf8) _out += " SMTPUTF8";
    if (_ext.dsn) {
        if (tx.ret == 1) _out += " RET=FULL";
        else if (tx.ret == 2) _out += " RET=HDRS";
        if (!tx.envid.empty()) {
            _out += " ENVID=";
            queue::append_xtext(_out, tx.envid);
        }
    }
    _out += "\r\n";
    _pending.push_back(expect::mail);
    _stage = client_stage::mail;
    if (_ext.pipelining) {
        for (size_t i = 0; i < tx.rcpts.size(); ++i) send_rcpt(i);
        send_data();
    }
    return pump();  // replies may already wait in _in
}

client_event client::body_sent() {
    if (!_host_turn) return fail(reply{0, "body_sent() out of turn"});
    _host_turn = false;
    _pending.push_back(expect::dot);
    _stage = client_stage::data_end;
    return pump();
}

client_event client::finish_transaction() {
    for (size_t i = 0; i < _rcpt.size(); ++i) {
        if (_tx_failed) {
            // MAIL or DATA refused: every recipient the server took shares
            // that reply; refused ones keep their own.
            if (_rcpt[i].code == 0 || _rcpt[i].ok()) _rcpt[i] = _tx_reply;
        } else if (_rcpt[i].ok()) {
            _rcpt[i] = _tx_reply;
        }
    }
    // Every command of the transaction has its reply by now: a refused MAIL
    // finishes here only unpipelined, else at the DATA reply.
    ++_transactions;
    _in_tx = false;
    _stage = client_stage::idle;
    return client_event::done;
}

client_event client::quit() {
    if (_over) return client_event::closed;
    _out += "QUIT\r\n";
    _pending.push_back(expect::quit);
    _stage = client_stage::quit;
    return pump();
}

client_event client::connection_lost() {
    if (_over) return _session.code == 221 ? client_event::closed : client_event::failed;
    if (_stage == client_stage::quit) {
        _over = true;
        _stage = client_stage::over;
        return client_event::closed;
    }
    return fail(reply{0, "connection lost"});
}

}  // namespace posthorn::proto::smtp
