-- vaultwatch schema, version 8. Forward-only migrations live in sqlite_store.cpp; this file is
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

-- Version 2: vaults and what happened to them.

-- Registered vaults. Rebuilt at start by re-registering each row in idx order.
CREATE TABLE IF NOT EXISTS vaults (
    idx          INTEGER PRIMARY KEY CHECK (idx >= 0),  -- registry slot = registration order, dense from 0
    vault_id     TEXT    NOT NULL UNIQUE,               -- "v-" + 16 hex, derived from the content
    kind         TEXT    NOT NULL,                      -- 'opvault' | 'presigned' | 'ccv' (version 11)
    registration TEXT    NOT NULL,                      -- canonical registration JSON, without secrets (version 7)
    policy       TEXT    NOT NULL,                      -- policy JSON {mode, grace_blocks}
    removed      INTEGER NOT NULL,                      -- 1 after removevault (the slot is kept)
    created_at   INTEGER NOT NULL,                      -- unix seconds of registration
    output_key_cache BLOB                               -- version 5. opvault: 42 bytes, version 1 || parity || x(Q) ||
                                                        -- 8 bytes binding them to vault_id: the tweak not redone at start.
                                                        -- NULL for presigned, and for rows of older versions until the next start
    recovery_auth TEXT                                  -- version 7. opvault with an authorized recover leaf: the hex secret
                                                        -- that signs its sweeps, apart from the registration (NULL = none)
);

-- Operator approvals of withdrawals.
CREATE TABLE IF NOT EXISTS approvals (
    id            INTEGER PRIMARY KEY,                  -- approval id shown by listapprovals
    vault_idx     INTEGER NOT NULL,                     -- vaults.idx
    kind          TEXT    NOT NULL,                     -- 'ctv_hash' | 'trigger_txid'
    value         BLOB    NOT NULL,                     -- 32 bytes: CTV hash as pushed, or txid (serialization order)
    expiry_height INTEGER,                              -- last height it applies at; NULL = no expiry
    revoked       INTEGER NOT NULL                      -- 1 after revokeapproval
);

-- Confirmed transactions that touched a vault, replayed in order to rebuild UTXOs and states.
CREATE TABLE IF NOT EXISTS vault_txs (
    height     INTEGER NOT NULL,                        -- block height
    pos        INTEGER NOT NULL,                        -- position in the block
    block_hash BLOB    NOT NULL,                        -- 32 bytes, serialization order
    txid       BLOB    NOT NULL,                        -- 32 bytes, serialization order
    tx         BLOB    NOT NULL,                        -- the transaction, with witness
    PRIMARY KEY (height, pos)
);

-- Recoveries decided on; a row exists before the first broadcast.
CREATE TABLE IF NOT EXISTS recoveries (
    txid             BLOB    PRIMARY KEY,               -- recovery txid, serialization order
    kind             TEXT    NOT NULL,                  -- 'opvault_unauthorized' | 'opvault_authorized' | 'presigned' | 'presigned_emergency' | 'ccv' (version 11)
    trigger_txid     BLOB    NOT NULL,                  -- the trigger it answers
    vault_ids        TEXT    NOT NULL,                  -- comma-separated vault ids it sweeps
    tx               BLOB    NOT NULL,                  -- the signed transaction, with witness
    state            TEXT    NOT NULL,                  -- planned | broadcast | confirmed | failed | conflicted | replaced (vault/lifecycle.h)
    deadline_height  INTEGER,                           -- last height it must confirm at (trigger height + delay - 1)
    confirmed_height INTEGER,                           -- block it confirmed in
    attempts         INTEGER NOT NULL,                  -- sendrawtransaction attempts
    last_error       TEXT    NOT NULL,                  -- last broadcast error ('' if none)
    created_at       INTEGER NOT NULL                   -- unix seconds of the decision
);

-- Event log: what the operator is told (webhook payload source).
CREATE TABLE IF NOT EXISTS events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,       -- increasing event number
    created_at INTEGER NOT NULL,                        -- unix seconds
    type       TEXT    NOT NULL,                        -- e.g. 'vault.trigger', 'recovery.broadcast'
    vault_id   TEXT    NOT NULL,                        -- '' when not about one vault
    txid       TEXT    NOT NULL,                        -- display hex of the tx concerned, or ''
    height     INTEGER,                                 -- block height, NULL for mempool
    data       TEXT    NOT NULL                         -- JSON object
);

