-- bench/search_round.sql: one round of bench/search.sh: :queries exact
-- top-10 searches by osv.search_embedded() (the embedded engine that
-- osv.search_summaries() calls) with no filter, with a topic filter (a
-- twentieth of the rows, read through summaries_topic_idx) and with a user
-- filter (a thousandth), appended to bench_timings, all by one backend
-- (max_parallel_workers_per_gather = 0), then with no filter by the
-- parallel scan (src/parallel_scan.c) with :workers workers besides the
-- leader.  psql variables: round, queries, workers.  The table is
-- prewarmed into shared buffers first.
SELECT pg_prewarm('osv.summaries') \g /dev/null
SELECT set_config('bench.round', :'round', false), set_config('bench.queries', :'queries', false),
	   set_config('bench.workers', :'workers', false) \g /dev/null
DO $$
DECLARE
	r record;
	t0 timestamptz;
	top bigint[];
	round integer := current_setting('bench.round')::integer;
	user_ids bigint[] := ARRAY(SELECT id FROM osv.users ORDER BY id);
BEGIN
	PERFORM set_config('max_parallel_workers_per_gather', '0', false);
	FOR r IN SELECT * FROM bench_queries WHERE n <= current_setting('bench.queries')::integer ORDER BY n LOOP
		t0 := clock_timestamp();
		SELECT array_agg(summary_id) INTO top FROM osv.search_embedded(r.v, 10);
		INSERT INTO bench_timings VALUES ('exact', round, r.n, extract(epoch FROM clock_timestamp() - t0) * 1000, top);
		t0 := clock_timestamp();
		SELECT array_agg(summary_id) INTO top FROM osv.search_embedded(r.v, 10, NULL, 'topic ' || r.n % 20);
		INSERT INTO bench_timings VALUES ('topic', round, r.n, extract(epoch FROM clock_timestamp() - t0) * 1000, top);
		t0 := clock_timestamp();
		SELECT array_agg(summary_id) INTO top
		FROM osv.search_embedded(r.v, 10, user_ids[1 + r.n % array_length(user_ids, 1)]);
		INSERT INTO bench_timings VALUES ('user', round, r.n, extract(epoch FROM clock_timestamp() - t0) * 1000, top);
		IF current_setting('bench.workers')::integer > 0 THEN
			PERFORM set_config('max_parallel_workers_per_gather', current_setting('bench.workers'), false);
			PERFORM set_config('osv.search_parallel_workers', current_setting('bench.workers'), false);
			t0 := clock_timestamp();
			SELECT array_agg(summary_id) INTO top FROM osv.search_embedded(r.v, 10);
			INSERT INTO bench_timings VALUES ('parallel', round, r.n, extract(epoch FROM clock_timestamp() - t0) * 1000, top);
			PERFORM set_config('max_parallel_workers_per_gather', '0', false);
		END IF;
	END LOOP;
END
$$;
