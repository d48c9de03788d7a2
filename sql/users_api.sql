--
-- osv.upsert_auth0_user(): users from Auth0 profiles.
--
SET client_min_messages = warning;
TRUNCATE osv.users, osv.badges RESTART IDENTITY CASCADE;
RESET client_min_messages;
\set VERBOSITY terse

-- a new user from a Management API profile: email trimmed, role from app_metadata
SELECT osv.upsert_auth0_user('{"user_id": "auth0|ada", "email": "  Ada@Example.org ", "email_verified": true,
	"name": "Ada Lovelace", "nickname": "ada", "picture": "https://example.org/ada.png",
	"app_metadata": {"roles": ["student", "teacher"]}}') AS ada;
-- a new user from ID token claims: sub, nickname as the name, no roles = student
SELECT osv.upsert_auth0_user('{"sub": "google-oauth2|42", "email": "bob@example.org", "nickname": "bob"}') AS bob;
SELECT id, auth0_id, email, email_verified, name, picture_url, role FROM osv.users ORDER BY id;

-- idempotent: the same profile again returns the same id and changes nothing
SELECT updated_at AS ada_updated_at FROM osv.users WHERE id = 1 \gset
SELECT osv.upsert_auth0_user('{"user_id": "auth0|ada", "email": "  Ada@Example.org ", "email_verified": true,
	"name": "Ada Lovelace", "nickname": "ada", "picture": "https://example.org/ada.png",
	"app_metadata": {"roles": ["student", "teacher"]}}') AS ada_again;
SELECT count(*) AS users, bool_and(updated_at = :'ada_updated_at') AS unchanged FROM osv.users WHERE auth0_id = 'auth0|ada';

-- user_id and sub may both be given when equal
SELECT osv.upsert_auth0_user('{"user_id": "auth0|ada", "sub": "auth0|ada", "email": "ada@example.org"}') AS ada_both;

-- updates: new email, verified flag, name; missing name/picture/roles keep the stored ones
SELECT osv.upsert_auth0_user('{"sub": "google-oauth2|42", "email": "robert@example.org", "email_verified": true, "name": "Robert"}') AS bob;
SELECT osv.upsert_auth0_user('{"sub": "auth0|ada", "email": "ada@example.org"}') AS ada;
SELECT id, auth0_id, email, email_verified, name, picture_url, role FROM osv.users ORDER BY id;

-- roles: the highest wins; a single name is accepted; an empty list means student; case and blanks ignored
SELECT osv.upsert_auth0_user('{"sub": "auth0|cy", "email": "cy@example.org", "app_metadata": {"roles": ["Moderator ", "teacher"]}}') AS cy
\gset
SELECT :cy AS cy, role FROM osv.users WHERE auth0_id = 'auth0|cy';
SELECT osv.upsert_auth0_user('{"sub": "auth0|cy", "email": "cy@example.org", "app_metadata": {"roles": "admin"}}') AS cy;
SELECT role FROM osv.users WHERE auth0_id = 'auth0|cy';
SELECT osv.upsert_auth0_user('{"sub": "auth0|cy", "email": "cy@example.org", "app_metadata": {"roles": []}}') AS cy;
SELECT role FROM osv.users WHERE auth0_id = 'auth0|cy';

-- roles from a custom claim named by osv.auth0_roles_claim (app_metadata is ignored then)
SET osv.auth0_roles_claim = 'https://osv.example/roles';
SELECT osv.upsert_auth0_user('{"sub": "auth0|cy", "email": "cy@example.org",
	"https://osv.example/roles": ["teacher"], "app_metadata": {"roles": ["admin"]}}') AS cy;
SELECT role FROM osv.users WHERE auth0_id = 'auth0|cy';
-- without the claim in the profile, app_metadata still counts
SELECT osv.upsert_auth0_user('{"sub": "auth0|cy", "email": "cy@example.org", "app_metadata": {"roles": ["moderator"]}}') AS cy;
SELECT role FROM osv.users WHERE auth0_id = 'auth0|cy';
RESET osv.auth0_roles_claim;

