
/* src/sql/documents.sql: the document and AI domain (documents, summaries, recommendations) */

CREATE TABLE osv.documents (
	id bigint GENERATED ALWAYS AS IDENTITY,
	user_id bigint NOT NULL,
	type text NOT NULL,
	title text NOT NULL,
	storage_bucket text NOT NULL,
	storage_key text NOT NULL,
	content_type text,
	size_bytes bigint,
	checksum_sha256 text,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	deleted_at timestamptz,
	trash_batch bigint,
	CONSTRAINT documents_pkey PRIMARY KEY (id),
	CONSTRAINT documents_user_id_fkey FOREIGN KEY (user_id) REFERENCES osv.users (id) ON DELETE CASCADE,
	CONSTRAINT documents_type_check CHECK (type OPERATOR(pg_catalog.=) ANY (ARRAY['pdf', 'audio', 'video', 'image', 'text', 'other'])),
	CONSTRAINT documents_title_check CHECK (pg_catalog.btrim(title) OPERATOR(pg_catalog.<>) ''),
	CONSTRAINT documents_storage_bucket_check CHECK (storage_bucket OPERATOR(pg_catalog.~) '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$'),
	CONSTRAINT documents_storage_key_check CHECK (storage_key OPERATOR(pg_catalog.<>) '' AND pg_catalog.octet_length(storage_key) OPERATOR(pg_catalog.<=) 1024),
	CONSTRAINT documents_size_bytes_check CHECK (size_bytes OPERATOR(pg_catalog.>=) 0),
	CONSTRAINT documents_checksum_sha256_check CHECK (checksum_sha256 OPERATOR(pg_catalog.~) '^[0-9a-f]{64}$')
);
COMMENT ON TABLE osv.documents IS 'uploaded study material; the file itself lives in object storage (MinIO)';
COMMENT ON COLUMN osv.documents.id IS 'surrogate key';
COMMENT ON COLUMN osv.documents.user_id IS 'owner (osv.users)';
COMMENT ON COLUMN osv.documents.type IS 'kind of material: pdf, audio, video, image, text or other';
COMMENT ON COLUMN osv.documents.title IS 'title shown to users';
COMMENT ON COLUMN osv.documents.storage_bucket IS 'object storage bucket holding the file';
COMMENT ON COLUMN osv.documents.storage_key IS 'object key of the file in its bucket';
COMMENT ON COLUMN osv.documents.content_type IS 'MIME type of the file';
COMMENT ON COLUMN osv.documents.size_bytes IS 'size of the file in bytes';
COMMENT ON COLUMN osv.documents.checksum_sha256 IS 'SHA-256 of the file, lower-case hex';
COMMENT ON COLUMN osv.documents.created_at IS 'when the row was created';
COMMENT ON COLUMN osv.documents.updated_at IS 'when the row last changed';
COMMENT ON COLUMN osv.documents.deleted_at IS 'when the document was trashed (soft delete); NULL while live';
COMMENT ON COLUMN osv.documents.trash_batch IS 'number of the soft delete that trashed the row; rows trashed by one cascade share it';

CREATE INDEX documents_user_id_created_at_idx ON osv.documents (user_id, created_at);
CREATE INDEX documents_type_idx ON osv.documents (type) WHERE deleted_at IS NULL;
CREATE INDEX documents_created_at_idx ON osv.documents (created_at);
CREATE UNIQUE INDEX documents_storage_object_key ON osv.documents (storage_bucket, storage_key) WHERE deleted_at IS NULL;

CREATE TRIGGER touch_updated_at BEFORE UPDATE ON osv.documents
	FOR EACH ROW EXECUTE FUNCTION osv.touch_updated_at();
CREATE TRIGGER soft_delete_guard BEFORE INSERT OR UPDATE OF deleted_at, trash_batch, user_id ON osv.documents
	FOR EACH ROW WHEN (NOT osv.restoring()) EXECUTE FUNCTION osv.soft_delete_guard('user_id', 'osv.users');
CREATE TRIGGER cascade_soft_delete AFTER UPDATE ON osv.documents
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION osv.cascade_soft_delete(
		'summaries', 'document_id', 'quizzes', 'document_id');
