/* src/sql/core.sql: schema osv and the machinery shared by every domain */

\echo Use "CREATE EXTENSION osv" to load this file. \quit

/*
 * The control file installs osv into pg_catalog (so this script runs with a
 * safe search_path) and the script creates schema osv as a member of the
 * extension: DROP EXTENSION removes it with everything in it.  Every object
 * is written schema-qualified.
 */
CREATE SCHEMA osv;
COMMENT ON SCHEMA osv IS 'Open Study Volt data layer: tables, soft deletes, retention, vector sync, search, gamification, GDPR';

CREATE FUNCTION osv.setting_interval(name text)
RETURNS interval
LANGUAGE C STABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'osv_setting_interval';
COMMENT ON FUNCTION osv.setting_interval(text) IS 'value of an interval-valued osv setting, such as osv.trash_retention';

/*
 * True while the current statement loads the rows of a dump (a superuser's
 * COPY in a session with row_security = off, as pg_dump's scripts and
 * pg_restore run; src/restore.c).  The triggers that derive state from a new row (the
 * soft-delete guard, the outbox, badges, point totals) skip such rows with
 * WHEN (NOT osv.restoring()): a dump holds that state already (backup.sql).
 */
CREATE FUNCTION osv.restoring()
RETURNS boolean
LANGUAGE C STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'osv_restoring';
COMMENT ON FUNCTION osv.restoring() IS 'whether the current statement loads rows of a dump (COPY with row_security off), when triggers add nothing';

/* ------------------------------------------------------------------------
 * updated_at
 * ------------------------------------------------------------------------
 */
CREATE FUNCTION osv.touch_updated_at()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'osv_touch_updated_at';
COMMENT ON FUNCTION osv.touch_updated_at() IS 'trigger: set updated_at to now() unless the statement set it';

/* ------------------------------------------------------------------------
 * Soft deletes (DESIGN.md section 4)
 *
 * A row is trashed by setting deleted_at.  Each soft-deletable table has a
 * trash_batch column: the number of the soft delete that trashed the row.
 * A row trashed directly gets a new number; the rows trashed by the
 * cascade from it share that number.  A restore brings back exactly the
 * children that carry the parent's number.  The BEFORE ROW trigger
 * osv.soft_delete_guard() (C) assigns numbers and checks parents; the
 * statement trigger osv.cascade_soft_delete() below walks the ownership
 * tree, which mirrors the ON DELETE CASCADE foreign keys.
 * ------------------------------------------------------------------------
 */
CREATE SEQUENCE osv.trash_batch_seq AS bigint;
COMMENT ON SEQUENCE osv.trash_batch_seq IS 'numbers of soft deletes; rows trashed by one cascade share one number';

CREATE FUNCTION osv.soft_delete_guard()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'osv_soft_delete_guard';
COMMENT ON FUNCTION osv.soft_delete_guard() IS 'trigger: number soft deletes and keep live rows from referring to trashed rows';

/*
 * AFTER UPDATE FOR EACH STATEMENT, with transition tables old_rows and
 * new_rows.  Arguments: pairs of (child table in schema osv, foreign key
 * column of the child referring to this table).  Three transitions of a
 * parent row are passed on to its children:
 *   trash:      live children get the parent's deleted_at and batch;
 *   restore:    children with the parent's old batch are restored (the
 *               guard may keep one trashed if another parent is trashed);
 *   re-attribution: a trashed row whose batch changed (the guard kept it
 *               trashed for another parent) passes the new batch on to the
 *               children that carried its old one.
 * The nested UPDATEs fire the children's own triggers, so the cascade walks
 * the whole tree.
 */
CREATE FUNCTION osv.cascade_soft_delete()
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

/*
 * The soft-deletable tables, in the order of the ownership tree.  Filled by
 * the domain files; osv.soft_delete() and osv.restore() accept only these.
 */
CREATE TABLE osv.soft_delete_tables (
	table_name regclass PRIMARY KEY,
	position integer NOT NULL UNIQUE
);
COMMENT ON TABLE osv.soft_delete_tables IS 'tables of osv that support soft deletes, parents before children';
COMMENT ON COLUMN osv.soft_delete_tables.table_name IS 'the soft-deletable table';
COMMENT ON COLUMN osv.soft_delete_tables.position IS 'place in the ownership tree: parents have smaller numbers than their children';

