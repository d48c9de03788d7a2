/*-------------------------------------------------------------------------
 *
 * domain.c
 *		osv.log_activity(), the activity logger called on every request.
 *
 * Runs in ordinary backends, inside the caller's transaction, through SPI:
 * one prepared INSERT ... SELECT that reads the user's row by primary key
 * (the foreign key check then takes its KEY SHARE lock on it) and stores
 * the event in osv.activity_logs, whose partition routing picks the day.
 * Only when nothing was stored does a second prepared query tell an
 * unknown user (an error) from one who opted out of logging or is trashed
 * (NULL, nothing stored).  No locks or transactions of its own.
 *
 * It is written in C because it is called on every request: the PL/pgSQL
 * version cost about 20% more than a plain INSERT into the table, this one
 * a few percent (bench/domain_log_activity.sh).  The rules are those of
 * the SQL comment in src/sql/activity.sql.
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		src/domain.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "roles.h"
#include "spi_plan.h"

/* Longest event type, as in activity_logs_event_type_check. */
#define EVENT_TYPE_MAX_LEN 100

/*
 * Whether an event type matches activity_logs_event_type_check:
 * ^[A-Za-z][A-Za-z0-9_.:/-]{0,99}$.  Checked here so that the error does
 * not name the partition the row would have gone to.
 */
static bool
valid_event_type(const char *s, int len)
{
	if (len < 1 || len > EVENT_TYPE_MAX_LEN)
		return false;
	if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z')))
		return false;
	for (int i = 1; i < len; i++)
	{
		char		c = s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			  (c >= '0' && c <= '9') ||
			  c == '_' || c == '.' || c == ':' || c == '/' || c == '-'))
			return false;
	}
	return true;
}

/*
 * osv.log_activity(user_id bigint, event_type text, properties jsonb
 *					DEFAULT '{}') RETURNS bigint
 *
 * Not STRICT: null arguments get their own errors, and NULL properties
 * mean {}.  Returns the id of the stored row, or NULL when the user opted
 * out of logging or is trashed.
 */
PG_FUNCTION_INFO_V1(osv_log_activity);
Datum
osv_log_activity(PG_FUNCTION_ARGS)
{
	int64		user_id;
	text	   *event_type;
	Jsonb	   *properties;
	Datum		values[3];
	Oid			argtypes[3] = {INT8OID, TEXTOID, JSONBOID};
	bool		stored;
	bool		isnull;
	int64		log_id = 0;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("event_type must not be null")));
	event_type = PG_GETARG_TEXT_PP(1);
	if (!valid_event_type(VARDATA_ANY(event_type), VARSIZE_ANY_EXHDR(event_type)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid event type \"%s\"", text_to_cstring(event_type)),
				 errhint("An event type starts with a letter and has up to 100 letters, digits and _.:/- characters, such as quiz.submitted.")));
	if (PG_ARGISNULL(2))
		properties = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")));
	else
	{
		properties = PG_GETARG_JSONB_P(2);
		if (!JB_ROOT_IS_OBJECT(properties) || JB_ROOT_IS_SCALAR(properties))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("properties of an activity must be a JSON object")));
	}
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("user_id must not be null")));
	user_id = PG_GETARG_INT64(0);
	roles_check_acting_user(user_id);

	spi_connect();

	values[0] = Int64GetDatum(user_id);
	values[1] = PointerGetDatum(event_type);
	values[2] = JsonbPGetDatum(properties);
	spi_execute(SPI_OK_INSERT_RETURNING,
				"INSERT INTO osv.activity_logs (user_id, event_type, properties) "
				"SELECT u.id, $2, $3 FROM osv.users u "
				"WHERE u.id OPERATOR(pg_catalog.=) $1 "
				"AND NOT u.logging_opt_out AND u.deleted_at IS NULL "
				"RETURNING id",
				3, argtypes, values, false, 1);
	stored = (SPI_processed == 1);
	if (stored)
	{
		log_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											 SPI_tuptable->tupdesc, 1, &isnull));
		Assert(!isnull);
	}
	else
	{
		/* Nothing stored: opted out or trashed, or no such user. */
		spi_execute(SPI_OK_SELECT,
					"SELECT FROM osv.users u WHERE u.id OPERATOR(pg_catalog.=) $1",
					1, argtypes, values, true, 1);
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_NO_DATA_FOUND),
					 errmsg("user %lld does not exist", (long long) user_id)));
	}

	SPI_finish();

	if (!stored)
		PG_RETURN_NULL();
	PG_RETURN_INT64(log_id);
}
