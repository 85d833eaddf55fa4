// The selected view's sequence numbers: sequence number n is the UID at
// n - 1. While the view equals its folder (the common case: every session
// that reported the folder's last change), it is the store's shared list
// (shard_store::uids_of), one array for all such sessions; a session
// whose numbering differs (it has not reported an expunge yet but must
// report new messages) copies it once and changes its own copy
// (copy-on-write), until it catches up and shares again.
//
// Threading: shard-local. Limits: none of its own (a list's size is the
// folder's). An index past size() is a bug of the caller (not checked).
#pragma once

#include "posthorn/store.hh"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

namespace posthorn::proto::imap {

class uid_view {
public:
    using const_iterator = const uint32_t*;

    size_t size() const noexcept { return _uids ? _uids->size() : 0; }
    bool empty() const noexcept { return size() == 0; }
    uint32_t operator[](size_t i) const noexcept { return (*_uids)[i]; }
    uint32_t back() const noexcept { return _uids->back(); }
    const_iterator begin() const noexcept { return _uids ? _uids->data() : nullptr; }
    const_iterator end() const noexcept { return _uids ? _uids->data() + _uids->size() : nullptr; }

    // Takes `uids` (the store's list of the folder) as the view.
    void share(std::shared_ptr<const store::uid_list> uids) noexcept {
        _uids = std::move(uids);
        _own = nullptr;
    }
    // The view's own list, to change: a copy of the shared one first.
    store::uid_list& own() {
        if (!_own) {
            auto copy = _uids ? std::make_shared<store::uid_list>(*_uids) : std::make_shared<store::uid_list>();
            _own = copy.get();
            _uids = std::move(copy);
        }
        return *_own;
    }
    // The list behind the view (null before the first share()), for tests
    // and accounting: equal pointers are one array.
    const store::uid_list* list() const noexcept { return _uids.get(); }

private:
    std::shared_ptr<const store::uid_list> _uids;
    store::uid_list* _own = nullptr;   // _uids, when it is this view's alone
};

}  // namespace posthorn::proto::imap
