/*-------------------------------------------------------------------------
 *
 * soft_delete.c
 *		Row triggers of osv's soft deletes and of updated_at.
 *
 * Runs in the backend of whichever session writes a content table; both
 * triggers are BEFORE ROW triggers, so they run inside the writing
 * statement's transaction and never start or commit one.
 *
 * osv.soft_delete_guard() keeps the invariant that a live row never hangs
 * under a trashed row, and does the bookkeeping that lets a restore undo
 * exactly the cascade that trashed a row.  Each soft-deletable table has
 * deleted_at and trash_batch: a row trashed directly gets a fresh batch
 * number from osv.trash_batch_seq; the statement trigger
 * osv.cascade_soft_delete() (PL/pgSQL, src/sql/core.sql) trashes the live
 * children of trashed rows with the parent's batch number and, on restore,
 * brings back the children carrying the parent's old batch.  It marks such
 * a cascaded restore by setting trash_batch to the negated batch number;
 * this trigger then either clears the batch (every parent is live) or, when
 * another parent is still trashed, keeps the row trashed and re-attributes
 * it to that parent's batch, so that restoring that parent later brings it
 * back.  A direct restore under a trashed parent is an error.
 *
 * Locks: to check a parent, the guard reads it with FOR SHARE.  That
 * conflicts with the FOR NO KEY UPDATE lock of a concurrent soft delete of
 * the parent, so an insert and a trash of its parent serialize: either the
 * insert waits and then sees the parent trashed (and fails), or the trash
 * waits and its cascade, run after the insert commits, sees the new row.
 *
 * osv.touch_updated_at() sets updated_at to the transaction's start time
 * unless the statement set it itself (Laravel sets its own timestamps).
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		src/soft_delete.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "spi_plan.h"
#include "trigger_check.h"

/* Most (fk column, parent table) pairs a guard trigger may name. */
#define MAX_PARENTS 8

/* What the guard learned about a trashed parent. */
typedef struct TrashedParent
{
	const char *fk_column;
	const char *parent_table;
	int64		parent_id;
	int64		parent_batch;
} TrashedParent;

/* Raise the error of a row that would hang under a trashed parent. */
static void
raise_trashed_parent(const TrashedParent *parent, const char *message)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg_internal("%s", message),
			 errdetail("Column \"%s\" refers to a trashed row.", parent->fk_column),
			 errhint("Restore the row of \"%s\" first.", parent->parent_table)));
}

/* Append a column change for heap_modify_tuple_by_cols(). */
static inline void
put_column(int *cols, Datum *values, bool *nulls, int *ncols,
		   int attno, Datum value, bool isnull)
{
	cols[*ncols] = attno;
	values[*ncols] = value;
	nulls[*ncols] = isnull;
	(*ncols)++;
}

/* Attribute number of a column that the trigger requires, or an error. */
static int
required_column(Relation rel, const char *column, Oid expected_type)
{
	int			attno = SPI_fnumber(RelationGetDescr(rel), column);

	if (attno <= 0 ||
		TupleDescAttr(RelationGetDescr(rel), attno - 1)->atttypid != expected_type)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("table \"%s\" has no column \"%s\" of type %s",
						RelationGetRelationName(rel), column,
						format_type_be(expected_type))));
	return attno;
}

/*
 * The prepared query that reads (deleted_at, trash_batch, then the whole
 * row) of one parent row by id and locks it FOR SHARE, from the cache of
 * spi_plan.c.  The text is built from the trigger argument alone (parsed
 * and quoted, no catalog lookup), so the hot path finds the cached plan by
 * it; the plan cache revalidates it after DDL (the query names the table,
 * so a table dropped and created again, as by DROP and CREATE EXTENSION,
 * is found again).  Must be called with SPI connected.
 */
