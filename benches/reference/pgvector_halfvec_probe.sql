-- halfvec against vector HNSW, timed inside PostgreSQL (BENCHMARKS.md, pgvector rerun): on the table
-- scripts/bench-serve-table.sh 1000000 leaves (serve_1000000_256_0x32), after
--   CREATE INDEX serve_1000000_256_0x32_half ON serve_1000000_256_0x32
--     USING hnsw ((embedding::halfvec(256)) halfvec_l2_ops) WITH (m = 16, ef_construction = 64);
-- run: psql "$LOOKBOOK_PG_URL" -f benches/reference/pgvector_halfvec_probe.sql
SET hnsw.ef_search = 256;
SET hnsw.iterative_scan = strict_order;
CREATE TEMP TABLE q AS SELECT embedding FROM serve_1000000_256_0x32 WHERE ((key - 3) / 7) % 5000 = 0;
DO $$ DECLARE r record; t0 timestamptz; n int := 0; BEGIN
  FOR pass IN 1..2 LOOP
  n := 0; t0 := clock_timestamp();
  FOR r IN SELECT embedding FROM q LOOP
    PERFORM key FROM serve_1000000_256_0x32 ORDER BY embedding <-> r.embedding LIMIT 10;
    n := n + 1;
  END LOOP;
  RAISE NOTICE 'vector, pass %: % ms per query (% queries)', pass, round((extract(epoch from clock_timestamp() - t0) * 1000 / n)::numeric, 3), n;
  n := 0; t0 := clock_timestamp();
  FOR r IN SELECT embedding FROM q LOOP
    PERFORM key FROM serve_1000000_256_0x32 ORDER BY embedding::halfvec(256) <-> r.embedding::halfvec(256) LIMIT 10;
    n := n + 1;
  END LOOP;
  RAISE NOTICE 'halfvec, pass %: % ms per query (% queries)', pass, round((extract(epoch from clock_timestamp() - t0) * 1000 / n)::numeric, 3), n;
  END LOOP;
END $$;
