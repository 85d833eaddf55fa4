// Segment files over raw syscalls (see segment.hh). Each function retries
// EINTR and reports any other failure as core::error{errno, what}.
#include "spool/segment.hh"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>

namespace posthorn::spool {

void unique_fd::reset() noexcept {
    if (_fd >= 0) ::close(_fd);
    _fd = -1;
}

mapped_file::~mapped_file() {
    if (_data) ::munmap(const_cast<char*>(_data), _bytes);
}

core::result<mapped_file> mapped_file::map(int fd, uint64_t bytes) {
    mapped_file m;
    if (bytes == 0) return m;
    void* p = ::mmap(nullptr, bytes, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) return core::errno_error("mmap segment");
    m._data = static_cast<const char*>(p);
    m._bytes = bytes;
    return m;
}

std::string segment_name(uint64_t seq) {
    char b[32];
    std::snprintf(b, sizeof b, "%08llu.seg", static_cast<unsigned long long>(seq));
    return b;
}

namespace {
bool parse_segment_name(const char* name, uint64_t& seq) {
    size_t n = std::strlen(name);
    if (n < 5 || n > 24 || std::strcmp(name + n - 4, ".seg") != 0) return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n - 4; ++i) {
        if (name[i] < '0' || name[i] > '9') return false;
        v = v * 10 + static_cast<uint64_t>(name[i] - '0');
    }
    seq = v;
    return v > 0;
}
}  // namespace

core::result<std::vector<uint64_t>> list_segments(int dir_fd) {
    int fd = ::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return core::errno_error("open spool directory for listing");
    DIR* d = ::fdopendir(fd);
    if (!d) {
        int e = errno;
        ::close(fd);
        return core::error{e, "fdopendir spool directory"};
    }
    std::vector<uint64_t> seqs;
    errno = 0;
    while (dirent* e = ::readdir(d)) {
        uint64_t seq;
        if (parse_segment_name(e->d_name, seq)) seqs.push_back(seq);
    }
    int err = errno;
    ::closedir(d);
    if (err) return core::error{err, "readdir spool directory"};
    std::sort(seqs.begin(), seqs.end());
    return seqs;
}

core::result<unique_fd> open_dir(const std::string& path, bool create) {
    if (path.empty()) return core::error{EINVAL, "spool directory not set"};
    if (create) {
        // mkdir -p, one component at a time.
        for (size_t at = 1; at <= path.size(); ++at) {
            if (at != path.size() && path[at] != '/') continue;
            std::string part = path.substr(0, at);
            if (::mkdir(part.c_str(), 0750) == 0) {
                // Make the new entry durable in its parent.
                size_t slash = part.find_last_of('/');
                std::string parent = slash == std::string::npos ? "." : slash == 0 ? "/" : part.substr(0, slash);
                int pfd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (pfd < 0) return core::errno_error("open parent of spool directory");
                int rc = ::fsync(pfd);
                int err = errno;
                ::close(pfd);
                if (rc != 0) return core::error{err, "fsync parent of spool directory"};
            } else if (errno != EEXIST) {
                return core::errno_error("create spool directory");
            }
        }
    }
    int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return core::errno_error("open spool directory");
    return unique_fd(fd);
}

core::result<void> lock_dir(int dir_fd) {
    if (::flock(dir_fd, LOCK_EX | LOCK_NB) != 0) return core::errno_error("lock spool directory (another writer?)");
    return core::ok();
}

core::result<unique_fd> create_segment_file(int dir_fd, uint64_t seq, uint64_t bytes) {
    std::string name = segment_name(seq);
    int fd = ::openat(dir_fd, name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd < 0) return core::errno_error("create segment");
    unique_fd f(fd);
    if (auto r = preallocate(fd, bytes); !r) {
        ::unlinkat(dir_fd, name.c_str(), 0);
        return r.err();
    }
    return f;
}

