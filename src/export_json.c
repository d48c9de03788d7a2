/*-------------------------------------------------------------------------
 *
 * export_json.c
 *		osv.data_export(): everything held about a user, as one jsonb written
 *		straight into jsonb's binary format.
 *
 * Runs in the backend of the calling session, inside the caller's
 * transaction and with the caller's rights (the function is not SECURITY
 * DEFINER).  It first calls osv.check_user_exists(user_id) through SPI,
 * which locks the user row FOR KEY SHARE (only checks it in a read-only
 * transaction), then takes one snapshot and reads every table of the
 * export under it through SPI: one query per table, "SELECT <every column
 * but trash_batch> FROM <table> t WHERE t.user_id = $1 ORDER BY t.id",
 * planned once per session and column list (spi_plan.c).  Reading through the executor
 * keeps every check of the SQL body this replaces: the caller's table and
 * column privileges, row-level security (an osv_app session sees only what
 * its acting user may see), AccessShareLock on each table until the end of
 * the transaction.  Columns are listed from the table's descriptor at each
 * call, so that columns added later are exported too.
 *
 * Why C: the SQL body (to_jsonb() of a row of arrays of rows) spent about
 * 23 us of CPU per exported row on a user owning 10,000 rows, most of it in
 * memory: to_jsonb() builds a tree of JsonbValues (a pair array per row,
 * a palloc per number and timestamp), then a second copy in the binary
 * format, in a buffer that doubles; every number is printed to text and
 * parsed back, every column's type categorised per row, every object's
 * keys sorted per row.  The memory is fresh from the kernel on each call,
 * and page faults dominated (bench/README.md).  Here each column's type is
 * categorised once per table, the key order of a table's objects is
 * computed once, and every value is appended to one buffer in jsonb's
 * on-disk layout (the layout convertToJsonb() writes: a container header,
 * then its JEntries, then the keys' bytes, then the values' bytes, numbers
 * and nested containers aligned to 4 bytes, every 32nd JEntry an offset).
 * The result is byte for byte what to_jsonb() gives (sql/export.sql
 * compares both over every kind of column): integers become numerics
 * without a round trip through text (int64_to_numeric() makes the same
 * canonical numeric as numeric_in()), real (float4out()'s code, inlined),
 * double precision and numeric go through their output function and
 * numeric_in() as to_jsonb() does (so NaN and Infinity stay strings, and
 * the digits follow extra_float_digits), timestamps through
 * JsonEncodeDateTime(), text is copied as it is, a jsonb column's
 * container is copied as it is (its alignment is relative to a 4-byte
 * boundary, kept here), and a column of any other type is converted by
 * pg_catalog.to_jsonb() in the query and copied.
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		src/export_json.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/shortest_dec.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/float.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "spi_plan.h"

/* How a column's values are written; decided once per column and call. */
typedef enum ExportKind
{
	EXPORT_BOOL,
	EXPORT_INTEGER,				/* int2, int4, int8: int64_to_numeric() */
	EXPORT_NUMBER_TEXT,			/* float4, float8, numeric: out, numeric_in */
	EXPORT_FLOAT4,				/* float4: float4out() inlined, numeric_in */
	EXPORT_TEXT,				/* text, varchar: the bytes as they are */
	EXPORT_DATETIME,			/* date, timestamp, timestamptz */
	EXPORT_JSONB,				/* jsonb, or to_jsonb() done by the query */
	EXPORT_ARRAY				/* an array of one of the scalar kinds */
} ExportKind;

typedef struct ExportColumn
{
	ExportKind	kind;
	ExportKind	elem_kind;		/* EXPORT_ARRAY: kind of the elements */
	Oid			typid;			/* of the value (the element for arrays) */
	int16		elem_len;		/* EXPORT_ARRAY: element storage */
	bool		elem_byval;
	char		elem_align;
	FmgrInfo	out;			/* EXPORT_NUMBER_TEXT: output function */
} ExportColumn;

/* The tables of the export, in the order of the SQL body it replaces. */
typedef struct ExportTable
{
	const char *key;			/* key in the export */
	const char *relname;		/* table in schema osv */
} ExportTable;

