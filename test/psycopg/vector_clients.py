# test/psycopg/vector_clients.py: vector input and output through psycopg 3
# (Debian's python3-psycopg), as a Python app or the AI pipeline sends them
# (run by test/t/025_vector_clients.pl after the node-postgres script).
#
# Connects with the PG* environment variables as a member of osv_app,
# acting for the user $OSV_ACTING_USER; writes the embedding of the summary
# of $OSV_DOCUMENT (the node script wrote it).  Prints one line per check,
# "ok - NAME" or "not ok - NAME: DETAIL", then "done N".
import json
import os
import struct

import psycopg

checks = 0


def report(ok, name, detail=''):
    global checks
    checks += 1
    print(('ok - ' if ok else 'not ok - ') + name + ('' if ok else ': ' + str(detail)))


def expect_error(cur, name, sql, params, sqlstate, message):
    try:
        cur.execute(sql, params)
        report(False, name, 'no error')
    except psycopg.Error as e:
        ok = e.sqlstate == sqlstate and message in str(e)
        report(ok, name, '%s "%s"' % (e.sqlstate, e))


with psycopg.connect('', autocommit=True) as conn:
    cur = conn.cursor()
    cur.execute('SET osv.acting_user_id = %d' % int(os.environ['OSV_ACTING_USER']))
    search = 'SELECT summary_id, score FROM osv.search_summaries'
    want = cur.execute(search + '(osv.embed_text(%s), 3)', ('the cell membrane',)).fetchall()
    report(len(want) == 3, 'the reference search finds 3 summaries', want)
    q = cur.execute('SELECT osv.embed_text(%s)', ('the cell membrane',)).fetchone()[0]
    report(isinstance(q, list) and len(q) == 384, 'real[] reads as a list of floats', type(q))

    # A list of floats is sent as float8[]: no search function takes it as is.
    expect_error(cur, 'a list of floats (float8[]) finds no search function: 42883', search + '(%s, 3)', (q,),
                 '42883', 'does not exist')
    got = cur.execute(search + '(osv.vector_from_float8(%s), 3)', (q,)).fetchall()
    report(got == want, 'a list through osv.vector_from_float8 searches like real[]', got)
    got = cur.execute(search + '(%s::real[], 3)', (q,)).fetchall()
    report(got == want, 'a list cast to real[] searches like real[]', got)
    f32 = struct.pack('<384f', *q)
    got = cur.execute(search + '(%s, 3)', (f32,)).fetchall()
    report(got == want, 'float32 bytes reach the bytea overload and search like real[]', got)
    got = cur.execute(search + '(%s, 3)', (json.dumps(q),)).fetchall()
    report(got == want, 'json.dumps(list) reaches the text overload and searches like real[]', got)

    # Writes and reads.
    doc = int(os.environ['OSV_DOCUMENT'])
    cur.execute('UPDATE osv.summaries SET embedding = %s WHERE document_id = %s', (q, doc))
    same = cur.execute('SELECT embedding = osv.embed_text(%s) FROM osv.summaries WHERE document_id = %s',
                       ('the cell membrane', doc)).fetchone()[0]
    report(same is True, 'a list of floats writes the column as is (assignment cast)', same)
    cur.execute('UPDATE osv.summaries SET embedding = osv.vector_from_bytes(%s) WHERE document_id = %s', (f32, doc))
    back = cur.execute('SELECT osv.vector_to_bytes(embedding) FROM osv.summaries WHERE document_id = %s',
                       (doc,)).fetchone()[0]
    report(bytes(back) == f32, 'float32 bytes written and read back are the same bytes', len(back))

    # Wrong shapes reach the client with their SQLSTATE.
    expect_error(cur, 'a float8 beyond real: 22003', search + '(osv.vector_from_float8(%s))', ([1e300] * 384,),
                 '22003', 'vector element is out of range for type real')
    expect_error(cur, 'bytes not a multiple of 4: 22P03', search + '(%s)', (b'\0' * 7,),
                 '22P03', 'vector bytes must be a multiple of 4 bytes long')
    expect_error(cur, 'JSON of the wrong dimension: 22000', search + '(%s)', ('[1, 2, 3]',),
                 '22000', 'query vector has the wrong number of dimensions')
    expect_error(cur, 'a NaN float32: 22000', search + '(%s)', (struct.pack('<384f', *([float('nan')] + q[1:])),),
                 '22000', 'query vector must contain only finite values')
print('done %d' % checks)
