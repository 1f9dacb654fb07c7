#pragma once
// The persistent store. The chain follower writes one transaction per block: the new cursor and
// every state change the block caused commit together or not at all.

#include "primitives/hash_types.h"
#include "util/expected.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace vw::store {

struct Cursor {
    int height{-1};   //!< -1: nothing processed yet
    BlockHash hash;
    friend bool operator==(const Cursor&, const Cursor&) = default;
};

struct StoreError {
    enum class Kind {
        Open,       //!< cannot open or lock the database file
        Corrupt,    //!< a row or the schema is not what this version wrote: fatal, never defaulted
        Full,       //!< SQLITE_FULL: disk full; nothing was committed
        Busy,       //!< another writer holds the lock
        Io,         //!< any other SQLite failure
    } kind{Kind::Io};
    std::string message;
};

//! Staged writes for one block, committed atomically with the cursor.
struct BlockBatch {
    Cursor new_cursor;
    //! Hash of each block now on our chain above the fork point (height -> hash), so a later
    //! reorg can find where we diverged without asking the node for history it may not keep.
    std::vector<std::pair<int, BlockHash>> connected;
    std::optional<int> disconnect_from; //!< forget remembered blocks at heights >= this
};

class Store
{
public:
    virtual ~Store() = default;
    virtual Expected<Cursor, StoreError> LoadCursor() = 0;
    //! Returns: the hash we processed at height, if we remember it.
    virtual Expected<std::optional<BlockHash>, StoreError> BlockAt(int height) = 0;
    //! Commits the batch in one transaction (BEGIN IMMEDIATE ... COMMIT).
    virtual Expected<void, StoreError> Commit(const BlockBatch& batch) = 0;
};

//! Opens (creating and migrating if needed) the SQLite database at path, in WAL mode.
Expected<std::unique_ptr<Store>, StoreError> OpenSqliteStore(const std::string& path);

} // namespace vw::store
