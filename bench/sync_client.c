/*-------------------------------------------------------------------------
 *
 * sync_client.c
 *		Baseline of bench/sync_throughput.sh: a plain libcurl client.
 *
 * Reads upsert bodies, one JSON document per line, and sends each with
 * PUT {url}/collections/{collection}/points?wait=true over one kept-alive
 * easy handle, with the headers osv sends; prints the elapsed seconds.
 * It does what osv's sync worker does minus everything PostgreSQL-side
 * (claim, reading the summaries, writing the JSON, recording), so the
 * ratio of the two rates is the cost of osv's machinery.
 *
 * Usage: sync_client URL COLLECTION BODIES_FILE
 *
 * Copyright (c) 2026, Open Study Volt
 *
 * IDENTIFICATION
 *		bench/sync_client.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

static size_t
discard(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	return size * nmemb;
}

int
main(int argc, char **argv)
{
	FILE	   *f;
	char	   *line = NULL;
	size_t		cap = 0;
	ssize_t		len;
	char		url[1024];
	CURL	   *h;
	struct curl_slist *headers = NULL;
	struct timespec t0, t1;
	long		requests = 0;

	if (argc != 4)
	{
		fprintf(stderr, "usage: %s URL COLLECTION BODIES_FILE\n", argv[0]);
		return 2;
	}
	snprintf(url, sizeof(url), "%s/collections/%s/points?wait=true", argv[1], argv[2]);
	f = fopen(argv[3], "r");
	if (f == NULL)
	{
		perror(argv[3]);
		return 1;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	h = curl_easy_init();
	headers = curl_slist_append(headers, "Content-Type: application/json");
	headers = curl_slist_append(headers, "Accept: application/json");
	headers = curl_slist_append(headers, "Expect:");
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while ((len = getline(&line, &cap, f)) > 0)
	{
		long		status = 0;
		CURLcode	rc;

		if (line[len - 1] == '\n')
			line[--len] = '\0';
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, line);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) len);
		rc = curl_easy_perform(h);
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		if (rc != CURLE_OK || status != 200)
		{
			fprintf(stderr, "request %ld failed: %s, HTTP %ld\n", requests,
					curl_easy_strerror(rc), status);
			return 1;
		}
		requests++;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%.3f\n", (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	fprintf(stderr, "%ld requests\n", requests);
	curl_slist_free_all(headers);
	curl_easy_cleanup(h);
	curl_global_cleanup();
	free(line);
	fclose(f);
	return 0;
}