INSERT INTO osv.soft_delete_tables VALUES ('osv.documents', 2);

CREATE TABLE osv.summaries (
	id bigint GENERATED ALWAYS AS IDENTITY,
	document_id bigint NOT NULL,
	user_id bigint NOT NULL,
	topic text,
	content text NOT NULL,
	embedding real[],
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	deleted_at timestamptz,
	trash_batch bigint,
	embedding_next real[],
	CONSTRAINT summaries_pkey PRIMARY KEY (id),
	CONSTRAINT summaries_document_id_fkey FOREIGN KEY (document_id) REFERENCES osv.documents (id) ON DELETE CASCADE,
	CONSTRAINT summaries_user_id_fkey FOREIGN KEY (user_id) REFERENCES osv.users (id) ON DELETE CASCADE,
	CONSTRAINT summaries_content_check CHECK (pg_catalog.btrim(content) OPERATOR(pg_catalog.<>) '')
);
COMMENT ON TABLE osv.summaries IS 'AI-generated summary of a document (one per document), with its embedding for Qdrant';
COMMENT ON COLUMN osv.summaries.id IS 'surrogate key; also the id of the Qdrant point';
COMMENT ON COLUMN osv.summaries.document_id IS 'summarized document (osv.documents), one live summary per document';
COMMENT ON COLUMN osv.summaries.user_id IS 'owner (osv.users), taken from the document when not given';
COMMENT ON COLUMN osv.summaries.topic IS 'topic label used to filter searches';
COMMENT ON COLUMN osv.summaries.content IS 'summary text';
COMMENT ON COLUMN osv.summaries.embedding IS 'embedding of the summary; NULL means not indexed';
COMMENT ON COLUMN osv.summaries.created_at IS 'when the row was created';
COMMENT ON COLUMN osv.summaries.updated_at IS 'when the row last changed';
COMMENT ON COLUMN osv.summaries.deleted_at IS 'when the summary was trashed (soft delete); NULL while live';
COMMENT ON COLUMN osv.summaries.trash_batch IS 'number of the soft delete that trashed the row; rows trashed by one cascade share it';
COMMENT ON COLUMN osv.summaries.embedding_next IS 'embedding of the summary by the new model while a re-embedding runs (osv.start_reembedding()); becomes embedding when it finishes';

CREATE UNIQUE INDEX summaries_document_id_key ON osv.summaries (document_id) WHERE deleted_at IS NULL;
CREATE INDEX summaries_document_id_created_at_idx ON osv.summaries (document_id, created_at);
CREATE INDEX summaries_user_id_created_at_idx ON osv.summaries (user_id, created_at);
CREATE INDEX summaries_created_at_idx ON osv.summaries (created_at);

/* Summaries take their owner from the document unless one is given. */
CREATE FUNCTION osv.summaries_fill_user_id()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	SELECT d.user_id INTO NEW.user_id FROM osv.documents d WHERE d.id = NEW.document_id;
	IF NOT FOUND AND NEW.document_id IS NOT NULL THEN
		/* Say what the foreign key would say, rather than "user_id is null". */
		RAISE EXCEPTION 'insert or update on table "summaries" violates foreign key constraint "summaries_document_id_fkey"'
			USING ERRCODE = 'foreign_key_violation',
				  DETAIL = pg_catalog.format('Key (document_id)=(%s) is not present in table "documents".', NEW.document_id),
				  CONSTRAINT = 'summaries_document_id_fkey', TABLE = 'summaries', SCHEMA = 'osv';
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION osv.summaries_fill_user_id() IS 'trigger: take a summary''s user_id from its document when not given';

/* BEFORE triggers fire in name order: fill_user_id runs before soft_delete_guard. */
CREATE TRIGGER fill_user_id BEFORE INSERT ON osv.summaries
	FOR EACH ROW WHEN (NEW.user_id IS NULL) EXECUTE FUNCTION osv.summaries_fill_user_id();
CREATE TRIGGER touch_updated_at BEFORE UPDATE ON osv.summaries
	FOR EACH ROW EXECUTE FUNCTION osv.touch_updated_at();
