// A shard spool in a fresh directory under /tmp, removed with it: for the
// unit tests of what sits on the spool (the sink, the relay's body stream).
#pragma once

#include "posthorn/spool.hh"

#include <gtest/gtest.h>

#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

namespace posthorn::test {

struct temp_spool {
    std::string path;
    std::unique_ptr<spool::shard_spool> spool;
    explicit temp_spool(spool::durability d = spool::durability::fsync) {
        char t[] = "/tmp/posthorn_unit_spool_XXXXXX";
        path = ::mkdtemp(t);
        spool::options o;
        o.dir = path + "/spool/0";
        o.segment_bytes = 1 << 20;
        o.durability = d;
        auto r = spool::shard_spool::open(o);
        EXPECT_TRUE(r.ok());
        if (r.ok()) spool = std::move(r.value());
    }
    ~temp_spool() {
        spool.reset();
        std::filesystem::remove_all(path);
    }
    temp_spool(const temp_spool&) = delete;
    temp_spool& operator=(const temp_spool&) = delete;
};

}  // namespace posthorn::test