static const ExportTable export_tables[] = {
	{"documents", "documents"},
	{"summaries", "summaries"},
	{"recommendations", "recommendations"},
	{"quizzes", "quizzes"},
	{"answers", "answers"},
	{"rooms", "rooms"},
	{"room_participations", "room_participations"},
	{"activity_logs", "activity_logs"},
	{"archived_activity_logs", "activity_logs_archive"},
	{"points", "points"},
};

#define EXPORT_FORMAT "osv.data_export/1"

/* Initial capacity of the result's buffer (see osv_data_export()). */
#define EXPORT_BUFFER_SIZE (16 * 1024 * 1024)

/* ----------------------------------------------------------------
 * Writing jsonb's binary layout
 * ----------------------------------------------------------------
 */

/* Pad the buffer with zeros to a multiple of 4; returns the padding. */
static int
pad_to_int(StringInfo buf)
{
	int			padlen = INTALIGN(buf->len) - buf->len;

	if (padlen > 0)
	{
		enlargeStringInfo(buf, padlen);
		memset(buf->data + buf->len, 0, padlen);
		buf->len += padlen;
	}
	return padlen;
}

/* Reserve len bytes at the end of the buffer; returns their offset. */
static int
reserve(StringInfo buf, int len)
{
	int			offset = buf->len;

	enlargeStringInfo(buf, len);
	buf->len += len;
	return offset;
}

/*
 * A container's JEntries are written as its children are: each child's
 * length is added to the running total, and every JB_OFFSET_STRIDE'th
 * entry holds the total instead (convertJsonbArray/Object).
 */
typedef struct EntryWriter
{
	int			offset;			/* of the next JEntry in the buffer */
	int			index;			/* of the next JEntry in the container */
	uint32		total;			/* length of the children written */
} EntryWriter;

static void
entries_begin(StringInfo buf, EntryWriter *w, uint32 header, int nentries)
{
	appendBinaryStringInfo(buf, (char *) &header, sizeof(uint32));
	w->offset = reserve(buf, sizeof(JEntry) * nentries);
	w->index = 0;
	w->total = 0;
}

static void
entries_put(StringInfo buf, EntryWriter *w, JEntry meta)
{
	w->total += JBE_OFFLENFLD(meta);
	if (w->total > JENTRY_OFFLENMASK)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("total size of jsonb array elements exceeds the maximum of %d bytes",
						JENTRY_OFFLENMASK)));
	if ((w->index % JB_OFFSET_STRIDE) == 0)
		meta = (meta & JENTRY_TYPEMASK) | w->total | JENTRY_HAS_OFF;
	memcpy(buf->data + w->offset, &meta, sizeof(JEntry));
	w->offset += sizeof(JEntry);
	w->index++;
}

/* The JEntry of a container that started at base_offset (its padding included). */
static JEntry
container_entry(StringInfo buf, int base_offset)
{
	int			totallen = buf->len - base_offset;

	if (totallen > JENTRY_OFFLENMASK)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("total size of jsonb array elements exceeds the maximum of %d bytes",
						JENTRY_OFFLENMASK)));
	return JENTRY_ISCONTAINER | totallen;
}

/* An array container of nelems elements (their JEntries reserved); returns its start. */
static int
array_begin(StringInfo buf, EntryWriter *w, uint64 nelems)
{
	int			base_offset = buf->len;

	if (nelems > JB_CMASK)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("number of jsonb array elements exceeds the maximum allowed (%zu)",
						(size_t) JB_CMASK)));
	pad_to_int(buf);
	entries_begin(buf, w, (uint32) nelems | JB_FARRAY, (int) nelems);
	return base_offset;
}

static JEntry
write_string(StringInfo buf, const char *s, int len)
{
	appendBinaryStringInfo(buf, s, len);
	return (JEntry) len;
}

/* A numeric with a 4-byte header, as convertJsonbScalar() stores it. */
static JEntry
write_numeric(StringInfo buf, Numeric num)
{
	int			padlen = pad_to_int(buf);
	int			numlen = VARSIZE_ANY(num);

	appendBinaryStringInfo(buf, (char *) num, numlen);
	return JENTRY_ISNUMERIC | (padlen + numlen);
}

/*
 * A number printed by its output function, as to_jsonb() writes it: a
 * numeric parsed from the text, or the text itself when it is no number
 * (NaN, Infinity, -Infinity: they all have an N or n).  "finite" says the
 * caller knows the number is finite, so that the text has neither.
 */