CREATE TRIGGER soft_delete_guard BEFORE INSERT OR UPDATE OF deleted_at, trash_batch, document_id, user_id ON osv.summaries
	FOR EACH ROW WHEN (NOT osv.restoring()) EXECUTE FUNCTION osv.soft_delete_guard('document_id', 'osv.documents', 'user_id', 'osv.users');
CREATE TRIGGER cascade_soft_delete AFTER UPDATE ON osv.summaries
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION osv.cascade_soft_delete('recommendations', 'summary_id');
INSERT INTO osv.soft_delete_tables VALUES ('osv.summaries', 3);

CREATE TABLE osv.recommendations (
	id bigint GENERATED ALWAYS AS IDENTITY,
	user_id bigint NOT NULL,
	summary_id bigint NOT NULL,
	score real NOT NULL,
	expires_at timestamptz NOT NULL,
	revoked_at timestamptz,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	deleted_at timestamptz,
	trash_batch bigint,
	CONSTRAINT recommendations_pkey PRIMARY KEY (id),
	CONSTRAINT recommendations_user_id_fkey FOREIGN KEY (user_id) REFERENCES osv.users (id) ON DELETE CASCADE,
	CONSTRAINT recommendations_summary_id_fkey FOREIGN KEY (summary_id) REFERENCES osv.summaries (id) ON DELETE CASCADE,
	CONSTRAINT recommendations_score_check CHECK (score OPERATOR(pg_catalog.>=) -1 AND score OPERATOR(pg_catalog.<=) 1),
	CONSTRAINT recommendations_expires_at_check CHECK (expires_at OPERATOR(pg_catalog.>) created_at)
);
COMMENT ON TABLE osv.recommendations IS 'summary recommended to a user by similarity, valid until it expires or is revoked';
COMMENT ON COLUMN osv.recommendations.id IS 'surrogate key';
COMMENT ON COLUMN osv.recommendations.user_id IS 'user the summary is recommended to (osv.users)';
COMMENT ON COLUMN osv.recommendations.summary_id IS 'recommended summary (osv.summaries)';
COMMENT ON COLUMN osv.recommendations.score IS 'cosine similarity behind the recommendation, from -1 to 1';
COMMENT ON COLUMN osv.recommendations.expires_at IS 'when the recommendation stops being valid';
COMMENT ON COLUMN osv.recommendations.revoked_at IS 'when the recommendation was revoked (expired or replaced); NULL while valid';
COMMENT ON COLUMN osv.recommendations.created_at IS 'when the row was created';
COMMENT ON COLUMN osv.recommendations.deleted_at IS 'when the recommendation was trashed (soft delete); NULL while live';
COMMENT ON COLUMN osv.recommendations.trash_batch IS 'number of the soft delete that trashed the row; rows trashed by one cascade share it';

CREATE INDEX recommendations_user_id_created_at_idx ON osv.recommendations (user_id, created_at);
CREATE INDEX recommendations_summary_id_idx ON osv.recommendations (summary_id);
CREATE UNIQUE INDEX recommendations_user_id_summary_id_key ON osv.recommendations (user_id, summary_id)
	WHERE revoked_at IS NULL AND deleted_at IS NULL;
CREATE INDEX recommendations_expires_at_idx ON osv.recommendations (expires_at)
	WHERE revoked_at IS NULL AND deleted_at IS NULL;

CREATE TRIGGER soft_delete_guard BEFORE INSERT OR UPDATE OF deleted_at, trash_batch, user_id, summary_id ON osv.recommendations
	FOR EACH ROW WHEN (NOT osv.restoring()) EXECUTE FUNCTION osv.soft_delete_guard('user_id', 'osv.users', 'summary_id', 'osv.summaries');
INSERT INTO osv.soft_delete_tables VALUES ('osv.recommendations', 4);

/* ------------------------------------------------------------------------
 * Registering uploads
 *
 * The app stores the file in object storage (MinIO) first, then calls
 * osv.register_upload() with where it put it.  The document's type is
 * derived from the content type unless given:
 *   application/pdf -> pdf;  audio/... -> audio;  video/... -> video;
 *   image/... -> image;  text/..., application/json, application/xml,
 *   application/rtf, application/x-tex -> text;  anything else -> other.
 * ------------------------------------------------------------------------
 */

