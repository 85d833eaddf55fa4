// Builds the shared body block and tail once; makes per-message headers; the
// output queue walks segments for writev. Single-threaded per queue.
#include "message.hh"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <unistd.h>

namespace posthorn::loadgen {
namespace {

constexpr size_t k_line_bytes = 80;  // 78 characters + CRLF
constexpr size_t k_block_lines_max = (1u << 20) / k_line_bytes;
constexpr char k_alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
constexpr size_t k_alphabet_len = sizeof k_alphabet - 1;

void append_line(std::string& out, size_t line_no, size_t chars) {
    for (size_t i = 0; i < chars; ++i) out += k_alphabet[(line_no * 7 + i) % k_alphabet_len];
    out += "\r\n";
}

}  // namespace

message_source::message_source(uint64_t size_bytes, std::string from, std::string rcpt)
    : _size_bytes(size_bytes), _from(std::move(from)), _rcpt(std::move(rcpt)) {
    char date[64];
    time_t now = time(nullptr);
    tm local{};
    localtime_r(&now, &local);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S %z", &local);
    _date = date;
    _run_id = static_cast<uint64_t>(
                  std::chrono::system_clock::now().time_since_epoch().count()) ^
              (static_cast<uint64_t>(getpid()) << 48);

    // Body: size_bytes in all, ending in CRLF. Whole 80-byte lines first.
    uint64_t text = size_bytes >= 2 ? size_bytes - 2 : 0;  // the final CRLF is in the tail
    uint64_t whole_lines = text / k_line_bytes;
    size_t last_chars = static_cast<size_t>(text % k_line_bytes);  // 0..79, no CR among them
    size_t block_lines = whole_lines < k_block_lines_max ? static_cast<size_t>(whole_lines)
                                                         : k_block_lines_max;
    _block.reserve(block_lines * k_line_bytes);
    for (size_t i = 0; i < block_lines; ++i) append_line(_block, i, k_line_bytes - 2);
    if (block_lines > 0) {
        _whole_blocks = whole_lines / block_lines;
        _partial = static_cast<size_t>(whole_lines % block_lines) * k_line_bytes;
    }
    if (size_bytes >= 2) append_line(_tail, static_cast<size_t>(whole_lines), last_chars);
    _tail += ".\r\n";
}

std::string message_source::header(uint64_t seq, uint32_t thread) const {
    char id[96];
    std::snprintf(id, sizeof id, "%016llx.%u.%llu", static_cast<unsigned long long>(_run_id),
                  thread, static_cast<unsigned long long>(seq));
    std::string h;
    h.reserve(256 + _from.size() + _rcpt.size());
    h += "Message-ID: <";
    h += id;
    h += "@loadgen.test>\r\nFrom: <";
    h += _from;
    h += ">\r\nTo: <";
    h += _rcpt;
    h += ">\r\nSubject: posthorn-loadgen ";
    h += id;
    h += "\r\nDate: ";
    h += _date;
    h += "\r\n\r\n";
    return h;
}

void output_queue::push(std::string s) {
    if (s.empty()) return;
    segment seg;
    seg.owned = std::move(s);
    seg.len = seg.owned.size();
    _pending += seg.len;
    _segments.push_back(std::move(seg));
    // data is taken from owned at gather time: a moved std::string may use SSO.
}

void output_queue::push_borrowed(const char* data, size_t len, uint64_t repeat) {
    if (len == 0 || repeat == 0) return;
    segment seg;
    seg.data = data;
    seg.len = len;
    seg.repeat = repeat;
    _pending += len * repeat;
    _segments.push_back(std::move(seg));
}

int output_queue::gather(iovec* iov, int max) const noexcept {
    int n = 0;
    for (const segment& s : _segments) {
        const char* base = s.data != nullptr ? s.data : s.owned.data();
        for (uint64_t r = s.repeat_done; r < s.repeat && n < max; ++r) {
            size_t off = r == s.repeat_done ? s.offset : 0;
            iov[n].iov_base = const_cast<char*>(base + off);
            iov[n].iov_len = s.len - off;
            ++n;
        }
        if (n >= max) break;
    }
    return n;
}

void output_queue::consume(size_t n) noexcept {
    _pending -= n;
    while (n > 0 && !_segments.empty()) {
        segment& s = _segments.front();
        size_t left_in_copy = s.len - s.offset;
        if (n < left_in_copy) {
            s.offset += n;
            return;
        }
        n -= left_in_copy;
        s.offset = 0;
        if (++s.repeat_done == s.repeat) _segments.pop_front();
    }
}

}  // namespace posthorn::loadgen