static JEntry
write_number_text(StringInfo buf, const char *s, bool finite)
{
	Numeric		num;
	JEntry		meta;

	if (!finite && (strchr(s, 'N') != NULL || strchr(s, 'n') != NULL))
		return write_string(buf, s, strlen(s));
	num = DatumGetNumeric(DirectFunctionCall3(numeric_in, CStringGetDatum(s),
											  ObjectIdGetDatum(InvalidOid),
											  Int32GetDatum(-1)));
	meta = write_numeric(buf, num);
	pfree(num);
	return meta;
}

/* A jsonb scalar (of a jsonb whose root is a scalar). */
static JEntry
write_scalar(StringInfo buf, JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return JENTRY_ISNULL;
		case jbvBool:
			return v->val.boolean ? JENTRY_ISBOOL_TRUE : JENTRY_ISBOOL_FALSE;
		case jbvString:
			return write_string(buf, v->val.string.val, v->val.string.len);
		case jbvNumeric:
			return write_numeric(buf, v->val.numeric);
		default:
			elog(ERROR, "unexpected jsonb scalar type %d", (int) v->type);
	}
	return 0;					/* keep compiler quiet */
}

/*
 * A jsonb value embedded as to_jsonb() embeds it: a scalar root as the
 * scalar, any other root as its container, copied.  The copy starts on a
 * 4-byte boundary, as the container did in its own datum, so the padding
 * inside it stays right.
 */
static JEntry
write_jsonb(StringInfo buf, Datum d)
{
	struct varlena *v = pg_detoast_datum_packed((struct varlena *) DatumGetPointer(d));
	JsonbContainer *root = (JsonbContainer *) VARDATA_ANY(v);
	uint32		header;
	int			base_offset;
	JEntry		meta;

	memcpy(&header, root, sizeof(uint32));
	if (header & JB_FSCALAR)
	{
		Jsonb	   *jb = DatumGetJsonbP(PointerGetDatum(v));
		JsonbValue	scalar;

		if (!JsonbExtractScalar(&jb->root, &scalar))
			elog(ERROR, "could not read the scalar of a jsonb");
		meta = write_scalar(buf, &scalar);
		if ((Pointer) jb != (Pointer) v)
			pfree(jb);
	}
	else
	{
		base_offset = buf->len;
		pad_to_int(buf);
		appendBinaryStringInfo(buf, (char *) root, VARSIZE_ANY_EXHDR(v));
		meta = container_entry(buf, base_offset);
	}
	if ((Pointer) v != DatumGetPointer(d))
		pfree(v);
	return meta;
}

/* One non-null scalar value of the given kind. */
static JEntry
write_scalar_datum(StringInfo buf, const ExportColumn *col, ExportKind kind, Datum d)
{
	switch (kind)
	{
		case EXPORT_BOOL:
			return DatumGetBool(d) ? JENTRY_ISBOOL_TRUE : JENTRY_ISBOOL_FALSE;
		case EXPORT_INTEGER:
			{
				int64		i;
				Numeric		num;
				JEntry		meta;

				if (col->typid == INT8OID)
					i = DatumGetInt64(d);
				else if (col->typid == INT4OID)
					i = DatumGetInt32(d);
				else
					i = DatumGetInt16(d);
				num = int64_to_numeric(i);
				meta = write_numeric(buf, num);
				pfree(num);
				return meta;
			}
		case EXPORT_FLOAT4:
			{
				/* float4out() without its palloc */
				char		s[32];

				if (extra_float_digits > 0)
					float_to_shortest_decimal_buf(DatumGetFloat4(d), s);
				else
					(void) pg_strfromd(s, sizeof(s), FLT_DIG + extra_float_digits,
									   DatumGetFloat4(d));
				return write_number_text(buf, s, !isnan(DatumGetFloat4(d)) &&
										 !isinf(DatumGetFloat4(d)));
			}
		case EXPORT_NUMBER_TEXT:
			{
				char	   *s = OutputFunctionCall((FmgrInfo *) &col->out, d);
				JEntry		meta = write_number_text(buf, s, false);

				pfree(s);
				return meta;
			}
		case EXPORT_TEXT:
			{
				text	   *t = DatumGetTextPP(d);
				JEntry		meta = write_string(buf, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));

				if ((Pointer) t != DatumGetPointer(d))
					pfree(t);
				return meta;
			}
		case EXPORT_DATETIME:
			{
				char		s[MAXDATELEN + 1];

				JsonEncodeDateTime(s, d, col->typid, NULL);
				return write_string(buf, s, strlen(s));
			}
		case EXPORT_JSONB:
			return write_jsonb(buf, d);
		case EXPORT_ARRAY:
			break;
	}
	elog(ERROR, "unexpected export kind %d", (int) kind);
	return 0;					/* keep compiler quiet */
}