core::result<unique_fd> open_segment_file(int dir_fd, uint64_t seq, bool writable) {
    std::string name = segment_name(seq);
    int fd = ::openat(dir_fd, name.c_str(), (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (fd < 0) return core::errno_error("open segment");
    return unique_fd(fd);
}

core::result<void> unlink_segment_file(int dir_fd, uint64_t seq) {
    std::string name = segment_name(seq);
    if (::unlinkat(dir_fd, name.c_str(), 0) != 0) return core::errno_error("unlink segment");
    return core::ok();
}

core::result<uint64_t> file_bytes(int fd) {
    struct stat st{};
    if (::fstat(fd, &st) != 0) return core::errno_error("stat segment");
    return static_cast<uint64_t>(st.st_size);
}

core::result<void> preallocate(int fd, uint64_t bytes) {
    while (::fallocate(fd, 0, 0, static_cast<off_t>(bytes)) != 0) {
        if (errno == EINTR) continue;
        if (errno == EOPNOTSUPP) {
            // A file system without fallocate: a sparse file still works.
            if (::ftruncate(fd, static_cast<off_t>(bytes)) != 0) return core::errno_error("extend segment");
            return core::ok();
        }
        return core::errno_error("preallocate segment");
    }
    return core::ok();
}

core::result<void> zero_range(int fd, uint64_t offset, uint64_t length) {
    if (length == 0) return core::ok();
    auto off = static_cast<off_t>(offset);
    auto len = static_cast<off_t>(length);
    for (int mode : {FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE}) {
        int rc;
        do rc = ::fallocate(fd, mode, off, len);
        while (rc != 0 && errno == EINTR);
        if (rc == 0) return core::ok();
        if (errno != EOPNOTSUPP && errno != EINVAL) return core::errno_error("zero segment range");
    }
    // Neither is supported: write zeros.
    return write_zeros(fd, offset, length);
}

core::result<void> write_zeros(int fd, uint64_t offset, uint64_t length) {
    static const char zeros[64 * 1024] = {};
    constexpr size_t pieces = 32;  // up to 2 MiB per pwritev
    iovec iov[pieces];
    while (length > 0) {
        size_t n = 0;
        uint64_t batch = 0;
        while (n < pieces && batch < length) {
            size_t len = static_cast<size_t>(std::min<uint64_t>(sizeof zeros, length - batch));
            iov[n++] = iovec{const_cast<char*>(zeros), len};
            batch += len;
        }
        if (auto r = write_all(fd, iov, n, offset); !r) return r;
        offset += batch;
        length -= batch;
    }
    return core::ok();
}

core::result<void> start_writeback(int fd, uint64_t offset, uint64_t length) {
    while (::sync_file_range(fd, static_cast<off_t>(offset), static_cast<off_t>(length), SYNC_FILE_RANGE_WRITE) != 0) {
        if (errno != EINTR) return core::errno_error("start segment writeback");
    }
    return core::ok();
}

core::result<void> data_sync(int fd) {
    while (::fdatasync(fd) != 0) {
        if (errno != EINTR) return core::errno_error("fdatasync segment");
    }
    return core::ok();
}

core::result<void> full_sync(int fd) {
    while (::fsync(fd) != 0) {
        if (errno != EINTR) return core::errno_error("fsync spool directory");
    }
    return core::ok();
}

core::result<void> write_all(int fd, iovec* iov, size_t n, uint64_t offset) {
    size_t i = 0;
    while (i < n && iov[i].iov_len == 0) ++i;
    while (i < n) {
        int count = static_cast<int>(std::min<size_t>(n - i, IOV_MAX));
        ssize_t w = ::pwritev(fd, iov + i, count, static_cast<off_t>(offset));
        if (w < 0) {
            if (errno == EINTR) continue;
            return core::errno_error("write segment");
        }
        if (w == 0) return core::error{EIO, "write segment made no progress"};
        offset += static_cast<uint64_t>(w);
        auto left = static_cast<size_t>(w);
        while (left > 0) {
            if (left >= iov[i].iov_len) {
                left -= iov[i].iov_len;
                ++i;
            } else {
                iov[i].iov_base = static_cast<char*>(iov[i].iov_base) + left;
                iov[i].iov_len -= left;
                left = 0;
            }
        }
        while (i < n && iov[i].iov_len == 0) ++i;
    }
    return core::ok();
}

core::result<void> read_all(int fd, char* out, size_t bytes, uint64_t offset) {
    while (bytes > 0) {
        ssize_t r = ::pread(fd, out, bytes, static_cast<off_t>(offset));
        if (r < 0) {
            if (errno == EINTR) continue;
            return core::errno_error("read segment");
        }
        if (r == 0) return core::error{core::e_corrupt, "segment shorter than its records"};
        out += r;
        bytes -= static_cast<size_t>(r);
        offset += static_cast<uint64_t>(r);
    }
    return core::ok();
}

}  // namespace posthorn::spool
