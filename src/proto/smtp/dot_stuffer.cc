// DATA dot-stuffing for the SMTP client, per buffer: memchr for line ends,
// one append per run of bytes between dots that need doubling.
#include "posthorn/proto/smtp_client.hh"

#include <cstring>

namespace posthorn::proto::smtp {

void dot_stuffer::dot_offsets(std::string_view in, std::vector<size_t>& out) {
    if (in.empty()) return;
    if (_prev == '\n' && in[0] == '.') out.push_back(0);
    const char* p = in.data();
    const char* end = p + in.size();
    while (p < end) {
        const void* nl = std::memchr(p, '\n', static_cast<size_t>(end - p));
        if (!nl) break;
        const char* after = static_cast<const char*>(nl) + 1;
        if (after < end && *after == '.') out.push_back(static_cast<size_t>(after - in.data()));
        p = after;
    }
    _prev2 = in.size() >= 2 ? in[in.size() - 2] : _prev;
    _prev = in.back();
    _any = true;
}

void dot_stuffer::stuff(std::string_view in, std::string& out) {
    thread_local std::vector<size_t> dots;
    dots.clear();
    dot_offsets(in, dots);
    size_t from = 0;
    for (size_t at : dots) {
        out.append(in.data() + from, at - from);
        out.push_back('.');
        from = at;  // the original dot follows
    }
    out.append(in.data() + from, in.size() - from);
}

std::string_view dot_stuffer::terminator() const noexcept {
    if (!_any) return ".\r\n";
    if (_prev == '\n' && _prev2 == '\r') return ".\r\n";
    if (_prev == '\r') return "\n.\r\n";
    return "\r\n.\r\n";
}

void dot_stuffer::finish(std::string& out) { out.append(terminator()); }

}  // namespace posthorn::proto::smtp