static SPIPlanPtr
parent_query(const char *parent_table)
{
	List	   *names = stringToQualifiedNameList(parent_table);
	Oid			argtypes[1] = {INT8OID};
	const char *qualified;

	if (list_length(names) == 2)
		qualified = quote_qualified_identifier(strVal(linitial(names)),
											   strVal(lsecond(names)));
	else if (list_length(names) == 1)
		qualified = quote_identifier(strVal(linitial(names)));
	else
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("invalid parent table name \"%s\"", parent_table)));
	return spi_plan(psprintf("SELECT p.deleted_at, p.trash_batch, p.* FROM %s p "
							 "WHERE p.id OPERATOR(pg_catalog.=) $1 FOR SHARE",
							 qualified),
					1, argtypes);
}

/*
 * Find the first trashed parent of "tuple" among the (fk column, parent
 * table) pairs of the trigger's arguments.  With an old_tuple (an UPDATE of
 * a live row), only the foreign keys that changed are looked at.  Every
 * parent looked at is locked FOR SHARE.  Returns false when every referenced
 * parent is live (or missing, which the foreign key reports later).  Must be
 * called with SPI not yet connected; connects and disconnects itself.
 *
 * A live parent vouches for its own parents: when the parent row has a
 * later pair's fk column with the same value (a summary's document belongs
 * to the summary's user), that parent is live too, by the very invariant
 * this trigger keeps, and need not be read.  Nor locked: a soft delete of
 * it would have to trash the parent we hold FOR SHARE, so it waits for us
 * and its cascade then sees our row.
 */
static bool
find_trashed_parent(Relation rel, Trigger *trigger, HeapTuple tuple,
					HeapTuple old_tuple, TrashedParent *result)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);
	bool		found_trashed = false;
	int			npairs = trigger->tgnargs / 2;
	bool		vouched[MAX_PARENTS] = {false};

	if (npairs > MAX_PARENTS)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trigger \"%s\" names more than %d parent tables",
						trigger->tgname, MAX_PARENTS)));

	spi_connect();

	for (int i = 0; i < npairs && !found_trashed; i++)
	{
		const char *fk_column = trigger->tgargs[2 * i];
		const char *parent_table = trigger->tgargs[2 * i + 1];
		int			attno = required_column(rel, fk_column, INT8OID);
		bool		isnull;
		Datum		fk_value = heap_getattr(tuple, attno, tupdesc, &isnull);
		Datum		args[1];
		int			rc;
		bool		deleted_isnull;
		bool		batch_isnull;
		Datum		batch;
		HeapTuple	parent;
		TupleDesc	parent_desc;

		if (isnull || vouched[i])
			continue;
		if (old_tuple != NULL)
		{
			bool		old_isnull;
			Datum		old_value = heap_getattr(old_tuple, attno, tupdesc, &old_isnull);

			if (!old_isnull && DatumGetInt64(old_value) == DatumGetInt64(fk_value))
				continue;
		}

		args[0] = fk_value;
		rc = SPI_execute_plan(parent_query(parent_table), args, NULL, false, 1);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
		if (SPI_processed != 1)
			continue;

		parent = SPI_tuptable->vals[0];
		parent_desc = SPI_tuptable->tupdesc;
		(void) SPI_getbinval(parent, parent_desc, 1, &deleted_isnull);
		batch = SPI_getbinval(parent, parent_desc, 2, &batch_isnull);
		if (!deleted_isnull)
		{
			found_trashed = true;
			result->fk_column = fk_column;
			result->parent_table = parent_table;
			result->parent_id = DatumGetInt64(fk_value);
			result->parent_batch = batch_isnull ? 0 : DatumGetInt64(batch);
			break;
		}

		/* This live parent vouches for the later parents it shares with us. */
		for (int j = i + 1; j < npairs; j++)
		{
			int			parent_attno = SPI_fnumber(parent_desc, trigger->tgargs[2 * j]);
			int			our_attno = required_column(rel, trigger->tgargs[2 * j], INT8OID);
			bool		parent_isnull;
			bool		our_isnull;
			Datum		parent_value;
			Datum		our_value;

			if (parent_attno <= 0 ||
				TupleDescAttr(parent_desc, parent_attno - 1)->atttypid != INT8OID)
				continue;
			parent_value = SPI_getbinval(parent, parent_desc, parent_attno, &parent_isnull);
			our_value = heap_getattr(tuple, our_attno, tupdesc, &our_isnull);
			if (!parent_isnull && !our_isnull &&
				DatumGetInt64(parent_value) == DatumGetInt64(our_value))
				vouched[j] = true;
		}
	}

	SPI_finish();
	return found_trashed;
}

