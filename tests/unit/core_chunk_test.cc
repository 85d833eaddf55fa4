#include "posthorn/core/chunk.hh"

#include <gtest/gtest.h>

using posthorn::core::chunk_pool;
using posthorn::core::chunk_ref;
using posthorn::core::slice;

TEST(chunk_pool, a_chunk_returns_to_the_pool_when_its_last_slice_goes) {
    chunk_pool pool(4096, 2);
    EXPECT_EQ(pool.free_count(), 2u);
    {
        chunk_ref c = pool.acquire();
        ASSERT_TRUE(c);
        slice a{c, 0, 10};
        slice b = a.suffix_from(4);
        c.reset();
        EXPECT_EQ(pool.free_count(), 1u);
        EXPECT_EQ(b.offset, 4u);
        EXPECT_EQ(b.length, 6u);
    }
    EXPECT_EQ(pool.free_count(), 2u);
}

TEST(chunk_pool, an_exhausted_pool_hands_out_empty_refs) {
    chunk_pool pool(4096, 1);
    chunk_ref a = pool.acquire();
    chunk_ref b = pool.acquire();
    EXPECT_TRUE(a);
    EXPECT_FALSE(b);
}

namespace {
int g_hook_calls = 0;
void count_release(void*, posthorn::core::chunk*) noexcept { ++g_hook_calls; }
}  // namespace

TEST(chunk_pool, ring_chunks_come_back_through_the_hook_not_the_free_list) {
    chunk_pool pool(4096, 2);
    pool.set_release_hook(count_release, nullptr);
    uint32_t id = pool.take_for_ring();
    ASSERT_NE(id, UINT32_MAX);
    EXPECT_EQ(pool.free_count(), 1u);
    { chunk_ref c = pool.adopt(id); }
    EXPECT_EQ(g_hook_calls, 1);
    EXPECT_EQ(pool.free_count(), 1u);
}
