-- chatwire schema, version 2: several nodes on one database.
--
-- Ids that two nodes must never both take come from sequences instead of counters in each
-- node's memory. Each starts after the largest id already stored (a database migrated from
-- version 1, or filled by migrate-to-postgres, which resynchronizes them after its copy).

CREATE SEQUENCE chatwire_user_ids;
CREATE SEQUENCE chatwire_admin_ids;
CREATE SEQUENCE chatwire_ordinals;

SELECT setval('chatwire_user_ids', coalesce((SELECT max(id) FROM users), 1000), true);
SELECT setval('chatwire_admin_ids', coalesce((SELECT max(admin_id) FROM users), 0) + 1, false);
SELECT setval('chatwire_ordinals', coalesce((SELECT max(ordinal) FROM conversations), 0) + 1, false);
