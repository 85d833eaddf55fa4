// result<T>: a value or an error, for failures of the environment (disk, DNS,
// kernel). GCC 12 in C++20 has no std::expected. An error is an errno-style
// code plus a static text naming what failed; it never allocates.
// Misbehaving peers get protocol replies instead; broken invariants panic.
#pragma once

#include <cerrno>
#include <cstring>
#include <utility>
#include <variant>

namespace posthorn::core {

struct error {
    int code = 0;              // errno value, or one of error_code below
    const char* what = "";     // static text: which operation failed

    const char* reason() const noexcept { return code > 0 ? std::strerror(code) : "invalid data"; }
};

// Our own codes live below zero so they never collide with errno.
enum error_code : int {
    e_corrupt = -1,   // bytes from our own disk or another shard failed validation
    e_limit = -2,     // a configured limit was exceeded
    e_closed = -3,    // the object was closed or sealed
};

inline error errno_error(const char* what) noexcept { return error{errno, what}; }

template <typename T>
class [[nodiscard]] result {
public:
    result(T value) : _v(std::in_place_index<0>, std::move(value)) {}
    result(error e) : _v(std::in_place_index<1>, e) {}

    bool ok() const noexcept { return _v.index() == 0; }
    explicit operator bool() const noexcept { return ok(); }
    T& value() & { return std::get<0>(_v); }
    const T& value() const& { return std::get<0>(_v); }
    T&& value() && { return std::get<0>(std::move(_v)); }
    T* operator->() { return &value(); }
    T& operator*() { return value(); }
    const error& err() const { return std::get<1>(_v); }

private:
    std::variant<T, error> _v;
};

template <>
class [[nodiscard]] result<void> {
public:
    result() = default;
    result(error e) : _err(e), _failed(true) {}

    bool ok() const noexcept { return !_failed; }
    explicit operator bool() const noexcept { return ok(); }
    const error& err() const { return _err; }

private:
    error _err{};
    bool _failed = false;
};

inline result<void> ok() { return {}; }

}  // namespace posthorn::core