/* A new batch number for a row trashed directly. */
static int64
next_trash_batch(void)
{
	Oid			nspid = get_namespace_oid("osv", false);
	Oid			seqid = get_relname_relid("trash_batch_seq", nspid);

	if (!OidIsValid(seqid))
		elog(ERROR, "sequence \"osv.trash_batch_seq\" does not exist");
	return DatumGetInt64(DirectFunctionCall1(nextval_oid, ObjectIdGetDatum(seqid)));
}

/* The schema-qualified name of a relation, for messages. */
static char *
qualified_name(Relation rel)
{
	return psprintf("%s.%s", get_namespace_name(RelationGetNamespace(rel)),
					RelationGetRelationName(rel));
}

static int64
row_id(Relation rel, HeapTuple tuple)
{
	bool		isnull;
	Datum		id = heap_getattr(tuple, required_column(rel, "id", INT8OID),
								  RelationGetDescr(rel), &isnull);

	return isnull ? 0 : DatumGetInt64(id);
}

/*
 * osv.soft_delete_guard() trigger function
 *
 * BEFORE INSERT OR UPDATE OF deleted_at, trash_batch, <fk columns> FOR EACH
 * ROW.  Arguments: pairs of (foreign key column, parent table), for example
 * ('user_id', 'osv.users', 'document_id', 'osv.documents').
 */