/*
 * The elements of dimension dim (and below) of an array, from *index on,
 * as nested JSON arrays (array_dim_to_jsonb()).
 */
static JEntry
write_array_dim(StringInfo buf, const ExportColumn *col, int dim, int ndims,
				const int *dims, Datum *elems, bool *nulls, int *index)
{
	EntryWriter w;
	int			base_offset = array_begin(buf, &w, dims[dim]);

	for (int i = 0; i < dims[dim]; i++)
	{
		JEntry		meta;

		if (dim + 1 < ndims)
			meta = write_array_dim(buf, col, dim + 1, ndims, dims, elems, nulls, index);
		else
		{
			if (nulls[*index])
				meta = JENTRY_ISNULL;
			else
				meta = write_scalar_datum(buf, col, col->elem_kind, elems[*index]);
			(*index)++;
		}
		entries_put(buf, &w, meta);
	}
	return container_entry(buf, base_offset);
}

static JEntry
write_array(StringInfo buf, const ExportColumn *col, Datum d)
{
	ArrayType  *a = DatumGetArrayTypeP(d);
	int			ndims = ARR_NDIM(a);
	int		   *dims = ARR_DIMS(a);
	int			nitems = ArrayGetNItems(ndims, dims);
	Datum	   *elems;
	bool	   *nulls;
	int			index = 0;
	JEntry		meta;

	if (nitems <= 0)
	{
		/* an empty array: [] */
		EntryWriter w;

		meta = container_entry(buf, array_begin(buf, &w, 0));
	}
	else
	{
		deconstruct_array(a, col->typid, col->elem_len, col->elem_byval, col->elem_align,
						  &elems, &nulls, &nitems);
		meta = write_array_dim(buf, col, 0, ndims, dims, elems, nulls, &index);
		pfree(elems);
		pfree(nulls);
	}
	if ((Pointer) a != DatumGetPointer(d))
		pfree(a);
	return meta;
}

static JEntry
write_datum(StringInfo buf, const ExportColumn *col, Datum d, bool isnull)
{
	if (isnull)
		return JENTRY_ISNULL;
	if (col->kind == EXPORT_ARRAY)
		return write_array(buf, col, d);
	return write_scalar_datum(buf, col, col->kind, d);
}

/* ----------------------------------------------------------------
 * Columns and rows
 * ----------------------------------------------------------------
 */

/* The kind of a scalar type written without to_jsonb(), or false. */
static bool
scalar_kind(Oid typid, ExportKind *kind)
{
	switch (typid)
	{
		case BOOLOID:
			*kind = EXPORT_BOOL;
			return true;
		case INT2OID:
		case INT4OID:
		case INT8OID:
			*kind = EXPORT_INTEGER;
			return true;
		case FLOAT4OID:
		case FLOAT8OID:
		case NUMERICOID:
			*kind = EXPORT_NUMBER_TEXT;
			return true;
		case TEXTOID:
		case VARCHAROID:
			*kind = EXPORT_TEXT;
			return true;
		case DATEOID:
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			*kind = EXPORT_DATETIME;
			return true;
		case JSONBOID:
			*kind = EXPORT_JSONB;
			return true;
		default:
			return false;
	}
}

/*
 * Whether a column of this type is written here (else the query converts
 * it with to_jsonb()): the scalar types above and arrays of them.
 */
static bool
column_written_here(Oid typid)
{
	ExportKind	kind;
	Oid			elem = get_element_type(typid);

	if (OidIsValid(elem))
		return scalar_kind(elem, &kind);
	return scalar_kind(typid, &kind);
}

