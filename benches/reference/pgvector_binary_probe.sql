-- Binary quantization with exact re-ranking against vector HNSW, timed inside PostgreSQL
-- (BENCHMARKS.md, issue 22's per-query cost): on the table the pgvector bench leaves
-- (`scripts/bench-pgvector.sh`, or `cargo bench -p lookbook-pgvector --bench pgvector -- --n 1000000
-- --m 32 --efc 128`: bench_1000000, 1M × 256 clustered rows, keys i·7+3), after
--   CREATE INDEX bench_1000000_bits ON bench_1000000
--     USING hnsw ((binary_quantize(embedding)::bit(256)) bit_hamming_ops) WITH (m = 16, ef_construction = 64);
-- run: psql "$LOOKBOOK_PG_URL" -f benches/reference/pgvector_binary_probe.sql
-- Queries: 100 of the table's own rows (each one's own row left out of its answer); truth: exact
-- search (a sequential scan). Prints, per method, ms per query (second pass) and recall@10.
SET hnsw.iterative_scan = strict_order;
SET max_parallel_workers_per_gather = 2;
CREATE TEMP TABLE q AS SELECT key, embedding FROM bench_1000000 WHERE ((key - 3) / 7) % 10000 = 17;
SET enable_indexscan = off;
CREATE TEMP TABLE truth AS
  SELECT q.key AS qkey, t.key FROM q CROSS JOIN LATERAL
    (SELECT b.key FROM bench_1000000 b WHERE b.key <> q.key ORDER BY b.embedding <-> q.embedding LIMIT 10) t;
RESET enable_indexscan;
CREATE TEMP TABLE found (method text, qkey bigint, key bigint);
DO $$ DECLARE
  r record; t0 timestamptz; n int; ms numeric; hits bigint;
  method record;
BEGIN
  FOR method IN SELECT * FROM (VALUES
      ('vector HNSW, ef 16', 16, 'SELECT key FROM bench_1000000 ORDER BY embedding <-> $1 LIMIT 11'),
      ('vector HNSW, ef 32', 32, 'SELECT key FROM bench_1000000 ORDER BY embedding <-> $1 LIMIT 11'),
      ('vector HNSW, ef 64', 64, 'SELECT key FROM bench_1000000 ORDER BY embedding <-> $1 LIMIT 11'),
      ('vector HNSW, ef 128', 128, 'SELECT key FROM bench_1000000 ORDER BY embedding <-> $1 LIMIT 11'),
      ('bits, 100 re-ranked', 100, 'SELECT key FROM (SELECT key, embedding FROM bench_1000000 ORDER BY binary_quantize(embedding)::bit(256) <~> binary_quantize($1) LIMIT 100) c ORDER BY embedding <-> $1 LIMIT 11'),
      ('bits, 200 re-ranked', 200, 'SELECT key FROM (SELECT key, embedding FROM bench_1000000 ORDER BY binary_quantize(embedding)::bit(256) <~> binary_quantize($1) LIMIT 200) c ORDER BY embedding <-> $1 LIMIT 11'),
      ('bits, 400 re-ranked', 400, 'SELECT key FROM (SELECT key, embedding FROM bench_1000000 ORDER BY binary_quantize(embedding)::bit(256) <~> binary_quantize($1) LIMIT 400) c ORDER BY embedding <-> $1 LIMIT 11'),
      ('bits, 800 re-ranked', 800, 'SELECT key FROM (SELECT key, embedding FROM bench_1000000 ORDER BY binary_quantize(embedding)::bit(256) <~> binary_quantize($1) LIMIT 800) c ORDER BY embedding <-> $1 LIMIT 11')
    ) AS m(name, ef, sql)
  LOOP
    PERFORM set_config('hnsw.ef_search', method.ef::text, false);
    FOR pass IN 1..2 LOOP
      n := 0; t0 := clock_timestamp();
      FOR r IN SELECT key, embedding FROM q LOOP
        IF pass = 1 THEN
          EXECUTE 'INSERT INTO found SELECT $2, $3, key FROM (' || method.sql || ') a WHERE key <> $3 LIMIT 10' USING r.embedding, method.name, r.key;
        ELSE
          EXECUTE method.sql USING r.embedding;
        END IF;
        n := n + 1;
      END LOOP;
      ms := round((extract(epoch FROM clock_timestamp() - t0) * 1000 / n)::numeric, 3);
    END LOOP;
    SELECT count(*) INTO hits FROM found f JOIN truth t ON t.qkey = f.qkey AND t.key = f.key WHERE f.method = method.name;
    RAISE NOTICE '%: % ms per query, recall@10 %', method.name, ms, round(hits::numeric / (10 * n), 3);
  END LOOP;
END $$;
