// Segment files: naming, listing, creating preallocated files, syncing,
// zeroing a range, whole-buffer reads and writes, read-only mappings.
// Thin wrappers over syscalls; errno becomes core::error here, at the edge.
//
// Threading: stateless functions; unique_fd and mapped_file are owned values.
// Limits: segment names are `<seq>.seg`, seq zero-padded to 8 digits (more
// digits once seq passes 99999999; listing sorts numerically). Files whose
// names do not parse are ignored.
// Errors: every function returns the failing syscall's errno in core::error.
#pragma once

#include "posthorn/core/result.hh"

#include <sys/uio.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace posthorn::spool {

class unique_fd {
public:
    unique_fd() = default;
    explicit unique_fd(int fd) noexcept : _fd(fd) {}
    unique_fd(unique_fd&& o) noexcept : _fd(std::exchange(o._fd, -1)) {}
    unique_fd& operator=(unique_fd&& o) noexcept {
        if (this != &o) { reset(); _fd = std::exchange(o._fd, -1); }
        return *this;
    }
    ~unique_fd() { reset(); }
    int get() const noexcept { return _fd; }
    int release() noexcept { return std::exchange(_fd, -1); }
    void reset() noexcept;

private:
    int _fd = -1;
};

// A read-only private mapping of a whole file; empty when the file is.
class mapped_file {
public:
    mapped_file() = default;
    mapped_file(mapped_file&& o) noexcept
        : _data(std::exchange(o._data, nullptr)), _bytes(std::exchange(o._bytes, 0)) {}
    mapped_file& operator=(mapped_file&&) = delete;
    ~mapped_file();
    static core::result<mapped_file> map(int fd, uint64_t bytes);
    const char* data() const noexcept { return _data; }
    uint64_t bytes() const noexcept { return _bytes; }

private:
    const char* _data = nullptr;
    uint64_t _bytes = 0;
};

std::string segment_name(uint64_t seq);
// Segment seqs found in the directory, ascending.
core::result<std::vector<uint64_t>> list_segments(int dir_fd);

// Opens a directory, creating it and its parents when `create`.
core::result<unique_fd> open_dir(const std::string& path, bool create);
core::result<void> lock_dir(int dir_fd);   // exclusive flock, fails with EWOULDBLOCK

// Creates `<seq>.seg` (must not exist) preallocated to `bytes`.
core::result<unique_fd> create_segment_file(int dir_fd, uint64_t seq, uint64_t bytes);
core::result<unique_fd> open_segment_file(int dir_fd, uint64_t seq, bool writable);
core::result<void> unlink_segment_file(int dir_fd, uint64_t seq);
core::result<uint64_t> file_bytes(int fd);
core::result<void> preallocate(int fd, uint64_t bytes);   // grows the file to `bytes`
core::result<void> zero_range(int fd, uint64_t offset, uint64_t length);
// Writes zeros through the page cache (pwritev from one static buffer); the
// blocks end up written, not merely allocated, once written back.
core::result<void> write_zeros(int fd, uint64_t offset, uint64_t length);
// sync_file_range(SYNC_FILE_RANGE_WRITE): starts writeback, waits for nothing.
core::result<void> start_writeback(int fd, uint64_t offset, uint64_t length);
core::result<void> data_sync(int fd);                     // fdatasync
core::result<void> full_sync(int fd);                     // fsync (directories)

// Writes every byte of iov[0..n) at offset, in as few pwritev calls as
// IOV_MAX allows. Modifies the iovecs (advances them past written bytes).
core::result<void> write_all(int fd, iovec* iov, size_t n, uint64_t offset);
core::result<void> read_all(int fd, char* out, size_t bytes, uint64_t offset);

}  // namespace posthorn::spool