static void
column_init(ExportColumn *col, Oid typid)
{
	Oid			elem = get_element_type(typid);

	memset(col, 0, sizeof(ExportColumn));
	if (OidIsValid(elem))
	{
		col->kind = EXPORT_ARRAY;
		col->typid = elem;
		if (!scalar_kind(elem, &col->elem_kind))
			elog(ERROR, "unexpected element type %u", elem);
		if (elem == FLOAT4OID)
			col->elem_kind = EXPORT_FLOAT4;
		get_typlenbyvalalign(elem, &col->elem_len, &col->elem_byval, &col->elem_align);
	}
	else
	{
		col->typid = typid;
		if (!scalar_kind(typid, &col->kind))
			elog(ERROR, "unexpected column type %u", typid);
		if (typid == FLOAT4OID)
			col->kind = EXPORT_FLOAT4;
	}
	if (col->kind == EXPORT_NUMBER_TEXT ||
		(col->kind == EXPORT_ARRAY && col->elem_kind == EXPORT_NUMBER_TEXT))
	{
		Oid			outfunc;
		bool		isvarlena;

		getTypeOutputInfo(col->typid, &outfunc, &isvarlena);
		fmgr_info(outfunc, &col->out);
	}
}

/* jsonb's key order: shorter keys first, then bytewise. */
static int
key_cmp(const char *a, const char *b)
{
	size_t		la = strlen(a);
	size_t		lb = strlen(b);

	if (la != lb)
		return la > lb ? 1 : -1;
	return memcmp(a, b, la);
}

/* How the rows of a query are written: column kinds and key order. */
typedef struct RowWriter
{
	TupleDesc	desc;
	ExportColumn *cols;
	int		   *order;			/* attribute indexes in key order */
	int		   *keylen;			/* length of each key, in key order */
	int			nkeys;
	Datum	   *values;
	bool	   *nulls;
} RowWriter;

/*
 * Work out the kinds of the columns of desc and the order of their names
 * as jsonb sorts keys, leaving out the column "skip" if given.
 */
static void
row_writer_init(RowWriter *rw, TupleDesc desc, const char *skip)
{
	int			natts = desc->natts;

	rw->desc = desc;
	rw->cols = palloc(sizeof(ExportColumn) * natts);
	rw->order = palloc(sizeof(int) * natts);
	rw->keylen = palloc(sizeof(int) * natts);
	rw->values = palloc(sizeof(Datum) * natts);
	rw->nulls = palloc(sizeof(bool) * natts);
	rw->nkeys = 0;
	for (int i = 0; i < natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		int			j;

		if (att->attisdropped || (skip && strcmp(NameStr(att->attname), skip) == 0))
			continue;
		column_init(&rw->cols[i], att->atttypid);
		/* insertion sort: a few columns */
		for (j = rw->nkeys; j > 0; j--)
		{
			int			c = key_cmp(NameStr(TupleDescAttr(desc, rw->order[j - 1])->attname),
									NameStr(att->attname));

			if (c == 0)
				elog(ERROR, "duplicate column name \"%s\" in an export query",
					 NameStr(att->attname));
			if (c < 0)
				break;
			rw->order[j] = rw->order[j - 1];
		}
		rw->order[j] = i;
		rw->nkeys++;
	}
	for (int k = 0; k < rw->nkeys; k++)
		rw->keylen[k] = strlen(NameStr(TupleDescAttr(desc, rw->order[k])->attname));
}

/* One row as an object keyed by column name. */
static JEntry
write_row(StringInfo buf, RowWriter *rw, HeapTuple tuple)
{
	int			base_offset = buf->len;
	EntryWriter fields;

	heap_deform_tuple(tuple, rw->desc, rw->values, rw->nulls);
	pad_to_int(buf);
	entries_begin(buf, &fields, rw->nkeys | JB_FOBJECT, rw->nkeys * 2);
	for (int k = 0; k < rw->nkeys; k++)
	{
		const char *key = NameStr(TupleDescAttr(rw->desc, rw->order[k])->attname);

		entries_put(buf, &fields, write_string(buf, key, rw->keylen[k]));
	}
	for (int k = 0; k < rw->nkeys; k++)
	{
		int			i = rw->order[k];

		entries_put(buf, &fields, write_datum(buf, &rw->cols[i], rw->values[i], rw->nulls[i]));
	}
	return container_entry(buf, base_offset);
}