/*
 * Trashes and restores of users take one lock first, before any row lock.
 *
 * A user's cascade updates rows of other users (their participations in the
 * user's rooms), and on restore the guard locks the other parents of each
 * restored row FOR SHARE (the other user of a participation) after the row
 * itself.  Two such cascades at once take the same rows in opposite
 * orders and deadlock (8 clients trashing and restoring 40 users: dozens
 * of deadlocks in seconds, test/t/013_soft_delete_contention.pl).  So every
 * statement that sets users.deleted_at first takes the transaction-level
 * advisory lock (7303030, 100) ("osv" in ASCII; 1 to 6 are the retention
 * jobs): the BEFORE STATEMENT trigger lock_user_trash takes it before the
 * statement locks any row, and osv.set_trashed() before it locks the
 * user's row.  Trashes and restores of users then run one at a time, which
 * they can afford (they are rare), and their locks come in one order.
 * XXX A transaction that locked a user row by itself before trashing or
 * restoring a user can still deadlock with another.
 */
CREATE FUNCTION osv.lock_user_trash_now()
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
RETURN pg_catalog.pg_advisory_xact_lock(7303030, 100);
COMMENT ON FUNCTION osv.lock_user_trash_now() IS 'take the lock that trashes and restores of users take before any row lock, until the end of the transaction';

CREATE FUNCTION osv.lock_user_trash()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM osv.lock_user_trash_now();
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION osv.lock_user_trash() IS 'trigger: take the lock of trashes and restores of users before the statement locks any row';

/*
 * Trash (trash = true) or restore one row of a soft-deletable table, by the
 * same UPDATE of deleted_at that an app would run, so the triggers do the
 * rest.  Returns false when the row already was in the wanted state.
 */
CREATE FUNCTION osv.set_trashed(tbl regclass, id bigint, trash boolean)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	was_trashed boolean;
BEGIN
	IF tbl IS NULL THEN
		RAISE EXCEPTION 'table must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF NOT EXISTS (SELECT FROM osv.soft_delete_tables t WHERE t.table_name = tbl) THEN
		RAISE EXCEPTION 'table "%" does not support soft deletes', tbl
			USING ERRCODE = 'wrong_object_type',
				  HINT = 'Soft deletes apply to the content tables of schema osv, such as osv.documents.';
	END IF;
	IF id IS NULL THEN
		RAISE EXCEPTION 'id must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	/* Before the row lock below: see osv.lock_user_trash_now(). */
	IF tbl = 'osv.users'::regclass THEN
		PERFORM osv.lock_user_trash_now();
	END IF;
	EXECUTE format('SELECT deleted_at IS NOT NULL FROM %s WHERE id = $1 FOR NO KEY UPDATE', tbl)
		INTO was_trashed USING id;
	IF was_trashed IS NULL THEN
		RAISE EXCEPTION 'row % of "%" does not exist', id, tbl USING ERRCODE = 'no_data_found';
	END IF;
	IF was_trashed = trash THEN
		RETURN false;
	END IF;
	EXECUTE format('UPDATE %s SET deleted_at = CASE WHEN $2 THEN pg_catalog.now() END WHERE id = $1', tbl)
		USING id, trash;
	RETURN true;
END
$$;
COMMENT ON FUNCTION osv.set_trashed(regclass, bigint, boolean) IS 'trash or restore one row; false if it already was in that state';

CREATE FUNCTION osv.soft_delete(tbl regclass, id bigint)
RETURNS boolean
LANGUAGE sql
RETURN osv.set_trashed(tbl, id, true);
COMMENT ON FUNCTION osv.soft_delete(regclass, bigint) IS 'trash a row and everything it owns; false if it was trashed already';

CREATE FUNCTION osv.restore(tbl regclass, id bigint)
RETURNS boolean
LANGUAGE sql
RETURN osv.set_trashed(tbl, id, false);
COMMENT ON FUNCTION osv.restore(regclass, bigint) IS 'restore a trashed row and what its soft delete trashed with it; false if it was live';