-- Version 3: webhooks (docs/product.md §7, docs/webhooks.md). The events table above is the outbox's
-- source: the engine appends events in the same transaction as the state change; the dispatcher
-- copies each new event into webhook_deliveries for every enabled hook whose filter matches, and
-- advances that hook's cursor, in one transaction. A delivery row is deleted only once the
-- endpoint answered 2xx, so a crash at any point repeats a delivery, never skips one.

-- Webhook endpoints: config-file ones (upserted at start) and RPC-added ones.
CREATE TABLE IF NOT EXISTS webhooks (
    id         TEXT    PRIMARY KEY,                     -- 'wh-' + 16 hex; config hooks: derived from the URL
    url        TEXT    NOT NULL,                        -- http:// or https:// endpoint
    secret     TEXT    NOT NULL,                        -- HMAC-SHA256 key (never returned by RPC or logged; file is 0600)
    events     TEXT    NOT NULL,                        -- filter: '*' or comma-separated types / families ('recovery.*')
    enabled    INTEGER NOT NULL,                        -- 0: skipped (an operator's choice; 410 does not set it)
    source     TEXT    NOT NULL,                        -- 'config' | 'rpc'
    cursor     INTEGER NOT NULL,                        -- events.seq up to which deliveries are queued (or filtered out)
    delivered  INTEGER NOT NULL,                        -- deliveries acknowledged with 2xx
    failed     INTEGER NOT NULL,                        -- deliveries given up after the retry horizon
    last_error TEXT    NOT NULL,                        -- last failure ('' after a success)
    created_at INTEGER NOT NULL                         -- unix seconds
);

-- The outbox: one row per (hook, event) still owed. Deleted once delivered; 'failed' rows stay.
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    webhook_id      TEXT    NOT NULL,                   -- webhooks.id (deleted with it)
    event_seq       INTEGER NOT NULL,                   -- events.seq
    state           TEXT    NOT NULL,                   -- 'pending' | 'failed' (given up after the horizon)
    attempts        INTEGER NOT NULL,                   -- HTTP attempts made
    next_attempt_at INTEGER NOT NULL,                   -- unix milliseconds of the next attempt (backoff)
    created_at      INTEGER NOT NULL,                   -- unix seconds of the event; the horizon counts from here
    last_status     INTEGER,                            -- HTTP status of the last attempt, NULL if no response
    last_error      TEXT    NOT NULL,                   -- last failure, '' if none
    PRIMARY KEY (webhook_id, event_seq)
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_by_state ON webhook_deliveries (webhook_id, state, event_seq);

-- Version 4: rescans still to do (registration birth heights, the rescan RPC), so that a restart
-- resumes them instead of forgetting them.
CREATE TABLE IF NOT EXISTS rescans (
    id          INTEGER PRIMARY KEY CHECK (id > 0),         -- chosen by the engine
    vault_idx   INTEGER CHECK (vault_idx IS NULL OR vault_idx >= 0), -- the vault looked for (vaults.idx); NULL = every vault
    next_height INTEGER NOT NULL CHECK (next_height >= 0),  -- the next block to read; advances with what was found
    created_at  INTEGER NOT NULL                            -- unix seconds of the request
);

-- Version 5: vaults.output_key_cache BLOB (see the vaults table).

-- Version 6: when the tower first saw each trigger (our tip then). A trigger first seen in the
-- mempool may confirm at the next block: its earliest deadline, and whether an approval was in
-- force when it appeared, count from here, across restarts and reorgs.
CREATE TABLE IF NOT EXISTS sightings (
    txid     BLOB    PRIMARY KEY CHECK (length(txid) = 32), -- the trigger's txid, serialization order
    seen_at  INTEGER NOT NULL CHECK (seen_at >= -1)        -- our tip height at first sight
) WITHOUT ROWID;

-- Version 7: vaults.recovery_auth TEXT; the secret is moved out of each registration JSON.
-- Version 8: recoveries.state admits 'conflicted' (the table is rebuilt).
-- Version 9: vault families (families table; vaults.family_id, vaults.family_index).
-- Version 10: vaults.compact BLOB: an opvault vault's compact form (vault::EncodeCompactVault:
-- its index keys, shortest delay, label, birth height, bound to vault_id by an 8-byte check),
-- what a cold start loads instead of parsing the registration; NULL until written. The
-- registration itself moves to a table of its own, so that a cold start reads a narrow table:
--   CREATE TABLE registrations (idx INTEGER PRIMARY KEY CHECK (idx >= 0), registration TEXT NOT NULL);
-- and vaults.registration is dropped.