/* The rows of the SPI result as an array of objects (write_row()). */
static JEntry
write_rows(StringInfo buf, SPITupleTable *tuptable, uint64 nrows, const char *skip)
{
	RowWriter	rw;
	EntryWriter rows;
	int			base_offset;

	row_writer_init(&rw, tuptable->tupdesc, skip);
	base_offset = array_begin(buf, &rows, nrows);
	for (uint64 r = 0; r < nrows; r++)
	{
		CHECK_FOR_INTERRUPTS();
		entries_put(buf, &rows, write_row(buf, &rw, tuptable->vals[r]));
	}
	return container_entry(buf, base_offset);
}

/* ----------------------------------------------------------------
 * The queries
 * ----------------------------------------------------------------
 */

/*
 * Run a query of the export with user_id as $1 under the active snapshot;
 * the rows are in SPI_tuptable.
 */
static void
run_export_query(const char *sql, int64 user_id)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1];
	int			rc;

	values[0] = Int64GetDatum(user_id);
	rc = SPI_execute_plan(spi_plan(sql, 1, argtypes), values, NULL, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
}

/*
 * The query of the rows of a table whose column "filter" is $1: every
 * column but "skip" (if given), those of types not written here through
 * to_jsonb(); NULL when the table does not exist.
 */
static char *
table_query(const char *relname, const char *skip, const char *filter)
{
	Oid			relid = get_relname_relid(relname, get_namespace_oid("osv", false));
	Relation	rel;
	TupleDesc	desc;
	StringInfoData sql;
	bool		first = true;

	if (!OidIsValid(relid))
		return NULL;
	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	rel = table_open(relid, AccessShareLock);
	desc = RelationGetDescr(rel);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		const char *name = quote_identifier(NameStr(att->attname));

		if (att->attisdropped || (skip && strcmp(NameStr(att->attname), skip) == 0))
			continue;
		if (!first)
			appendStringInfoString(&sql, ", ");
		first = false;
		if (column_written_here(att->atttypid))
			appendStringInfo(&sql, "t.%s", name);
		else
			appendStringInfo(&sql, "pg_catalog.to_jsonb(t.%s) AS %s", name, name);
	}
	table_close(rel, NoLock);
	appendStringInfo(&sql, " FROM osv.%s t WHERE t.%s OPERATOR(pg_catalog.=) $1 ORDER BY t.id",
					 quote_identifier(relname), filter);
	return sql.data;
}

/* ----------------------------------------------------------------
 * osv.data_export(user_id bigint) RETURNS jsonb
 * ----------------------------------------------------------------
 */

/* The top-level keys, in jsonb order once sorted. */
#define EXPORT_NKEYS (lengthof(export_tables) + 4)

typedef struct ExportKey
{
	const char *key;
	int			table;			/* index in export_tables, or -1 */
} ExportKey;

static int
export_key_cmp(const void *a, const void *b)
{
	return key_cmp(((const ExportKey *) a)->key, ((const ExportKey *) b)->key);
}

PG_FUNCTION_INFO_V1(osv_data_export);

/*
 * Everything held about a user (DESIGN.md section 7), in the format of
 * the SQL body it replaces: {"format", "exported_at", "user", one array
 * per table, "awards"}.  Errors: those of osv.check_user_exists() (a NULL
 * or unknown user), and those of the queries (privileges).
 */
