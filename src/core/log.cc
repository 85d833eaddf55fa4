// Shared by every shard: the level (written once at start-up, read relaxed)
// and stderr. Each line is one write(2), so lines never interleave.
#include "posthorn/core/log.hh"
#include "posthorn/core/panic.hh"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <sys/uio.h>
#include <unistd.h>

namespace posthorn::core {
namespace log {
namespace {
std::atomic<int> g_level{static_cast<int>(level::info)};
thread_local int t_shard = -1;
const char* const k_names[] = {"debug", "info", "warn", "error"};
}  // namespace

void set_level(level l) noexcept { g_level.store(static_cast<int>(l), std::memory_order_relaxed); }
bool enabled(level l) noexcept { return static_cast<int>(l) >= g_level.load(std::memory_order_relaxed); }
void set_thread_shard(int shard) noexcept { t_shard = shard; }

void write_line(level l, std::string_view text) noexcept {
    char head[96];
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    tm utc{};
    gmtime_r(&ts.tv_sec, &utc);
    int n = std::snprintf(head, sizeof head, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s shard=%d ",
                          utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min,
                          utc.tm_sec, ts.tv_nsec / 1000000, k_names[static_cast<int>(l)], t_shard);
    if (n < 0) return;
    iovec parts[3] = {{head, static_cast<size_t>(n)},
                      {const_cast<char*>(text.data()), text.size()},
                      {const_cast<char*>("\n"), 1}};
    // One writev: lines from different threads do not interleave.
    ssize_t w = ::writev(STDERR_FILENO, parts, 3);
    (void)w;
}
}  // namespace log

void panic(const char* file, int line, const char* what) noexcept {
    std::fprintf(stderr, "panic at %s:%d: %s\n", file, line, what);
    std::abort();
}

}  // namespace posthorn::core
