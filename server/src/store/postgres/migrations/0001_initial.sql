-- chatwire schema, version 1.
--
-- Current state is kept as JSON text (byte-exact: custom data keeps its key order, which jsonb
-- would not) next to the columns that constraints, indexes and cross-node checks need.
-- Designed for several nodes on one database: the event log is keyed by (conversation, seq),
-- every conversation row carries its last seq, idempotency keys and direct pairs are unique.

CREATE TABLE meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);

CREATE TABLE users (
    id       bigint PRIMARY KEY,
    admin_id bigint NOT NULL UNIQUE,
    name     text   NOT NULL UNIQUE,
    data     text   NOT NULL
);

CREATE TABLE tokens (
    hash       text   PRIMARY KEY,
    user_id    bigint NOT NULL,
    expires_at bigint NOT NULL,
    data       text   NOT NULL
);
CREATE INDEX tokens_user ON tokens (user_id);

CREATE TABLE conversations (
    uuid        uuid    PRIMARY KEY,
    ordinal     bigint  NOT NULL UNIQUE,
    last_seq    bigint  NOT NULL CHECK (last_seq >= 0),
    last_update bigint  NOT NULL,
    direct      boolean NOT NULL,
    deleted     boolean NOT NULL,
    data        text    NOT NULL
);

CREATE TABLE members (
    conversation uuid    NOT NULL,
    user_id      bigint  NOT NULL,
    participant  boolean NOT NULL,
    last_read    bigint  NOT NULL,
    data         text    NOT NULL,
    PRIMARY KEY (conversation, user_id)
);
CREATE INDEX members_user ON members (user_id) WHERE participant;

-- One direct conversation per pair of users, whichever node creates it.
CREATE TABLE direct_pairs (
    user_low     bigint NOT NULL,
    user_high    bigint NOT NULL,
    conversation uuid   NOT NULL UNIQUE,
    PRIMARY KEY (user_low, user_high),
    CHECK (user_low <= user_high)
);

CREATE TABLE messages (
    conversation uuid NOT NULL,
    uuid         uuid NOT NULL,
    data         text NOT NULL,
    PRIMARY KEY (conversation, uuid)
);

-- The log: one row per seq, the broadcast payload exactly as sent.
CREATE TABLE events (
    conversation uuid    NOT NULL,
    seq          bigint  NOT NULL CHECK (seq > 0),
    event        text    NOT NULL,
    initiator    bigint  NOT NULL,
    is_message   boolean NOT NULL,
    payload      text    NOT NULL,
    PRIMARY KEY (conversation, seq)
);

CREATE TABLE idempotency_keys (
    user_id      bigint NOT NULL,
    key          text   NOT NULL,
    action       text   NOT NULL,
    conversation uuid   NOT NULL,
    seq          bigint NOT NULL,
    created      bigint NOT NULL,
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created);

-- The last group each writer (one per node process) committed: a commit whose outcome was lost
-- with the connection is looked up here before it is retried.
CREATE TABLE writers (
    writer     uuid        PRIMARY KEY,
    last_group bigint      NOT NULL,
    updated    timestamptz NOT NULL DEFAULT now()
);