Datum
osv_data_export(PG_FUNCTION_ARGS)
{
	Datum		user_arg = PG_GETARG_DATUM(0);
	int64		user_id;
	ExportKey	keys[EXPORT_NKEYS];
	int			nkeys = 0;
	StringInfoData buf;
	EntryWriter top;
	Oid			argtypes[1] = {INT8OID};
	char		nulls[1] = {PG_ARGISNULL(0) ? 'n' : ' '};
	int			rc;
	Jsonb	   *result;
	MemoryContext caller_cxt = CurrentMemoryContext;

	spi_connect();

	/* a NULL or unknown user is refused there; the user row is locked */
	rc = SPI_execute_plan(spi_plan("SELECT osv.check_user_exists($1)", 1, argtypes),
						  &user_arg, nulls, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	SPI_freetuptable(SPI_tuptable);
	user_id = PG_GETARG_INT64(0);

	/* one snapshot for every table, taken after the lock */
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());

	keys[nkeys++] = (ExportKey) {"format", -1};
	keys[nkeys++] = (ExportKey) {"exported_at", -1};
	keys[nkeys++] = (ExportKey) {"user", -1};
	keys[nkeys++] = (ExportKey) {"awards", -1};
	for (int t = 0; t < lengthof(export_tables); t++)
		keys[nkeys++] = (ExportKey) {export_tables[t].key, t};
	qsort(keys, nkeys, sizeof(ExportKey), export_key_cmp);

	/*
	 * The result is built in the caller's context, which SPI_finish keeps,
	 * in a buffer of EXPORT_BUFFER_SIZE: the kernel maps the pages of a
	 * large allocation as they are first written, so the capacity costs
	 * nothing until used, and a buffer doubling from a small size would
	 * copy its content and touch fresh pages at each step.
	 */
	buf.maxlen = EXPORT_BUFFER_SIZE;
	buf.data = MemoryContextAlloc(caller_cxt, buf.maxlen);
	buf.len = 0;
	buf.cursor = 0;
	reserve(&buf, VARHDRSZ);
	entries_begin(&buf, &top, nkeys | JB_FOBJECT, nkeys * 2);
	for (int k = 0; k < nkeys; k++)
		entries_put(&buf, &top, write_string(&buf, keys[k].key, strlen(keys[k].key)));
	for (int k = 0; k < nkeys; k++)
	{
		const char *key = keys[k].key;
		JEntry		meta;

		if (strcmp(key, "format") == 0)
			meta = write_string(&buf, EXPORT_FORMAT, strlen(EXPORT_FORMAT));
		else if (strcmp(key, "exported_at") == 0)
		{
			char		s[MAXDATELEN + 1];

			JsonEncodeDateTime(s, TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()),
							   TIMESTAMPTZOID, NULL);
			meta = write_string(&buf, s, strlen(s));
		}
		else if (strcmp(key, "user") == 0)
		{
			/*
			 * Every column is read, trash_batch too, as to_jsonb(u) did (it
			 * needs the privilege on each); trash_batch is left out.
			 */
			char	   *sql = table_query("users", NULL, "id");

			if (sql == NULL)
				elog(ERROR, "table osv.users does not exist");
			run_export_query(sql, user_id);
			if (SPI_processed == 0)
				meta = JENTRY_ISNULL;	/* not visible to the caller */
			else
			{
				RowWriter	rw;

				row_writer_init(&rw, SPI_tuptable->tupdesc, "trash_batch");
				meta = write_row(&buf, &rw, SPI_tuptable->vals[0]);
			}
			SPI_freetuptable(SPI_tuptable);
			pfree(sql);
		}
		else if (strcmp(key, "awards") == 0)
		{
			run_export_query("SELECT b.slug AS badge, b.name AS name, a.awarded_at"
							 " FROM osv.awards a JOIN osv.badges b ON b.id OPERATOR(pg_catalog.=) a.badge_id"
							 " WHERE a.user_id OPERATOR(pg_catalog.=) $1"
							 " ORDER BY a.awarded_at, b.slug", user_id);
			meta = write_rows(&buf, SPI_tuptable, SPI_processed, NULL);
			SPI_freetuptable(SPI_tuptable);
		}
		else
		{
			char	   *sql = table_query(export_tables[keys[k].table].relname,
											  "trash_batch", "user_id");

			if (sql == NULL)
			{
				/* a table that does not exist (yet): no rows */
				EntryWriter w;

				meta = container_entry(&buf, array_begin(&buf, &w, 0));
			}
			else
			{
				run_export_query(sql, user_id);
				meta = write_rows(&buf, SPI_tuptable, SPI_processed, NULL);
				SPI_freetuptable(SPI_tuptable);
				pfree(sql);
			}
		}
		entries_put(&buf, &top, meta);
	}

	PopActiveSnapshot();
	SPI_finish();

	/*
	 * The capacity not used is not given back: its pages were never touched,
	 * and a buffer shrunk here would leave malloc's threshold for mapping
	 * fresh memory below EXPORT_BUFFER_SIZE, so that the next export of the
	 * session got fresh pages again instead of these.
	 */
	result = (Jsonb *) buf.data;
	SET_VARSIZE(result, buf.len);
	PG_RETURN_JSONB_P(result);
}