PG_FUNCTION_INFO_V1(osv_soft_delete_guard);
Datum
osv_soft_delete_guard(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = trigger_check(fcinfo, "osv.soft_delete_guard", true,
										  TRIGGER_CHECK_INSERT | TRIGGER_CHECK_UPDATE, 0,
										  "BEFORE INSERT or UPDATE FOR EACH ROW");
	Relation	rel = trigdata->tg_relation;
	Trigger    *trigger = trigdata->tg_trigger;
	TupleDesc	tupdesc = RelationGetDescr(rel);
	bool		is_insert = TRIGGER_FIRED_BY_INSERT(trigdata->tg_event);
	HeapTuple	new_tuple = is_insert ? trigdata->tg_trigtuple : trigdata->tg_newtuple;
	HeapTuple	old_tuple = is_insert ? NULL : trigdata->tg_trigtuple;
	int			deleted_attno = required_column(rel, "deleted_at", TIMESTAMPTZOID);
	int			batch_attno = required_column(rel, "trash_batch", INT8OID);
	bool		new_deleted_null;
	bool		old_deleted_null = true;
	bool		new_batch_null;
	bool		old_batch_null = true;
	Datum		new_batch;
	Datum		old_batch = (Datum) 0;
	Datum		old_deleted = (Datum) 0;
	int			cols[2];
	Datum		values[2];
	bool		nulls[2];
	int			ncols = 0;
	TrashedParent parent;

	if (trigger->tgnargs % 2 != 0)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trigger \"%s\" must have pairs of foreign key column and parent table as arguments",
						trigger->tgname)));

	(void) heap_getattr(new_tuple, deleted_attno, tupdesc, &new_deleted_null);
	new_batch = heap_getattr(new_tuple, batch_attno, tupdesc, &new_batch_null);
	if (old_tuple != NULL)
	{
		old_deleted = heap_getattr(old_tuple, deleted_attno, tupdesc, &old_deleted_null);
		old_batch = heap_getattr(old_tuple, batch_attno, tupdesc, &old_batch_null);
	}

	if (!new_deleted_null)
	{
		/*
		 * The row is trashed (or stays so).  A direct trash gets a batch of
		 * its own; a cascaded one arrives with its parent's batch.
		 */
		if (old_deleted_null &&
			(new_batch_null ||
			 (!old_batch_null && DatumGetInt64(new_batch) == DatumGetInt64(old_batch))))
		{
			put_column(cols, values, nulls, &ncols, batch_attno, Int64GetDatum(next_trash_batch()), false);
		}
	}
	else if (!old_deleted_null)
	{
		/* A restore: every parent must be live. */
		bool		cascaded = !new_batch_null && !old_batch_null &&
		DatumGetInt64(new_batch) == -DatumGetInt64(old_batch);

		if (find_trashed_parent(rel, trigger, new_tuple, NULL, &parent))
		{
			if (!cascaded)
				raise_trashed_parent(&parent,
									 psprintf("cannot restore row %lld of \"%s\" because row %lld of \"%s\" is trashed",
											  (long long) row_id(rel, new_tuple),
											  qualified_name(rel),
											  (long long) parent.parent_id, parent.parent_table));

			/* Stay trashed, now waiting for the parent that is still trashed. */
			put_column(cols, values, nulls, &ncols, deleted_attno, old_deleted, false);
			put_column(cols, values, nulls, &ncols, batch_attno, Int64GetDatum(parent.parent_batch), false);
		}
		else
		{
			put_column(cols, values, nulls, &ncols, batch_attno, (Datum) 0, true);
		}
	}
	else
	{
		/* A live row inserted or updated: its parents must be live. */
		if (find_trashed_parent(rel, trigger, new_tuple, old_tuple, &parent))
			raise_trashed_parent(&parent, is_insert ?
								 psprintf("cannot insert into \"%s\" a row that refers to trashed row %lld of \"%s\"",
										  qualified_name(rel),
										  (long long) parent.parent_id, parent.parent_table) :
								 psprintf("cannot make row %lld of \"%s\" refer to trashed row %lld of \"%s\"",
										  (long long) row_id(rel, new_tuple),
										  qualified_name(rel),
										  (long long) parent.parent_id, parent.parent_table));
		if (!new_batch_null)
		{
			put_column(cols, values, nulls, &ncols, batch_attno, (Datum) 0, true);
		}
	}

	if (ncols > 0)
		new_tuple = heap_modify_tuple_by_cols(new_tuple, tupdesc, ncols, cols,
											  values, nulls);
	return PointerGetDatum(new_tuple);
}

/*
 * osv.touch_updated_at() trigger function
 *
 * BEFORE UPDATE FOR EACH ROW: sets updated_at to now() unless the statement
 * changed it itself.
 */
PG_FUNCTION_INFO_V1(osv_touch_updated_at);
Datum
osv_touch_updated_at(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = trigger_check(fcinfo, "osv.touch_updated_at", true,
										  TRIGGER_CHECK_UPDATE, 0,
										  "BEFORE UPDATE FOR EACH ROW");
	Relation	rel = trigdata->tg_relation;
	TupleDesc	tupdesc = RelationGetDescr(rel);
	HeapTuple	new_tuple = trigdata->tg_newtuple;
	int			attno = required_column(rel, "updated_at", TIMESTAMPTZOID);
	bool		new_null;
	bool		old_null;
	Datum		new_value = heap_getattr(new_tuple, attno, tupdesc, &new_null);
	Datum		old_value = heap_getattr(trigdata->tg_trigtuple, attno, tupdesc, &old_null);

	if (new_null == old_null &&
		(new_null || DatumGetTimestampTz(new_value) == DatumGetTimestampTz(old_value)))
	{
		int			cols[1] = {attno};
		Datum		values[1] = {TimestampTzGetDatum(GetCurrentTransactionStartTimestamp())};
		bool		nulls[1] = {false};

		new_tuple = heap_modify_tuple_by_cols(new_tuple, tupdesc, 1, cols,
											  values, nulls);
	}
	return PointerGetDatum(new_tuple);
}