/* The document type of a MIME type. */
CREATE FUNCTION osv.document_type_of(content_type text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN CASE
	WHEN pg_catalog.split_part(pg_catalog.lower(content_type), ';', 1) OPERATOR(pg_catalog.~) '^\s*application/pdf\s*$' THEN 'pdf'
	WHEN pg_catalog.lower(content_type) OPERATOR(pg_catalog.~) '^\s*audio/' THEN 'audio'
	WHEN pg_catalog.lower(content_type) OPERATOR(pg_catalog.~) '^\s*video/' THEN 'video'
	WHEN pg_catalog.lower(content_type) OPERATOR(pg_catalog.~) '^\s*image/' THEN 'image'
	WHEN pg_catalog.lower(content_type) OPERATOR(pg_catalog.~) '^\s*(text/|application/(json|xml|rtf|x-tex)\s*(;|$))' THEN 'text'
	ELSE 'other'
END;
COMMENT ON FUNCTION osv.document_type_of(text) IS 'document type (pdf, audio, video, image, text or other) of a MIME content type';

CREATE FUNCTION osv.register_upload(user_id bigint, storage_bucket text, storage_key text,
									content_type text, size_bytes bigint, checksum_sha256 text,
									title text DEFAULT NULL, type text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	doc_title text;
	doc_type text;
	doc_id bigint;
BEGIN
	IF user_id IS NULL OR storage_bucket IS NULL OR storage_key IS NULL OR content_type IS NULL
		OR size_bytes IS NULL OR checksum_sha256 IS NULL THEN
		RAISE EXCEPTION 'user_id, storage_bucket, storage_key, content_type, size_bytes and checksum_sha256 must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM osv.require_live_user(register_upload.user_id);
	IF content_type !~ '^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*\s*(;.*)?$' THEN
		RAISE EXCEPTION 'invalid content type "%"', content_type
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'A content type is a MIME type such as application/pdf.';
	END IF;
	IF size_bytes < 0 THEN
		RAISE EXCEPTION 'size_bytes must not be negative' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF checksum_sha256 !~ '^[0-9A-Fa-f]{64}$' THEN
		RAISE EXCEPTION 'invalid SHA-256 checksum "%"', checksum_sha256
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'A SHA-256 checksum is 64 hexadecimal digits.';
	END IF;
	doc_type := coalesce(type, osv.document_type_of(content_type));
	IF doc_type <> ALL (ARRAY['pdf', 'audio', 'video', 'image', 'text', 'other']) THEN
		RAISE EXCEPTION 'invalid document type "%"', doc_type
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Document types are pdf, audio, video, image, text and other.';
	END IF;
	/* Default title: the last segment of the key. */
	doc_title := coalesce(nullif(btrim(title), ''), nullif(btrim(regexp_replace(storage_key, '^.*/', '')), ''), storage_key);
	IF EXISTS (SELECT FROM osv.documents d
			   WHERE d.storage_bucket = register_upload.storage_bucket
				 AND d.storage_key = register_upload.storage_key AND d.deleted_at IS NULL) THEN
		RAISE EXCEPTION 'object "%" of bucket "%" is registered already', storage_key, storage_bucket
			USING ERRCODE = 'unique_violation', CONSTRAINT = 'documents_storage_object_key';
	END IF;

	INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key, content_type, size_bytes, checksum_sha256)
	VALUES (user_id, doc_type, doc_title, storage_bucket, storage_key, btrim(content_type), size_bytes, lower(checksum_sha256))
	RETURNING id INTO doc_id;
	PERFORM osv.log_activity(user_id, 'document.uploaded',
							 jsonb_build_object('document_id', doc_id, 'type', doc_type, 'size_bytes', size_bytes));
	RETURN doc_id;
END
$$;
COMMENT ON FUNCTION osv.register_upload(bigint, text, text, text, bigint, text, text, text) IS 'register a file stored in object storage as a document of a user and return the document id';
