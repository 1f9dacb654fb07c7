-- vaultwatch schema, version 1. Forward-only migrations live in sqlite_store.cpp; this file is
-- the documentation of the current shape (every column says what it means).

-- Schema version, one row.
CREATE TABLE IF NOT EXISTS version (
    version INTEGER NOT NULL              -- schema version this database was migrated to
);

-- The chain cursor: the last block whose effects are fully committed. One row (id = 1).
CREATE TABLE IF NOT EXISTS cursor (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    height INTEGER NOT NULL CHECK (height >= -1), -- -1 before the first block
    hash   BLOB    NOT NULL CHECK (length(hash) = 32) -- block hash, serialization order
);

-- Blocks on our view of the best chain, to find the fork point on a reorg.
CREATE TABLE IF NOT EXISTS blocks (
    height INTEGER PRIMARY KEY CHECK (height >= 0), -- block height
    hash   BLOB    NOT NULL CHECK (length(hash) = 32) -- block hash, serialization order
);
