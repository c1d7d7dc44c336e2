-- The page of items on a table, two ways, and the item count (docs/scaling.md): on the table
-- scripts/bench-serve-table.sh 1000000 leaves (serve_1000000_256_0x32; with its position index).
-- run: psql "$LOOKBOOK_PG_URL" -f benches/reference/pgvector_items_page_probe.sql
-- 1: DISTINCT ON (a filtered page's form); 2, 3: the position-index walk at offsets 0 and 10,000; 4: the item count.
\timing on
SELECT count(*) FROM (SELECT key, item_id, image, attributes, NULL::jsonb, count(*) OVER () FROM (SELECT DISTINCT ON (item_id) key, item_id, image, attributes, position FROM serve_1000000_256_0x32 ORDER BY item_id, position, key) firsts WHERE attributes @> '{}' ORDER BY position, key OFFSET 0 LIMIT 24) x;
SELECT count(*) FROM (SELECT key, item_id FROM serve_1000000_256_0x32 t WHERE NOT EXISTS (SELECT 1 FROM serve_1000000_256_0x32 o WHERE o.item_id = t.item_id AND (o.position, o.key) < (t.position, t.key)) ORDER BY position, key OFFSET 0 LIMIT 24) x;
SELECT count(*) FROM (SELECT key, item_id FROM serve_1000000_256_0x32 t WHERE NOT EXISTS (SELECT 1 FROM serve_1000000_256_0x32 o WHERE o.item_id = t.item_id AND (o.position, o.key) < (t.position, t.key)) ORDER BY position, key OFFSET 10000 LIMIT 24) x;
SELECT count(DISTINCT item_id) FROM serve_1000000_256_0x32;
