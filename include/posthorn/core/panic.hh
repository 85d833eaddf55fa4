// Broken invariants: print where and why, then abort for a core dump.
// For bugs in posthorn only; peers and the environment never reach this.
#pragma once

namespace posthorn::core {

[[noreturn]] void panic(const char* file, int line, const char* what) noexcept;

}  // namespace posthorn::core

#define PH_ASSERT(cond)                                                   \
    do {                                                                  \
        if (__builtin_expect(!(cond), 0))                                 \
            ::posthorn::core::panic(__FILE__, __LINE__, "assertion failed: " #cond); \
    } while (0)
