
/*
 * 56_cascade_check: osv.cascade_soft_delete() returns at once from an
 * UPDATE that trashes, restores or re-attributes nothing, without joining
 * its transition tables (that join was planned as a nested loop: an UPDATE
 * of 4,000 summaries took 12 s, of 20,000 more than 18 minutes).
 */
CREATE OR REPLACE FUNCTION osv.cascade_soft_delete()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	child text;
	fk text;
	changed boolean;
BEGIN
	/*
	 * Every transition passed on involves a row that is or was trashed: an
	 * UPDATE of live rows only (the common case) ends here, in one pass over
	 * each transition table.
	 */
	IF NOT EXISTS (SELECT FROM old_rows WHERE deleted_at IS NOT NULL)
	   AND NOT EXISTS (SELECT FROM new_rows WHERE deleted_at IS NOT NULL) THEN
		RETURN NULL;
	END IF;

	/*
	 * Planned at each call (EXECUTE), with the transition tables' sizes, and
	 * counted rather than tested with EXISTS, whose early-exit costing picks
	 * a nested loop: quadratic in the rows of a large UPDATE.
	 */
	EXECUTE $q$SELECT pg_catalog.count(*) > 0 FROM new_rows n JOIN old_rows o ON o.id = n.id
			   WHERE (o.deleted_at IS NULL) <> (n.deleted_at IS NULL)
				  OR o.trash_batch IS DISTINCT FROM n.trash_batch$q$ INTO changed;
	IF NOT changed THEN
		RETURN NULL;
	END IF;

	FOR i IN 0 .. TG_NARGS / 2 - 1 LOOP
		child := TG_ARGV[2 * i];
		fk := TG_ARGV[2 * i + 1];

		EXECUTE format($q$
			UPDATE osv.%1$I c
			   SET deleted_at = n.deleted_at, trash_batch = n.trash_batch
			  FROM old_rows o JOIN new_rows n ON n.id = o.id
			 WHERE o.deleted_at IS NULL AND n.deleted_at IS NOT NULL
			   AND c.%2$I = n.id AND c.deleted_at IS NULL$q$, child, fk);

		EXECUTE format($q$
			UPDATE osv.%1$I c
			   SET deleted_at = NULL, trash_batch = -c.trash_batch
			  FROM old_rows o JOIN new_rows n ON n.id = o.id
			 WHERE o.deleted_at IS NOT NULL AND n.deleted_at IS NULL
			   AND c.%2$I = n.id AND c.trash_batch = o.trash_batch$q$, child, fk);

		EXECUTE format($q$
			UPDATE osv.%1$I c
			   SET trash_batch = n.trash_batch
			  FROM old_rows o JOIN new_rows n ON n.id = o.id
			 WHERE o.deleted_at IS NOT NULL AND n.deleted_at IS NOT NULL
			   AND o.trash_batch <> n.trash_batch
			   AND c.%2$I = n.id AND c.trash_batch = o.trash_batch$q$, child, fk);
	END LOOP;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION osv.cascade_soft_delete() IS 'trigger: pass trash, restore and re-attribution of rows on to their children';
