-- EXPLAIN (ANALYZE, BUFFERS) of the search statements a server sends (BENCHMARKS.md, issue 22), on the table
-- scripts/bench-serve-table.sh 20000 4 leaves (serve_20000_256_4x32). run: psql "$LOOKBOOK_PG_URL" -f benches/reference/pgvector_search_explain.sql
\timing on
SET hnsw.iterative_scan = strict_order;
SET hnsw.ef_search = 64;
SELECT embedding::text AS v FROM serve_20000_256_4x32 WHERE key = 3 \gset
EXPLAIN (ANALYZE, BUFFERS) SELECT key, (embedding <-> :'v')::real FROM serve_20000_256_4x32 ORDER BY embedding <-> :'v' LIMIT 10;
EXPLAIN (ANALYZE, BUFFERS) SELECT key, (embedding <-> :'v')::real FROM serve_20000_256_4x32 WHERE attributes @> '{}' AND (NULL::text IS NULL OR item_id <> 'i0') ORDER BY embedding <-> :'v' LIMIT 10;
EXPLAIN (ANALYZE, BUFFERS) SELECT key, (embedding <-> :'v')::real FROM serve_20000_256_4x32 WHERE attributes @> '{}' AND ('i0'::text IS NULL OR item_id <> 'i0') ORDER BY embedding <-> :'v' LIMIT 10;
