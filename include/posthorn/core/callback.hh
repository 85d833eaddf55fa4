// callback<R(A...)>: a small, non-allocating, copyable callable for reactor
// continuations (timers, fdatasync, turn hooks). It stores a lambda in place.
//
// Threading: a value; no shared state.
// Limits: the callable must be noexcept, trivially copyable (capture pointers
// and integers, not strings or smart pointers) and at most 24 bytes; breaking
// any of these is a compile error, never an allocation.
#pragma once

#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

namespace posthorn::core {

template <typename Sig>
class callback;

template <typename R, typename... A>
class callback<R(A...)> {
public:
    static constexpr size_t storage_bytes = 3 * sizeof(void*);

    callback() noexcept = default;

    template <typename F,
              typename = std::enable_if_t<!std::is_same_v<std::decay_t<F>, callback>>>
    callback(F f) noexcept {  // NOLINT: implicit by design, like std::function
        static_assert(sizeof(F) <= storage_bytes, "callback: capture too large (24 bytes max)");
        static_assert(alignof(F) <= alignof(void*), "callback: capture over-aligned");
        static_assert(std::is_trivially_copyable_v<F>,
                      "callback: capture must be trivially copyable (pointers, integers)");
        static_assert(std::is_nothrow_invocable_r_v<R, F&, A...>, "callback: must be noexcept");
        ::new (static_cast<void*>(_storage)) F(f);
        _invoke = [](void* s, A... a) noexcept -> R {
            return (*std::launder(static_cast<F*>(s)))(std::forward<A>(a)...);
        };
    }

    explicit operator bool() const noexcept { return _invoke != nullptr; }
    R operator()(A... a) const noexcept { return _invoke(_storage, std::forward<A>(a)...); }

private:
    alignas(void*) mutable unsigned char _storage[storage_bytes] = {};
    R (*_invoke)(void*, A...) noexcept = nullptr;
};

}  // namespace posthorn::core