-- a trashed user who signs in again is restored, with what was trashed with them
INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key) VALUES (:cy, 'pdf', 'Cy''s notes', 'osv-docs', 'cy/notes');
INSERT INTO osv.documents (user_id, type, title, storage_bucket, storage_key, deleted_at) VALUES (:cy, 'pdf', 'Cy''s old notes', 'osv-docs', 'cy/old', now());
SELECT osv.soft_delete('osv.users', :cy);
SELECT u.deleted_at IS NOT NULL AS user_trashed, count(*) FILTER (WHERE d.deleted_at IS NULL) AS live_documents
FROM osv.users u JOIN osv.documents d ON d.user_id = u.id WHERE u.id = :cy GROUP BY u.deleted_at;
SELECT osv.upsert_auth0_user('{"sub": "auth0|cy", "email": "cy@example.org", "name": "Cy"}') AS cy_back;
SELECT d.title, d.deleted_at IS NULL AS live FROM osv.documents d WHERE d.user_id = :cy ORDER BY d.title;
SELECT id, name, deleted_at IS NULL AS live FROM osv.users WHERE auth0_id = 'auth0|cy';

-- a trashed user whose address was taken meanwhile cannot come back
SELECT osv.soft_delete('osv.users', :cy);
SELECT osv.upsert_auth0_user('{"sub": "auth0|dan", "email": "CY@example.org"}') AS dan;
SELECT osv.upsert_auth0_user('{"sub": "auth0|cy", "email": "cy@example.org"}') AS cy;
SELECT deleted_at IS NOT NULL AS still_trashed FROM osv.users WHERE id = :cy;

-- errors: not an object, no identity, conflicting identities, bad types, no email, taken email, bad roles
SELECT osv.upsert_auth0_user(NULL);
SELECT osv.upsert_auth0_user('[]');
SELECT osv.upsert_auth0_user('"auth0|x"');
SELECT osv.upsert_auth0_user('{"email": "x@example.org"}');
SELECT osv.upsert_auth0_user('{"user_id": " ", "email": "x@example.org"}');
SELECT osv.upsert_auth0_user('{"user_id": 42, "email": "x@example.org"}');
SELECT osv.upsert_auth0_user('{"user_id": "auth0|x", "sub": "auth0|y", "email": "x@example.org"}');
SELECT osv.upsert_auth0_user('{"sub": "auth0|x"}');
SELECT osv.upsert_auth0_user('{"sub": "auth0|x", "email": ""}');
SELECT osv.upsert_auth0_user('{"sub": "auth0|x", "email": ["x@example.org"]}');
SELECT osv.upsert_auth0_user('{"sub": "auth0|x", "email": "not an address"}');
SELECT osv.upsert_auth0_user('{"sub": "auth0|x", "email": "x@example.org", "email_verified": "yes"}');
SELECT osv.upsert_auth0_user('{"sub": "auth0|x", "email": "x@example.org", "name": {"first": "X"}}');
SELECT osv.upsert_auth0_user('{"sub": "auth0|x", "email": "ROBERT@example.org"}');
SELECT osv.upsert_auth0_user('{"sub": "auth0|x", "email": "x@example.org", "app_metadata": {"roles": ["wizard"]}}');
SELECT osv.upsert_auth0_user('{"sub": "auth0|x", "email": "x@example.org", "app_metadata": {"roles": {"admin": true}}}');
SELECT osv.upsert_auth0_user('{"sub": "auth0|x", "email": "x@example.org", "app_metadata": {"roles": [1]}}');
SELECT osv.upsert_auth0_user(jsonb_build_object('sub', repeat('x', 300), 'email', 'x@example.org'));
SELECT osv.upsert_auth0_user(jsonb_build_object('sub', 'auth0|x', 'email', repeat('x', 320) || '@example.org'));
-- none of them stored anything
SELECT count(*) AS users FROM osv.users;
