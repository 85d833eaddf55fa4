// IMAP sequence sets; see seqset.hh.
#include "proto/imap/seqset.hh"

#include <algorithm>
#include <charconv>
#include <string>

namespace posthorn::proto::imap {
namespace {

// nz-number or "*" (as 0); false otherwise.
bool one(std::string_view s, uint32_t& v) {
    if (s == "*") return v = 0, true;
    if (s.empty() || s.size() > 10 || s[0] == '0') return false;
    uint64_t n = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
        n = n * 10 + static_cast<uint64_t>(c - '0');
    }
    if (n > UINT32_MAX) return false;
    v = static_cast<uint32_t>(n);
    return true;
}

}  // namespace

bool seqset::parse(std::string_view text) {
    _ranges.clear();
    if (text.empty()) return false;
    size_t p = 0;
    while (p <= text.size()) {
        size_t comma = text.find(',', p);
        std::string_view item = text.substr(p, comma == std::string_view::npos ? std::string_view::npos : comma - p);
        size_t colon = item.find(':');
        seq_range r{};
        if (colon == std::string_view::npos) {
            if (!one(item, r.lo)) return false;
            r.hi = r.lo;
        } else if (!one(item.substr(0, colon), r.lo) || !one(item.substr(colon + 1), r.hi)) {
            return false;
        }
        _ranges.push_back(r);
        if (comma == std::string_view::npos) break;
        p = comma + 1;
    }
    return true;
}

bool seqset::within(uint32_t n) const noexcept {
    for (const seq_range& r : _ranges)
        for (uint32_t v : {r.lo, r.hi})
            if (v > n || (v == 0 && n == 0)) return false;
    return true;
}

bool seqset::contains(uint32_t n, uint32_t star) const noexcept {
    for (const seq_range& r : _ranges) {
        uint32_t a = r.lo ? r.lo : star, b = r.hi ? r.hi : star;
        if (a > b) std::swap(a, b);
        if (n >= a && n <= b) return true;
    }
    return false;
}

void seqset::resolve(uint32_t star, std::vector<seq_range>& out) const {
    out.clear();
    for (const seq_range& r : _ranges) {
        uint32_t a = r.lo ? r.lo : star, b = r.hi ? r.hi : star;
        if (a > b) std::swap(a, b);
        if (b == 0) continue;
        out.push_back({std::max(a, uint32_t{1}), b});
    }
    std::sort(out.begin(), out.end(), [](const seq_range& x, const seq_range& y) { return x.lo < y.lo; });
    size_t w = 0;
    for (size_t i = 0; i < out.size(); ++i) {
        if (w > 0 && uint64_t{out[i].lo} <= uint64_t{out[w - 1].hi} + 1) {
            out[w - 1].hi = std::max(out[w - 1].hi, out[i].hi);
        } else {
            out[w++] = out[i];
        }
    }
    out.resize(w);
}

void write_set(std::string& out, const std::vector<uint32_t>& numbers) {
    char buf[16];
    auto num = [&](uint32_t v) {
        auto r = std::to_chars(buf, buf + sizeof buf, v);
        out.append(buf, r.ptr);
    };
    for (size_t i = 0; i < numbers.size();) {
        size_t j = i;
        while (j + 1 < numbers.size() && numbers[j + 1] == numbers[j] + 1) ++j;
        if (i) out.push_back(',');
        num(numbers[i]);
        if (j > i) {
            out.push_back(':');
            num(numbers[j]);
        }
        i = j + 1;
    }
}

}  // namespace posthorn::proto::imap
